"""The pages as a user meets them at 1366x768 in a real browser: everything on one screen without
scrolling, the Korean/English switch (button and Alt+L, remembered), the shortcuts on the page."""

from __future__ import annotations

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from hil_tests.desktop.browser import HEIGHT, WIDTH, Page, chromium
from hil_tests.desktop.netns import loopback_namespace
from hil_tests.desktop.served import PASSWORDS, SUPERVISOR, ServedCenter

OFF_SCREEN = """return [...document.querySelectorAll(arguments[0])].filter(e => {
  const r = e.getBoundingClientRect();
  return r.width === 0 || r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight;
}).map(e => e.id || e.textContent.trim());"""


def test_both_pages_fit_1366x768_and_speak_korean_or_english():
    with loopback_namespace(), ServedCenter() as box, chromium() as driver:
        desk = Page.open(driver, box.base + "/desktop/")
        assert desk.js("return [innerWidth, innerHeight]") == [WIDTH, HEIGHT]
        assert desk.text("header h1") == "상담 데스크톱"
        desk.type("#login-agent", "park")
        desk.type("#login-password", PASSWORDS["park"])
        desk.type("#login-extension", "2003")
        desk.click("#login-submit")
        desk.until(lambda: desk.attribute("#state-big", "data-state") == "NOT_READY", "park logged in")
        assert desk.js("return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]") \
            == [WIDTH, HEIGHT]
        assert desk.js(OFF_SCREEN, "main button, main select, #status-bar") == []
        shortcuts = desk.text("#shortcuts")
        for key in "RNAEHTWL":
            assert f"Alt\n+\n{key}" in shortcuts or f"Alt+{key}" in shortcuts.replace("\n", ""), key

        ActionChains(driver).key_down(Keys.ALT).send_keys("l").key_up(Keys.ALT).perform()
        desk.until(lambda: desk.text("header h1") == "Agent desktop", "English after Alt+L")
        assert desk.text("#state-big") == "Not ready" and desk.text("#btn-hold") == "Hold"
        driver.refresh()
        desk.until(lambda: desk.text("#state-big") == "Not ready", "English kept across a reload")
        desk.click("#lang")
        desk.until(lambda: desk.text("#state-big") == "이석", "Korean again with the button")

        board = Page.open(driver, box.base + "/wallboard/", new_window=True)
        board.type("#login-name", SUPERVISOR[0])
        board.type("#login-password", SUPERVISOR[1])
        board.click("#login-submit")
        board.until(lambda: board.text('#agents tr[data-agent="park"] [data-field="state"]') == "이석",
                    "the wallboard's agents")
        board.until(lambda: board.js("return document.querySelectorAll('#plots svg').length") == 4, "the plots")
        assert board.js("return document.documentElement.scrollWidth") == WIDTH
        assert board.js(OFF_SCREEN, "#queues, #agents, #plots svg") == []

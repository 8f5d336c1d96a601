"""The pages as a user meets them at 1366x768 in a real browser: everything on one screen without
scrolling, the Korean/English switch (button and Alt+L, remembered), the shortcuts on the page;
and how soon a CTI event is on the desktop's screen.  One small center and one Chromium in a
loopback-only network namespace."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from hil_tests.desktop.browser import HEIGHT, WIDTH, Page, chromium
from hil_tests.desktop.netns import loopback_namespace
from hil_tests.desktop.page_latency import measure, percentile
from hil_tests.desktop.served import PASSWORDS, SUPERVISOR, ServedCenter

OFF_SCREEN = """return [...document.querySelectorAll(arguments[0])].filter(e => {
  const r = e.getBoundingClientRect();
  return r.width === 0 || r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight;
}).map(e => e.id || e.textContent.trim());"""


@pytest.fixture(scope="module")
def browser_and_box():
    with loopback_namespace(), ServedCenter() as box, chromium() as driver:
        yield driver, box


def test_both_pages_fit_1366x768_and_speak_korean_or_english(browser_and_box):
    driver, box = browser_and_box
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


def test_every_event_reaches_the_rendered_desktop_and_its_latency_is_measured(browser_and_box):
    driver, box = browser_and_box
    driver.switch_to.new_window("window")
    figures = measure(driver, box, samples=40)
    assert figures["samples"] == 40
    assert 0 <= figures["page_event_latency_ms_p50"] <= figures["page_event_latency_ms_p99"] \
        <= figures["page_event_latency_ms_max"]
    # Far above the goal (100 ms) so a loaded machine cannot fail it; the benchmark reports the figure.
    assert figures["page_event_latency_ms_p99"] < 2000
    # Split at the page's WebSocket: the box's share and the page's add up to the whole way.
    assert 0 <= figures["page_event_arrival_ms_p50"] <= figures["page_event_latency_ms_max"]
    assert 0 <= figures["page_event_render_ms_p50"] <= figures["page_event_latency_ms_max"]


def test_percentiles_of_the_latencies():
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0
    assert percentile([7.0], 99) == 7.0

"""Headless Chromium through chromedriver (Selenium), started in the calling thread's network
namespace, with a fresh profile and nothing that reaches out: no background networking,
component updates, sync or first-run pages.  The window is 1366x768, the size the pages are
laid out for.  Given a WAV, Chromium's fake media device plays it as the microphone (looped) and
the page may open peer connections over loopback: the agent's softphone in a real browser."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import JavascriptException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

WIDTH, HEIGHT = 1366, 768
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
         "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio", "--hide-scrollbars",
         f"--window-size={WIDTH},{HEIGHT}")


class BrowserMissing(RuntimeError):
    pass


def executables() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        raise BrowserMissing("Debian's chromium and chromium-driver are needed (make deps installs them): "
                             f"chromium {'found' if chromium else 'missing'}, chromedriver {'found' if driver else 'missing'}")
    return chromium, driver


@contextlib.contextmanager
def chromium(lang: str = "ko", microphone_wav: str | None = None):
    """A WebDriver on a new headless Chromium with a profile of its own, closed at the end;
    `microphone_wav`: the WAV its fake microphone plays, granted to the pages without asking."""
    binary, driver_path = executables()
    with tempfile.TemporaryDirectory(prefix="pribox-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--lang={lang}")
        if microphone_wav is not None:
            for flag in ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                         f"--use-file-for-fake-audio-capture={microphone_wav}",
                         "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection"):
                options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the pages' console, for failures
        driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
        try:
            viewport(driver)
            yield driver
        finally:
            driver.quit()


def viewport(driver) -> None:
    """The current tab's page itself 1366x768 (the window's size would include its frame)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})


class Page:
    """One browser tab on one of the box's pages, with waits that name what did not happen."""

    def __init__(self, driver, handle: str):
        self.driver, self.handle = driver, handle

    @classmethod
    def open(cls, driver, url: str, new_window: bool = False) -> "Page":
        """The page in the current tab, or in a new window: a window of its own stays visible
        (a background tab would have its timers and frames throttled)."""
        if new_window:
            driver.switch_to.new_window("window")
            viewport(driver)
        driver.get(url)
        return cls(driver, driver.current_window_handle)

    def focus(self) -> "Page":
        if self.driver.current_window_handle != self.handle:
            self.driver.switch_to.window(self.handle)
        return self

    def find(self, css: str):
        return self.focus().driver.find_element(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        """The element's text, read in one step (a re-render cannot make it stale)."""
        found = self.js("const e = document.querySelector(arguments[0]); return e ? e.innerText : null;", css)
        if found is None:
            raise LookupError(f"no element {css!r} on the page")
        return found.strip()

    def attribute(self, css: str, name: str) -> str | None:
        found = self.js("const e = document.querySelector(arguments[0]); return e ? [e.getAttribute(arguments[1])] : null;",
                        css, name)
        if found is None:
            raise LookupError(f"no element {css!r} on the page")
        return found[0]

    def type(self, css: str, value: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(value)

    def click(self, css: str) -> None:
        self.find(css).click()

    def js(self, script: str, *args):
        return self.focus().driver.execute_script(script, *args)

    def until(self, condition, what: str, timeout: float = 10.0, every: float = 0.05):
        """Polls `condition()` (on this tab) until it is truthy; its last value."""
        deadline = time.monotonic() + timeout
        last_error = None
        while True:
            self.focus()
            try:
                value = condition()
                if value:
                    return value
            except (StaleElementReferenceException, JavascriptException, LookupError) as exc:
                last_error = exc
            except Exception as exc:  # an element not there yet
                if type(exc).__name__ != "NoSuchElementException":
                    raise
                last_error = exc
            if time.monotonic() > deadline:
                status = self.status_bar()
                raise TimeoutException(f"{what}: not within {timeout} s (status bar: {status!r}; "
                                       f"last error: {last_error})")
            time.sleep(every)

    def until_text(self, css: str, expected: str, timeout: float = 10.0) -> str:
        return self.until(lambda: expected in self.text(css) and self.text(css), f"{css} showing {expected!r}", timeout)

    def status_bar(self) -> str:
        try:
            return self.driver.find_element(By.ID, "status-bar").text
        except Exception:
            return ""

    def enabled(self, css: str) -> bool:
        return self.find(css).is_enabled()

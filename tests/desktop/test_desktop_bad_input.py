"""What the pages do with what goes wrong, in a real browser: a stale token sends the page back to
its login with the box's reason; a page of another origin can neither open the WebSocket nor
drive an agent with a token it holds; a second login as the same agent at another extension is
refused on the login form while the first desktop keeps working.  One Chromium and one small
center (the engine and the API without the daemon) in a loopback-only network namespace."""

from __future__ import annotations

import json
import urllib.request

import pytest
from aiohttp import web

from hil_tests.desktop.browser import Page, chromium
from hil_tests.desktop.netns import interfaces, loopback_namespace
from hil_tests.desktop.served import PASSWORDS, ServedCenter


@pytest.fixture(scope="module")
def browser_and_box():
    with loopback_namespace():
        assert interfaces() == ["lo"]
        with ServedCenter() as box, chromium() as driver:
            yield driver, box


@pytest.fixture
def fresh(browser_and_box):
    """One window on about:blank with empty storage, every agent logged out, tokens current."""
    driver, box = browser_and_box
    for handle in driver.window_handles[1:]:
        driver.switch_to.window(handle)
        driver.close()
    driver.switch_to.window(driver.window_handles[0])
    driver.get(box.base + "/desktop/")
    driver.execute_script("sessionStorage.clear(); localStorage.clear();")
    driver.get("about:blank")
    for agent in PASSWORDS:
        if box.agent_state(agent) != "LOGGED_OUT":
            box.run(box.runner, "logout", agent)
    return driver, box


def log_in(page: Page, agent: str, extension: str) -> None:
    page.until(lambda: not "hidden" in page.attribute("#login", "class"), "the login form")
    page.type("#login-agent", agent)
    page.type("#login-password", PASSWORDS[agent])
    page.type("#login-extension", extension)
    page.click("#login-submit")


def state_of(page: Page) -> str:
    return page.attribute("#state-big", "data-state")


def on_login_form(page: Page) -> bool:
    return "hidden" not in page.attribute("#login", "class") and "hidden" in page.attribute("#desk", "class")


def http(box: ServedCenter, method: str, path: str, body=None, headers=None) -> tuple[int, dict]:
    request = urllib.request.Request(box.base + path, method=method, headers={"Content-Type": "application/json",
                                                                               **(headers or {})},
                                     data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_expired_token_sends_the_desktop_back_to_its_login_with_the_reason(fresh):
    driver, box = fresh
    page = Page.open(driver, box.base + "/desktop/")
    log_in(page, "kim", "2001")
    page.until(lambda: state_of(page) == "NOT_READY", "kim logged in")
    box.expire_tokens()
    page.click("#btn-ready")
    page.until(lambda: on_login_form(page), "the login form after the refused request")
    message = page.text("#login-message")
    assert "세션이 만료" in message and "token expired" in message, message
    assert box.agent_state("kim") == "NOT_READY"                # the refused request changed nothing
    assert page.js("return sessionStorage.getItem('pribox.session.desktop')") is None


def test_a_token_the_box_does_not_know_is_met_with_the_login_form_on_reload(fresh):
    driver, box = fresh
    page = Page.open(driver, box.base + "/desktop/")
    page.js("sessionStorage.setItem('pribox.session.desktop', JSON.stringify("
            "{token: 'from-before-the-restart', agent: 'kim', extension: '2001'}))")
    driver.refresh()
    page.until(lambda: on_login_form(page) and page.text("#login-message"), "the login form with a reason")
    assert "unknown token" in page.text("#login-message")
    assert page.find("#login-agent").get_attribute("value") == "kim"      # who it was, to log in again


EVIL_PAGE = """<!DOCTYPE html><html><body><script>
const [box, token] = location.hash.slice(1).split("|");
window.result = {ws: "pending", post: "pending"};
const ws = new WebSocket(box.replace("http", "ws") + "/api/v1/events?token=" + token);
ws.onopen = () => { window.result.ws = "open"; };
ws.onerror = () => { window.result.ws = "refused"; };
ws.onmessage = (m) => { window.result.ws = "message " + m.data; };
// A simple request needs no preflight: only the box's Origin check stands in its way.
fetch(box + "/api/v1/agents/kim/ready?token=" + token,
      {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: ""})
  .then(() => { window.result.post = "sent"; }, (e) => { window.result.post = "failed " + e; });
</script></body></html>"""


def test_a_page_of_another_origin_can_neither_listen_nor_act_with_a_stolen_token(fresh):
    driver, box = fresh
    status, answer = http(box, "POST", "/api/v1/login", {"agent": "kim", "password": PASSWORDS["kim"], "extension": "2001"})
    assert status == 200
    token = answer["token"]
    app = web.Application()

    async def evil(request):
        return web.Response(text=EVIL_PAGE, content_type="text/html")
    app.router.add_get("/", evil)
    other = box.serve_elsewhere(app)
    page = Page.open(driver, f"http://127.0.0.1:{other}/#{box.base}|{token}")
    page.until(lambda: page.js("return window.result.ws !== 'pending' && window.result.post !== 'pending'"),
               "the other site's attempts to finish")
    result = page.js("return window.result")
    assert result["ws"] == "refused", result
    assert box.agent_state("kim") == "NOT_READY"               # the no-cors POST did not make kim ready
    # What the box answers such a request, and that the box's own pages pass.
    status, answer = http(box, "POST", "/api/v1/agents/kim/ready", headers={
        "Authorization": f"Bearer {token}", "Origin": f"http://127.0.0.1:{other}"})
    assert status == 403 and f"http://127.0.0.1:{other}" in answer["error"] and "origin" in answer["error"]
    status, answer = http(box, "POST", "/api/v1/agents/kim/ready", headers={
        "Authorization": f"Bearer {token}", "Origin": box.base})
    assert status == 200 and answer["state"] == "READY"


def test_a_second_login_as_the_same_agent_elsewhere_is_refused_and_the_first_keeps_working(fresh):
    driver, box = fresh
    first = Page.open(driver, box.base + "/desktop/")
    log_in(first, "lee", "2002")
    first.until(lambda: state_of(first) == "NOT_READY", "lee logged in at 2002")
    second = Page.open(driver, box.base + "/desktop/", new_window=True)
    log_in(second, "lee", "2009")
    second.until(lambda: second.text("#login-message"), "the second login's refusal")
    message = second.text("#login-message")
    assert "already logged in at extension '2002'" in message, message
    assert on_login_form(second)
    first.click("#btn-ready")
    first.until(lambda: state_of(first) == "READY", "the first desktop still driving lee")
    assert box.agent_state("lee") == "READY"

"""An agent takes a real call in the browser while the supervisor watches the wallboard.

The daemon on the embedded default (the carrier on span 2, the center's PBX on span 4, both the
simulator) and headless Chromium run in one loopback-only network namespace.  Agent lee logs in
on /desktop/ and the supervisor on /wallboard/ (a window each).  The carrier's call enters a
two-node IVR that collects the account number by DTMF and queues the caller; the wallboard shows
one waiting; lee goes ready with the keyboard shortcut; the popup shows the caller's and the
dialled number and the IVR's data; lee's extension answers on the PBX; lee holds, retrieves and
blind-transfers the caller to the desk phone 2005 (which answers, talks and hangs up), files a
wrap-up code with a note and goes ready; the wallboard shows the answered call and lee's count.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from firmware.config.loader import default_text
from firmware.config.passwords import hash_password
from hil_tests.desktop.browser import Page, chromium
from hil_tests.desktop.netns import interfaces, loopback_namespace
from hil_tests.scenarios.api import _run_one
from hil_tests.scenarios.bench import Simulator, freeze_heap, running_daemon
from hil_tests.scenarios.format import load_scenario_text
from pbx_cti.cti.eventlog import DB_FILE, K_WRAP_CODE, read_records
from runtime.clock import LoopClock

LEE_PASSWORD, BOSS_PASSWORD = "lee-pass", "boss-pass"
ACCOUNT = "110234567890"

FLOW = '''
[flow]
entry = "account"

[nodes.account]
type = "collect"
min_digits = 6
max_digits = 14
first_digit_timeout = 8
into = "account"
next = "to_queue"
on_max_retries = "bye"

[nodes.to_queue]
type = "route"
skill = "account_transfer"
wait = true
data = { service = "이체", account = "${account}" }

[nodes.bye]
type = "hangup"
cause = 16
'''

SCENARIO = '''
[scenario]
name = "an agent takes a call in the browser"
duration = 60
engines = ["pribox"]

[[phone]]
name = "lee_phone"
number = "2002"

[phone.expect]
answered = true
cleared_by = "box"

[[phone]]
name = "desk"
number = "2005"
hangup_after = 3

[phone.expect]
answered = true

[[call]]
name = "customer"
at = 1.0
called = "15881234"
calling = "01099998888"

[[call.dtmf]]
digits = "110234567890#"
after_answer = 1.0

[call.expect]
answered = true
cause = 16

[call.expect.cdr]
queue = "account_transfer"
agent = "lee"
'''


def box_config(tmp_path: Path) -> str:
    flow = tmp_path / "account.toml"
    flow.write_text(FLOW)
    text = default_text(str(tmp_path))
    text = text.replace('id = "lee"\n', f'id = "lee"\npassword_hash = "{hash_password(LEE_PASSWORD, n=16, r=1, p=1)}"\n')
    text = text.replace('target = "ivr:main"', 'target = "ivr:account"')
    text = text.replace("[console]\nenabled = true", "[console]\nenabled = false")
    # lee files the wrap-up by hand: the queue's timed wrap-up longer than the test.
    text = text.replace('name = "account_transfer"\ngroup = "account_transfer"\nring_timeout = 15\nwrap_up = 10',
                        'name = "account_transfer"\ngroup = "account_transfer"\nring_timeout = 15\nwrap_up = 120')
    supervisor = hash_password(BOSS_PASSWORD, n=16, r=1, p=1)
    return text + (f'\n[api]\nport = 0\n\n[[api.supervisor]]\nname = "boss"\npassword_hash = "{supervisor}"\n'
                   f'\n[ivr]\nflows = ["{flow}"]\n')


def state_of(page: Page) -> str:
    return page.attribute("#state-big", "data-state")


def queue_cell(board: Page, field: str) -> str:
    return board.text(f'#queues tr[data-queue="account_transfer"] td[data-field="{field}"]')


def agent_cell(board: Page, field: str) -> str:
    return board.text(f'#agents tr[data-agent="lee"] [data-field="{field}"]')


def log_in(driver, base: str) -> tuple[Page, Page]:
    desk = Page.open(driver, base + "/desktop/")
    desk.type("#login-agent", "lee")
    desk.type("#login-password", LEE_PASSWORD)
    desk.type("#login-extension", "2002")
    desk.click("#login-submit")
    desk.until(lambda: state_of(desk) == "NOT_READY", "lee logged in, not ready")
    desk.until(lambda: "●" in desk.text("#ws-status"), "the desktop's WebSocket")
    board = Page.open(driver, base + "/wallboard/", new_window=True)
    board.type("#login-name", "boss")
    board.type("#login-password", BOSS_PASSWORD)
    board.click("#login-submit")
    board.until(lambda: agent_cell(board, "state") == "이석", "the wallboard's row of lee")
    board.until(lambda: "●" in board.text("#ws-status"), "the wallboard's WebSocket")
    return desk, board


def during_the_call(desk: Page, board: Page, seen: dict) -> None:
    board.until(lambda: queue_cell(board, "waiting") == "1", "the wallboard showing the caller waiting", 30)
    seen["longest_wait_shown"] = queue_cell(board, "longest_wait")
    # Ready by the keyboard shortcut (Alt+R).
    desk.focus()
    ActionChains(desk.driver).key_down(Keys.ALT).send_keys("r").key_up(Keys.ALT).perform()
    desk.until(lambda: desk.text("#call-caller") == "01099998888", "the call popup with the caller's number", 15)
    seen["popup"] = {"caller": desk.text("#call-caller"), "dialled": desk.text("#call-dialled"),
                     "queue": desk.text("#call-queue"), "account": desk.text('#call-ivr dd[data-field="account"]'),
                     "service": desk.text('#call-ivr dd[data-field="service"]')}
    desk.until(lambda: state_of(desk) == "TALKING", "lee talking (the extension answered)", 15)
    board.until(lambda: queue_cell(board, "waiting") == "0" and agent_cell(board, "state") == "통화중",
                "the wallboard: nobody waiting, lee talking")
    desk.click("#btn-hold")
    desk.until(lambda: state_of(desk) == "HOLD", "held")
    board.until(lambda: agent_cell(board, "state") == "보류", "the wallboard showing lee's hold")
    desk.click("#btn-retrieve")
    desk.until(lambda: state_of(desk) == "TALKING", "retrieved")
    desk.type("#target", "extension:2005")
    desk.click("#btn-blind")
    desk.until(lambda: state_of(desk) == "WRAP_UP", "lee in wrap-up after the blind transfer")


def after_the_call(desk: Page, board: Page, seen: dict) -> None:
    desk.focus()
    from selenium.webdriver.support.ui import Select
    Select(desk.find("#wrap-code")).select_by_value("follow-up")
    desk.type("#wrap-note", "계좌 확인 후 이체 담당으로 전환")
    desk.click("#btn-wrap")
    desk.until(lambda: "OK" in desk.status_bar(), "the wrap-up saved")
    desk.click("#btn-ready")
    desk.until(lambda: state_of(desk) == "READY", "lee ready again")
    board.until(lambda: queue_cell(board, "answered") == "1" and queue_cell(board, "offered") == "1",
                "the wallboard's figures of today counting the call", 30)
    board.until(lambda: agent_cell(board, "calls") == "1", "lee's calls handled on the wallboard")
    seen["board"] = {f: queue_cell(board, f) for f in ("waiting", "offered", "answered", "abandoned", "sl", "asa")}
    seen["plots"] = board.js("return document.querySelectorAll('#plots svg').length")
    seen["bars"] = board.js("return document.querySelectorAll('#plots rect.bar').length")


def test_an_agent_takes_a_call_through_the_ivr_in_the_browser(tmp_path):
    config = tmp_path / "pribox.toml"
    config.write_text(box_config(tmp_path))
    seen: dict = {}

    async def run(driver, executor):
        loop = asyncio.get_running_loop()
        clock = LoopClock()
        async with running_daemon(str(config), clock, state_dir=str(tmp_path / "state")) as daemon:
            for _ in range(1500):
                if daemon.ctx is not None and daemon.ctx.peer("api") is not None and daemon.ctx.peer("api").port:
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the box's api service did not start within 30 s (is the configuration valid?)")
            base = f"http://127.0.0.1:{daemon.ctx.peer('api').port}"
            sim = Simulator(daemon, clock, "pribox", {1: 2}, {1: 4}, {1: 1})
            await sim.attach()
            try:
                desk, board = await loop.run_in_executor(executor, log_in, driver, base)
                freeze_heap()

                async def alongside(sim):
                    await loop.run_in_executor(executor, during_the_call, desk, board, seen)

                report = await _run_one(load_scenario_text(SCENARIO, "desktop_call.toml"), sim,
                                        str(tmp_path / "state" / "cdr.sqlite"), alongside=alongside)
                await loop.run_in_executor(executor, after_the_call, desk, board, seen)
                return report
            finally:
                sim.close()

    with loopback_namespace():
        seen["interfaces"] = interfaces()
        with chromium() as driver, ThreadPoolExecutor(1) as executor:
            report = asyncio.run(run(driver, executor))

    assert seen["interfaces"] == ["lo"]
    assert report.passed, report.text()
    # The carrier delivers 1588-1234 to the box's span as its DID, 7000 (the embedded default).
    assert seen["popup"] == {"caller": "01099998888", "dialled": "7000", "queue": "account_transfer",
                             "account": ACCOUNT, "service": "이체"}, seen["popup"]
    assert seen["board"]["waiting"] == "0" and seen["board"]["abandoned"] == "0"
    assert seen["board"]["sl"].endswith("%") and seen["plots"] == 4 and seen["bars"] >= 1
    wrap = [r for r in read_records(tmp_path / "state" / DB_FILE) if r.kind == K_WRAP_CODE]
    assert [(r.agent, r.data.get("code"), r.data.get("note")) for r in wrap] == [
        ("lee", "follow-up", "계좌 확인 후 이체 담당으로 전환")]

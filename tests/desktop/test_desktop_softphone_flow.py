"""The agent desktop's whole flow with the page's own softphone, in one real browser.

The daemon on the embedded default (the carrier on span 2, the center's PBX on span 4, both the
simulator) with its sip service, `[[sip_phone]]` 2002 and `[webrtc] enabled`, and headless
Chromium, all in one loopback-only network namespace.  Chromium's fake microphone plays a WAV:
1400 Hz in bursts of 0.6 s (the browser's noise suppression, on as for any agent, would wear a
steady tone down).  Agent lee logs in on /desktop/ at extension 2002; the page starts its
softphone, which registers as 2002's SIP contact; the supervisor watches /wallboard/ in a second
window.  The carrier places an E1 call that keys an account number into the IVR and is queued;
the wallboard shows one waiting; lee goes ready; the core rings the softphone's contact, the
popup shows the IVR's data, lee answers with the softphone's Answer button.  Then, both ways:
the carrier's 1 kHz is in the page's received track (a WebAudio AnalyserNode, read by Selenium)
and the WAV's 1400 Hz is on the carrier's B-channel.  lee blind-transfers the caller to the desk
phone 2005 on the PBX, files a wrap-up code with a note, and the wallboard counts the call
(nobody waiting, one answered, lee's one call handled) while lee goes ready again.  About 25 s.

The same flow up to the talk, then the tab is closed mid-call: the caller's and lee's outcome
(test_a_browser_that_vanishes_mid_call).  About 10 s.
"""

from __future__ import annotations

import asyncio
import random
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from selenium.webdriver.support.ui import Select

from firmware.config.passwords import hash_password
from hil_tests.carrier import TestTone as CarrierTone
from hil_tests.desktop.browser import Page, chromium
from hil_tests.desktop.netns import interfaces, loopback_namespace
from hil_tests.scenarios import analysis
from hil_tests.scenarios.api import _run_one
from hil_tests.scenarios.bench import Simulator, running_daemon
from hil_tests.scenarios.format import load_scenario_text
from pbx_cti.cti.eventlog import DB_FILE, K_WRAP_CODE, read_records
from runtime.clock import LoopClock
from tests.desktop.test_desktop_call import ACCOUNT, agent_cell, box_config, log_in, queue_cell, state_of

PHONE_SECRET = "softphone-2002-secret"
MICROPHONE_HZ, CARRIER_HZ = 1400.0, 1000.0

SCENARIO = '''
[scenario]
name = "an agent takes an E1 call on the desktop's softphone"
duration = 60
engines = ["pribox"]

[[phone]]
name = "desk"
number = "2005"
hangup_after = 1

[phone.expect]
answered = true

[[call]]
name = "customer"
at = 1.0
called = "15881234"
calling = "01099998888"

[[call.dtmf]]
digits = "110234567890#"
after_answer = 0.5
on_ms = 60
off_ms = 60

[call.expect]
answered = true
cause = 16

[call.expect.cdr]
queue = "account_transfer"
agent = "lee"
'''


def microphone_wav(path: Path, seconds: float = 60.0) -> None:
    """1400 Hz at -10 dBm0, 0.6 s on and 0.4 s off, 8 kHz mono."""
    t = np.arange(int(8000 * seconds)) / 8000.0
    on = (t % 1.0) < 0.6
    samples = (np.sin(2 * np.pi * MICROPHONE_HZ * t) * 0.316 * 32767 * 0.707 * on).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.tobytes())


def softphone_config(tmp_path: Path, cti_keys: str = "") -> str:
    sip_port = random.randrange(20000, 30000)
    rtp = 2 * random.randrange(16000, 16500)
    return box_config(tmp_path).replace("\n[cti]\n", "\n[cti]\n" + cti_keys, 1) + (
        f'\n[sip]\naddress = "127.0.0.1"\nport = {sip_port}\nrtp_port_min = {rtp}\nrtp_port_max = {rtp + 58}\n'
        f'\n[[sip_phone]]\nextension = "2002"\npassword = "{PHONE_SECRET}"\n'
        '\n[webrtc]\nenabled = true\nrealtime_priority = false\n')


def softphone_state(desk: Page) -> str:
    return desk.js("return window.priboxSoftphone ? window.priboxSoftphone.state : null") or ""


def answer_on_the_softphone(desk: Page, board: Page, box, seen: dict) -> None:
    """In Selenium's thread; `box(fn)` runs fn(sim) on the daemon's loop and returns its result."""
    board.until(lambda: queue_cell(board, "waiting") == "1", "the wallboard showing the caller waiting", 30)
    seen["board_waiting"] = queue_cell(board, "waiting")
    desk.focus()
    desk.click("#btn-ready")
    desk.until(lambda: softphone_state(desk) == "ringing", "the page's softphone ringing", 15)
    desk.until(lambda: desk.text("#call-caller") == "01099998888", "the call popup with the caller's number")
    seen["popup"] = {"caller": desk.text("#call-caller"), "dialled": desk.text("#call-dialled"),
                     "queue": desk.text("#call-queue"), "account": desk.text('#call-ivr dd[data-field="account"]'),
                     "service": desk.text('#call-ivr dd[data-field="service"]')}
    seen["ringing_text"] = desk.text("#softphone-state")
    desk.click("#softphone-answer")
    desk.until(lambda: state_of(desk) == "TALKING" and softphone_state(desk) == "talking",
               "lee talking on the softphone", 10)
    board.until(lambda: queue_cell(board, "waiting") == "0" and agent_cell(board, "state") == "통화중",
                "the wallboard: nobody waiting, lee talking")
    seen["talking_at"] = box(start_carrier_tone)
    heard = lambda: desk.js("return window.priboxSoftphone.received(arguments[0])", CARRIER_HZ) or {}  # noqa: E731
    desk.until(lambda: heard().get("peak", -999) > -60 and heard().get("above", 0) > 30,
               "the carrier's 1 kHz in the page's received track", 8, every=0.1)
    seen["page_heard"] = heard()
    time.sleep(2.0)           # two bursts of the microphone's tone on the B-channel at least
    seen["talk_ends_at"] = box(lambda sim: sim.clock.now())


def during_the_call(desk: Page, board: Page, box, seen: dict) -> None:
    answer_on_the_softphone(desk, board, box, seen)
    desk.focus()
    desk.type("#target", "extension:2005")
    desk.click("#btn-blind")
    desk.until(lambda: state_of(desk) == "WRAP_UP", "lee in wrap-up after the blind transfer")
    desk.until(lambda: softphone_state(desk) == "ready", "the softphone idle again after the transfer")


def start_carrier_tone(sim) -> float:
    leg = next(leg for leg in sim.carrier[1].legs if leg.name == "customer" and not leg.done)
    sim.carrier[1].play(leg, CarrierTone(CARRIER_HZ, -10.0, 20.0))
    return sim.clock.now()


def after_the_call(desk: Page, board: Page, box, seen: dict) -> None:
    desk.focus()
    Select(desk.find("#wrap-code")).select_by_value("follow-up")
    desk.type("#wrap-note", "계좌 확인 후 이체 담당으로 전환")
    desk.click("#btn-wrap")
    desk.until(lambda: "OK" in desk.status_bar(), "the wrap-up saved")
    desk.click("#btn-ready")
    desk.until(lambda: state_of(desk) == "READY", "lee ready again")
    board.until(lambda: queue_cell(board, "answered") == "1" and queue_cell(board, "offered") == "1",
                "the wallboard's figures of today counting the call", 30)
    board.until(lambda: agent_cell(board, "calls") == "1" and agent_cell(board, "state") != "통화중",
                "lee's call handled on the wallboard")
    seen["board_after"] = {"waiting": queue_cell(board, "waiting"), "answered": queue_cell(board, "answered"),
                           "abandoned": queue_cell(board, "abandoned"), "lee_calls": agent_cell(board, "calls"),
                           "lee_state": agent_cell(board, "state")}


def run_flow(tmp_path: Path, scenario: str, during, after, seen: dict, cti_keys: str = ""):
    """The daemon, the simulator and Chromium with its microphone in a loopback-only namespace;
    lee and the supervisor logged in and the softphone registered, the scenario run with
    `during(desk, board, box, seen)` alongside, then `after(...)`; (report, the customer's leg)."""
    config = tmp_path / "pribox.toml"
    config.write_text(softphone_config(tmp_path, cti_keys))
    wav = tmp_path / "microphone.wav"
    microphone_wav(wav)
    started = time.monotonic()

    async def run(driver, executor):
        loop = asyncio.get_running_loop()
        clock = LoopClock()
        async with running_daemon(str(config), clock, state_dir=str(tmp_path / "state")) as daemon:
            for _ in range(1500):
                ctx = daemon.ctx
                if ctx is not None and ctx.peer("api") is not None and ctx.peer("api").port \
                        and ctx.peer("sip") is not None and ctx.peer("sip").bound:
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the box's api and sip services did not start within 30 s")
            base = f"http://127.0.0.1:{daemon.ctx.peer('api').port}"
            sip = daemon.ctx.peer("sip")
            sim = Simulator(daemon, clock, "pribox", {1: 2}, {1: 4}, {1: 1})
            await sim.attach()

            def box(fn):
                async def call():
                    return fn(sim)
                return asyncio.run_coroutine_threadsafe(call(), loop).result(5)

            try:
                desk, board = await loop.run_in_executor(executor, log_in, driver, base)
                desk.until(lambda: softphone_state(desk) == "ready", "the page's softphone registered", 20)
                seen["registered"] = sip.handler.legs.registered_phone("2002")

                async def alongside(sim):
                    await loop.run_in_executor(executor, during, desk, board, box, seen)

                report = await _run_one(load_scenario_text(scenario, "desktop_softphone.toml"), sim,
                                        str(tmp_path / "state" / "cdr.sqlite"), alongside=alongside)
                await loop.run_in_executor(executor, after, desk, board, box, seen)
                customer = next(leg for leg in sim.carrier[1].legs if leg.name == "customer")
                return report, customer
            finally:
                sim.close()

    with loopback_namespace():
        seen["interfaces"] = interfaces()
        with chromium(microphone_wav=str(wav)) as driver, ThreadPoolExecutor(1) as executor:
            report, customer = asyncio.run(run(driver, executor))
    seen["seconds"] = time.monotonic() - started
    return report, customer


def test_an_agent_answers_an_e1_call_on_the_desktops_softphone_and_transfers_it(tmp_path):
    seen: dict = {}
    report, customer = run_flow(tmp_path, SCENARIO, during_the_call, after_the_call, seen)

    assert seen["interfaces"] == ["lo"]
    assert report.passed, report.text()
    assert seen["registered"] is not None, "the softphone's contact was not registered for 2002"
    assert seen["popup"] == {"caller": "01099998888", "dialled": "7000", "queue": "account_transfer",
                             "account": ACCOUNT, "service": "이체"}, seen["popup"]
    assert "01099998888" in seen["ringing_text"]
    assert seen["page_heard"]["above"] > 30, seen["page_heard"]
    # What the carrier's B-channel carried from lee's answer to the transfer: the microphone's tone.
    recording = customer.recording()
    first = int((seen["talking_at"] - customer.audio_started_at) * 8000)
    last = int((seen["talk_ends_at"] - customer.audio_started_at) * 8000)
    found = analysis.find_frequency(recording[first:last], MICROPHONE_HZ)
    assert found is not None, (f"the page's microphone ({MICROPHONE_HZ:g} Hz) is not on the B-channel: "
                               f"{analysis.level_dbm0(recording[first:last]):.1f} dBm0 over {(last - first) / 8000:.1f} s")
    assert seen["board_waiting"] == "1"
    assert seen["board_after"]["waiting"] == "0" and seen["board_after"]["answered"] == "1"
    assert seen["board_after"]["abandoned"] == "0" and seen["board_after"]["lee_calls"] == "1"
    wrap = [r for r in read_records(tmp_path / "state" / DB_FILE) if r.kind == K_WRAP_CODE]
    assert [(r.agent, r.data.get("code"), r.data.get("note")) for r in wrap] == [
        ("lee", "follow-up", "계좌 확인 후 이체 담당으로 전환")]
    assert seen["seconds"] < 60, seen["seconds"]


# The browser vanishes while lee talks: no transfer; the box keeps the caller (on hold for lee,
# then queued again) until the caller hangs up on its own.
VANISH = SCENARIO.replace('''[call.expect]
answered = true
cause = 16
''', '''[call.hangup]
after_answer = 14

[call.expect]
answered = true
cause = 16
''').replace('''[[phone]]
name = "desk"
number = "2005"
hangup_after = 1

[phone.expect]
answered = true
''', '')


def lee(sim) -> tuple[str, str]:
    agent = sim.daemon.ctx.peer("cti").runner.engine.agents["lee"]
    return agent.state.name, agent.reason


def callers(sim) -> dict:
    engine = sim.daemon.ctx.peer("cti").runner.engine
    return {caller_id: caller.status for caller_id, caller in engine.callers.items()}


def the_browser_vanishes(desk: Page, board: Page, box, seen: dict) -> None:
    answer_on_the_softphone(desk, board, box, seen)
    desk.focus()
    seen["vanished_at"] = box(lambda sim: sim.clock.now())
    desk.driver.close()                      # the tab dies: its socket and peer connection with it
    board.driver.switch_to.window(board.handle)
    customer = lambda sim: next((leg.released_at, leg.cause, leg.cleared_by)  # noqa: E731
                                for leg in sim.carrier[1].legs if leg.name == "customer")
    parked = lambda sim: sorted(sim.daemon.ctx.peer("cti").distributor.parked)  # noqa: E731
    deadline = time.monotonic() + 8
    seen["parked"] = []
    while time.monotonic() < deadline:
        seen["lee"] = box(lee)
        seen["parked"] = seen["parked"] or box(parked)
        seen["callers"] = box(callers)
        if seen["lee"][0] == "NOT_READY" and "waiting" in seen["callers"].values():
            break
        time.sleep(0.1)
    seen["customer_while_kept"] = box(customer)
    seen["board_lee"] = agent_cell(board, "state")


def nothing_more(desk: Page, board: Page, box, seen: dict) -> None:
    seen["lee_at_end"] = box(lee)


def test_a_browser_that_vanishes_mid_call(tmp_path):
    """lee's tab dies while talking on its softphone (Selenium closes the window: the page's
    WebSocket and peer connection go at once, no BYE).  The box treats it as an IP phone that
    fails: the softphone's leg is cleared with cause 41 and its contact unregistered, so lee goes
    NOT_READY (device-unavailable) and the wallboard shows lee away.  The caller is not cut off:
    `[cti] device_lost = "hold"` keeps it on hold for lee (2 s here), then queues it again at the
    head of its queue, where it waits until it hangs up itself; its CDR row names the queue and lee."""
    seen: dict = {}
    report, customer = run_flow(tmp_path, VANISH, the_browser_vanishes, nothing_more, seen,
                                cti_keys='device_lost = "hold"\ndevice_lost_hold = 2\n')
    assert seen["interfaces"] == ["lo"]
    assert report.passed, report.text()              # answered, the caller's own hang-up, the CDR's queue and agent
    assert seen["page_heard"]["above"] > 30, seen["page_heard"]
    assert seen["lee"] == ("NOT_READY", "device-unavailable"), seen["lee"]
    assert seen["lee_at_end"] == ("NOT_READY", "device-unavailable"), seen["lee_at_end"]
    assert seen["board_lee"] == "이석", seen["board_lee"]
    assert seen["parked"], "the caller was not kept on hold for lee"
    assert seen["customer_while_kept"][0] is None, f"the caller was cut off: {seen['customer_while_kept']}"
    assert list(seen["callers"].values()) == ["waiting"], f"the caller is not waiting in its queue again: {seen['callers']}"
    released_at, cause, cleared_by = customer.released_at, customer.cause, customer.cleared_by
    assert cleared_by != "box", (released_at, cause, cleared_by)
    assert seen["seconds"] < 60, seen["seconds"]

"""The acceptance test of the data plane: `pribox run` on the embedded default in real time, a
call up with audio both ways, and the control plane made as busy as a field engineer makes it —
the console's first-boot password, a login, a `configure commit`, a YMODEM upload, and 200 ms of
deliberate blocking in a control-plane task.  Through all of it: no slip, no frame alignment
loss, the D-channels never down, the call up with its audio intact both ways."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from firmware.appliance.daemon import Daemon, StoreSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from firmware.config.loader import default_text
from firmware.config.store import ConfigStore
from firmware.console.testing import PtyPair, Terminal
from firmware.isdn.events import CallAudioReport, IsdnEvent
from firmware.isdn.stack import DataLinkDown
from hil_tests import carrier as carrier_sim
from hil_tests.carrier import TONE_DBM0, StackCarrier
from runtime.bus import EventBus
from runtime.clock import LoopClock

ADMIN_PASSWORD = "field engineer 1"
DIGITS = "1234567890*#"
BOX_TONE_HZ = 600.0


def steady(pcm: np.ndarray, window: int = 80) -> np.ndarray:
    """Level in dB of each 10 ms window."""
    usable = len(pcm) // window * window
    x = pcm[:usable].astype(np.float64).reshape(-1, window)
    return 10 * np.log10(np.mean(x * x, axis=1) + 1e-9)


@pytest.mark.slow
def test_the_line_and_a_call_ride_out_a_busy_control_plane(tmp_path):
    pty = PtyPair()
    # Span 1 with the bring-up handler (answer and listen): it reports every digit and the tone's
    # level, which is what this test measures the audio by.
    text = default_text().replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")).replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2")
    text = text.replace('handler = "pbx"', 'handler = "answer"')
    text = text.replace('device = "/dev/ttyS0"', f'device = "{pty.slave_path}"')
    state = tmp_path / "state"
    store = ConfigStore(state)
    store.commit(0.0, "bootstrap", text=text)
    bus = EventBus()
    daemon = Daemon(StoreSource(store), load_box_services(), clock=LoopClock(), bus=bus,
                    notifier=Notifier(environ={}), state_dir=str(state))
    upload = tmp_path / "pribox-2.0.raucb"
    upload.write_bytes(bytes(range(256)) * 800)
    events = []
    bus.subscribe(IsdnEvent, events.append)
    bus.subscribe(CallAudioReport, events.append)
    seen = {}

    async def steps(term: Terminal) -> None:
        isdn = None
        while isdn is None or len(isdn.spans) < 2 or not all(s.layer2_up for s in isdn.spans.values()):
            await asyncio.sleep(0.05)
            isdn = daemon.ctx.peer("isdn") if daemon.ctx is not None else None
        spans = daemon.ctx.peer("spans").spans
        box, network = isdn.spans[1], isdn.spans[2]
        carrier = StackCarrier(network, digits=DIGITS, tone_seconds=7.0)
        await asyncio.sleep(0.5)
        before = {span_id: span.counters() for span_id, span in spans.items()}
        downs_before = sum(isinstance(e, IsdnEvent) and isinstance(e.event, DataLinkDown) for e in events)

        carrier.bearer.record(5)                     # what the box sends the caller
        recording_from = time.monotonic()
        heard_by_caller = []
        call = carrier.place_call(timeslot=5)
        while call.answered_at is None:
            await asyncio.sleep(0.01)
        box.bearer.play(5, carrier_sim.TestTone(hz=BOX_TONE_HZ, level_dbm0=-10.0, seconds=9.0))
        answered = time.monotonic()

        async def drain_caller_audio():
            while not call.done:
                heard_by_caller.append(carrier.bearer.recorded(5))
                await asyncio.sleep(0.1)
        drainer = asyncio.ensure_future(drain_caller_audio())

        # The console: first boot asks for the admin password, then a login.
        await term.expect("set the password of the 'admin' user")
        await term.expect("New admin password: ")
        term.send(ADMIN_PASSWORD + "\r")
        await term.expect("Repeat admin password: ")
        term.send(ADMIN_PASSWORD + "\r")
        await term.expect("Password for 'admin' set.")
        await term.expect("Username: ")
        term.send("admin\r" + ADMIN_PASSWORD + "\r")
        await term.expect("pribox#")
        term.send("terminal length 0\r")
        await term.expect("pribox#")
        # A configuration commit.
        term.send("configure replace\r")
        await term.expect(r"abandons it\)\.\r\n")
        edited = store.running_text().replace('hostname = "pribox"', 'hostname = "edge-9"')
        term.send("\r".join(edited.splitlines()) + "\rend\r")
        await term.expect("applies it\r\npribox#")
        term.send("configure commit\r")
        seen["commit"] = await term.expect("pribox#")
        # A YMODEM upload with lrzsz's sb, once the commit is applied (the reload runs after it).
        for _ in range(50):
            term.send("\r")
            if "edge-9#" in await term.expect("#"):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the commit was never applied: the prompt kept the old hostname")
        term.send("upload ymodem\r")
        await term.expect("Ctrl-X Ctrl-X cancels")
        status, stderr = await term.send_file(["sb", "-q", str(upload)])
        seen["upload"] = (status, stderr, await term.expect("edge-9#", timeout=15))
        # 200 ms of deliberate blocking in a control-plane task.
        time.sleep(0.2)
        seen["busy_seconds"] = time.monotonic() - answered

        while not call.done:
            await asyncio.sleep(0.05)
        await drainer
        await asyncio.sleep(0.3)
        seen["after"] = {span_id: span.counters() for span_id, span in spans.items()}
        seen["before"] = before
        seen["downs"] = sum(isinstance(e, IsdnEvent) and isinstance(e.event, DataLinkDown) for e in events) - downs_before
        seen["call"] = call
        seen["caller_heard"] = np.concatenate(heard_by_caller)
        seen["lag"] = daemon.loop_lag.figures()
        seen["tone_from"] = answered - recording_from

    async def scenario(term):
        try:
            await steps(term)
        finally:
            daemon.request_stop("test")

    async def main():
        term = Terminal(pty.master_fd, asyncio.get_running_loop())
        scene = asyncio.ensure_future(scenario(term))
        try:
            code = await asyncio.wait_for(daemon.run(install_signals=False), 90)
            await scene
        finally:
            term.close()
        return code

    try:
        assert asyncio.run(main()) == 0
    finally:
        pty.close()
    # The console did its work while the call was up.
    assert "Committed as commit 2" in seen["commit"]
    status, stderr, out = seen["upload"]
    assert status == 0, stderr and "Received pribox-2.0.raucb (204800 bytes)" in out
    assert (state / "uploads" / "pribox-2.0.raucb").read_bytes() == upload.read_bytes()
    assert seen["busy_seconds"] < 7.0, "the console work must happen while the call is up"
    # The line: not a slip, not an alignment loss, no bearer underrun; the D-channels stayed up.
    for span_id, after in seen["after"].items():
        before = seen["before"][span_id]
        for counter in ("slips", "frame_alignment_losses", "bearer_tx_underrun", "los_events", "ais_events"):
            assert after[counter] == before[counter], (span_id, counter, before[counter], after[counter])
    assert seen["downs"] == 0
    # The call: the box heard every digit and the whole tone; the caller heard the box's tone
    # without a gap from answer to the end of the box's tone.
    call = seen["call"]
    assert call.released_cause == 16
    report = next(e for e in events if isinstance(e, CallAudioReport) and e.span_id == 1)
    assert report.digits == DIGITS
    assert abs(report.tone_level_dbm0 - TONE_DBM0) <= 0.5 and 6.9 <= report.tone_seconds <= 7.1
    first = int((seen["tone_from"] + 0.3) * 8000)           # past the ringback and the switch-over
    tone = seen["caller_heard"][first:first + 8 * 8000]
    assert len(tone) == 8 * 8000
    levels = steady(tone)
    assert np.all(np.abs(levels - np.median(levels)) <= 0.5), "the box's tone had a gap or a glitch"
    spectrum = np.abs(np.fft.rfft(tone[:8000]))
    assert abs(np.argmax(spectrum) - BOX_TONE_HZ) <= 2     # 1 Hz bins: the box's 600 Hz
    assert seen["lag"]["max_ms"] >= 150                      # the loop was really blocked

"""The line in its own thread: a control plane that stalls costs the line nothing, and a far end
that cuts its signal is reported as loss of signal, never as AIS it did not send."""

from __future__ import annotations

import asyncio
import time

import pytest

from drivers.config import SpanConfig
from drivers.emulated import EmulatedSpan
from drivers.events import SpanAlarmsChanged
from drivers.lockstep import LockstepLine
from drivers.realtime import LineThreadPacer
from firmware.isdn.answer import AnswerAndListen
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.events import CallAudioReport, DtmfDigit, IsdnEvent
from firmware.isdn.stack import DataLinkDown, PriStack
from hil_tests.carrier import TONE_DBM0, StackCarrier
from runtime.bus import EventBus
from runtime.clock import LoopClock


@pytest.mark.slow
def test_a_call_keeps_its_audio_and_the_line_its_frames_through_control_plane_stalls(tmp_path):
    """Real time: the box (TE, line clock) and the carrier (NT) on a Unix-socket wire in the line
    thread, both ISDN stacks on the asyncio loop.  While the carrier's DTMF and 1 kHz tone play,
    the loop is blocked for 200 ms twice: not a slip, not an alignment loss, the D-channels stay
    up, every digit is heard and the tone measures right."""

    async def scenario():
        clock, bus = LoopClock(), EventBus()
        events = []
        bus.subscribe(SpanAlarmsChanged, events.append)
        bus.subscribe(IsdnEvent, events.append)
        bus.subscribe(DtmfDigit, events.append)
        bus.subscribe(CallAudioReport, events.append)
        common = dict(driver="emulated", law="alaw", crc4=True, wire=str(tmp_path / "e1.wire"), frames_per_datagram=8)
        nt = EmulatedSpan(SpanConfig(id=2, side="nt", clock="internal", wire_role="listen", **common),
                          clock=clock, bus=bus)
        te = EmulatedSpan(SpanConfig(id=1, side="te", clock="line", wire_role="connect", **common),
                          clock=clock, bus=bus)
        nt.open()
        te.open()
        pacer = LineThreadPacer(clock, [nt, te])
        pacer.start()
        box = IsdnSpan(te, PriStack("user"), clock=clock, bus=bus)
        box.handler = AnswerAndListen(box, ring_seconds=0.2)
        net = IsdnSpan(nt, PriStack("network"), clock=clock, bus=bus)
        carrier = StackCarrier(net, digits="1234567890#", tone_seconds=1.0)
        box.start()
        net.start()
        try:
            while not (box.layer2_up and net.layer2_up):
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.5)
            before = {s.id: s.counters() for s in (nt, te)}
            call = carrier.place_call(timeslot=7)
            while call.answered_at is None:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.6)           # in the middle of the digits
            time.sleep(0.2)                    # the control plane blocked (a hash, a commit, a GC)
            await asyncio.sleep(1.0)           # in the tone
            time.sleep(0.2)
            while not call.done:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
            after = {s.id: s.counters() for s in (nt, te)}
            return events, before, after, call, pacer.stats()
        finally:
            box.stop()
            net.stop()
            pacer.stop()
            te.close()
            nt.close()

    events, before, after, call, thread = asyncio.run(scenario())
    for span_id in (1, 2):
        assert after[span_id]["slips"] == before[span_id]["slips"], span_id
        assert after[span_id]["frame_alignment_losses"] == before[span_id]["frame_alignment_losses"], span_id
        assert after[span_id]["bearer_tx_underrun"] == before[span_id]["bearer_tx_underrun"], span_id
    assert not [e for e in events if isinstance(e, IsdnEvent) and isinstance(e.event, DataLinkDown)]
    assert "".join(e.digit for e in events if isinstance(e, DtmfDigit)) == "1234567890#"
    report = next(e for e in events if isinstance(e, CallAudioReport))
    assert report.digits == "1234567890#"
    assert abs(report.tone_level_dbm0 - TONE_DBM0) <= 0.5 and 0.95 <= report.tone_seconds <= 1.05
    assert call.released_cause == 16
    assert thread["ticks"] > 0 and thread["running"]


@pytest.mark.parametrize("how", ["unplug", "cut"])
def test_a_far_end_that_goes_silent_and_returns_is_los_raised_and_cleared_never_ais(how):
    line = LockstepLine().open()
    seen = []
    line.bus.subscribe(SpanAlarmsChanged, seen.append)
    try:
        line.run_until(lambda: line.te.status().layer1_up and line.nt.status().layer1_up, 1.0)
        seen.clear()
        for _ in range(3):
            if how == "unplug":
                line.te.wire.plugged = False
            else:
                line.nt.rx_impairment.set_cut(True)
                line.te.rx_impairment.set_cut(True)
            line.run(0.3)
            if how == "unplug":
                line.te.wire.plugged = True
            else:
                line.nt.rx_impairment.set_cut(False)
                line.te.rx_impairment.set_cut(False)
            line.run(0.5)
        assert line.te.status().layer1_up and line.nt.status().layer1_up
    finally:
        line.close()
    raised = [(e.span_id, a) for e in seen for a in e.raised]
    cleared = [(e.span_id, a) for e in seen for a in e.cleared]
    assert not [r for r in raised if r[1] == "ais"], raised
    for span_id in (1, 2):
        assert raised.count((span_id, "los")) == 3 and cleared.count((span_id, "los")) == 3, (raised, cleared)

"""The box's PRI stack bound to its span, against the carrier simulator's stack on the far end of
a lockstep E1 line (ManualClock): a call answered with CALL PROCEEDING / ALERTING (PI 8) /
CONNECT, in-band DTMF and tone level heard on the Channel ID's timeslot, clearing; layer 1 cut
mid-call shorter and longer than T309; hostile frames."""

import numpy as np

from firmware.isdn.events import CallAudioReport, DtmfDigit, IsdnFault, IsdnTrace
from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.events import (Alerting, Answered, CallProceeding, IncomingCall, Released,
                                       StatusReceived)
from firmware.isdn.show import show_isdn_status
from firmware.isdn.stack import DataLinkDown, DataLinkUp
from tests.support.isdn_line import BoxAndCarrier


def test_a_carrier_call_is_answered_and_its_dtmf_and_tone_are_heard():
    rig = BoxAndCarrier()
    try:
        assert rig.up() < 0.5
        box_span = rig.box.span_id
        call = rig.carrier.place_call(timeslot=17)
        rig.run_until(lambda: call.done, 10.0)
        rig.run(0.2)
        incoming = rig.of(IncomingCall, box_span)[0]
        assert (incoming.called, incoming.calling.digits, incoming.redirecting.digits) == \
            ("15881234", "0212345678", "07012345678")
        assert incoming.redirecting.reason == ie.RedirectReason.UNCONDITIONAL
        assert incoming.timeslot == 17
        net = rig.net.span_id
        assert [type(e) for e in rig.of((CallProceeding, Alerting, Answered), net)] == \
            [CallProceeding, Alerting, Answered]
        assert rig.of(Alerting, net)[0].inband          # progress indicator 8: ringback is on the channel
        digits = rig.of(DtmfDigit, box_span)
        assert "".join(d.digit for d in digits) == "1234#"
        assert {d.timeslot for d in digits} == {17}
        report = rig.of(CallAudioReport, box_span)[0]
        assert report.digits == "1234#" and abs(report.tone_level_dbm0 - (-10.0)) <= 0.5
        assert 0.9 <= report.tone_seconds <= 1.1
        assert [r.cause for r in rig.of(Released)] == [16, 16]
        assert rig.box.stack.channels.is_idle(17) and not rig.box.stack.calls
        traces = [t.text for t in rig.of(IsdnTrace, box_span)]
        assert traces[0].startswith("ISDN Se2:15: RX <- SETUP pd = 8")
        assert any("TX -> ALERTING" in t and "Progress Ind" in t for t in traces)
        assert rig.box.counters["faults"] == 0 and rig.box.counters["tx_queue_full"] == 0
    finally:
        rig.close()


def test_the_box_plays_ringback_on_the_channel_until_it_answers():
    rig = BoxAndCarrier()
    try:
        rig.up()
        rig.net.bearer.record(1)
        placed = rig.clock.now()
        call = rig.carrier.place_call(timeslot=1)
        rig.run_until(lambda: call.answered_at is not None, 5.0)
        heard = rig.net.bearer.recorded(1)       # from `placed` on, 8000 samples a second
        ringing = heard[int(0.3 * 8000):int((call.answered_at - placed - 0.1) * 8000)]
        # 440+480 Hz at -13 dBm0 each: about -10 dBm0 together while on
        level = 3.14 + 10 * np.log10(np.mean(ringing.astype(float) ** 2) / (32767.0 ** 2 / 2))
        assert -12.0 < level < -8.0
    finally:
        rig.close()


def test_show_isdn_status_lists_layers_and_the_active_call():
    rig = BoxAndCarrier(hangup_after_audio=False)
    try:
        rig.up()
        call = rig.carrier.place_call(timeslot=5)
        rig.run_until(lambda: call.answered_at is not None, 5.0)
        rig.run(0.1)
        text = show_isdn_status([rig.box, rig.net])
        assert "ISDN Se2:15 interface" in text and "ISDN Se1:15 interface" in text
        assert text.count("State = MULTIPLE_FRAME_ESTABLISHED") == 2
        assert text.count("1 Active Layer 3 Call(s)") == 2
        assert "channel B5 (TS5), state 10 (Active)" in text
        assert text.endswith("Total Allocated ISDN CCBs = 2")
    finally:
        rig.close()


def _active_call(rig):
    rig.up()
    call = rig.carrier.place_call(timeslot=3)
    rig.run_until(lambda: call.answered_at is not None, 5.0)
    rig.run(0.5)
    return call


def test_a_layer1_cut_shorter_than_t309_keeps_the_call():
    rig = BoxAndCarrier(hangup_after_audio=False)
    try:
        call = _active_call(rig)
        rig.cut(True)
        rig.run_until(lambda: not rig.box.layer2_up and not rig.net.layer2_up, 1.0)
        rig.run(3.0)
        assert rig.box.stack.calls and rig.net.stack.calls     # T309 (6 s) runs
        rig.cut(False)
        rig.run_until(lambda: rig.box.layer2_up and rig.net.layer2_up, 3.0)
        rig.run(0.5)
        assert not call.done and rig.box.stack.calls
        assert [c.wire_state() for c in rig.box.stack.calls.values()] == [10]
        assert rig.of(StatusReceived)                                       # 5.8.8: states compared
        assert len(rig.of(DataLinkDown, rig.box.span_id)) == 1 and len(rig.of(DataLinkUp, rig.box.span_id)) == 2
        assert not rig.of(Released)
        rig.carrier.hangup(call, 16)
        rig.run_until(lambda: call.done, 2.0)
        assert call.released_cause == 16
    finally:
        rig.close()


def test_a_layer1_cut_longer_than_t309_clears_the_call_with_cause_27():
    rig = BoxAndCarrier(hangup_after_audio=False)
    try:
        call = _active_call(rig)
        rig.cut(True)
        rig.run(7.0)
        assert [r.cause for r in rig.of(Released)] == [Cause.DESTINATION_OUT_OF_ORDER] * 2
        assert call.done and call.released_cause == 27
        assert rig.box.stack.channels.is_idle(3)
        rig.cut(False)
        rig.run_until(lambda: rig.box.layer2_up and rig.net.layer2_up, 3.0)
        again = rig.carrier.place_call(timeslot=3)                         # the channel is usable again
        rig.run_until(lambda: again.answered_at is not None, 5.0)
    finally:
        rig.close()


def test_hostile_frames_never_stop_the_span():
    rig = BoxAndCarrier()
    try:
        rig.up()
        rng = np.random.default_rng(7)
        garbage = [bytes([0x02, 0x01]) + rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (0, 1, 5, 40)]
        garbage += [b"\x00", b"\xff" * 3, bytes([0x02, 0x01, 0x00, 0x00, 0x08, 0x02, 0x00, 0x01, 0x05])]
        garbage += [rng.integers(0, 256, 250, dtype=np.uint8).tobytes()]
        for frame in garbage:
            rig.line.nt.send_dchannel(frame)
            rig.run(0.01)
        rig.run(0.2)

        def explode(frame, now):
            raise RuntimeError("a bug in the stack")

        real = rig.box.stack.receive_frame
        rig.box.stack.receive_frame = explode
        rig.line.nt.send_dchannel(b"\x02\x01\x01\x01")
        rig.run(0.05)
        rig.box.stack.receive_frame = real
        assert rig.box.counters["faults"] == 1 and rig.of(IsdnFault)[0].detail.endswith("a bug in the stack")
        assert rig.box.running
        rig.run_until(lambda: rig.box.layer2_up and rig.net.layer2_up, 5.0)
        call = rig.carrier.place_call()
        rig.run_until(lambda: call.done, 10.0)
        assert call.answered_at is not None and call.released_cause == 16
    finally:
        rig.close()


def test_the_carrier_answers_a_call_from_the_box_after_a_korean_ringback():
    from dsp.tones import CallProgressDetector

    rig = BoxAndCarrier(ring_seconds=3.5)
    detector = CallProgressDetector("KR")
    try:
        rig.up()
        rig.box.bearer.record(9)
        call_id = rig.box.setup("0212345678", calling="15881234", timeslot=9)
        rig.run_until(lambda: rig.of(Answered, rig.box.span_id), 6.0)
        heard = detector.process(rig.box.bearer.recorded(9))
        alerting = rig.of(Alerting, rig.box.span_id)[0]
        assert alerting.inband                                   # the network said: listen to the channel
        assert [r.name for r in heard] == ["ringback"]
        assert abs(heard[0].on_s - 1.0) < 0.1 and abs(heard[0].off_s - 2.0) < 0.1
        carrier_call = rig.carrier.calls[0]
        assert not carrier_call.outgoing and carrier_call.called == "0212345678" and carrier_call.timeslot == 9
        rig.box.disconnect(call_id, 16)
        rig.run_until(lambda: carrier_call.done, 2.0)
        assert carrier_call.cause_received == 16
    finally:
        rig.close()

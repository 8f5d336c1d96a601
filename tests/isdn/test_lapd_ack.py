"""Q.921 §5.6.2: an acknowledgement rides on an outgoing I-frame when layer 3 answers in the
same input cycle; otherwise an RR goes out in the same drain.  Polls stay immediate and exact."""

import pytest

from firmware.isdn.lapd import TIMER_RECOVERY, DlData, Lapd, LapdTimers, Role
from firmware.isdn.lapd_frames import Frame, Kind, decode, encode
from firmware.isdn.q921_trace import Q921Frame
from firmware.isdn.q931.events import CallProceeding, IncomingCall
from firmware.isdn.q931.messages import TRACE_NAMES, decode as decode_message
from tests.support.isdn_line import BoxAndCarrier
from tests.support.isdn_pair import StackPair
from tests.support.lapd_wire import Wire

USER_RSP_CR = 1   # responses carry C/R=1 from the user side, 0 from the network (Q.921 §3.3.2)
NET_RSP_CR = 0


def message_name(frame: Frame) -> str:
    return TRACE_NAMES[decode_message(frame.info).type]


@pytest.fixture
def active_call():
    """A call from the network to the user, answered; every frame drained."""
    p = StackPair()
    p.up()
    call = p.net.setup("0212345678", p.now, calling="01099998888")
    p.pump()
    (inc,) = p.take("user", IncomingCall)
    p.user.proceed(inc.call_id, p.now)
    p.user.answer(inc.call_id, p.now)
    p.pump()
    return p, call


def test_disconnect_answered_in_the_same_cycle_carries_the_ack_with_no_separate_rr(active_call):
    p, call = active_call
    p.net.disconnect(call, p.now)
    (disconnect,) = p.net.frames_to_send()
    sent = decode(disconnect)
    rr_before = p.user.lapd.counters["tx_RR"]
    p.user.receive_frame(disconnect, p.now)     # Q.931 answers with RELEASE inside this call
    out = [decode(f) for f in p.user.frames_to_send()]
    assert [f.kind for f in out] == [Kind.I]
    (release,) = out
    assert message_name(release) == "RELEASE"
    assert release.nr == (sent.ns + 1) % 128 and not release.pf
    assert p.user.lapd.counters["tx_RR"] == rr_before


def test_i_frame_nobody_answers_gets_its_rr_in_the_same_drain(active_call):
    p, call = active_call
    p.net.disconnect(call, p.now)
    p.user.receive_frame(p.net.frames_to_send()[0], p.now)
    (release,) = p.user.frames_to_send()
    p.net.receive_frame(release, p.now)         # network answers RELEASE COMPLETE at once
    (complete,) = p.net.frames_to_send()
    sent = decode(complete)
    assert message_name(sent) == "RELEASE_COMP" and sent.nr == (decode(release).ns + 1) % 128
    p.user.receive_frame(complete, p.now)       # the call is gone: nothing to answer with
    (ack,) = (decode(f) for f in p.user.frames_to_send())
    assert ack == Frame(Kind.RR, USER_RSP_CR, False, nr=(sent.ns + 1) % 128)


def test_polled_i_frame_gets_its_final_rr_first_and_the_answer_after(active_call):
    p, call = active_call
    p.net.disconnect(call, p.now)
    (disconnect,) = p.net.frames_to_send()
    polled = bytearray(disconnect)
    polled[3] |= 1                              # P=1: the peer wants an F=1 response now
    sent = decode(bytes(polled))
    p.user.receive_frame(bytes(polled), p.now)
    final, release = (decode(f) for f in p.user.frames_to_send())
    assert final == Frame(Kind.RR, USER_RSP_CR, True, nr=(sent.ns + 1) % 128)
    assert release.kind == Kind.I and message_name(release) == "RELEASE"
    assert release.nr == final.nr


def test_several_i_frames_in_one_cycle_are_acknowledged_once_up_to_the_last():
    w = Wire(Lapd(Role.USER), Lapd(Role.NETWORK))
    w.a.establish(w.now)
    w.pump()
    for ns in range(3):
        w.b.receive_frame(encode(Frame(Kind.I, 0, False, ns=ns, nr=0, info=b"m%d" % ns)), w.now)
    (ack,) = (decode(f) for f in w.b.frames_to_send())
    assert ack == Frame(Kind.RR, NET_RSP_CR, False, nr=3)
    assert [e.payload for e in iter(w.b.next_event, None) if isinstance(e, DlData)] == [b"m0", b"m1", b"m2"]


def test_an_answer_sent_before_the_next_i_frame_arrives_does_not_cover_it():
    w = Wire(Lapd(Role.USER), Lapd(Role.NETWORK))
    w.a.establish(w.now)
    w.pump()
    w.b.receive_frame(encode(Frame(Kind.I, 0, False, ns=0, nr=0, info=b"SETUP")), w.now)
    w.b.send(b"CALL PROCEEDING", w.now)         # carries N(R)=1
    w.b.receive_frame(encode(Frame(Kind.I, 0, False, ns=1, nr=0, info=b"INFO")), w.now)
    answer, ack = (decode(f) for f in w.b.frames_to_send())
    assert answer.kind == Kind.I and answer.nr == 1
    assert ack == Frame(Kind.RR, NET_RSP_CR, False, nr=2)


def test_an_answer_held_back_in_timer_recovery_does_not_swallow_the_ack():
    w = Wire(Lapd(Role.USER), Lapd(Role.NETWORK))
    w.a.establish(w.now)
    w.pump()
    w.cut = True
    w.a.send(b"lost", w.now)
    w.run_for(1.0)                              # T200 ran out: enquiry sent, timer recovery
    assert w.a.state == TIMER_RECOVERY
    w.a.receive_frame(encode(Frame(Kind.I, 1, False, ns=0, nr=0, info=b"x")), w.now)
    w.a.send(b"answer", w.now)                  # I-frames wait for the enquiry's answer in state 8
    (ack,) = (decode(f) for f in w.a.frames_to_send())
    assert ack == Frame(Kind.RR, USER_RSP_CR, False, nr=1)


def test_own_busy_turns_the_pending_ack_into_rnr():
    w = Wire(Lapd(Role.USER), Lapd(Role.NETWORK))
    w.a.establish(w.now)
    w.pump()
    w.b.receive_frame(encode(Frame(Kind.I, 0, False, ns=0, nr=0, info=b"x")), w.now)
    w.b.set_own_busy(True, w.now)               # RNR at once, and it already acknowledges
    (rnr,) = (decode(f) for f in w.b.frames_to_send())
    assert rnr == Frame(Kind.RNR, NET_RSP_CR, False, nr=1)


def test_delayed_ack_leaves_t203_and_t200_alone():
    timers = LapdTimers(t200=1.0, t203=10.0)
    w = Wire(Lapd(Role.USER, timers), Lapd(Role.NETWORK, timers))
    w.a.establish(w.now)
    w.pump()
    w.clock.run_until(3.0)
    w.b.receive_frame(encode(Frame(Kind.I, 0, False, ns=0, nr=0, info=b"x")), w.now)
    assert w.b.get_timer() == 13.0              # T203 restarted by the I-frame, T200 not running
    w.b.frames_to_send()
    assert w.b.get_timer() == 13.0              # the RR sent at drain time changed nothing
    w.b.receive_frame(encode(Frame(Kind.I, 0, False, ns=1, nr=0, info=b"y")), w.now)
    w.b.send(b"answer", w.now)
    assert w.b.get_timer() == 4.0               # our I-frame runs T200 as always


def test_the_box_answers_a_carrier_setup_with_call_proceeding_that_acknowledges_it():
    """On the service path the handler's CALL PROCEEDING carries the SETUP's acknowledgement."""
    rig = BoxAndCarrier()
    try:
        rig.up()
        call = rig.carrier.place_call(timeslot=3)
        rig.run_until(lambda: rig.of(CallProceeding, rig.net.span_id), 2.0)
        box_frames = [(e.direction, decode(e.frame)) for e in rig.of(Q921Frame, rig.box.span_id)]
        setup_at = next(i for i, (d, f) in enumerate(box_frames)
                        if d == "RX" and f.kind == Kind.I and message_name(f) == "SETUP")
        setup = box_frames[setup_at][1]
        first_tx = next(f for d, f in box_frames[setup_at + 1:] if d == "TX")
        assert first_tx.kind == Kind.I and message_name(first_tx) == "CALL_PROC"
        assert first_tx.nr == (setup.ns + 1) % 128
        rig.run_until(lambda: call.done, 10.0)
    finally:
        rig.close()

"""The box as the user side placing calls toward libpri as the network (real time): the law in
the Bearer capability, hunting, congestion, T303 and T310 as libpri leaves them to run, early
media, NOTIFY and FACILITY, a SETUP without Channel identification, RESTART of the interface
before the first call."""

import pytest

from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.calls import Q931Timers
from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.events import (Alerting, Answered, CallProceeding, Disconnected, IncomingCall, Progress,
                                       ProtocolError, Released, RestartDone)
from firmware.isdn.q931.messages import MessageType as MT, decode
from tests.support.q931_libpri_link import LibpriLink, lib

ROSE_INVOKE = bytes.fromhex("91a10602010102010b")
FAST = Q931Timers(t303=0.3, t310=0.5)


@pytest.fixture
def box():
    lk = LibpriLink("user", q931_timers=FAST)
    lk.up()
    yield lk
    lk.close()


def sent(lk, direction: str) -> list:
    """Q.931 messages on the wire one way ("tx" ours, "rx" libpri's)."""
    out = []
    for d, _, frame in lk.tap:
        if d == direction and len(frame) > 4 and not frame[2] & 1:
            out.append(decode(frame[4:]))
    return out


def idle(lk) -> bool:
    lk.run_for(0.1)
    return not lk.stack.calls and set(lk.stack.channels.summary().values()) == {"idle"}


@pytest.mark.parametrize("law, layer1", [("alaw", 0x23), ("ulaw", 0x22)])
def test_the_bearer_carries_the_calls_law_to_libpri(box, law, layer1):
    cid = box.stack.setup("0212345678", box.now(), calling="15881234", law=law, hunting="ascending")
    ring = box.wait_libpri("RING")
    assert (ring.layer1, ring.channel) == (layer1, 1)
    lib.lp_proceeding(box.peer, ring.call, 1, 0)
    lib.lp_acknowledge(box.peer, ring.call, 1, 1)
    lib.lp_answer(box.peer, ring.call, 1)
    assert box.wait_ours(Alerting).inband
    box.wait_ours(Answered)
    box.stack.disconnect(cid, box.now())
    assert box.wait_libpri("HANGUP_REQ").cause == 16
    box.wait_ours(Released)
    assert idle(box)


def test_round_robin_hunting_moves_on_after_each_call(box):
    channels = []
    for _ in range(3):
        cid = box.stack.setup("1", box.now(), hunting="round_robin")
        ring = box.wait_libpri("RING")
        channels.append(ring.channel)
        lib.lp_hangup(box.peer, ring.call, Cause.NO_CIRCUIT_AVAILABLE)
        assert box.wait_ours(Released).call_id == cid
    assert channels == [1, 2, 3]


def test_congestion_34_from_libpri_before_any_answer(box):
    cid = box.stack.setup("0212345678", box.now())
    ring = box.wait_libpri("RING")
    lib.lp_hangup(box.peer, ring.call, Cause.NO_CIRCUIT_AVAILABLE)   # libpri: RELEASE COMPLETE at once
    released = box.wait_ours(Released)
    assert (released.call_id, released.cause) == (cid, 34)
    assert [m.type for m in sent(box, "rx") if m.call_ref == ring_ref(box)] == [MT.RELEASE_COMPLETE]
    assert idle(box)


def ring_ref(lk) -> int:
    return next(m.call_ref for m in sent(lk, "tx") if m.type == MT.SETUP)


def test_busy_17_after_alerting_with_the_busy_tone_in_band(box):
    box.stack.setup("0212345678", box.now())
    ring = box.wait_libpri("RING")
    lib.lp_proceeding(box.peer, ring.call, ring.channel, 0)
    lib.lp_acknowledge(box.peer, ring.call, ring.channel, 1)
    box.wait_ours(Alerting)
    lib.lp_hangup(box.peer, ring.call, Cause.USER_BUSY)
    assert box.wait_ours(Disconnected).cause == 17
    assert box.wait_ours(Released).cause == 17
    assert idle(box)


def test_libpri_leaving_the_setup_unanswered_runs_t303_twice_then_102(box):
    start = box.now()
    cid = box.stack.setup("0212345678", box.now())
    box.wait_libpri("RING")                          # libpri offers it and its application stays silent
    released = box.wait_ours(Released, timeout=3.0)
    assert (released.call_id, released.cause) == (cid, Cause.RECOVERY_ON_TIMER_EXPIRY)
    assert 0.6 <= box.now() - start < 1.5
    ours = [m.type for m in sent(box, "tx")]
    assert ours.count(MT.SETUP) == 2 and ours[-1] == MT.RELEASE_COMPLETE
    assert decode_cause(sent(box, "tx")[-1]) == 102
    assert idle(box)


def decode_cause(msg) -> int:
    return msg.get(ie.Cause).value


def test_call_proceeding_then_nothing_clears_at_t310_with_102(box):
    cid = box.stack.setup("0212345678", box.now())
    ring = box.wait_libpri("RING")
    lib.lp_proceeding(box.peer, ring.call, ring.channel, 0)
    box.wait_ours(CallProceeding)
    assert box.wait_libpri("HANGUP_REQ", timeout=3.0).cause == Cause.RECOVERY_ON_TIMER_EXPIRY
    assert box.wait_ours(Released).call_id == cid
    assert idle(box)


def test_progress_8_from_libpri_opens_early_media_and_stops_t310(box):
    box.stack.setup("0212345678", box.now())
    ring = box.wait_libpri("RING")
    lib.lp_proceeding(box.peer, ring.call, ring.channel, 0)
    lib.lp_progress(box.peer, ring.call, ring.channel, 1)
    assert box.wait_ours(Progress).description == 8
    box.run_for(1.0)                                  # past T310: the call stays up
    assert not box.lp_events or all(e.type != "HANGUP_REQ" for e in box.lp_events)
    assert len(box.stack.calls) == 1


def test_notify_and_facility_during_a_call_are_taken_by_libpri(box):
    cid = box.stack.setup("0212345678", box.now())
    ring = box.wait_libpri("RING")
    lib.lp_proceeding(box.peer, ring.call, ring.channel, 0)
    lib.lp_answer(box.peer, ring.call, ring.channel)
    box.wait_ours(Answered)
    box.stack.notify(cid, 0, box.now())
    box.stack.facility(cid, ROSE_INVOKE, box.now())
    box.run_for(0.3)
    assert [m.type for m in sent(box, "tx")][-2:] == [MT.NOTIFY, MT.FACILITY]
    # libpri found nothing wrong with either: no STATUS came back, nothing was cleared.
    assert not [m for m in sent(box, "rx") if m.type == MT.STATUS]
    assert box.stack.q931.state_of(cid) == 10
    box.stack.disconnect(cid, box.now())
    box.wait_ours(Released)


def test_libpri_always_names_a_channel_in_its_setup_and_any_channel_is_refused(box):
    """libpri cannot send a SETUP without Channel identification (its own table makes the IE
    mandatory, as ours now does on the user side): asked for no channel it sends "any channel"
    with interface identifier 0x7f, which the box refuses (82) rather than picking a channel.
    The missing IE itself is played by raw messages in test_q931_errors.py."""
    call = lib.lp_new_call(box.peer)
    assert lib.lp_setup(box.peer, call, -1, 0, b"15881234", 0x21, b"0212345678", 0x21, 0, b"", 0, 1, 0x23) == 0
    box.run_for(0.3)
    (setup,) = [m for m in sent(box, "rx") if m.type == MT.SETUP]
    assert setup.get(ie.ChannelId).any_channel
    (answer,) = [m for m in sent(box, "tx") if m.call_ref == setup.call_ref]
    assert answer.type == MT.RELEASE_COMPLETE and decode_cause(answer) == Cause.CHANNEL_DOES_NOT_EXIST
    assert not [e for e in box.events if isinstance(e, IncomingCall)] and idle(box)


def test_restart_of_the_interface_before_the_first_call(box):
    box.stack.restart(box.now())
    assert box.wait_libpri("RESTART").channel in (None, 0xFF)
    done = box.wait_ours(RestartDone)
    assert done.whole_interface and done.acknowledged and not done.by_peer and len(done.timeslots) == 30
    restart = [m for m in sent(box, "tx") if m.type == MT.RESTART][0]
    assert restart.get(ie.RestartIndicator).restart_class == ie.RestartClass.ALL_INTERFACES
    assert not [e for e in box.events if isinstance(e, ProtocolError)]
    cid = box.stack.setup("1", box.now())
    assert box.wait_libpri("RING").channel == box.stack.calls[cid].timeslot


def test_restart_channel_by_channel_is_acknowledged_by_libpri_for_each(box):
    """restart_scope = "channels": one RESTART per B-channel, as for a switch refusing the
    whole-interface class (libpri itself takes either)."""
    timeslots = list(box.stack.channels.timeslots)
    box.stack.restart(box.now(), timeslots)
    done = [box.wait_ours(RestartDone) for _ in timeslots]
    assert sorted(d.timeslots[0] for d in done) == timeslots
    assert all(d.acknowledged and not d.whole_interface and not d.by_peer for d in done)
    assert sorted(e.channel for e in box.lp_events if e.type == "RESTART") == timeslots
    assert not [m for m in sent(box, "rx") if m.type == MT.STATUS] and idle(box)

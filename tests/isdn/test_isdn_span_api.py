"""The IsdnSpan call API the PBX drives, both ends ours on one lockstep line (virtual clock):
outbound calls from the box (law in the bearer, hunting), busy / congestion / no answer,
overlap sending and receiving, NOTIFY / FACILITY / PROGRESS, the RESTART at first link-up, and
companding per call in the media plane."""

import numpy as np
import pytest

from dsp.levels import power_dbm0
from firmware.config import load_text
from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.calls import Q931Timers
from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.channels import ChannelState
from firmware.isdn.q931.events import (Alerting, Answered, CallProceeding, Disconnected, FacilityReceived,
                                       IncomingCall, InfoDigits, Notified, Progress, ProtocolError, Released,
                                       RestartDone, SetupAcknowledged)
from firmware.isdn.q931.link import CallStateError
from firmware.isdn.service import entries_from_config
from hil_tests.carrier import TestTone as Tone
from tests.support.isdn_spans import SpanPair

# A Facility body: a ROSE invoke component (Q.932), carried as is.
ROSE_INVOKE = bytes.fromhex("91a10602010102010b")


@pytest.fixture
def pair():
    rig = SpanPair()
    rig.up()
    yield rig
    rig.close()


def steady_part(heard: np.ndarray) -> np.ndarray:
    """0.7 s of the tone, 0.1 s after it starts."""
    start = int(np.flatnonzero(np.abs(heard) > 100)[0])
    return heard[start + 800:start + 6400]


def answered_call(rig: SpanPair, **setup):
    """A call from the box the network answers: (box call id, network call id, timeslot)."""
    call_id = rig.box.setup("15881234", calling="0212345678", **setup)
    offer = rig.wait("net", IncomingCall)
    rig.net.proceed(offer.call_id)
    rig.net.alert(offer.call_id)
    rig.net.answer(offer.call_id)
    rig.wait("box", Answered, call_id=call_id)
    return call_id, offer.call_id, offer.timeslot


def test_outbound_call_carries_the_spans_law_hunts_down_and_clears_with_16(pair):
    call_id = pair.box.setup("15881234", calling="0212345678")
    offer = pair.wait("net", IncomingCall)
    assert (offer.called, offer.calling.digits, offer.law, offer.timeslot) == ("15881234", "0212345678", "alaw", 31)
    assert offer.bearer.layer1 == ie.Layer1.ALAW and offer.sending_complete
    pair.net.proceed(offer.call_id)
    assert pair.wait("box", CallProceeding, call_id=call_id).timeslot == 31
    pair.net.alert(offer.call_id, inband=True)
    assert pair.wait("box", Alerting, call_id=call_id).inband
    pair.net.answer(offer.call_id)
    pair.wait("box", Answered, call_id=call_id)
    assert pair.box.law_of(call_id) == "alaw" and pair.box.timeslot_of(call_id) == 31
    pair.box.disconnect(call_id, Cause.NORMAL_CLEARING)
    assert pair.wait("net", Disconnected).cause == 16
    assert pair.wait("box", Released, call_id=call_id).cause == 16
    assert pair.wait("net", Released).cause == 16
    assert not pair.box.stack.calls and not pair.net.stack.calls


def test_the_calls_law_goes_in_the_bearer_and_on_incoming_call_both_ways():
    rig = SpanPair(box_law="alaw", net_law="ulaw")
    try:
        rig.up()
        call_id = rig.box.setup("100", law="ulaw")
        offer = rig.wait("net", IncomingCall)
        assert offer.law == "ulaw" and offer.bearer.layer1 == ie.Layer1.ULAW == 2
        assert rig.box.law_of(call_id) == "ulaw" and rig.net.law_of(offer.call_id) == "ulaw"
        rig.net.disconnect(offer.call_id, Cause.NORMAL_CLEARING)
        rig.wait("box", Released, call_id=call_id)
        # The network's SETUP: its span is u-law, so the bearer says u-law unless the call asks.
        net_call = rig.net.setup("200", timeslot=3)
        assert rig.wait("box", IncomingCall).law == "ulaw"
        rig.net.disconnect(net_call)
        net_call = rig.net.setup("201", timeslot=4, law="alaw")
        assert rig.wait("box", IncomingCall).law == "alaw"
        rig.net.disconnect(net_call)
        # A data call names no law: the PBX keeps the span's.
        rig.net.setup("202", timeslot=5, bearer=ie.BearerCapability(ie.TransferCapability.UNRESTRICTED_DIGITAL, None))
        data = rig.wait("box", IncomingCall)
        assert data.law is None and rig.box.law_of(data.call_id) == "alaw"
    finally:
        rig.close()


def test_a_call_in_the_other_law_is_heard_at_its_level_through_the_media_plane():
    """The box's span is A-law; the call is u-law.  Each side opens the timeslot in the call's
    law, the box plays a −10 dBm0 tone and the network hears −10 dBm0: opened in the span's law
    instead, the level is far off (the control)."""
    rig = SpanPair(box_law="alaw", net_law="alaw")
    try:
        rig.up()
        call_id, net_id, ts = answered_call(rig, law="ulaw")
        assert rig.box.open_audio(call_id) == ts and rig.net.open_audio(net_id) == ts
        rig.net.bearer.record(ts, seconds=2.0)
        rig.box.bearer.play(ts, Tone(level_dbm0=-10.0, seconds=1.0))
        rig.run(1.2)
        heard = rig.net.bearer.recorded(ts)
        steady = steady_part(heard)
        assert len(steady) == 5600 and abs(power_dbm0(steady) - (-10.0)) < 0.5
        rig.net.bearer.close(ts)
        rig.net.bearer.open(ts, "alaw")              # the wrong law for this call
        rig.net.bearer.record(ts, seconds=2.0)
        rig.box.bearer.play(ts, Tone(level_dbm0=-10.0, seconds=1.0))
        rig.run(1.2)
        wrong = rig.net.bearer.recorded(ts)
        assert abs(power_dbm0(steady_part(wrong)) - (-10.0)) > 3.0
    finally:
        rig.close()


@pytest.mark.parametrize("hunting, expected", [
    ("ascending", [1, 2, 1]), ("descending", [31, 30, 31]), ("round_robin", [1, 2, 3]), ("least_used", [1, 2, 3]),
])
def test_outbound_channel_follows_the_hunting_asked_for(pair, hunting, expected):
    """Two calls up at once, then the first clears and a third is placed."""
    first = pair.box.setup("1", hunting=hunting)
    second = pair.box.setup("2", hunting=hunting)
    got = [pair.box.stack.calls[first].timeslot, pair.box.stack.calls[second].timeslot]
    pair.wait("net", IncomingCall)
    pair.wait("net", IncomingCall)
    pair.box.disconnect(first)
    pair.wait("box", Released, call_id=first)
    third = pair.box.setup("3", hunting=hunting)
    got.append(pair.box.stack.calls[third].timeslot)
    assert got == expected
    offer = pair.wait("net", IncomingCall)
    assert offer.timeslot == expected[2] and offer.exclusive


def test_the_spans_own_hunting_is_the_default_for_its_calls():
    rig = SpanPair(box_stack={"hunting": "round_robin"})
    try:
        rig.up()
        ids = [rig.box.setup(str(n)) for n in range(3)]
        assert [rig.box.stack.calls[i].timeslot for i in ids] == [1, 2, 3]
    finally:
        rig.close()


@pytest.mark.parametrize("cause", [Cause.USER_BUSY, Cause.NO_CIRCUIT_AVAILABLE])
def test_busy_or_congestion_before_any_answer_reaches_the_box_with_its_cause(pair, cause):
    call_id = pair.box.setup("15881234")
    offer = pair.wait("net", IncomingCall)
    pair.net.disconnect(offer.call_id, cause)        # RELEASE COMPLETE straight to the SETUP
    assert pair.wait("box", Released, call_id=call_id).cause == cause
    assert pair.box.stack.channels.state[offer.timeslot] is ChannelState.IDLE


@pytest.mark.parametrize("cause", [Cause.USER_BUSY, Cause.NO_CIRCUIT_AVAILABLE])
def test_busy_or_congestion_after_call_proceeding_with_an_announcement(pair, cause):
    call_id = pair.box.setup("15881234")
    offer = pair.wait("net", IncomingCall)
    pair.net.proceed(offer.call_id)
    pair.net.disconnect(offer.call_id, cause, inband=True)
    gone = pair.wait("box", Disconnected, call_id=call_id)
    assert gone.cause == cause and gone.inband
    assert pair.wait("box", Released, call_id=call_id).cause == cause


def test_no_answer_to_setup_retransmits_once_at_t303_then_clears_with_102(pair):
    start = pair.clock.now()
    call_id = pair.box.setup("15881234")
    first = pair.wait("net", IncomingCall)
    released = pair.wait("box", Released, timeout=10.0, call_id=call_id)
    assert released.cause == Cause.RECOVERY_ON_TIMER_EXPIRY
    assert 8.0 <= pair.clock.now() - start < 8.2                    # T303 4 s, twice
    assert pair.net.stack.q931.counters["rx_setup_for_active_call_ignored"] == 1
    assert pair.wait("net", Released, call_id=first.call_id).cause == Cause.RECOVERY_ON_TIMER_EXPIRY


def test_call_proceeding_then_silence_clears_at_t310():
    rig = SpanPair(box_stack={"q931_timers": Q931Timers(t310=3.0)})
    try:
        rig.up()
        call_id = rig.box.setup("15881234")
        offer = rig.wait("net", IncomingCall)
        rig.net.proceed(offer.call_id)
        rig.wait("box", CallProceeding)
        start = rig.clock.now()
        assert rig.wait("net", Disconnected, timeout=5.0).cause == Cause.RECOVERY_ON_TIMER_EXPIRY
        assert 2.9 <= rig.clock.now() - start < 3.2
        assert rig.wait("box", Released, call_id=call_id).cause == Cause.RECOVERY_ON_TIMER_EXPIRY
    finally:
        rig.close()


def test_overlap_sending_from_the_box(pair):
    call_id = pair.box.setup("1588", sending_complete=False)
    offer = pair.wait("net", IncomingCall)
    assert offer.called == "1588" and not offer.sending_complete
    pair.net.setup_ack(offer.call_id)
    assert pair.wait("box", SetupAcknowledged, call_id=call_id).timeslot == offer.timeslot
    pair.box.send_info(call_id, "12")
    assert pair.wait("net", InfoDigits).digits == "12"
    pair.box.send_info(call_id, "34", sending_complete=True)
    last = pair.wait("net", InfoDigits)
    assert (last.digits, last.sending_complete) == ("34", True)
    assert pair.net.stack.calls[offer.call_id].called == "15881234"
    pair.net.proceed(offer.call_id)
    pair.wait("box", CallProceeding, call_id=call_id)
    with pytest.raises(CallStateError, match="state 3"):
        pair.box.send_info(call_id, "5")          # the number is complete


def test_overlap_receiving_on_the_box(pair):
    net_call = pair.net.setup("15", sending_complete=False, timeslot=5)
    offer = pair.wait("box", IncomingCall)
    assert (offer.called, offer.sending_complete, offer.timeslot) == ("15", False, 5)
    pair.box.setup_ack(offer.call_id)
    pair.wait("net", SetupAcknowledged, call_id=net_call)
    pair.net.send_info(net_call, "8812")
    assert pair.wait("box", InfoDigits, call_id=offer.call_id).digits == "8812"
    pair.net.send_info(net_call, "34", sending_complete=True)
    assert pair.wait("box", InfoDigits, call_id=offer.call_id).sending_complete
    assert pair.box.stack.calls[offer.call_id].called == "15881234"
    pair.box.proceed(offer.call_id)
    pair.box.answer(offer.call_id)
    pair.wait("net", Answered, call_id=net_call)


def test_overlap_receiving_that_stalls_is_cleared_at_t302_with_28(pair):
    pair.net.setup("15", sending_complete=False, timeslot=5)
    offer = pair.wait("box", IncomingCall)
    pair.box.setup_ack(offer.call_id)
    assert pair.wait("net", Disconnected, timeout=20.0).cause == Cause.INVALID_NUMBER_FORMAT
    assert pair.wait("box", Released, call_id=offer.call_id).cause == Cause.INVALID_NUMBER_FORMAT


def test_notify_facility_and_progress_cross_an_active_call_both_ways(pair):
    call_id, net_id, _ = answered_call(pair)
    pair.box.notify(call_id, 0)                       # user suspended (hold)
    assert pair.wait("net", Notified, call_id=net_id).description == 0
    pair.net.notify(net_id, 1)                        # user resumed
    assert pair.wait("box", Notified, call_id=call_id).description == 1
    pair.box.facility(call_id, ROSE_INVOKE)
    assert pair.wait("net", FacilityReceived, call_id=net_id).body == ROSE_INVOKE
    pair.net.facility(net_id, ROSE_INVOKE[::-1])
    assert pair.wait("box", FacilityReceived, call_id=call_id).body == ROSE_INVOKE[::-1]
    pair.box.send_info(call_id, "5")                  # keypad digits once active
    assert pair.wait("net", InfoDigits, call_id=net_id).digits == "5"
    pair.box.status_enquiry(call_id)
    pair.run(0.1)
    assert not pair.of("box", ProtocolError)


def test_progress_from_the_box_on_an_incoming_call_gives_early_media(pair):
    net_call = pair.net.setup("15881234", timeslot=7)
    offer = pair.wait("box", IncomingCall)
    pair.box.proceed(offer.call_id)
    pair.box.progress(offer.call_id, 8)
    assert pair.wait("net", Progress, call_id=net_call).description == 8
    pair.box.disconnect(offer.call_id, Cause.UNALLOCATED_NUMBER, inband=True)
    gone = pair.wait("net", Disconnected, call_id=net_call)
    assert gone.cause == Cause.UNALLOCATED_NUMBER and gone.inband


def test_progress_from_the_network_on_the_boxs_call(pair):
    call_id = pair.box.setup("15881234")
    offer = pair.wait("net", IncomingCall)
    pair.net.proceed(offer.call_id)
    pair.net.progress(offer.call_id, 8)
    assert pair.wait("box", Progress, call_id=call_id).description == 8


def test_bad_requests_raise_naming_what_was_wrong_and_send_nothing(pair):
    with pytest.raises(ValueError, match="law 'g729'"):
        pair.box.setup("1", law="g729")
    with pytest.raises(ValueError, match="hunting 'sideways'"):
        pair.box.setup("1", hunting="sideways")
    with pytest.raises(ValueError, match="either bearer or law"):
        pair.box.setup("1", law="ulaw", bearer=ie.BearerCapability())
    assert not pair.box.stack.calls
    call_id, _, _ = answered_call(pair)
    with pytest.raises(ValueError, match="notification description 300"):
        pair.box.notify(call_id, 300)
    with pytest.raises(ValueError, match="Facility body is 0 octets"):
        pair.box.facility(call_id, b"")
    with pytest.raises(ValueError, match="progress description 0"):
        pair.box.progress(call_id, 0)
    with pytest.raises(CallStateError, match="setup_ack: call .* state 10"):
        pair.box.setup_ack(call_id)
    with pytest.raises(CallStateError, match="no call 999"):
        pair.box.notify(999, 0)
    with pytest.raises(CallStateError, match="no call 999"):
        pair.box.law_of(999)
    pair.run(0.1)
    assert not pair.of("net", Notified) and not pair.of("net", FacilityReceived)


def test_a_full_span_refuses_another_outbound_call_naming_cause_34(pair):
    for n in range(30):
        pair.box.setup(str(n))
    with pytest.raises(CallStateError, match="cause 34"):
        pair.box.setup("31")


# ------------------------------------------------------------------ RESTART at the first link-up
def test_first_link_up_restarts_the_whole_interface_once():
    rig = SpanPair(box={"restart_on_first_link_up": True})
    try:
        rig.up()
        assert rig.box.restarting and not rig.box.in_service
        with pytest.raises(CallStateError, match="cause 34.*RESTART is not acknowledged yet"):
            rig.box.setup("15881234")
        theirs = rig.wait("net", RestartDone)
        assert theirs.whole_interface and theirs.by_peer and len(theirs.timeslots) == 30
        ours = rig.wait("box", RestartDone)
        assert ours.whole_interface and ours.acknowledged and not ours.by_peer
        assert not rig.box.restarting and rig.box.in_service
        assert set(rig.box.stack.channels.summary().values()) == {"idle"}
        # The D-channel drops and comes back: no second RESTART (this is not a boot).
        rig.line.te.rx_impairment.set_cut(True)
        rig.line.run_until(lambda: not rig.box.layer2_up, 30.0, step=0.05)
        rig.line.te.rx_impairment.set_cut(False)
        rig.up(timeout=30.0)
        rig.run(2.0)
        assert not rig.of("box", RestartDone) and not rig.of("net", RestartDone)
        call_id, _, _ = answered_call(rig)
        assert rig.box.stack.calls[call_id].state == 10
    finally:
        rig.close()


def test_a_far_end_refusing_the_interface_restart_gets_one_per_channel():
    rig = SpanPair(box={"restart_on_first_link_up": True}, net_stack={"accept_interface_restart": False})
    try:
        rig.up()
        rig.line.run_until(lambda: len(rig.of("box", RestartDone)) == 30, 5.0, step=0.01)
        done = rig.of("box", RestartDone)
        assert sorted(ts for d in done for ts in d.timeslots) == list(rig.box.stack.channels.timeslots)
        assert all(d.acknowledged and not d.whole_interface for d in done)
        assert len(rig.of("net", RestartDone)) == 30
        refusal = rig.of("box", ProtocolError)
        assert len(refusal) == 1 and "channel by channel" in refusal[0].detail
        assert rig.box.stack.q931.counters["interface_restart_fallback"] == 1
        assert set(rig.box.stack.channels.summary().values()) == {"idle"} and not rig.box.restarting
    finally:
        rig.close()


def test_a_far_end_that_never_answers_the_interface_restart_gets_one_per_channel():
    """No STATUS, no acknowledgement: after T316 (N316 + 1 times) the box restarts channel by
    channel; those go unanswered too, so the channels end out of service, and say so."""
    timers = Q931Timers(t316=1.0, n316=1)
    rig = SpanPair(box={"restart_on_first_link_up": True}, box_stack={"q931_timers": timers})
    try:
        rig.net.stack.q931.receive = lambda payload, now: None    # a switch deaf to layer 3
        rig.up()
        rig.line.run_until(lambda: len(rig.of("box", RestartDone)) == 30, 10.0, step=0.05)
        assert all(not d.acknowledged for d in rig.of("box", RestartDone))
        assert set(rig.box.stack.channels.summary().values()) == {"out of service"}
        assert rig.box.stack.q931.counters["interface_restart_fallback"] == 1
    finally:
        rig.close()


def test_restart_scope_channels_sends_one_restart_per_b_channel():
    rig = SpanPair(box={"restart_on_first_link_up": True, "restart_scope": "channels"})
    try:
        rig.up()
        rig.line.run_until(lambda: len(rig.of("box", RestartDone)) == 30, 5.0, step=0.01)
        assert not any(d.whole_interface for d in rig.of("net", RestartDone))
        assert len(rig.of("net", RestartDone)) == 30 and not rig.box.restarting
    finally:
        rig.close()


def test_restart_on_first_link_up_frees_a_channel_the_network_still_thinks_busy():
    """The box crashed mid-call: the network still holds the call on timeslot 9.  The box's
    RESTART at link-up clears it on the network side with cause 41, and timeslot 9 is usable."""
    rig = SpanPair()
    try:
        rig.up()
        call_id, net_id, ts = answered_call(rig, timeslot=9)
        rig.box.stop()                                     # the crash: the box forgets its call
        rig.box = type(rig.box)(rig.line.te, type(rig.box.stack)("user"), clock=rig.clock, bus=rig.line.bus,
                                restart_on_first_link_up=True)
        rig.box.handler = rig.box_seen
        rig.box_seen.events.clear()
        rig.box.start()
        assert rig.wait("net", Released, timeout=10.0, call_id=net_id).cause == Cause.TEMPORARY_FAILURE
        rig.wait("box", RestartDone)
        again, _, _ = answered_call(rig, timeslot=ts)
        assert rig.box.stack.calls[again].timeslot == 9
    finally:
        rig.close()


def test_restart_scope_is_checked():
    with pytest.raises(ValueError, match="restart_scope must be one of interface, channels, not 'all'"):
        SpanPair(box={"restart_scope": "all"})


# ------------------------------------------------------------------ config
SPAN = """
[[span]]
id = 1
driver = "emulated"
side = "te"
clock = "line"
law = "alaw"
wire = "/run/w1"
wire_role = "connect"
"""


def test_restart_keys_in_the_isdn_section_reach_the_service_entries():
    config = load_text(SPAN + "[[isdn]]\nspan = 1\n")
    (entry,) = entries_from_config(config)
    assert entry.restart_on_first_link_up is True and entry.restart_scope == "interface"
    config = load_text(SPAN + '[[isdn]]\nspan = 1\nrestart_on_first_link_up = false\nrestart_scope = "channels"\n')
    (entry,) = entries_from_config(config)
    assert entry.restart_on_first_link_up is False and entry.restart_scope == "channels"


def test_bad_restart_keys_are_refused_naming_file_line_and_key():
    from firmware.config import ConfigError

    with pytest.raises(ConfigError) as info:
        load_text(SPAN + '[[isdn]]\nspan = 1\nrestart_on_first_link_up = "yes"\nrestart_scope = "all"\n', "box.toml")
    errors = [str(issue) for issue in info.value.issues]
    assert len(errors) == 2
    assert errors[0].startswith("box.toml:12:1: isdn[0].restart_on_first_link_up: ")
    assert errors[1].startswith("box.toml:13:1: isdn[0].restart_scope: ") and "channels" in errors[1]


def test_the_spans_hunting_comes_from_its_isdn_entry_and_is_checked():
    from firmware.config import ConfigError
    from firmware.config.sections.isdn import HUNTINGS
    from firmware.isdn.q931.channels import Hunting

    assert HUNTINGS == tuple(h.value for h in Hunting)
    (entry,) = entries_from_config(load_text(SPAN + '[[isdn]]\nspan = 1\nhunting = "least_used"\n'))
    assert entry.hunting == "least_used"
    (entry,) = entries_from_config(load_text(SPAN + "[[isdn]]\nspan = 1\n"))
    assert entry.hunting is None
    with pytest.raises(ConfigError) as info:
        load_text(SPAN + '[[isdn]]\nspan = 1\nhunting = "random"\n', "box.toml")
    (error,) = [str(issue) for issue in info.value.issues]
    assert error.startswith("box.toml:12:1: isdn[0].hunting: ") and "round_robin" in error

"""Q.931 clause 5.8: what our entity answers to malformed or unexpected messages, both roles."""

import pytest

from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.events import Disconnected, IncomingCall, Released
from firmware.isdn.q931.link import CallStateError, Q931Link
from firmware.isdn.q931.messages import MessageType as MT, decode, encode

ROLES = ["user", "network"]
SETUP_IES = [ie.BearerCapability(), ie.ChannelId(3), ie.CalledNumber("100")]


def make(role):
    link = Q931Link(role)
    link.dl_established(0.0)
    return link


def feed(link, mtype, ies=(), call_ref=7, flag=0, extra=b""):
    link.receive(encode(mtype, call_ref, flag, ies) + extra, 0.0)
    out = [decode(p) for p in link.payloads_to_send()]
    events = []
    while (e := link.next_event()) is not None:
        events.append(e)
    return out, events


def only(out):
    (msg,) = out
    cause = msg.get(ie.Cause)
    return msg.type, cause.value if cause else None


def incoming(link):
    out, events = feed(link, MT.SETUP, SETUP_IES)
    assert not out
    return [e for e in events if isinstance(e, IncomingCall)][0].call_id


@pytest.mark.parametrize("role", ROLES)
def test_setup_missing_bearer_or_with_unknown_required_ie_is_refused_with_cause_96(role):
    out, _ = feed(make(role), MT.SETUP, [ie.ChannelId(3), ie.CalledNumber("1")])
    assert only(out) == (MT.RELEASE_COMPLETE, 96) and out[0].get(ie.Cause).diagnostics == b"\x04"
    out, _ = feed(make(role), MT.SETUP, SETUP_IES, extra=bytes((0x0A, 1, 0x80)))
    assert only(out) == (MT.RELEASE_COMPLETE, 96) and out[0].get(ie.Cause).diagnostics == b"\x0a"


@pytest.mark.parametrize("role", ROLES)
def test_setup_with_unknown_optional_ie_is_accepted(role):
    out, events = feed(make(role), MT.SETUP, SETUP_IES, extra=bytes((0x5F, 1, 0x80)))
    assert not out and any(isinstance(e, IncomingCall) for e in events)


@pytest.mark.parametrize("role", ROLES)
def test_setup_with_broken_mandatory_or_channel_ie_gets_cause_100(role):
    raw = encode(MT.SETUP, 7, 0, [ie.CalledNumber("1")]) + bytes((0x04, 1, 0x80))
    link = make(role)
    link.receive(raw, 0.0)
    assert only([decode(p) for p in link.payloads_to_send()]) == (MT.RELEASE_COMPLETE, 100)
    out, _ = feed(make(role), MT.SETUP, [ie.BearerCapability()], extra=bytes((0x18, 1, 0x89)))
    assert only(out) == (MT.RELEASE_COMPLETE, 100)
    out, _ = feed(make(role), MT.SETUP, [ie.BearerCapability(ie.TransferCapability.VIDEO), ie.ChannelId(3)])
    assert only(out) == (MT.RELEASE_COMPLETE, 65)
    out, _ = feed(make(role), MT.SETUP, [ie.BearerCapability(), ie.ChannelId(16)])
    assert only(out) == (MT.RELEASE_COMPLETE, 82)


@pytest.mark.parametrize("role", ROLES)
def test_setup_with_wrong_flag_or_for_an_existing_call_is_ignored(role):
    link = make(role)
    out, events = feed(link, MT.SETUP, SETUP_IES, flag=1)
    assert not out and not any(isinstance(e, IncomingCall) for e in events)
    incoming(link)
    out, events = feed(link, MT.SETUP, SETUP_IES)
    assert not out and not any(isinstance(e, IncomingCall) for e in events)


@pytest.mark.parametrize("role", ROLES)
def test_unknown_call_reference(role):
    link = make(role)
    assert only(feed(link, MT.ALERTING)[0]) == (MT.RELEASE_COMPLETE, 81)
    assert only(feed(link, MT.RELEASE)[0]) == (MT.RELEASE_COMPLETE, 81)
    assert feed(link, MT.RELEASE_COMPLETE)[0] == []
    out, _ = feed(link, MT.STATUS_ENQUIRY)
    assert only(out) == (MT.STATUS, 30) and out[0].get(ie.CallState).value == 0
    out, _ = feed(link, MT.STATUS, [ie.Cause(30), ie.CallState(10)])
    assert only(out) == (MT.RELEASE_COMPLETE, 101)
    assert feed(link, MT.STATUS, [ie.Cause(30), ie.CallState(0)])[0] == []
    # The answer goes back with the flag flipped: it refers to the sender's own call reference.
    assert out[0].call_ref == 7 and out[0].flag == 1


@pytest.mark.parametrize("role", ROLES)
def test_unknown_message_type_and_unexpected_message(role):
    link = make(role)
    incoming(link)
    out, _ = feed(link, 0x33)
    assert only(out) == (MT.STATUS, 97) and out[0].get(ie.Cause).diagnostics == b"\x33"
    out, _ = feed(link, MT.CONNECT)
    assert only(out) == (MT.STATUS, 101)
    assert out[0].get(ie.CallState).value == (6 if role == "user" else 1)


@pytest.mark.parametrize("role", ROLES)
def test_missing_or_broken_mandatory_ie_on_a_call_gets_status(role):
    link = make(role)
    incoming(link)
    assert only(feed(link, MT.PROGRESS)[0]) == (MT.STATUS, 96)
    out, _ = feed(link, MT.PROGRESS, extra=bytes((0x1E, 1, 0x80)))
    assert only(out) == (MT.STATUS, 100)
    out, _ = feed(link, MT.INFORMATION, [ie.CalledNumber("5")], extra=bytes((0x5F, 0)))
    assert only(out) == (MT.STATUS, 99)
    out, _ = feed(link, MT.INFORMATION, [ie.CalledNumber("5")], extra=bytes((0x28, 2, 0x41, 0xC1)))
    assert only(out) == (MT.STATUS, 100)
    out, _ = feed(link, MT.INFORMATION, extra=bytes((0x01, 0)))
    assert only(out) == (MT.STATUS, 96)


@pytest.mark.parametrize("role", ROLES)
def test_disconnect_without_cause_is_cause_31_and_released_with_96(role):
    link = make(role)
    cid = incoming(link)
    link.alert(cid, 0.0)
    link.payloads_to_send()
    out, events = feed(link, MT.DISCONNECT)
    assert only(out) == (MT.RELEASE, 96)
    assert [(type(e), e.cause) for e in events if isinstance(e, Disconnected)] == [(Disconnected, 31)]
    out, events = feed(link, MT.RELEASE_COMPLETE)
    assert not out and [type(e) for e in events] == [Released]


@pytest.mark.parametrize("role", ROLES)
def test_release_without_mandatory_content_still_releases(role):
    link = make(role)
    cid = incoming(link)
    out, events = feed(link, MT.RELEASE, extra=bytes((0x08, 1, 0x80)))
    assert only(out) == (MT.RELEASE_COMPLETE, None)
    assert [type(e) for e in events] == [Released] and not link.calls


@pytest.mark.parametrize("role", ROLES)
def test_status_reporting_null_releases_the_call(role):
    link = make(role)
    incoming(link)
    out, events = feed(link, MT.STATUS, [ie.Cause(41), ie.CallState(0)])
    assert not out and any(isinstance(e, Released) and e.cause == 41 for e in events)
    assert link.channels.summary()[3] == "idle"


@pytest.mark.parametrize("role", ROLES)
def test_incompatible_status_clears_with_101(role):
    link = make(role)
    cid = incoming(link)
    link.answer(cid, 0.0)
    link.payloads_to_send()
    feed(link, MT.CONNECT_ACKNOWLEDGE)
    peer_setup_state = 1 if role == "user" else 25     # the peer reports it has not even got an answer
    out, _ = feed(link, MT.STATUS, [ie.Cause(30), ie.CallState(peer_setup_state)])
    assert only(out) == (MT.RELEASE, 101)


@pytest.mark.parametrize("role", ROLES)
def test_global_call_reference_misuse_and_bad_restart(role):
    link = make(role)
    out, _ = feed(link, MT.ALERTING, call_ref=0)
    assert only(out) == (MT.STATUS, 81) and out[0].call_ref == 0
    assert only(feed(link, MT.RESTART, call_ref=0)[0]) == (MT.STATUS, 96)
    out, _ = feed(link, MT.RESTART, [ie.RestartIndicator(0)], call_ref=0)
    assert only(out) == (MT.STATUS, 96)
    out, _ = feed(link, MT.RESTART, [ie.ChannelId(16), ie.RestartIndicator(0)], call_ref=0)
    assert only(out) == (MT.STATUS, 82)
    out, events = feed(link, MT.RESTART, [ie.ChannelId(3), ie.RestartIndicator(0)], call_ref=0)
    assert out[0].type == MT.RESTART_ACKNOWLEDGE and out[0].get(ie.ChannelId).timeslot == 3


@pytest.mark.parametrize("role", ROLES)
def test_header_errors_are_ignored(role):
    link = make(role)
    for raw in (b"", b"\x08", b"\x41\x02\x00\x01\x05", b"\x08\x05\x00", b"\x08\x02\x00\x01"):
        link.receive(raw, 0.0)
        assert link.payloads_to_send() == []
    assert link.counters["rx_ignored_header"] == 5


def test_api_misuse_raises_a_clear_error():
    link = make("user")
    with pytest.raises(CallStateError, match="no call 99"):
        link.answer(99, 0.0)
    cid = link.setup("1", 0.0)
    with pytest.raises(CallStateError, match="state 1"):
        link.answer(cid, 0.0)
    with pytest.raises(CallStateError, match="timeslot 16"):
        link.setup("1", 0.0, timeslot=16)
    with pytest.raises(ValueError, match="role"):
        Q931Link("pbx")
    link.disconnect(12345, 0.0)            # hanging up a call that is gone is harmless


def test_bad_setup_arguments_raise_before_any_state_changes():
    link = make("user")
    with pytest.raises(ValueError, match="type_of_number 9"):
        link.setup("1", 0.0, called_type=9)
    with pytest.raises(ValueError, match="not IA5"):
        link.setup("12한", 0.0)
    with pytest.raises(ValueError, match="N201"):
        link.setup("1", 0.0, display="x" * 250)
    assert not link.calls and not link.payloads_to_send()
    assert all(state == "idle" for state in link.channels.summary().values())


# ------------------------------------------------------------------ EN 300 403-1 5.8.6-5.8.7 strictness
def test_network_setup_without_channel_identification_is_refused_with_96_on_the_user_side():
    """On a PRI the network names the B-channel; the box never picks one for it."""
    link = make("user")
    out, events = feed(link, MT.SETUP, [ie.BearerCapability(), ie.CalledNumber("15881234")])
    assert only(out) == (MT.RELEASE_COMPLETE, 96) and out[0].get(ie.Cause).diagnostics == bytes((ie.CHANNEL_ID,))
    assert not any(isinstance(e, IncomingCall) for e in events) and not link.calls
    assert set(link.channels.summary().values()) == {"idle"}
    # The network side may be offered a SETUP without one: it chooses the channel itself.
    out, events = feed(make("network"), MT.SETUP, [ie.BearerCapability(), ie.CalledNumber("1")])
    assert not out and [e.timeslot for e in events if isinstance(e, IncomingCall)] == [1]


def truncated(mtype, ies, tail: bytes, call_ref=7, flag=0) -> bytes:
    """A message whose last IE says it is longer than what follows."""
    return encode(mtype, call_ref, flag, ies) + tail


@pytest.mark.parametrize("role", ROLES)
def test_a_truncated_mandatory_ie_is_cause_100_never_a_shorter_ie(role):
    # Bearer capability announcing 3 octets with 2 present (the layer-1 octet cut off).
    link = make(role)
    link.receive(truncated(MT.SETUP, [ie.ChannelId(3), ie.CalledNumber("1")], bytes((0x04, 3, 0x80, 0x90))), 0.0)
    (msg,) = [decode(p) for p in link.payloads_to_send()]
    assert (msg.type, msg.get(ie.Cause).value, msg.get(ie.Cause).diagnostics) == (MT.RELEASE_COMPLETE, 100, b"\x04")
    assert not link.calls


def test_a_truncated_channel_identification_from_the_network_is_cause_100():
    link = make("user")
    link.receive(truncated(MT.SETUP, [ie.BearerCapability(), ie.CalledNumber("1")], bytes((0x18, 3, 0xA9, 0x83))), 0.0)
    (msg,) = [decode(p) for p in link.payloads_to_send()]
    assert (msg.type, msg.get(ie.Cause).value, msg.get(ie.Cause).diagnostics) == (MT.RELEASE_COMPLETE, 100, b"\x18")


@pytest.mark.parametrize("role", ROLES)
def test_a_truncated_optional_ie_in_setup_is_dropped_and_the_call_offered(role):
    # The called number says 8 digits and brings 4: not "1588", no called number at all.
    link = make(role)
    link.receive(truncated(MT.SETUP, SETUP_IES[:2], bytes((0x70, 9, 0x81)) + b"1588"), 0.0)
    assert not link.payloads_to_send()
    (offer,) = [e for e in iter(link.next_event, None) if isinstance(e, IncomingCall)]
    assert offer.called == "" and offer.called_number is None and offer.timeslot == 3


@pytest.mark.parametrize("role", ROLES)
def test_a_truncated_optional_ie_on_a_call_is_dropped_the_message_acted_on_and_reported(role):
    link = make(role)
    call_id = link.setup("100", 0.0, timeslot=5)
    link.payloads_to_send()
    # CALL PROCEEDING naming our channel, then a progress indicator cut short.
    chan = ie.ChannelId(5)
    link.receive(truncated(MT.CALL_PROCEEDING, [chan], bytes((0x1E, 2, 0x82)), call_ref=link.calls[call_id].call_ref,
                           flag=1), 0.0)
    (status,) = [decode(p) for p in link.payloads_to_send()]
    assert status.type == MT.STATUS and status.get(ie.Cause).value == 100 and status.get(ie.Cause).diagnostics == b"\x1e"
    assert link.calls[call_id].state == 3       # the CALL PROCEEDING itself was taken


@pytest.mark.parametrize("role", ROLES)
def test_a_truncated_cause_in_disconnect_is_released_with_100(role):
    link = make(role)
    call_id = incoming(link)
    link.receive(truncated(MT.DISCONNECT, [], bytes((0x08, 2, 0x80)), flag=0), 0.0)
    (msg,) = [decode(p) for p in link.payloads_to_send()]
    assert msg.type == MT.RELEASE and msg.get(ie.Cause).value == 100
    assert link.calls[call_id].state == 19

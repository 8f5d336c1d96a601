"""The bench's scapy declarations of LAPD and Q.931 against the frames our stack builds, and
frames forged from the declarations (malformed ones too) against what our Q.931 answers."""

import pytest
from hypothesis import given, strategies as st

from firmware.isdn import lapd_frames as lf
from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.events import IncomingCall
from firmware.isdn.q931.link import Q931Link
from firmware.isdn.q931.messages import MessageType as MT, decode, encode
from scapy.packet import Packet

from hil_tests.packets.isdn_layers import (LAPD, LAPD_I, LAPD_S, LAPD_U, Q931, Q931BearerCapability, Q931CallState,
                                           Q931CalledNumber, Q931CallingNumber, Q931Cause, Q931ChannelId, Q931Display,
                                           Q931IE, Q931ProgressIndicator, Q931RedirectingNumber, Q931SendingComplete,
                                           Q931TruncatedIE, U_KINDS)

SETUP_IES = [
    ie.SendingComplete(), ie.BearerCapability(), ie.ChannelId(17, interface=0), ie.ProgressIndicator(3, location=2),
    ie.CallingNumber("5551234", ie.TypeOfNumber.NATIONAL, ie.NumberingPlan.ISDN, ie.Presentation.RESTRICTED,
                     ie.Screening.NETWORK_PROVIDED),
    ie.CalledNumber("0301234", ie.TypeOfNumber.SUBSCRIBER, ie.NumberingPlan.PRIVATE),
    ie.RedirectingNumber("777", reason=ie.RedirectReason.NO_REPLY), ie.Display("Sales"),
]


def test_setup_i_frame_decodes_field_for_field():
    payload = encode(MT.SETUP, 0x1234, 1, SETUP_IES)
    raw = lf.encode(lf.Frame(lf.Kind.I, 1, True, 3, 5, payload))
    frame = LAPD(raw)
    assert isinstance(frame, LAPD_I) and bytes(frame) == raw
    assert (frame.sapi, frame.cr, frame.ea0, frame.tei, frame.ea1) == (0, 1, 0, 0, 1)
    assert (frame.ns, frame.i_bit, frame.nr, frame.p) == (3, 0, 5, 1)
    q = frame[Q931]
    assert (q.protocol_discriminator, q.cr_len, q.flag, q.call_ref, q.message_type) == (8, 2, 1, 0x1234, 5)
    assert [type(i) for i in q.ies] == [Q931SendingComplete, Q931BearerCapability, Q931ChannelId,
                                        Q931ProgressIndicator, Q931CallingNumber, Q931CalledNumber,
                                        Q931RedirectingNumber, Q931Display]
    ours = decode(payload)
    bc, want_bc = q.ie(Q931BearerCapability), ours.get(ie.BearerCapability)
    assert (bc.capability, bc.coding_standard, bc.transfer_mode, bc.transfer_rate, bc.layer1) == (
        want_bc.capability, want_bc.coding_standard, want_bc.transfer_mode, want_bc.transfer_rate, want_bc.layer1)
    ch, want_ch = q.ie(Q931ChannelId), ours.get(ie.ChannelId)
    assert (ch.interface_type, ch.exclusive, ch.d_channel, ch.selection, ch.interface, ch.channel_type,
            ch.channel) == (1, want_ch.exclusive, want_ch.d_channel, 1, want_ch.interface, 3, want_ch.timeslot)
    pi = q.ie(Q931ProgressIndicator)
    assert (pi.location, pi.description) == (2, 3)
    calling, want = q.ie(Q931CallingNumber), ours.get(ie.CallingNumber)
    assert (calling.type_of_number, calling.numbering_plan, calling.presentation, calling.screening,
            calling.digits) == (want.type_of_number, want.numbering_plan, want.presentation, want.screening,
                                want.digits.encode())
    called = q.ie(Q931CalledNumber)
    assert (called.ext3, called.type_of_number, called.numbering_plan, called.digits) == (1, 4, 9, b"0301234")
    redirecting = q.ie(Q931RedirectingNumber)
    assert (redirecting.presentation, redirecting.reason, redirecting.digits) == (0, 2, b"777")
    assert q.ie(Q931Display).text == b"Sales"


def test_status_from_our_stack_decodes_cause_and_call_state():
    payload = encode(MT.STATUS, 7, 1, [ie.Cause(97, location=2, diagnostics=b"\x33"), ie.CallState(10)])
    q = Q931(payload)
    cause, state = q.ie(Q931Cause), q.ie(Q931CallState)
    assert (q.message_type, q.flag, q.call_ref) == (MT.STATUS, 1, 7)
    assert (cause.location, cause.value, cause.diagnostics) == (2, 97, b"\x33")
    assert state.state == 10


@given(kind=st.sampled_from([lf.Kind.RR, lf.Kind.RNR, lf.Kind.REJ, lf.Kind.SABME, lf.Kind.DM, lf.Kind.UI,
                             lf.Kind.DISC, lf.Kind.UA]),
       cr=st.integers(0, 1), pf=st.booleans(), nr=st.integers(0, 127), sapi=st.integers(0, 63),
       tei=st.integers(0, 127))
def test_supervisory_and_unnumbered_frames_decode_field_for_field(kind, cr, pf, nr, sapi, tei):
    supervisory = kind in lf.SUPERVISORY
    frame = lf.Frame(kind, cr, pf, None, nr if supervisory else None, b"", sapi, tei)
    raw = lf.encode(frame)
    ours = LAPD(raw)
    assert bytes(ours) == raw and (ours.sapi, ours.cr, ours.tei) == (sapi, cr, tei)
    if supervisory:
        assert isinstance(ours, LAPD_S) and (ours.s_kind, ours.nr, ours.pf) == (
            {"RR": 0, "RNR": 1, "REJ": 2}[kind], nr, pf)
    else:
        assert isinstance(ours, LAPD_U) and (ours.kind, ours.pf) == (kind, pf)


@given(ns=st.integers(0, 127), nr=st.integers(0, 127), p=st.integers(0, 1), cr=st.integers(0, 1),
       call_ref=st.integers(0, 0x7FFF), flag=st.integers(0, 1))
def test_frames_forged_from_the_declarations_decode_in_our_stack(ns, nr, p, cr, call_ref, flag):
    forged = LAPD_I(cr=cr, ns=ns, nr=nr, p=p) / Q931(call_ref=call_ref, flag=flag, message_type="CONNECT",
                                                     ies=[Q931ChannelId(channel=5), Q931Display(text=b"x")])
    frame = lf.decode(bytes(forged))
    assert (frame.kind, frame.cr, frame.ns, frame.nr, frame.pf) == (lf.Kind.I, cr, ns, nr, bool(p))
    msg = decode(frame.info)
    assert (msg.type, msg.call_ref, msg.flag) == (MT.CONNECT, call_ref, flag)
    assert msg.get(ie.ChannelId).timeslot == 5 and msg.get(ie.Display).text == "x" and not msg.invalid


def test_every_u_kind_matches_our_codec():
    for kind in U_KINDS.values():
        if kind in (lf.Kind.FRMR, lf.Kind.XID):
            continue
        assert lf.decode(bytes(LAPD_U.of_kind(kind, pf=1))).kind == kind


# -- forged malformed frames and what our Q.931 answers --------------------------------------

def _answers(link, forged) -> list[Q931]:
    """Pass a forged LAPD I frame through our frame decoder into the Q.931 entity; its answers,
    read back with the scapy declarations."""
    frame = lf.decode(bytes(forged))
    link.receive(frame.info, 0.0)
    return [Q931(p) for p in link.payloads_to_send()]


def _cause(answer: Q931):
    cause = answer.ie(Q931Cause)
    return answer.message_type, cause.value if cause else None


def _link_with_call(role):
    link = Q931Link(role)
    link.dl_established(0.0)
    link.receive(encode(MT.SETUP, 7, 0, [ie.BearerCapability(), ie.ChannelId(3), ie.CalledNumber("100")]), 0.0)
    assert not link.payloads_to_send()
    events = []
    while (e := link.next_event()) is not None:
        events.append(e)
    assert any(isinstance(e, IncomingCall) for e in events)
    return link


def _fresh(role):
    link = Q931Link(role)
    link.dl_established(0.0)
    return link


@pytest.mark.parametrize("role", ["user", "network"])
def test_forged_setup_without_bearer_capability_gets_cause_96(role):
    (answer,) = _answers(_fresh(role), LAPD_I() / Q931(call_ref=7, message_type="SETUP",
                                                        ies=[Q931ChannelId(channel=3),
                                                             Q931CalledNumber(digits=b"100")]))
    assert _cause(answer) == (MT.RELEASE_COMPLETE, 96) and answer.ie(Q931Cause).diagnostics == b"\x04"
    assert answer.flag == 1 and answer.call_ref == 7


@pytest.mark.parametrize("role", ["user", "network"])
def test_forged_bearer_capability_with_bad_length_gets_cause_100(role):
    forged = LAPD_I() / Q931(call_ref=7, message_type="SETUP",
                             ies=[Q931IE(ident=0x04, value=b"\x80"), Q931ChannelId(channel=3)])
    assert _cause(_answers(_fresh(role), forged)[0]) == (MT.RELEASE_COMPLETE, 100)


@pytest.mark.parametrize("role", ["user", "network"])
def test_forged_unknown_message_type_gets_status_97(role):
    (answer,) = _answers(_link_with_call(role), LAPD_I() / Q931(call_ref=7, message_type=0x33))
    assert _cause(answer) == (MT.STATUS, 97) and answer.ie(Q931Cause).diagnostics == b"\x33"
    assert answer.ie(Q931CallState) is not None


@pytest.mark.parametrize("role", ["user", "network"])
def test_forged_progress_with_truncated_or_overlong_mandatory_ie_gets_status_100(role):
    truncated = LAPD_I() / Q931(call_ref=7, message_type="PROGRESS", ies=[Q931TruncatedIE(ident=0x1E)])
    assert Q931(bytes(truncated[Q931])).ies[0].__class__ is Q931TruncatedIE
    link = _link_with_call(role)
    assert _cause(_answers(link, truncated)[0]) == (MT.STATUS, 100)
    overlong = LAPD_I() / Q931(call_ref=7, message_type="PROGRESS", ies=[Q931ProgressIndicator(length=9)])
    reread = Q931(bytes(overlong[Q931]))
    assert type(reread.ies[0]) is Q931IE and reread.ies[0].length == 9
    assert _cause(_answers(link, overlong)[0]) == (MT.STATUS, 100)


@pytest.mark.parametrize("role", ["user", "network"])
def test_forged_progress_without_its_mandatory_ie_gets_status_96(role):
    (answer,) = _answers(_link_with_call(role), LAPD_I() / Q931(call_ref=7, message_type="PROGRESS"))
    assert _cause(answer) == (MT.STATUS, 96)


@pytest.mark.parametrize("role", ["user", "network"])
def test_forged_header_errors_are_ignored(role):
    link = _fresh(role)
    for forged in (LAPD_I() / Q931(protocol_discriminator=0x41, call_ref=1),
                   LAPD_I() / Q931(cr_len=5, message_type=0x05)):
        assert _answers(link, forged) == []
    assert link.counters["rx_ignored_header"] == 2


@given(body=st.binary(max_size=64), mtype=st.integers(0, 127))
def test_any_message_body_dissects_without_raising_and_rebuilds_the_same_bytes(body, mtype):
    raw = bytes((0x08, 2, 0x00, 0x07, mtype)) + body
    message = Q931(raw)
    assert bytes(message) == raw
    assert all(isinstance(item, Packet) for item in message.ies)

"""The live decoded trace reads like Cisco `debug isdn q931`, and never raises."""

from hypothesis import given, settings, strategies as st

from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.messages import MessageType, encode
from firmware.isdn.trace import format_message


def test_setup_renders_like_debug_isdn_q931():
    setup = encode(MessageType.SETUP, 1, 0, [
        ie.SendingComplete(), ie.BearerCapability(), ie.ChannelId(1),
        ie.CallingNumber("0212345678", ie.TypeOfNumber.NATIONAL), ie.CalledNumber("15881234"),
        ie.RedirectingNumber("07012345678", reason=ie.RedirectReason.UNCONDITIONAL)])
    assert format_message(setup, "TX", "Se0:15", "*Nov 26 16:00:00.123").splitlines() == [
        "*Nov 26 16:00:00.123: ISDN Se0:15: TX -> SETUP pd = 8  callref = 0x0001",
        "        Sending Complete",
        "        Bearer Capability i = 0x8090A3",
        "                Standard = CCITT",
        "                Transfer Capability = Speech",
        "                Transfer Mode = Circuit",
        "                Transfer Rate = 64 kbit/s",
        "                Layer 1 = A-law",
        "        Channel ID i = 0xA98381",
        "                Exclusive, Channel 1",
        "        Calling Party Number i = 0x2180, '0212345678'",
        "                Plan:ISDN, Type:National, Presentation:Allowed, Screening:User-provided, not screened",
        "        Called Party Number i = 0x81, '15881234'",
        "                Plan:ISDN, Type:Unknown",
        "        Redirecting Number i = 0x01008F, '07012345678'",
        "                Plan:ISDN, Type:Unknown, Presentation:Allowed, Reason:Call forwarding unconditional",
    ]


def test_answer_side_shows_flagged_call_reference_cause_and_state():
    status = encode(MessageType.STATUS, 0x1234, 1, [ie.Cause(101, 0, 0, b"\x07"), ie.CallState(10)])
    assert format_message(status, "RX").splitlines() == [
        "ISDN Se0:15: RX <- STATUS pd = 8  callref = 0x9234",
        "        Cause i = 0x80E507 - Message not compatible with call state",
        "                Diagnostics 0x07",
        "        Call State i = 0x0A",
        "                State 10",
    ]


def test_broken_and_unknown_content_is_shown_not_hidden():
    raw = encode(MessageType.INFORMATION, 2, 0, []) + bytes((0x5F, 1, 0x80, 0x70, 5, 0x81))
    text = format_message(raw, "RX")
    assert "Unknown IE 0x5F" in text and "Invalid IE: Called Party Number" in text
    assert "undecodable message 0x09" in format_message(b"\x09\x02\x00\x01\x05", "RX")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=48))
def test_trace_never_raises(data):
    assert format_message(b"\x08\x02" + data, "RX").startswith("ISDN Se0:15: RX <- ")

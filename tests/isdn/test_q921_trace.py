"""`debug isdn q921` decoding: every LAPD frame kind in IOS wording with C/R and P/F, any bytes
rendered without raising, and the LAPD entity's trace hook seeing each frame in and out."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.clock import ManualClock
from firmware.isdn.lapd import Lapd, LapdTimers, Role
from firmware.isdn.lapd_frames import Frame, Kind, encode, frmr_info
from firmware.isdn.q921_trace import Q921Frame, format_frame
from tests.support.lapd_wire import Wire

HEAD = "ISDN Se1:15 Q921: "


def line(frame: Frame, direction: str, role: str = "user") -> str:
    text = format_frame(encode(frame), direction, role, "Se1:15")
    assert text.startswith(HEAD)
    return text[len(HEAD):]


# C/R as the sender puts it on the line: the user's commands carry 0, the network's 1.
USER_CMD, USER_RSP, NET_CMD, NET_RSP = 0, 1, 1, 0


@pytest.mark.parametrize("frame, direction, role, expected", [
    (Frame(Kind.SABME, USER_CMD, True), "TX", "user", "User TX -> SABMEp sapi=0 tei=0"),
    (Frame(Kind.SABME, NET_CMD, True), "RX", "user", "User RX <- SABMEp sapi=0 tei=0"),
    (Frame(Kind.UA, NET_RSP, True), "RX", "user", "User RX <- UAf sapi=0 tei=0"),
    (Frame(Kind.UA, NET_RSP, True), "TX", "network", "Network TX -> UAf sapi=0 tei=0"),
    (Frame(Kind.DM, USER_RSP, False), "TX", "user", "User TX -> DMr sapi=0 tei=0"),
    (Frame(Kind.DM, NET_RSP, True), "RX", "user", "User RX <- DMf sapi=0 tei=0"),
    (Frame(Kind.DISC, NET_CMD, True), "RX", "user", "User RX <- DISCp sapi=0 tei=0"),
    (Frame(Kind.RR, NET_RSP, False, nr=5), "RX", "user", "User RX <- RRr sapi=0 tei=0 nr=5"),
    (Frame(Kind.RR, USER_CMD, True, nr=0), "TX", "user", "User TX -> RRp sapi=0 tei=0 nr=0"),
    (Frame(Kind.RR, USER_RSP, True, nr=127), "TX", "user", "User TX -> RRf sapi=0 tei=0 nr=127"),
    (Frame(Kind.RR, NET_CMD, False, nr=9), "TX", "network", "Network TX -> RRc sapi=0 tei=0 nr=9"),
    (Frame(Kind.RNR, NET_RSP, False, nr=2), "RX", "user", "User RX <- RNRr sapi=0 tei=0 nr=2"),
    (Frame(Kind.REJ, USER_RSP, True, nr=3), "RX", "network", "Network RX <- REJf sapi=0 tei=0 nr=3"),
    (Frame(Kind.I, USER_CMD, False, ns=3, nr=5, info=bytes.fromhex("0802000105")), "TX", "user",
     "User TX -> INFOc sapi=0 tei=0, ns=3 nr=5 i=0x0802000105"),
    (Frame(Kind.I, NET_CMD, True, ns=127, nr=1, info=b"\x08"), "RX", "user",
     "User RX <- INFOp sapi=0 tei=0, ns=127 nr=1 i=0x08"),
    (Frame(Kind.UI, NET_CMD, False, info=b"\x0f\x01", sapi=63, tei=127), "RX", "user",
     "User RX <- UIc sapi=63 tei=127 i=0x0F01"),
    (Frame(Kind.XID, USER_CMD, True, info=b"\x82\x80"), "TX", "user", "User TX -> XIDp sapi=0 tei=0 i=0x8280"),
    (Frame(Kind.FRMR, NET_RSP, True, info=frmr_info(b"\x01\x0a", 4, 6, 1, w=True, x=True)), "RX", "user",
     "User RX <- FRMRf sapi=0 tei=0 rejected control=0x010A vs=4 vr=6 reason=WX i=0x010A080D03"),
])
def test_each_frame_kind_reads_as_ios_debug_isdn_q921(frame, direction, role, expected):
    assert line(frame, direction, role) == expected


def test_undecodable_frames_are_named_not_raised():
    assert format_frame(b"\x02", "RX", "user", "Se1:15") == (
        HEAD + "User RX <- BAD FRAME 0x02 (too_short: 1 octets, a LAPD frame has at least 3)")
    long_bad = bytes((0x02, 0x01, 0x01, 0x02)) + bytes(40)     # RR with an information field
    text = format_frame(long_bad, "TX", "network", "Se1:15", timestamp="*00:00:01.000")
    assert text.startswith("*00:00:01.000: ISDN Se1:15 Q921: Network TX -> BAD FRAME 0x020101020000")
    assert "... (info_not_permitted: RR frame with 40 octets of information)" in text


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["TX", "RX"]), st.sampled_from(["user", "network"]))
def test_any_bytes_render_as_one_line_without_raising(data, direction, role):
    text = format_frame(data, direction, role)
    assert text.startswith("ISDN Se0:15 Q921: ") and "\n" not in text


def test_the_lapd_trace_hook_sees_every_frame_with_direction_and_time():
    seen = {"a": [], "b": []}
    timers = LapdTimers()
    a = Lapd(Role.USER, timers, trace=lambda frame, direction, now: seen["a"].append((direction, frame, now)))
    b = Lapd(Role.NETWORK, timers)
    b.trace = lambda frame, direction, now: seen["b"].append((direction, frame, now))
    wire = Wire(a, b, ManualClock())
    wire.clock.advance(2.5)
    a.establish(wire.now)
    wire.pump()
    a.send(b"\x08\x02\x00\x01\x05", wire.now)
    wire.pump()
    texts = [format_frame(frame, direction, "user") for direction, frame, _ in seen["a"]]
    assert [t.split("Q921: ")[1] for t in texts] == [
        "User TX -> SABMEp sapi=0 tei=0",
        "User RX <- UAf sapi=0 tei=0",
        "User TX -> INFOc sapi=0 tei=0, ns=0 nr=0 i=0x0802000105",
        "User RX <- RRr sapi=0 tei=0 nr=1",
    ]
    assert all(now == 2.5 for _, _, now in seen["a"])
    # What the user sent is what the network received, in the same order.
    assert [f for d, f, _ in seen["a"] if d == "TX"] == [f for d, f, _ in seen["b"] if d == "RX"]
    assert [f for d, f, _ in seen["b"] if d == "TX"] == [f for d, f, _ in seen["a"] if d == "RX"]


def test_the_event_renders_lazily_with_its_span_and_our_side():
    event = Q921Frame(1.0, 3, "Se3:15", "network", "TX", encode(Frame(Kind.UA, NET_RSP, True)))
    assert event.text == "ISDN Se3:15 Q921: Network TX -> UAf sapi=0 tei=0"

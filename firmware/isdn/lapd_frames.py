"""LAPD (Q.921) frame codec, modulo 128: address, control and information fields.

A frame here is what sits between the HDLC flags minus the FCS: two address octets, a one- or
two-octet control field, and an optional information field.  `decode` never raises anything
but `FrameError`, whose `reason` is a short key the state machine counts.
"""

from __future__ import annotations

from dataclasses import dataclass

MODULO = 128
# N201: the longest information field Q.921 allows on SAPI 0.
MAX_INFO = 260


class Kind:
    """Frame kinds, as plain strings so the hot path compares interned constants."""

    I = "I"
    RR = "RR"
    RNR = "RNR"
    REJ = "REJ"
    SABME = "SABME"
    DM = "DM"
    UI = "UI"
    DISC = "DISC"
    UA = "UA"
    FRMR = "FRMR"
    XID = "XID"


SUPERVISORY = (Kind.RR, Kind.RNR, Kind.REJ)
# Supervisory frames: first control octet, P/F and N(R) in the second.
_S_CODE = {Kind.RR: 0x01, Kind.RNR: 0x05, Kind.REJ: 0x09}
_S_KIND = {v: k for k, v in _S_CODE.items()}
# Unnumbered frames: the control octet with P/F (0x10) cleared.
_U_CODE = {Kind.SABME: 0x6F, Kind.DM: 0x0F, Kind.UI: 0x03, Kind.DISC: 0x43, Kind.UA: 0x63,
           Kind.FRMR: 0x87, Kind.XID: 0xAF}
_U_KIND = {v: k for k, v in _U_CODE.items()}
# Which unnumbered frames may carry an information field.
_U_WITH_INFO = (Kind.UI, Kind.FRMR, Kind.XID)
# Which kinds exist only as commands (C) or only as responses (R); the rest may be either.
COMMAND_ONLY = (Kind.I, Kind.SABME, Kind.DISC, Kind.UI)
RESPONSE_ONLY = (Kind.UA, Kind.DM, Kind.FRMR)


class FrameError(ValueError):
    """A frame that cannot be decoded; `reason` names what was wrong (a counter key)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Frame:
    """One LAPD frame.  `cr` is the C/R bit as sent on the line (its meaning depends on the
    sender's role); `pf` is the poll/final bit; `ns`/`nr` are None where the kind has none."""

    kind: str
    cr: int
    pf: bool = False
    ns: int | None = None
    nr: int | None = None
    info: bytes = b""
    sapi: int = 0
    tei: int = 0


def encode(frame: Frame) -> bytes:
    kind = frame.kind
    if not 0 <= frame.sapi < 64 or not 0 <= frame.tei < 128:
        raise ValueError(f"LAPD address out of range: SAPI {frame.sapi}, TEI {frame.tei}")
    addr0 = (frame.sapi << 2) | ((frame.cr & 1) << 1)
    addr1 = (frame.tei << 1) | 1
    pf = 1 if frame.pf else 0
    if len(frame.info) > MAX_INFO:
        raise ValueError(f"LAPD {kind} information field of {len(frame.info)} octets exceeds N201={MAX_INFO}")
    if kind == Kind.I:
        return bytes((addr0, addr1, (frame.ns % MODULO) << 1, ((frame.nr % MODULO) << 1) | pf)) + frame.info
    code = _S_CODE.get(kind)
    if code is not None:
        if frame.info:
            raise ValueError(f"LAPD {kind} frames carry no information field")
        return bytes((addr0, addr1, code, ((frame.nr % MODULO) << 1) | pf))
    code = _U_CODE.get(kind)
    if code is None:
        raise ValueError(f"unknown LAPD frame kind {kind!r}")
    if frame.info and kind not in _U_WITH_INFO:
        raise ValueError(f"LAPD {kind} frames carry no information field")
    return bytes((addr0, addr1, code | (pf << 4))) + frame.info


def decode(data: bytes) -> Frame:
    n = len(data)
    if n < 3:
        raise FrameError("too_short", f"{n} octets, a LAPD frame has at least 3")
    a0, a1, c0 = data[0], data[1], data[2]
    if a0 & 1 or not a1 & 1:
        raise FrameError("bad_address", f"address extension bits wrong in {a0:#04x} {a1:#04x}")
    sapi, cr, tei = a0 >> 2, (a0 >> 1) & 1, a1 >> 1
    if not c0 & 1:  # I frame
        if n < 4:
            raise FrameError("too_short", "I frame without its second control octet")
        c1 = data[3]
        info = bytes(data[4:])
        if len(info) > MAX_INFO:
            raise FrameError("too_long", f"I field of {len(info)} octets exceeds N201={MAX_INFO}")
        return Frame(Kind.I, cr, bool(c1 & 1), c0 >> 1, c1 >> 1, info, sapi, tei)
    if c0 & 3 == 1:  # supervisory
        kind = _S_KIND.get(c0)
        if kind is None:
            raise FrameError("bad_control", f"unknown supervisory control octet {c0:#04x}")
        if n < 4:
            raise FrameError("too_short", f"{kind} frame without its second control octet")
        if n > 4:
            raise FrameError("info_not_permitted", f"{kind} frame with {n - 4} octets of information")
        c1 = data[3]
        return Frame(kind, cr, bool(c1 & 1), None, c1 >> 1, b"", sapi, tei)
    kind = _U_KIND.get(c0 & 0xEF)
    if kind is None:
        raise FrameError("bad_control", f"unknown unnumbered control octet {c0:#04x}")
    info = bytes(data[3:])
    if info and kind not in _U_WITH_INFO:
        raise FrameError("info_not_permitted", f"{kind} frame with {len(info)} octets of information")
    if len(info) > MAX_INFO:
        raise FrameError("too_long", f"{kind} information field of {len(info)} octets exceeds N201={MAX_INFO}")
    return Frame(kind, cr, bool(c0 & 0x10), None, None, info, sapi, tei)


def frmr_info(rejected_control: bytes, vs: int, vr: int, cr: int, *, w: bool = False, x: bool = False,
              y: bool = False, z: bool = False) -> bytes:
    """The 5-octet FRMR information field (modulo 128): rejected control field, V(S), V(R) with
    the C/R bit of the rejected frame, and the W/X/Y/Z reason bits."""
    control = (bytes(rejected_control) + b"\x00")[:2]
    wxyz = (1 if w else 0) | (2 if x else 0) | (4 if y else 0) | (8 if z else 0)
    return control + bytes(((vs % MODULO) << 1, ((vr % MODULO) << 1) | (cr & 1), wxyz))

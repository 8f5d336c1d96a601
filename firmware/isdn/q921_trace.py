"""`debug isdn q921`: each LAPD frame one line, as Cisco IOS prints it.

    ISDN Se1:15 Q921: User TX -> SABMEp sapi=0 tei=0
    ISDN Se1:15 Q921: User RX <- UAf sapi=0 tei=0
    ISDN Se1:15 Q921: User TX -> INFOc sapi=0 tei=0, ns=3 nr=5 i=0x08020001...
    ISDN Se1:15 Q921: User RX <- RRr sapi=0 tei=0 nr=4

"User"/"Network" is our side.  The suffix carries C/R and P/F together, as IOS does: a command
shows its P bit (p set, c clear), a response its F bit (f set, r clear).  Whether a frame is a
command follows from its C/R bit and who sent it (Q.921 3.3.2: the network's commands carry
C/R=1, the user's C/R=0).  The LAPD entity hands each frame to its `trace` hook; the isdn
binding publishes it as a `Q921Frame` event and the text is made only when somebody shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.bus import Event

from .lapd_frames import MODULO, FrameError, Kind, decode

_NAMES = {Kind.I: "INFO"}


@dataclass(frozen=True)
class Q921Frame(Event):
    """One frame a span's LAPD sent ("TX") or received ("RX"); `role` is our side."""

    span_id: int
    interface: str        # Se<span>:15
    role: str             # "user" | "network"
    direction: str        # "TX" | "RX"
    frame: bytes

    @property
    def text(self) -> str:
        return format_frame(self.frame, self.direction, self.role, self.interface)


def _suffix(kind: str, cr: int, pf: bool, sender_is_network: bool) -> str:
    command = cr == (1 if sender_is_network else 0)
    if command:
        return "p" if pf else "c"
    return "f" if pf else "r"


def format_frame(frame: bytes, direction: str, role: str = "user", interface: str = "Se0:15",
                 timestamp: str | None = None) -> str:
    """One frame as one line; never raises, whatever the bytes."""
    frame = bytes(frame)
    ours_network = role == "network"
    side = "Network" if ours_network else "User"
    arrow = "TX ->" if direction == "TX" else "RX <-"
    prefix = f"{timestamp}: " if timestamp else ""
    head = f"{prefix}ISDN {interface} Q921: {side} {arrow} "
    try:
        f = decode(frame)
    except FrameError as exc:
        return f"{head}BAD FRAME 0x{frame[:32].hex().upper()}{'...' if len(frame) > 32 else ''} ({exc})"
    # A frame we send comes from our side; one we receive from the other.
    sender_is_network = ours_network if direction == "TX" else not ours_network
    name = _NAMES.get(f.kind, f.kind) + _suffix(f.kind, f.cr, f.pf, sender_is_network)
    text = f"{head}{name} sapi={f.sapi} tei={f.tei}"
    if f.kind == Kind.I:
        return f"{text}, ns={f.ns} nr={f.nr} i=0x{f.info.hex().upper()}"
    if f.nr is not None:
        return f"{text} nr={f.nr}"
    if f.kind == Kind.FRMR and len(f.info) >= 5:
        info = f.info
        reasons = "".join(letter for bit, letter in ((1, "W"), (2, "X"), (4, "Y"), (8, "Z")) if info[4] & bit)
        return (f"{text} rejected control=0x{info[:2].hex().upper()} vs={info[2] >> 1} "
                f"vr={(info[3] >> 1) % MODULO} reason={reasons or 'none'} i=0x{info.hex().upper()}")
    if f.info:
        return f"{text} i=0x{f.info.hex().upper()}"
    return text

"""What the ISDN service publishes on the bus, each naming its span.

Every event of a span's PriStack (Q.931 call events, DataLinkUp/DataLinkDown) goes out wrapped
in `IsdnEvent`, so a subscriber (console, CTI, statistics) sees which span it came from without
the stack knowing about spans.  `IsdnTrace` carries one `debug isdn q931` block.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.bus import Event


@dataclass(frozen=True)
class IsdnEvent(Event):
    span_id: int
    event: Event


@dataclass(frozen=True)
class IsdnTrace(Event):
    span_id: int
    text: str


@dataclass(frozen=True)
class IsdnFault(Event):
    """Something the stack could not digest (a hostile frame, a bug of ours); the span goes on."""

    span_id: int
    detail: str


@dataclass(frozen=True)
class DtmfDigit(Event):
    """A digit heard in-band on a call's B-channel."""

    span_id: int
    call_id: int
    timeslot: int
    digit: str


@dataclass(frozen=True)
class CallAudioReport(Event):
    """What was heard on a call's B-channel, published when the call is released: the DTMF
    digits in order and the level of the longest steady tone (None when none was heard)."""

    span_id: int
    call_id: int
    timeslot: int
    digits: str
    tone_level_dbm0: float | None
    tone_seconds: float

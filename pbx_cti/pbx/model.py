"""The call model: a call is legs joined by a bridge on the media plane.  Every leg has one owner
(the endpoint it lives on: an ISDN channel today, a SIP phone or a browser later), and every
change of a call is an event on the one bus, which the CDR writer, the console and the CTI
subscribe to."""

from __future__ import annotations

import enum
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from runtime.bus import Event


class LegState(enum.Enum):
    SETUP = "setup"
    PROCEEDING = "proceeding"
    ALERTING = "alerting"
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass
class Leg:
    id: str
    endpoint: str          # the endpoint's kind and address, e.g. "isdn span 1 TS 5"
    direction: str         # "in" (the caller's side) or "out" (a leg the box placed)
    state: LegState = LegState.SETUP
    media: Any = None      # a LegMedia (pbx_cti/pbx/media.py) once the leg carries audio
    span: int | None = None
    timeslot: int | None = None
    kind: str = "isdn"     # what carries it: "isdn" (a B-channel) or "sip" (an RTP leg)


@dataclass
class Call:
    """One call as the box sees it, with what its record needs."""
    id: str
    direction: str
    trunk: str | None
    span: int | None
    timeslot: int | None
    numbers_in: dict[str, Any]                  # as the carrier sent them
    numbers: dict[str, Any]                     # after the gateway's mapping
    legs: list[Leg] = field(default_factory=list)
    setup_at: float = field(default_factory=time.time)
    alerting_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    route: dict[str, Any] = field(default_factory=dict)
    ivr_node: str | None = None
    ivr_path: list[str] = field(default_factory=list)
    digits: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    cause: int | None = None
    cleared_by: str | None = None

    def summary(self) -> dict[str, Any]:
        return {"call_id": self.id, "direction": self.direction, "trunk": self.trunk, "span": self.span,
                "timeslot": self.timeslot, "numbers_in": self.numbers_in, "numbers": self.numbers,
                "setup_at": self.setup_at, "alerting_at": self.alerting_at, "answered_at": self.answered_at,
                "ended_at": self.ended_at, "route": self.route, "ivr_path": list(self.ivr_path),
                "digits": self.digits, "data": dict(self.data), "cause": self.cause, "cleared_by": self.cleared_by}


_serial = itertools.count(1)


def new_call_id(prefix: str) -> str:
    """Unique within the box's life and readable at the console: a boot stamp and a counter."""
    return f"{prefix}-{_BOOT:x}-{next(_serial)}"


_BOOT = int(time.time())


@dataclass(frozen=True)
class CallStarted(Event):
    call_id: str
    summary: dict


@dataclass(frozen=True)
class CallRouted(Event):
    call_id: str
    route: dict


@dataclass(frozen=True)
class CallAnswered(Event):
    call_id: str


@dataclass(frozen=True)
class CallUpdated(Event):
    """The IVR moved on, digits were collected, data was set."""
    call_id: str
    fields: dict


@dataclass(frozen=True)
class CallEnded(Event):
    call_id: str
    summary: dict

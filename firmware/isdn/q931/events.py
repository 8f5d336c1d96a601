"""What the Q.931 entity tells the layer above (gateway, PBX).  Every event carries `time`
(the `now` it happened at) and, where it concerns a call, the local `call_id`."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.bus import Event

from .ies import BearerCapability, CalledNumber, CallingNumber, ConnectedNumber, RedirectingNumber


@dataclass(frozen=True)
class IncomingCall(Event):
    call_id: int
    called: str
    calling: CallingNumber | None
    redirecting: RedirectingNumber | None
    bearer: BearerCapability
    timeslot: int
    exclusive: bool
    sending_complete: bool
    display: str | None = None
    called_number: CalledNumber | None = None     # type of number and numbering plan of `called`
    progress: int | None = None                   # Progress indicator of the SETUP (3: origin non-ISDN)
    law: str | None = None    # "alaw" / "ulaw" from the bearer's layer 1 (None: data; use the span's)


@dataclass(frozen=True)
class InfoDigits(Event):
    """Digits of overlap receiving (INFORMATION) or keypad digits during a call."""

    call_id: int
    digits: str
    sending_complete: bool


@dataclass(frozen=True)
class SetupAcknowledged(Event):
    """Our SETUP was incomplete: send more digits with send_info()."""

    call_id: int
    timeslot: int | None


@dataclass(frozen=True)
class CallProceeding(Event):
    call_id: int
    timeslot: int | None


@dataclass(frozen=True)
class Alerting(Event):
    call_id: int
    inband: bool


@dataclass(frozen=True)
class Progress(Event):
    call_id: int
    description: int      # Progress indicator value: 8 = in-band information now available


@dataclass(frozen=True)
class Answered(Event):
    call_id: int
    connected: ConnectedNumber | None


@dataclass(frozen=True)
class Disconnected(Event):
    """The far end cleared (DISCONNECT received); Released follows once the call is gone."""

    call_id: int
    cause: int
    inband: bool


@dataclass(frozen=True)
class Released(Event):
    """The call is over and its channel and call reference are free; always the last event."""

    call_id: int
    cause: int


@dataclass(frozen=True)
class Notified(Event):
    call_id: int
    description: int


@dataclass(frozen=True)
class FacilityReceived(Event):
    call_id: int | None
    body: bytes


@dataclass(frozen=True)
class StatusReceived(Event):
    call_id: int | None
    cause: int
    peer_state: int


@dataclass(frozen=True)
class RestartDone(Event):
    """Channels back to idle after RESTART / RESTART ACKNOWLEDGE.  `acknowledged` is False when
    our RESTART went unanswered and the channels were taken out of service."""

    timeslots: tuple[int, ...]
    whole_interface: bool
    by_peer: bool
    acknowledged: bool = True


@dataclass(frozen=True)
class ProtocolError(Event):
    """A message from the peer was wrong; what we answered is in the trace."""

    call_id: int | None
    cause: int
    detail: str

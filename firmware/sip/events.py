"""What the SIP user agent tells the call model.  Names and fields follow the ISDN stack's
events (firmware/isdn/q931/events.py) so the PBX handles a SIP leg as it handles a span's:
every event has `time` and, for a call, the user agent's `call_id`; causes are Q.850.

Numbers are `Party` objects with the attribute names of the ISDN number IEs (digits,
type_of_number, numbering_plan, presentation, reason), so code reading `ev.calling.digits` or
`ev.redirecting.reason` works for both.  SIP-only facts (the trunk, the authenticated phone,
the negotiated media) are extra fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.bus import Event

from .sdp import NegotiatedAudio

# Q.931 codes (type of number, numbering plan, presentation, redirection reason) as the ISDN
# IEs use them.
TON_UNKNOWN, TON_INTERNATIONAL, TON_NATIONAL, TON_SUBSCRIBER = 0, 1, 2, 4
PLAN_ISDN = 1
PRESENTATION_ALLOWED, PRESENTATION_RESTRICTED, PRESENTATION_NOT_AVAILABLE = 0, 1, 2
REASON_UNKNOWN, REASON_BUSY, REASON_NO_REPLY, REASON_UNCONDITIONAL, REASON_DEFLECTION = 0, 1, 2, 15, 4


@dataclass(frozen=True)
class Party:
    digits: str
    type_of_number: int = TON_UNKNOWN
    numbering_plan: int = PLAN_ISDN
    presentation: int | None = PRESENTATION_ALLOWED
    screening: int = 0
    reason: int | None = None          # redirecting numbers only: why the call was forwarded
    display: str | None = None


@dataclass(frozen=True)
class Bearer:
    """A SIP call's bearer in the ISDN IE's terms: speech (capability 0), with the Q.931 layer-1
    code of the offered G.711 law (2 mu-law, 3 A-law; None for G.729 or no offer)."""

    capability: int = 0
    layer1: int | None = None


@dataclass(frozen=True)
class IncomingCall(Event):
    call_id: int
    called: str
    calling: Party | None
    redirecting: Party | None
    trunk: str | None                     # the [[sip_trunk]] it came in on, or None for a phone
    phone: str | None                     # the authenticated user (phone), or None for a trunk
    offer: NegotiatedAudio | None         # the caller's media as our answer would take it
    source: tuple[str, int] = ("", 0)
    sending_complete: bool = True         # SIP sends the whole number (no overlap here)
    called_number: Party | None = None
    display: str | None = None
    timeslot: None = None                 # no B-channel: media goes over RTP
    progress: int | None = None
    law: str | None = None                # "alaw" / "ulaw" when the offer's first codec is G.711
    bearer: Bearer = Bearer()
    exclusive: bool = False


@dataclass(frozen=True)
class CallProceeding(Event):
    call_id: int
    timeslot: None = None


@dataclass(frozen=True)
class Alerting(Event):
    call_id: int
    inband: bool
    media: NegotiatedAudio | None = None


@dataclass(frozen=True)
class Progress(Event):
    call_id: int
    description: int                      # 8: in-band information (183 with SDP)
    media: NegotiatedAudio | None = None


@dataclass(frozen=True)
class Answered(Event):
    call_id: int
    connected: Party | None
    media: NegotiatedAudio | None = None


@dataclass(frozen=True)
class Disconnected(Event):
    """The far end cleared (BYE, CANCEL, a final error, a session that expired); Released follows."""

    call_id: int
    cause: int
    inband: bool = False
    status: int | None = None             # the SIP final response that ended it, if one did


@dataclass(frozen=True)
class Released(Event):
    """The call is over; always its last event."""

    call_id: int
    cause: int


@dataclass(frozen=True)
class DtmfDigit(Event):
    """A digit from SIP INFO (application/dtmf-relay or application/dtmf)."""

    call_id: int
    digit: str
    duration_ms: int | None = None


@dataclass(frozen=True)
class MediaChanged(Event):
    """A re-INVITE or UPDATE changed the media: `held` when the far end put us on hold."""

    call_id: int
    media: NegotiatedAudio
    held: bool


@dataclass(frozen=True)
class TrunkStateChanged(Event):
    """OPTIONS keepalives or registration: the trunk can (up) or cannot carry calls."""

    trunk: str
    up: bool
    detail: str


@dataclass(frozen=True)
class TrunkRegistered(Event):
    trunk: str
    registered: bool
    expires: int
    detail: str


@dataclass(frozen=True)
class AuthenticationFailed(Event):
    """A request failed digest authentication or came from an address no trunk allows."""

    source: tuple[str, int]
    method: str
    user: str | None
    reason: str
    blocked: bool

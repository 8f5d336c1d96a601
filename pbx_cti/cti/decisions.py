"""What the engine tells the world: the adapter turns these into call-model actions (ring an
endpoint, stop ringing it, play an announcement) and API events.  Endpoints are opaque ids: an
ISDN extension, a SIP phone or a browser softphone look the same from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.bus import Event

from .model import AgentState


@dataclass(frozen=True)
class Decision(Event):
    """A bus event too: the adapter may publish decisions as they are for the API and console."""


@dataclass(frozen=True)
class Offer(Decision):
    """Ring `endpoint` for `caller`; answer with `offer_answered`, failure with `offer_failed`.
    A ring-all offer is one Offer per agent with the same `offer_id`."""

    caller: str
    queue: str
    agent: str
    endpoint: str
    offer_id: int
    ring_timeout: float
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class WithdrawOffer(Decision):
    """Stop ringing `endpoint` for `caller` (the caller left, another agent answered, the agent
    went not ready or the offer timed out).  Idempotent for the adapter."""

    caller: str
    agent: str
    endpoint: str
    offer_id: int
    reason: str


@dataclass(frozen=True)
class Announce(Decision):
    """Tell a waiting caller its place; `estimated_wait` is None when nobody staffs the group."""

    caller: str
    queue: str
    position: int
    estimated_wait: float | None


@dataclass(frozen=True)
class AgentStateChanged(Decision):
    agent: str
    previous: AgentState
    state: AgentState
    reason: str
    caller: str = ""


@dataclass(frozen=True)
class PendingStateChange(Decision):
    """The agent will go NOT_READY with `reason` as soon as its current call ends."""

    agent: str
    reason: str


@dataclass(frozen=True)
class CallProgress(Decision):
    """What happened to an agent's call beyond its state, for its application: a consultation
    ringing, connected, refused, cancelled, completed, joined in a conference or left by a party;
    a caller parked for a vanished device, rung through again or queued again.  `party` names
    the consulted target ("agent:kim", "extension:2003", "number:0212345678")."""

    agent: str
    call: str
    what: str
    party: str = ""
    detail: str = ""

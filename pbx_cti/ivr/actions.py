"""What an IVR session asks of the world (its actions), and the lookup request/result types
the asyncio adapter (lookups.py) and the session share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Play:
    """Play `prompts` in order; report `prompt_finished(id)` after the last.  With barge-in a
    key press stops the prompts (the session then sends StopPlayback)."""
    id: int
    prompts: tuple[str, ...]
    barge_in: bool


@dataclass(frozen=True)
class StopPlayback:
    id: int


@dataclass(frozen=True)
class StartCollect:
    """The session now takes key presses for `node` (from this moment a DTMF receiver must be
    listening); they come back as `digit()` events."""
    node: str
    max_digits: int
    terminator: str


@dataclass(frozen=True)
class LookupRequest:
    source: str  # "http" or "sqlite"
    timeout: float
    method: str = "GET"
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, str] | None = None  # sent as a JSON object with POST
    database: str = ""
    query: str = ""
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class LookupFailure:
    """A lookup that gave no data: `not_found` (HTTP 404, no SQL row) or an error."""
    reason: str
    not_found: bool = False


LookupData = Any  # the decoded JSON document, or an SQL row as {column: value}


@dataclass(frozen=True)
class Lookup:
    """Run `request` off the media tick and the loop; report `lookup_result(id, data|LookupFailure)`."""
    id: int
    request: LookupRequest


@dataclass(frozen=True)
class RouteToSkill:
    """Hand the call to the CTI for `skill`; `data` is the call's collected data for the agent.
    Report `handed_off()` when an agent has it, or `route_failed(reason)` (all busy, closed)."""
    skill: str
    data: Mapping[str, Any]
    priority: int = 0
    wait: bool = False      # queue even when no agent is ready now (else the busy path)


@dataclass(frozen=True)
class Transfer:
    """Transfer the call to an outside `number` (kind "number") or an `extension`; report
    `handed_off()` or `transfer_failed(reason, cause)`."""
    target: str
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """Record the caller (a beep first if asked) for at most `max_length` seconds; report
    `record_finished(id, reference)` with where the recording went."""
    id: int
    max_length: float
    beep: bool
    terminator: str


@dataclass(frozen=True)
class StopRecording:
    id: int


@dataclass(frozen=True)
class Notify:
    """Queue an AlimTalk or SMS to `to` from `template` with `params` (or `text`); nothing is
    reported back: the flow has already gone on."""
    kind: str
    to: str
    template: str
    params: Mapping[str, str]
    text: str
    call_id: str = ""


@dataclass(frozen=True)
class RequestCallback:
    """Ask the contact center to call `number` back with an agent of `skill`; nothing is
    reported back: the flow has already gone on."""
    skill: str
    number: str
    data: Mapping[str, Any]
    priority: int = 0
    call_id: str = ""


@dataclass(frozen=True)
class Hangup:
    """Clear the call with this Q.850 cause."""
    cause: int


Action = (Play | StopPlayback | StartCollect | Lookup | RouteToSkill | Transfer | Record | StopRecording | Notify
          | RequestCallback | Hangup)

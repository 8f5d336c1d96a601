"""What one call detail record holds: `CallRecord` and `Leg`, and how each field is stored.

Times are wall-clock seconds since the epoch (UTC), kept to the millisecond; durations are
seconds to the millisecond.  Numbers come twice: as the carrier delivered them (`*_number`,
`*_ton`, `*_presentation`) and after the gateway's mapping (`*_mapped`, `*_mapped_ton`,
`*_mapped_presentation`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone

OPEN = "open"
CLOSED = "closed"

# Who ended the call.  `restart`: the box died with the call up and closed it at the next boot.
CLEARED_BY = ("calling", "called", "box", "network", "restart")

# Q.850 cause 41 (temporary failure): the cause a call cut by a crash is closed with.
CAUSE_RESTART = 41


@dataclass(frozen=True)
class Leg:
    """One side of the call on the line: `role` is "in" (the caller's leg) or "out" (the leg
    the box placed); an IVR or agent leg has no span and leaves the line fields empty."""

    role: str
    kind: str = "isdn"
    trunk_group: str = ""
    span: int | None = None
    channel: int | None = None      # the B-channel's timeslot on the span

    @classmethod
    def from_dict(cls, data: dict) -> "Leg":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class CallRecord:
    call_id: str
    direction: str = "in"                 # in (from the carrier), out (placed by the box), internal
    state: str = OPEN
    # As delivered on the trunk
    called_number: str = ""
    called_ton: str = ""                  # type of number: unknown, international, national, subscriber...
    calling_number: str = ""
    calling_ton: str = ""
    calling_presentation: str = ""        # allowed, restricted, unavailable
    redirecting_number: str = ""
    redirecting_ton: str = ""
    redirecting_presentation: str = ""
    # After the gateway's number mapping
    called_mapped: str = ""
    called_mapped_ton: str = ""
    calling_mapped: str = ""
    calling_mapped_ton: str = ""
    calling_mapped_presentation: str = ""
    redirecting_mapped: str = ""
    redirecting_mapped_ton: str = ""
    redirecting_mapped_presentation: str = ""
    legs: tuple[Leg, ...] = ()
    # Times (epoch seconds, UTC, millisecond precision)
    setup_time: float | None = None
    alerting_time: float | None = None
    answer_time: float | None = None
    end_time: float | None = None
    duration: float | None = None         # end - setup
    billable: float | None = None         # end - answer, 0 when never answered
    cause: int | None = None              # Q.850
    cleared_by: str = ""                  # one of CLEARED_BY
    # What the call went through
    ivr_path: tuple[str, ...] = ()        # IVR node names in the order visited
    digits: str = ""                      # every digit the IVR collected, in order
    ivr_data: dict = field(default_factory=dict)   # the variables the IVR collected
    route_entry: str = ""                 # the dial-plan entry that matched
    route_target: str = ""                # where it sent the call (IVR app, route point, agent, trunk group)
    queue: str = ""                       # the contact center's queue the caller waited in
    agent: str = ""                       # the agent whose extension answered
    # One object per RTP leg as the call ended: role, local/remote address, codec, SSRC sent,
    # packets sent/received, expected, lost, jitter_ms, remote_lost/remote_jitter_ms (the
    # peer's RTCP), rtt_ms, mos (pbx_cti/pbx/core.py media_figures).
    media: tuple[dict, ...] = ()
    last_seen: float | None = None        # the last time the box wrote about this call

    def as_dict(self) -> dict:
        data = asdict(self)
        data["legs"] = [asdict(leg) for leg in self.legs]
        data["ivr_path"] = list(self.ivr_path)
        data["media"] = list(self.media)
        return data


FIELD_NAMES = tuple(f.name for f in fields(CallRecord))
TIME_FIELDS = ("setup_time", "alerting_time", "answer_time", "end_time", "last_seen")
DURATION_FIELDS = ("duration", "billable")
JSON_FIELDS = ("legs", "ivr_path", "ivr_data", "media")
# Fields the writer computes itself; update() and close() may not set them.
DERIVED_FIELDS = ("state", "duration", "billable", "last_seen")
UPDATABLE_FIELDS = tuple(n for n in FIELD_NAMES if n not in DERIVED_FIELDS and n != "call_id")


def column_of(name: str) -> str:
    """The SQL column of a field: times and durations are stored as integer milliseconds."""
    if name in TIME_FIELDS or name in DURATION_FIELDS:
        return name.removesuffix("_time") + "_ms" if name.endswith("_time") else name + "_ms"
    return name


COLUMNS = tuple(column_of(n) for n in FIELD_NAMES)


def to_ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(round(seconds * 1000))


def encode_value(name: str, value):
    """A field's value as stored in its column."""
    if name in TIME_FIELDS or name in DURATION_FIELDS:
        return to_ms(value)
    if name == "legs":
        return json.dumps([asdict(leg) if isinstance(leg, Leg) else dict(leg) for leg in value],
                          separators=(",", ":"), ensure_ascii=False)
    if name in JSON_FIELDS:
        # default=str: collected data JSON cannot hold is kept as its text, never refused mid-call.
        return json.dumps(list(value) if name in ("ivr_path", "media") else value, separators=(",", ":"),
                          ensure_ascii=False, sort_keys=True, default=str)
    return value


def decode_row(row: dict) -> CallRecord:
    values = {}
    for name in FIELD_NAMES:
        raw = row[column_of(name)]
        if name in TIME_FIELDS or name in DURATION_FIELDS:
            values[name] = None if raw is None else raw / 1000
        elif name == "legs":
            values[name] = tuple(Leg.from_dict(d) for d in json.loads(raw or "[]"))
        elif name == "ivr_path":
            values[name] = tuple(json.loads(raw or "[]"))
        elif name == "ivr_data":
            values[name] = json.loads(raw or "{}")
        elif name == "media":
            values[name] = tuple(json.loads(raw or "[]"))
        else:
            values[name] = raw if raw is not None else ("" if isinstance(_DEFAULTS[name], str) else None)
    return CallRecord(**values)


_DEFAULTS = {f.name: f.default for f in fields(CallRecord)}


def iso_utc(seconds: float | None) -> str:
    """2026-12-07T01:02:03.456Z, or "" for no time."""
    if seconds is None:
        return ""
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

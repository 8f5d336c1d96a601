"""The dial plan: internal numbers to targets, with office-hours schedules in the box's timezone.

Entries are tried in the order written; the first whose pattern matches the (mapped) called
number wins.  Patterns are digits, or Asterisk-style with a leading `_`: X any digit, Z 1-9,
N 2-9, [1-5] a set, and a trailing `.` one or more further digits (`!` zero or more).

Targets: `ivr:<flow>` (the call goes through that IVR flow), `extension:<number>` (an agent's
phone behind a trunk group), `trunk:<group>` (out on a trunk group with the number),
`announcement:<prompt>` (said as early media, then cleared with the entry's cause) and
`reject:<cause>`.  An entry with a `schedule` applies while the schedule is open and sends the
call to its `after_hours` target otherwise; holidays are closed all day.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from dataclasses import dataclass

TARGET_KINDS = ("ivr", "extension", "trunk", "announcement", "reject")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+"
                    r"(?P<start>\d\d):(?P<start_m>\d\d)-(?P<end>\d\d):(?P<end_m>\d\d)$")


class DialPlanError(ValueError):
    """A dial-plan value is wrong; the message says what was expected."""


def compile_pattern(pattern: str) -> re.Pattern:
    """A dial-plan pattern as a regular expression over the whole number."""
    if not pattern:
        raise DialPlanError("an empty pattern")
    if not pattern.startswith("_"):
        if not re.fullmatch(r"[0-9*#+]+", pattern):
            raise DialPlanError(f'"{pattern}": a plain pattern is digits (and * # +); start it with _ for X Z N [..] .')
        return re.compile(re.escape(pattern))
    out, i, body = [], 0, pattern[1:]
    while i < len(body):
        c = body[i]
        if c.isdigit() or c in "*#+":
            out.append(re.escape(c))
        elif c == "X":
            out.append("[0-9]")
        elif c == "Z":
            out.append("[1-9]")
        elif c == "N":
            out.append("[2-9]")
        elif c == "[":
            end = body.find("]", i)
            if end < 0 or not re.fullmatch(r"[0-9\-]+", body[i + 1:end]):
                raise DialPlanError(f'"{pattern}": a set is digits and ranges in [ ], e.g. [1-5]')
            out.append(body[i:end + 1])
            i = end
        elif c == "." and i == len(body) - 1:
            out.append("[0-9*#]+")
        elif c == "!" and i == len(body) - 1:
            out.append("[0-9*#]*")
        else:
            raise DialPlanError(f'"{pattern}": {c!r} at position {i + 2} is not a digit, X, Z, N, [set], '
                                f"or a final . or !")
        i += 1
    return re.compile("".join(out))


def parse_target(text: str) -> tuple[str, str]:
    kind, _, value = text.partition(":")
    if kind not in TARGET_KINDS or not value:
        raise DialPlanError(f'"{text}": expected one of {", ".join(k + ":..." for k in TARGET_KINDS)}')
    if kind == "reject" and not (value.isdigit() and 1 <= int(value) <= 127):
        raise DialPlanError(f'"{text}": a reject names a Q.850 cause 1..127')
    if kind == "extension" and not re.fullmatch(r"[0-9*#+]+", value):
        raise DialPlanError(f'"{text}": an extension is a number')
    return kind, value


def _parse_days(spec: str) -> list[int]:
    days = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise DialPlanError(f'"{part}": days are {", ".join(WEEKDAYS)}, or a range like mon-fri')
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        if b < a:
            raise DialPlanError(f'"{part}": a range runs forward in the week (mon-fri, not fri-mon)')
        days += list(range(a, b + 1))
    return days


@dataclass(frozen=True)
class Schedule:
    name: str
    windows: tuple[tuple[int, int, int], ...]      # (weekday, start minute, end minute)
    holidays: frozenset[datetime.date]

    @classmethod
    def parse(cls, name: str, hours: list[str], holidays: list) -> "Schedule":
        windows = []
        for text in hours:
            m = _HOURS.match(text.strip().lower())
            if not m:
                raise DialPlanError(f'"{text}": expected "mon-fri 09:00-18:00" (days, then HH:MM-HH:MM)')
            start = int(m["start"]) * 60 + int(m["start_m"])
            end = int(m["end"]) * 60 + int(m["end_m"])
            if not (0 <= start < end <= 24 * 60) or int(m["start_m"]) > 59 or int(m["end_m"]) > 59:
                raise DialPlanError(f'"{text}": the hours must run forward within one day (00:00-24:00)')
            for day in _parse_days(m["days"]):
                for other_day, other_start, other_end in windows:
                    if other_day == day and start < other_end and other_start < end:
                        raise DialPlanError(f'"{text}": overlaps another window on {WEEKDAYS[day]} '
                                            f"({other_start // 60:02d}:{other_start % 60:02d}-"
                                            f"{other_end // 60:02d}:{other_end % 60:02d})")
                windows.append((day, start, end))
        days = set()
        for value in holidays:
            if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
                raise DialPlanError(f"{value!r}: a holiday is a date, e.g. 2026-12-25")
            days.add(value)
        return cls(name, tuple(windows), frozenset(days))

    def is_open(self, when: datetime.datetime) -> bool:
        if when.date() in self.holidays:
            return False
        minute = when.hour * 60 + when.minute
        return any(day == when.weekday() and start <= minute < end for day, start, end in self.windows)


@dataclass(frozen=True)
class Route:
    entry: int                 # index of the dial-plan entry, -1 when nothing matched
    pattern: str
    kind: str
    target: str
    schedule: str | None = None
    after_hours: bool = False

    def as_dict(self) -> dict:
        return {"entry": self.entry, "pattern": self.pattern, "kind": self.kind, "target": self.target,
                "schedule": self.schedule, "after_hours": self.after_hours}


@dataclass(frozen=True)
class Entry:
    pattern: str
    regex: re.Pattern
    kind: str
    target: str
    schedule: Schedule | None
    after_hours: tuple[str, str] | None
    name: str


class DialPlan:
    def __init__(self, entries: list[Entry], timezone: str = "UTC", unknown: tuple[str, str] = ("reject", "1")):
        self.entries = entries
        self.timezone = zoneinfo.ZoneInfo(timezone)
        self.unknown = unknown

    @classmethod
    def from_config(cls, config) -> "DialPlan":
        schedules = {s.name: Schedule.parse(s.name, list(s.hours), list(s.holidays)) for s in config.schedule or ()}
        entries = []
        for entry in config.dialplan or ():
            kind, target = parse_target(entry.target)
            after = parse_target(entry.after_hours) if entry.after_hours else None
            entries.append(Entry(entry.pattern, compile_pattern(entry.pattern), kind, target,
                                 schedules[entry.schedule] if entry.schedule else None, after,
                                 entry.name or entry.pattern))
        unknown = parse_target(config.pbx.unknown_number) if config.pbx is not None else ("reject", "1")
        return cls(entries, getattr(config.box, "timezone", "UTC") or "UTC", unknown)

    def settled(self, number: str) -> bool:
        """Whether the digits so far are the whole number for the dial plan: an entry matches
        them and no entry could match a longer number starting with them (overlap receiving
        routes only then, on Sending complete, or after the inter-digit timeout)."""
        matched = False
        for entry in self.entries:
            if entry.regex.fullmatch(number):
                matched = True
                if entry.pattern.endswith((".", "!")):
                    return False
            if _could_extend(entry, number):
                return False
        return matched

    def route(self, number: str, wall_time: float) -> Route:
        when = datetime.datetime.fromtimestamp(wall_time, self.timezone)
        for index, entry in enumerate(self.entries):
            if entry.regex.fullmatch(number):
                if entry.schedule is not None and not entry.schedule.is_open(when):
                    kind, target = entry.after_hours or ("reject", "1")
                    return Route(index, entry.pattern, kind, target, entry.schedule.name, True)
                return Route(index, entry.pattern, entry.kind, entry.target,
                             entry.schedule.name if entry.schedule else None)
        return Route(-1, "", *self.unknown)


def _could_extend(entry: Entry, number: str) -> bool:
    """Whether the entry could match a number longer than `number` that starts with it."""
    if not entry.pattern.startswith("_"):
        return len(entry.pattern) > len(number) and entry.pattern.startswith(number)
    if entry.pattern.endswith((".", "!")):
        return bool(re.match(entry.regex.pattern[:-len("[0-9*#]+")] if entry.pattern.endswith(".") else
                             entry.regex.pattern[:-len("[0-9*#]*")], number + "0" * 32)) and \
            _prefix_fits(entry, number)
    # A fixed-length pattern: one more digit than the number can still be matched when the
    # pattern is longer than the number and its first digits agree.
    return _fixed_length(entry.pattern) > len(number) and _prefix_fits(entry, number)


def _fixed_length(pattern: str) -> int:
    return len(re.sub(r"\[[^\]]*\]", "X", pattern[1:]))


def _prefix_fits(entry: Entry, number: str) -> bool:
    """The number is a prefix of something the entry matches: try the digits that would follow."""
    for tail_length in range(1, 33):
        for digit in "0123456789":
            if entry.regex.fullmatch(number + digit * tail_length):
                return True
    return False

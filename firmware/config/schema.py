"""A small declarative schema: sections made of typed fields, validated all at once.

A layer describes its part of the box's file with `Section`, `Table`, `TableList` and `Field`
(types: Bool, Int, Seconds, Str, Enum, Path, IpAddress, IpInterface, IpNetwork, ListOf, MapOf)
plus cross-field checks, and registers it (see `registry`).  Validation never stops at the
first problem: every issue is collected with its key path, and the loader turns paths into
file:line:column.
"""

from __future__ import annotations

import abc
import datetime
import difflib
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .errors import format_path


class _Marker:
    def __init__(self, name: str):
        self._name = name

    def __repr__(self) -> str:
        return self._name


REQUIRED = _Marker("REQUIRED")  # the key must be written
OPTIONAL = _Marker("OPTIONAL")  # may be left out; the value is then None
INVALID = _Marker("INVALID")  # a value that failed; its issue is already reported


def describe(value: Any) -> str:
    """A value as the engineer wrote it in TOML, for 'got ...' in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return f"the date/time {value.isoformat()}"
    return type(value).__name__


def _suggest(word: str, choices) -> str:
    for choice in choices:
        if str(choice).lower() == word.lower():
            return f' (did you mean "{choice}"?)'
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


class Checker:
    """Collects issues as (key path, message) while a document is validated, and issues found
    in other files the document names (an IVR flow file), which keep their own file:line."""

    def __init__(self) -> None:
        self.problems: list[tuple[tuple, str]] = []
        self.elsewhere: list = []  # ConfigIssue of another file
        self.warnings: list = []   # ConfigIssue worth a look that does not stop the file (an unreachable IVR node)

    def report(self, path: tuple, message: str) -> None:
        self.problems.append((tuple(path), message))

    def report_elsewhere(self, issue) -> None:
        self.elsewhere.append(issue)


class Record(Mapping):
    """A validated table: read-only, keys as attributes (`span.crc4`) or items."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]):
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("configuration records are read-only")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values)))

    def __repr__(self) -> str:
        return "Record(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"

    def to_plain(self) -> dict:
        return {k: _plain(v) for k, v in self._values.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_plain()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


# -- value types ------------------------------------------------------------------------------

class Type(abc.ABC):
    expected = "a value"

    @abc.abstractmethod
    def convert(self, value: Any, path: tuple, checker: Checker) -> Any:
        """The validated value, or INVALID after reporting why to `checker`."""

    def wrong(self, value: Any, path: tuple, checker: Checker, expected: str | None = None) -> Any:
        checker.report(path, f"expected {expected or self.expected}, got {describe(value)}")
        return INVALID


class Bool(Type):
    expected = "true or false"

    def convert(self, value, path, checker):
        return value if isinstance(value, bool) else self.wrong(value, path, checker)


def _range_text(low, high, unit: str = "") -> str:
    if low is not None and high is not None:
        return f"{low}..{high}{unit}"
    if low is not None:
        return f">= {low}{unit}"
    return f"<= {high}{unit}"


class Int(Type):
    def __init__(self, min: int | None = None, max: int | None = None):
        self.min, self.max = min, max
        self.expected = "an integer" + (f" {_range_text(min, max)}" if min is not None or max is not None else "")

    def convert(self, value, path, checker):
        if isinstance(value, bool) or not isinstance(value, int):
            return self.wrong(value, path, checker)
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            return self.wrong(value, path, checker)
        return value


class Choice(Type):
    """One of a fixed set of integers or strings (e.g. baud rates)."""

    def __init__(self, *choices):
        self.choices = choices
        self.expected = "one of " + ", ".join(describe(c) for c in choices)

    def convert(self, value, path, checker):
        if isinstance(value, bool) or value not in self.choices or type(value) not in {type(c) for c in self.choices}:
            if isinstance(value, str):
                checker.report(path, f"expected {self.expected}, got {describe(value)}{_suggest(value, self.choices)}")
                return INVALID
            return self.wrong(value, path, checker)
        return value


Enum = Choice


class Seconds(Type):
    """A duration in seconds, integer or decimal; with `can_be_off`, `false` switches the timer
    off and reads as None (TOML has no null)."""

    def __init__(self, min: float | None = 0, max: float | None = None, can_be_off: bool = False):
        self.min, self.max, self.can_be_off = min, max, can_be_off
        self.expected = f"a number of seconds {_range_text(min, max)}" + (", or false for off" if can_be_off else "")

    def convert(self, value, path, checker):
        if self.can_be_off and value is False:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return self.wrong(value, path, checker)
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            return self.wrong(value, path, checker)
        return float(value)


class Str(Type):
    def __init__(self, pattern: str | None = None, what: str = "a string", min_len: int = 0,
                 max_len: int | None = None, check: Callable[[str], str | None] | None = None):
        self.pattern = re.compile(pattern) if pattern else None
        self.expected = what
        self.min_len, self.max_len, self.check = min_len, max_len, check

    def convert(self, value, path, checker):
        if not isinstance(value, str):
            return self.wrong(value, path, checker)
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            limit = f"{self.min_len}..{self.max_len}" if self.max_len is not None else f">= {self.min_len}"
            return self.wrong(value, path, checker, f"{self.expected} of {limit} characters")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            return self.wrong(value, path, checker)
        if self.check is not None:
            problem = self.check(value)
            if problem:
                checker.report(path, problem)
                return INVALID
        return value


class Path(Str):
    def __init__(self, what: str = "an absolute or relative file path"):
        super().__init__(what=what, min_len=1, max_len=4096)

    def convert(self, value, path, checker):
        value = super().convert(value, path, checker)
        if value is not INVALID and "\x00" in value:
            return self.wrong(value, path, checker, "a path without NUL characters")
        return value


class _IpType(Type):
    factory: Callable[[str], Any]

    def convert(self, value, path, checker):
        if not isinstance(value, str):
            return self.wrong(value, path, checker)
        try:
            return type(self).factory(value)
        except ValueError:
            return self.wrong(value, path, checker)


class IpAddress(_IpType):
    expected = 'an IP address such as "192.0.2.1" or "2001:db8::1"'
    factory = staticmethod(ipaddress.ip_address)


class IpInterface(_IpType):
    expected = 'an address with prefix length such as "192.0.2.10/24"'

    @staticmethod
    def factory(text: str):
        if "/" not in text:
            raise ValueError(text)
        return ipaddress.ip_interface(text)


class IpNetwork(_IpType):
    expected = 'a network such as "10.0.0.0/8", or "default"'

    @staticmethod
    def factory(text: str):
        if text == "default":
            return "default"
        return ipaddress.ip_network(text, strict=True)


class ListOf(Type):
    def __init__(self, item: Type, min_len: int = 0, max_len: int | None = None, unique: bool = False):
        self.item, self.min_len, self.max_len, self.unique = item, min_len, max_len, unique
        self.expected = f"an array of {item.expected}"

    def convert(self, value, path, checker):
        if not isinstance(value, list):
            return self.wrong(value, path, checker)
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            bound = f"{self.min_len}..{self.max_len}" if self.max_len is not None else f"at least {self.min_len}"
            checker.report(path, f"expected {bound} entries, got {len(value)}")
            return INVALID
        out = [self.item.convert(v, path + (i,), checker) for i, v in enumerate(value)]
        if self.unique:
            seen: dict = {}
            for i, v in enumerate(out):
                if v is INVALID:
                    continue
                if v in seen:
                    checker.report(path + (i,), f"duplicate entry {describe(value[i])} (already at [{seen[v]}])")
                else:
                    seen[v] = i
        return INVALID if INVALID in out else tuple(out)


class MapOf(Type):
    """A table whose keys are free names (checked by `key`) and whose values share a type."""

    def __init__(self, value: Type, key: Str | None = None):
        self.value, self.key = value, key
        self.expected = f"a table of {value.expected}"

    def convert(self, value, path, checker):
        if not isinstance(value, dict):
            return self.wrong(value, path, checker)
        out = {}
        for k, v in value.items():
            if self.key is not None and self.key.convert(k, path + (k,), Checker()) is INVALID:
                checker.report(path + (k,), f"expected a key that is {self.key.expected}, got {describe(k)}")
                continue
            out[k] = self.value.convert(v, path + (k,), checker)
        return INVALID if INVALID in out.values() else Record(out)


# -- tables -----------------------------------------------------------------------------------

@dataclass
class Field:
    type: Type
    default: Any = REQUIRED
    doc: str = ""


TableCheck = Callable[[Record, tuple, Checker], None]


class Table(Type):
    """A TOML table with known keys; unknown keys are errors with a did-you-mean."""

    expected = "a table"

    def __init__(self, fields: dict[str, Field], checks: list[TableCheck] | None = None,
                 defaults: Callable[[dict], dict] | None = None):
        self.fields = fields
        self.checks = list(checks or [])
        # Some defaults depend on other keys (an ISDN role follows the span's side); computed
        # from the raw table before conversion.
        self.defaults = defaults

    def convert(self, value, path, checker):
        if not isinstance(value, dict):
            return self.wrong(value, path, checker)
        for key in value:
            if key not in self.fields:
                checker.report(path + (key,), f"unknown key{_suggest(key, self.fields)}; "
                                              f"expected one of: {', '.join(self.fields)}")
        dynamic = self.defaults(value) if self.defaults else {}
        out: dict[str, Any] = {}
        failed = False
        for name, spec in self.fields.items():
            if name in value:
                out[name] = spec.type.convert(value[name], path + (name,), checker)
            elif name in dynamic:
                out[name] = dynamic[name]
            elif spec.default is REQUIRED:
                checker.report(path + (name,), f"missing required key ({spec.type.expected})")
                out[name] = INVALID
            elif spec.default is OPTIONAL:
                out[name] = None
            else:
                out[name] = spec.default
            failed = failed or out[name] is INVALID
        if failed or any(k not in self.fields for k in value):
            return INVALID
        record = Record(out)
        for check in self.checks:
            check(record, path, checker)
        return record

    def default_value(self):
        """The table as if it were left out entirely; INVALID when a key is required."""
        if any(f.default is REQUIRED for f in self.fields.values()):
            return INVALID
        return self.convert({}, (), Checker())


class TableList(Type):
    """An array of tables (`[[span]]`), optionally with keys unique across its entries."""

    def __init__(self, table: Table, unique: tuple[str, ...] = (), min_len: int = 0,
                 max_len: int | None = None, noun: str = "entry"):
        self.table, self.unique, self.min_len, self.max_len, self.noun = table, unique, min_len, max_len, noun
        self.expected = "an array of tables"

    def convert(self, value, path, checker):
        if not isinstance(value, list):
            return self.wrong(value, path, checker)
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            bound = f"{self.min_len}..{self.max_len}" if self.max_len is not None else f"at least {self.min_len}"
            checker.report(path, f"expected {bound} {self.noun} tables, got {len(value)}")
        out = [self.table.convert(v, path + (i,), checker) for i, v in enumerate(value)]
        for key in self.unique:
            first_at: dict = {}
            for i, raw in enumerate(value):
                if not isinstance(raw, dict) or key not in raw or isinstance(raw[key], (dict, list)):
                    continue
                marker = (type(raw[key]).__name__, raw[key])
                if marker in first_at:
                    checker.report(path + (i, key), f"duplicate {self.noun} {key} {describe(raw[key])} "
                                                    f"(already used by {format_path(path + (first_at[marker],))})")
                else:
                    first_at[marker] = i
        return INVALID if INVALID in out else tuple(out)


# -- sections ---------------------------------------------------------------------------------

ConfigCheck = Callable[["Any", Checker], None]


@dataclass
class Section:
    """One top-level key of the box's file, owned by the layer it configures.

    `checks` run on the whole validated configuration (for references between sections,
    e.g. ISDN entries naming span ids) and only when every section validated on its own."""

    name: str
    type: Table | TableList
    doc: str = ""
    required: bool = False
    checks: list[ConfigCheck] = field(default_factory=list)
    # Files the section names (relative to the configuration file) that the store keeps with
    # each commit, e.g. [ivr]'s flow files: the validated section value -> the paths as written.
    files: Callable[[Any], list[str]] | None = None

    def absent_value(self):
        if isinstance(self.type, TableList):
            return ()
        return self.type.default_value()

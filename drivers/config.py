"""Per-span configuration: exactly what one `[[span]]` table of the config file carries.

Validation happens when a `SpanConfig` is built, so a bad value never reaches a driver.  Every
error is a `SpanConfigError` naming the field, the value and what was expected; `where` (for
example ``"pribox.toml: span[1]"``) is put in front so the config loader can point at the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

DRIVERS = ("emulated", "dahdi")
SIDES = ("te", "nt")
CLOCK_SOURCES = ("line", "internal")
LAWS = ("alaw", "ulaw")
WIRE_ROLES = ("listen", "connect")
# DAHDI span settings (drivers/dahdi.py): system.conf's span= line.
LINE_CODES = ("hdb3", "ami")
FRAMINGS = ("ccs", "cas")
LINE_BUILD_OUTS = range(0, 8)
DAHDI_SPANS = range(1, 129)         # DAHDI_MAX_SPANS
TIMING_PRIORITIES = range(0, 129)   # 0 = never a timing source; 1 = primary, 2 = secondary, ...

# TS0 carries framing, so the D-channel can sit on any of timeslots 1-31.
DCHANNEL_TIMESLOTS = range(1, 32)
# One datagram carries between 1 frame (125 us) and 160 frames (20 ms, the longest tick).
FRAMES_PER_DATAGRAM = range(1, 161)
# sun_path holds 108 octets including the terminating NUL.
UNIX_PATH_MAX = 107


class SpanConfigError(ValueError):
    """A span configuration value is wrong; the message names the field and what was expected."""

    def __init__(self, field: str, message: str, where: str = ""):
        self.field = field
        self.detail = message
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}span field '{field}': {message}")


def _check_choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        expected = " or ".join(repr(c) for c in choices)
        raise SpanConfigError(field, f"got {value!r}, expected {expected}")


def _check_int(field: str, value: Any, allowed: range | None = None, minimum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpanConfigError(field, f"got {value!r} ({type(value).__name__}), expected an integer")
    if allowed is not None and value not in allowed:
        raise SpanConfigError(field, f"got {value}, expected {allowed.start}..{allowed.stop - 1}")
    if minimum is not None and value < minimum:
        raise SpanConfigError(field, f"got {value}, expected an integer >= {minimum}")


def _check_socket_path(field: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise SpanConfigError(field, f"got {value!r}, expected a Unix socket path")
    if "\0" in value:
        raise SpanConfigError(field, "the socket path contains a NUL character")
    if len(value.encode()) > UNIX_PATH_MAX:
        raise SpanConfigError(field, f"the socket path is {len(value.encode())} octets long, "
                                     f"a Unix socket path holds at most {UNIX_PATH_MAX}")


@dataclass(frozen=True, kw_only=True)
class SpanConfig:
    id: int
    driver: str
    side: str
    clock: str
    law: str
    wire: str | None = None          # emulated: the wire's socket and which end this span is
    wire_role: str | None = None
    crc4: bool = True
    dchannel_timeslot: int = 16
    frames_per_datagram: int = 8
    dchannel_export: str | None = None
    dahdi_span: int | None = None    # dahdi: DAHDI's span number, and its span= settings
    line_code: str = "hdb3"
    framing: str = "ccs"
    line_build_out: int = 0
    timing_priority: int | None = None   # None: from `clock` (line -> 1, internal -> 0)

    def __post_init__(self) -> None:
        _check_int("id", self.id, minimum=1)
        _check_choice("driver", self.driver, DRIVERS)
        _check_choice("side", self.side, SIDES)
        _check_choice("clock", self.clock, CLOCK_SOURCES)
        _check_choice("law", self.law, LAWS)
        if not isinstance(self.crc4, bool):
            raise SpanConfigError("crc4", f"got {self.crc4!r}, expected true or false")
        _check_int("dchannel_timeslot", self.dchannel_timeslot, DCHANNEL_TIMESLOTS)
        _check_int("frames_per_datagram", self.frames_per_datagram, FRAMES_PER_DATAGRAM)
        _check_choice("line_code", self.line_code, LINE_CODES)
        _check_choice("framing", self.framing, FRAMINGS)
        _check_int("line_build_out", self.line_build_out, LINE_BUILD_OUTS)
        if self.timing_priority is not None:
            _check_int("timing_priority", self.timing_priority, TIMING_PRIORITIES)
        if self.driver == "dahdi":
            self._check_dahdi()
            return
        if self.dahdi_span is not None:
            raise SpanConfigError("dahdi_span", f"only a span with driver 'dahdi' has a DAHDI span, "
                                                f"this one is {self.driver!r}")
        _check_socket_path("wire", self.wire)
        _check_choice("wire_role", self.wire_role, WIRE_ROLES)
        if self.dchannel_export is not None:
            _check_socket_path("dchannel_export", self.dchannel_export)
            if self.dchannel_export == self.wire:
                raise SpanConfigError("dchannel_export", f"{self.dchannel_export!r} is also the wire socket")

    def _check_dahdi(self) -> None:
        if self.dahdi_span is None:
            raise SpanConfigError("dahdi_span", "missing; a dahdi span names its DAHDI span number")
        _check_int("dahdi_span", self.dahdi_span, DAHDI_SPANS)
        for name in ("wire", "wire_role", "dchannel_export"):
            if getattr(self, name) is not None:
                raise SpanConfigError(name, "belongs to the emulated line; a dahdi span has a card instead")
        if self.framing == "cas" and self.dchannel_timeslot != 16:
            raise SpanConfigError("dchannel_timeslot", "CAS framing keeps timeslot 16 for the ABCD bits")
        if self.timing_priority is not None and (self.timing_priority > 0) != (self.clock == "line"):
            raise SpanConfigError("timing_priority",
                                  f"{self.timing_priority} disagrees with clock {self.clock!r} "
                                  f"(0 = internal clock, 1 or more = clock from this line)")

    @property
    def is_network_side(self) -> bool:
        return self.side == "nt"

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], where: str = "") -> "SpanConfig":
        """Build from one parsed `[[span]]` table, rejecting unknown and missing keys by name."""
        known = cls.fields()
        for key in table:
            if key not in known:
                raise SpanConfigError(key, f"unknown key; a span takes {', '.join(known)}", where)
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        for key in required:
            if key not in table:
                raise SpanConfigError(key, "missing; this key is required", where)
        try:
            return cls(**table)
        except SpanConfigError as exc:
            raise SpanConfigError(exc.field, exc.detail, where) from None

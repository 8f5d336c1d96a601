"""[logging]: how loud the box is and where it writes."""

from __future__ import annotations

from ..registry import register_section
from ..schema import OPTIONAL, Choice, Field, MapOf, Path, Record, Section, Str, Table

LEVELS = ("debug", "info", "warning", "error", "critical")

LOGGING = register_section(Section("logging", Table({
    "level": Field(Choice(*LEVELS), "info"),
    "file": Field(Path("a log file path"), OPTIONAL),
    "levels": Field(MapOf(Choice(*LEVELS), key=Str(r"[A-Za-z0-9_.]+", "a logger name such as pribox.isdn")), Record({}),
                    "per-logger levels, e.g. \"pribox.isdn\" = \"debug\""),
}), doc="logging"))

"""[box]: who the appliance is."""

from __future__ import annotations

import zoneinfo

from ..registry import register_section
from ..schema import Field, Section, Str, Table

HOSTNAME = r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"


def _timezone_problem(name: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f'expected an IANA time zone such as "Asia/Seoul" or "UTC", got "{name}"'
    return None


BOX = register_section(Section("box", Table({
    "hostname": Field(Str(HOSTNAME, "a host name (letters, digits, hyphens; dot-separated labels)"), "pribox"),
    "timezone": Field(Str(what="an IANA time zone", check=_timezone_problem), "UTC"),
}), doc="the appliance's name and time zone"))

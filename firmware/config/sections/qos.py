"""[qos]: the DSCP marks of the box's SIP and RTP/RTCP packets (firmware/qos/dscp.py)."""

from __future__ import annotations

from ..registry import register_section
from ..schema import INVALID, Field, Section, Table, Type

# Kept in step with firmware/qos/dscp.py's NAMES (validating a file imports no sockets code).
_NAMES = {"default": 0, "le": 1, "ef": 46, "va": 44, **{f"cs{n}": 8 * n for n in range(8)},
          **{f"af{x}{y}": 8 * x + 2 * y for x in range(1, 5) for y in range(1, 4)}}


class Dscp(Type):
    expected = "a DSCP name (EF, CS0..CS7, AF11..AF43, VA, LE, default) or a number 0..63"

    def convert(self, value, path, checker):
        if isinstance(value, bool):
            return self.wrong(value, path, checker)
        if isinstance(value, int):
            if 0 <= value <= 63:
                return value
            checker.report(path, f"DSCP {value} is out of range 0..63")
            return INVALID
        if isinstance(value, str) and value.strip().lower() in _NAMES:
            return _NAMES[value.strip().lower()]
        return self.wrong(value, path, checker)


QOS = register_section(Section("qos", Table({
    "media_dscp": Field(Dscp(), 46, "RTP and RTCP (default EF)"),
    "signalling_dscp": Field(Dscp(), 24, "SIP (default CS3)"),
}), doc="DSCP marks of voice traffic"))

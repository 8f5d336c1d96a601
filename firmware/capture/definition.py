"""What a capture takes and when it stops, parsed from what an engineer types
(`capture define all span 1 packets 10k bytes 64M seconds 5m`) with errors naming the field."""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("dchannel", "sip", "rtp")
WHATS = KINDS + ("all",)


class CaptureDefinitionError(ValueError):
    """A capture definition that cannot be used; the message names the field and the value."""

    def __init__(self, field: str, message: str):
        super().__init__(f"capture {field}: {message}")
        self.field = field


@dataclass(frozen=True)
class CaptureDefinition:
    kinds: frozenset            # of KINDS
    span: int | None = None
    call: str | None = None
    max_packets: int | None = None
    max_bytes: int | None = None
    max_seconds: float | None = None

    def wants(self, kind: str, span: int | None, call: str | None) -> bool:
        if kind not in self.kinds:
            return False
        if self.span is not None and span != self.span:
            return False
        if self.call is not None and call != self.call:
            return False
        return True


_COUNT = re.compile(r"(\d+)([kKmM]?)")
_BYTES = re.compile(r"(\d+)([kKmMgG]?)[bB]?")
_SECONDS = re.compile(r"(\d+(?:\.\d+)?)([smh]?)")
_COUNT_UNITS = {"": 1, "k": 1000, "m": 1000_000}
_BYTE_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
_SECOND_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_packets(text: str) -> int:
    match = _COUNT.fullmatch(str(text).strip())
    if not match or int(match[1]) == 0:
        raise CaptureDefinitionError("packets", f"{text!r} is not a positive packet count such as 5000 or 10k")
    return int(match[1]) * _COUNT_UNITS[match[2].lower()]


def parse_bytes(text: str) -> int:
    match = _BYTES.fullmatch(str(text).strip())
    if not match or int(match[1]) == 0:
        raise CaptureDefinitionError("bytes", f"{text!r} is not a positive size such as 65536, 512K or 64M")
    return int(match[1]) * _BYTE_UNITS[match[2].lower()]


def parse_seconds(text: str) -> float:
    match = _SECONDS.fullmatch(str(text).strip())
    if not match or float(match[1]) == 0:
        raise CaptureDefinitionError("seconds", f"{text!r} is not a positive duration such as 30, 30s, 5m or 1h")
    return float(match[1]) * _SECOND_UNITS[match[2]]


def parse_definition(what: str, *, span=None, call=None, packets=None, bytes_=None, seconds=None,
                     known_spans=None, known_calls=None) -> CaptureDefinition:
    """Check every part; `known_spans`/`known_calls` are what the running box has (None: not checked)."""
    what = str(what).strip().lower()
    if what not in WHATS:
        raise CaptureDefinitionError("what", f"{what!r} is not one of {', '.join(WHATS)}")
    kinds = frozenset(KINDS) if what == "all" else frozenset((what,))
    span_number = None
    if span is not None:
        try:
            span_number = int(str(span).strip())
        except ValueError:
            raise CaptureDefinitionError("span", f"{span!r} is not a span number") from None
        if known_spans is not None and span_number not in set(known_spans):
            have = ", ".join(str(s) for s in sorted(known_spans)) or "none"
            raise CaptureDefinitionError("span", f"no span {span_number} on this box (spans: {have})")
    call_id = None
    if call is not None:
        call_id = str(call).strip()
        if not call_id:
            raise CaptureDefinitionError("call", "empty call identifier")
        if known_calls is not None and call_id not in {str(c) for c in known_calls}:
            raise CaptureDefinitionError("call", f"no call {call_id!r} is up on this box (see show calls)")
    return CaptureDefinition(
        kinds, span_number, call_id,
        parse_packets(packets) if packets is not None else None,
        parse_bytes(bytes_) if bytes_ is not None else None,
        parse_seconds(seconds) if seconds is not None else None,
    )

"""Events a span publishes on the bus (runtime/bus.py), stamped with the one clock's time.

Alarm names follow G.775 / DAHDI: ``los`` (loss of signal), ``lof`` (loss of frame), ``ais``
(alarm indication signal, all ones), ``rai`` (remote alarm from the far end, DAHDI's yellow).
DAHDI folds them into colours (red = LOS/LOF, blue = AIS, yellow = RAI); `alarm_colour` does the
same for consoles that speak that language.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.bus import Event

ALARMS = ("los", "lof", "ais", "rai")


@dataclass(frozen=True)
class SpanEvent(Event):
    span_id: int


@dataclass(frozen=True)
class SpanOpened(SpanEvent):
    description: str


@dataclass(frozen=True)
class SpanClosed(SpanEvent):
    pass


@dataclass(frozen=True)
class SpanAlarmsChanged(SpanEvent):
    """The set of active alarms changed: `alarms` is the new set, `raised`/`cleared` the change."""

    alarms: frozenset[str]
    raised: frozenset[str]
    cleared: frozenset[str]


@dataclass(frozen=True)
class SpanAlignmentChanged(SpanEvent):
    """Frame or CRC-4 multiframe alignment changed.

    `crc4` is "off", "searching", "aligned" or "fallback" (CRC-4 configured but the far end
    sends none, so the span runs without it, as G.706 Annex B allows)."""

    frame_aligned: bool
    multiframe_aligned: bool
    crc4: str


@dataclass(frozen=True)
class SpanSlip(SpanEvent):
    """The receive elastic store slipped `count` whole frames since the last report."""

    count: int
    total: int


def alarm_colour(alarms: frozenset[str]) -> str:
    """DAHDI's name for the most severe of `alarms`: red, blue, yellow or ok."""
    if alarms & {"los", "lof"}:
        return "red"
    if "ais" in alarms:
        return "blue"
    if "rai" in alarms:
        return "yellow"
    return "ok"

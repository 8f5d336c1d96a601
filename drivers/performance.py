"""G.826-style performance accounting for an E1 span, once per second from counter deltas.

The per-second classification (ITU-T G.826 with the E1 figures Cisco and RFC 4805 use):

* ES  — errored second: at least one CRC-4 block error, or a defect (OOF, LOS, AIS).
* SES — severely errored second: more than 320 CRC-4 block errors, or a defect.
* BES — bursty errored second: 2..320 CRC-4 block errors and no defect.
* UAS — unavailable second.  Unavailability begins at the onset of 10 consecutive SES and ends
  at the onset of 10 consecutive non-SES; those 10 seconds belong to the new state.  Counting
  is not delayed: when a run of 10 completes, the 10 seconds already counted are moved to the
  other state in whichever interval they were counted ("retroactive adjustment").  ES, SES and
  BES are counted only in available time.

Anomaly counts (CRC-4 errors, FAS errors, far-end block errors from E-bits, slips) are counted
always.  Counters are kept per 15-minute interval with 96 intervals (24 h) of history, as
`show controllers e1` reports them.  This module is sans-I/O: the caller feeds one
`SecondSample` per second with the one clock's `now`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields

SES_CRC4_THRESHOLD = 320      # more than this many errored blocks in a second is an SES
AVAILABILITY_RUN = 10         # consecutive seconds that switch availability
INTERVAL_SECONDS = 900
HISTORY_INTERVALS = 96


@dataclass(frozen=True)
class SecondSample:
    """What happened on the span in one second: counter deltas and defects seen at any time."""

    crc4_errors: int = 0
    fas_errors: int = 0
    ebit_errors: int = 0
    slips: int = 0
    oof: bool = False
    los: bool = False
    ais: bool = False

    def __post_init__(self) -> None:
        for name in ("crc4_errors", "fas_errors", "ebit_errors", "slips"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"SecondSample.{name}: got {value!r}, expected a count >= 0")

    @property
    def defect(self) -> bool:
        return self.oof or self.los or self.ais

    @property
    def errored(self) -> bool:
        return self.crc4_errors > 0 or self.defect

    @property
    def severely_errored(self) -> bool:
        return self.crc4_errors > SES_CRC4_THRESHOLD or self.defect

    @property
    def bursty(self) -> bool:
        return 1 < self.crc4_errors <= SES_CRC4_THRESHOLD and not self.defect


@dataclass
class IntervalCounters:
    start: float
    seconds: int = 0
    errored_secs: int = 0
    severely_errored_secs: int = 0
    bursty_errored_secs: int = 0
    unavailable_secs: int = 0
    crc4_errors: int = 0
    fas_errors: int = 0
    far_end_block_errors: int = 0
    slips: int = 0
    slip_secs: int = 0
    frame_loss_secs: int = 0

    COUNTS = ("seconds", "errored_secs", "severely_errored_secs", "bursty_errored_secs",
              "unavailable_secs", "crc4_errors", "fas_errors", "far_end_block_errors", "slips",
              "slip_secs", "frame_loss_secs")

    def as_dict(self) -> dict[str, float | int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def add(self, other: "IntervalCounters") -> None:
        for name in self.COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Pending:
    """A second whose availability may still be revised: where it was counted and how."""

    interval: IntervalCounters
    errored: bool
    bursty: bool


class PerformanceMonitor:
    def __init__(self, start: float, *, interval_seconds: int = INTERVAL_SECONDS,
                 history_intervals: int = HISTORY_INTERVALS):
        if interval_seconds < 1 or history_intervals < 1:
            raise ValueError("interval_seconds and history_intervals must be at least 1")
        self.interval_seconds = interval_seconds
        self.current = IntervalCounters(start)
        self.history: deque[IntervalCounters] = deque(maxlen=history_intervals)  # newest first
        self.available = True
        self._run: list[_Pending] = []   # the current run that would switch availability

    def record_second(self, now: float, sample: SecondSample) -> None:
        if self.current.seconds >= self.interval_seconds:
            self.history.appendleft(self.current)
            self.current = IntervalCounters(now - 1.0)  # `now` ends the second being recorded
        interval = self.current
        interval.seconds += 1
        interval.crc4_errors += sample.crc4_errors
        interval.fas_errors += sample.fas_errors
        interval.far_end_block_errors += sample.ebit_errors
        interval.slips += sample.slips
        interval.slip_secs += sample.slips > 0
        interval.frame_loss_secs += sample.oof or sample.los
        if self.available:
            self._available_second(interval, sample)
        else:
            self._unavailable_second(interval, sample)

    def _available_second(self, interval: IntervalCounters, sample: SecondSample) -> None:
        interval.errored_secs += sample.errored
        interval.bursty_errored_secs += sample.bursty
        if not sample.severely_errored:
            self._run.clear()
            return
        interval.severely_errored_secs += 1
        self._run.append(_Pending(interval, True, False))
        if len(self._run) == AVAILABILITY_RUN:
            for pending in self._run:  # the 10 SES were unavailable time all along
                pending.interval.errored_secs -= 1
                pending.interval.severely_errored_secs -= 1
                pending.interval.unavailable_secs += 1
            self._run.clear()
            self.available = False

    def _unavailable_second(self, interval: IntervalCounters, sample: SecondSample) -> None:
        interval.unavailable_secs += 1
        if sample.severely_errored:
            self._run.clear()
            return
        self._run.append(_Pending(interval, sample.errored, sample.bursty))
        if len(self._run) == AVAILABILITY_RUN:
            for pending in self._run:  # the 10 non-SES were available time all along
                pending.interval.unavailable_secs -= 1
                pending.interval.errored_secs += pending.errored
                pending.interval.bursty_errored_secs += pending.bursty
            self._run.clear()
            self.available = True

    def total(self) -> IntervalCounters:
        """Sum of the completed intervals in the history (Cisco's "last 24 hours")."""
        start = self.history[-1].start if self.history else self.current.start
        total = IntervalCounters(start)
        for interval in self.history:
            total.add(interval)
        return total


def format_counters(c: IntervalCounters, indent: str = "     ") -> list[str]:
    """Counter lines in the layout of Cisco's `show controllers e1`."""
    return [
        f"{indent}{c.crc4_errors} Path Code Violations, {c.fas_errors} Framing Errors, "
        f"{c.far_end_block_errors} Far End Block Errors",
        f"{indent}{c.slip_secs} Slip Secs ({c.slips} slips), {c.frame_loss_secs} Fr Loss Secs",
        f"{indent}{c.errored_secs} Errored Secs, {c.bursty_errored_secs} Bursty Err Secs, "
        f"{c.severely_errored_secs} Severely Err Secs, {c.unavailable_secs} Unavail Secs",
    ]

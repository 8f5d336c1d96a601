"""Drive spans from the one clock: every `period` seconds each span's tick(now) runs.

Works on any `Clock`: ManualClock for lockstep tests (many seconds of line per millisecond of
wall time), LoopClock for asyncio (real time, or virtual time under virtual_time_loop()).
Pacing itself is computed from `now` inside each span, so a late tick catches up instead of
losing frames; the period only sets the granularity.
"""

from __future__ import annotations

import logging
from typing import Iterable

from drivers.span import Span
from runtime.clock import Clock, TimerHandle

log = logging.getLogger("pribox.span")


class SpanPacer:
    def __init__(self, clock: Clock, spans: Iterable[Span], period: float = 0.001):
        if not 0 < period <= 0.02:
            raise ValueError(f"tick period {period} s: expected more than 0 and at most 0.02 s (one 20 ms block)")
        self.clock = clock
        self.spans = list(spans)
        self.period = period
        self.ticks = 0
        self._handle: TimerHandle | None = None
        self._next = 0.0

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        if self._handle is None:
            self._next = self.clock.now() + self.period
            self._handle = self.clock.call_at(self._next, self._fire)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        now = self.clock.now()
        for span in self.spans:
            if span.is_open:
                span.tick(now)
        self.ticks += 1
        # Keep to the grid; if the loop fell behind, skip ahead rather than firing a burst.
        self._next += self.period
        if self._next <= now:
            self._next = now + self.period
        self._handle = self.clock.call_at(self._next, self._fire)

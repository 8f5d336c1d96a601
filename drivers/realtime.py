"""Run spans in the line's own thread: each span's C port is advanced every `period` on
CLOCK_MONOTONIC by `dsp.line_port.LineThread` (no Python, no GIL), and the control plane only
services the spans — wire housekeeping, D-channel export, publishing line changes and
performance samples — every `service_period` from the asyncio loop.  A stalled loop therefore
delays the control plane's view of the line, never the line itself.

The same interface as `drivers.pacing.SpanPacer` (start, stop, running, ticks), which stays the
lockstep pacer for the virtual clock.
"""

from __future__ import annotations

import logging
from typing import Iterable

from drivers.span import Span
from dsp.line_port import LineThread
from runtime.clock import Clock, TimerHandle

log = logging.getLogger("pribox.span")

SERVICE_PERIOD = 0.005


class LineThreadPacer:
    def __init__(self, clock: Clock, spans: Iterable[Span], period: float = 0.001,
                 service_period: float = SERVICE_PERIOD):
        self.clock = clock
        self.spans = list(spans)
        for span in self.spans:
            if span.realtime_port() is None:
                raise ValueError(f"span {span.id}: its backend has no port for the line thread")
        self.period = period
        self.service_period = service_period
        self.thread = LineThread(period)
        self.services = 0
        self._handle: TimerHandle | None = None

    @property
    def running(self) -> bool:
        return self._handle is not None

    @property
    def ticks(self) -> int:
        return self.thread.stats()["ticks"]

    def stats(self) -> dict[str, int]:
        return self.thread.stats()

    def start(self) -> None:
        if self._handle is not None:
            return
        for span in self.spans:
            self.thread.attach(span.realtime_port())
        self.thread.start()
        stats = self.thread.stats()
        log.info("line thread started: %d span(s), %g ms period%s", stats["ports"], self.period * 1e3,
                 ", real-time priority" if stats["realtime_priority"] else "")
        self._handle = self.clock.call_later(self.service_period, self._service)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.thread.stop()
        for span in self.spans:
            self.thread.detach(span.realtime_port())

    def _service(self) -> None:
        now = self.clock.now()
        self._handle = self.clock.call_later(self.service_period, self._service)
        for span in self.spans:
            if span.is_open:
                span.service(now)
        self.services += 1

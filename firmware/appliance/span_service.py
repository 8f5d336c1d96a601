"""The spans of the box as a daemon service: every `[[span]]` opened through the span API; a
reload that touches `[span]` closes and reopens them.

On a real-time clock the spans' lines run in the line's own thread (drivers/realtime.py), so a
busy or stalled event loop never reaches the wire; on the virtual clock (tests) they are ticked
in lockstep from the loop (drivers/pacing.py), the same C code either way.

Peers (the ISDN service, the console's `show span`) find the open spans with
`ctx.peer("spans").spans`, a dict from span id to `drivers.span.Span`.
"""

from __future__ import annotations

import asyncio
import logging
import os

from drivers import make_span
from drivers.config import SpanConfig
from drivers.events import SpanAlarmsChanged
from drivers.pacing import SpanPacer
from drivers.realtime import LineThreadPacer
from drivers.span import Span

from .services import BOX_SERVICES, Health, Service, ServiceContext, StopReason

log = logging.getLogger("pribox.span")

# How often run() checks that pacing still advances: a span whose tick raised stops the
# pacer's timer chain, which asyncio would only log; the supervisor must see it as a crash.
STALL_CHECK = 1.0


class SpansService(Service):
    name = "spans"

    def __init__(self, configs: list[SpanConfig], period: float = 0.001):
        self.configs = configs
        self.period = period
        self.spans: dict[int, Span] = {}
        self.pacer: SpanPacer | LineThreadPacer | None = None
        self._subscription = None

    async def start(self, ctx: ServiceContext) -> None:
        if self._subscription is None:  # the journal shows layer 1 as a field engineer reads it
            self._subscription = ctx.bus.subscribe(SpanAlarmsChanged, _log_alarms)
        spans = {c.id: make_span(c, clock=ctx.clock, bus=ctx.bus) for c in self.configs}
        # Listening ends first, so the connecting end of a wire inside the box finds its peer.
        order = sorted(spans.values(), key=lambda s: s.config.wire_role != "listen")
        try:
            for span in order:
                directory = os.path.dirname(span.config.wire)
                if directory:
                    os.makedirs(directory, exist_ok=True)
                span.open()
                self.spans[span.id] = span
        except BaseException:
            self._close_all()
            raise
        threaded = ctx.clock.real_time and all(s.realtime_port() is not None for s in spans.values())
        pacer_class = LineThreadPacer if threaded else SpanPacer
        self.pacer = pacer_class(ctx.clock, list(spans.values()), self.period)
        self.pacer.start()

    async def run(self) -> None:
        last = -1
        while True:
            await asyncio.sleep(STALL_CHECK)
            if self.pacer.ticks == last:
                raise RuntimeError(f"span pacing stalled after {last} ticks (a span's tick failed; see the log)")
            last = self.pacer.ticks

    async def stop(self, reason: StopReason) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        if self.pacer is not None:
            self.pacer.stop()
            self.pacer = None
        self._close_all()

    def _close_all(self) -> None:
        for span in sorted(self.spans.values(), key=lambda s: s.config.wire_role == "listen"):
            span.close()
        self.spans.clear()

    def health(self) -> Health:
        if not self.spans:
            return Health(False, "no span open")
        parts = []
        for span_id, span in sorted(self.spans.items()):
            status = span.status()
            parts.append(f"span {span_id}: " + ("up" if status.layer1_up else ", ".join(sorted(status.alarms)) or "down"))
        return Health(True, "; ".join(parts))


def _log_alarms(event: SpanAlarmsChanged) -> None:
    if event.raised:
        log.warning("span %d: alarm %s raised (active: %s)", event.span_id, ", ".join(sorted(event.raised)),
                    ", ".join(sorted(event.alarms)))
    if event.cleared:
        log.info("span %d: alarm %s cleared (active: %s)", event.span_id, ", ".join(sorted(event.cleared)),
                 ", ".join(sorted(event.alarms)) or "none")


def _spans_from_config(config) -> SpansService | None:
    if not config.span:
        return None
    return SpansService([SpanConfig(**span) for span in config.span])


BOX_SERVICES.add("spans", _spans_from_config, sections=("span",))

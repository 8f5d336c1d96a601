"""The spans of the box as a daemon service: every `[[span]]` opened through the span API; a
reload that touches `[span]` closes and reopens them.

On a real-time clock the spans' lines run in the line's own thread (drivers/realtime.py), so a
busy or stalled event loop never reaches the wire; on the virtual clock (tests) they are ticked
in lockstep from the loop (drivers/pacing.py), the same C code either way.

Peers (the ISDN service, the console's `show span`) find the open spans with
`ctx.peer("spans").spans`, a dict from span id to `drivers.span.Span`.

DAHDI spans (real cards): before any opens, `drivers.dahdi.configure_system` loads the modules
and runs `dahdi_cfg` on a file generated from the `[[span]]` entries.  A DAHDI span that cannot
come up (card missing, module not loaded, channel busy) is left out with its reason in `failed`,
in the log and in `health()`; the other spans and the box keep running.
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
from drivers.span import Span, SpanError

from .services import BOX_SERVICES, Health, Service, ServiceContext, StopReason

log = logging.getLogger("pribox.span")

# The line thread's tick: 16 frames and 16 D-channel octets a tick, well inside the 32 ms
# elastic store and T200; a scheduler that is 1 ms late on a busy box is then not a late tick.
LINE_THREAD_PERIOD = 0.002

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
        self.failed: dict[int, str] = {}    # span id -> why it is not open (DAHDI spans only)
        self._subscription = None

    async def start(self, ctx: ServiceContext) -> None:
        if self._subscription is None:  # the journal shows layer 1 as a field engineer reads it
            self._subscription = ctx.bus.subscribe(SpanAlarmsChanged, _log_alarms)
        self.failed = {}
        backend_options: dict[int, dict] = {}
        dahdi_configs = [c for c in self.configs if c.driver == "dahdi"]
        if dahdi_configs:
            from drivers.dahdi import configure_system
            report = await asyncio.to_thread(configure_system, dahdi_configs, source=str(ctx.config.source))
            for span_id, why in report.failed.items():
                log.error("%s", why)
            self.failed.update(report.failed)
            backend_options = {span_id: {"layout": layout} for span_id, layout in report.configured.items()}
        spans = {c.id: make_span(c, clock=ctx.clock, bus=ctx.bus, **backend_options.get(c.id, {}))
                 for c in self.configs if c.id not in self.failed}
        # Listening ends first, so the connecting end of a wire inside the box finds its peer.
        order = sorted(spans.values(), key=lambda s: s.config.wire_role != "listen")
        try:
            for span in order:
                if span.config.wire:
                    directory = os.path.dirname(span.config.wire)
                    if directory:
                        os.makedirs(directory, exist_ok=True)
                if span.config.driver == "dahdi":
                    try:
                        span.open()
                    except SpanError as exc:
                        log.error("%s", exc)
                        self.failed[span.id] = str(exc)
                        continue
                else:
                    span.open()
                self.spans[span.id] = span
        except BaseException:
            self._close_all()
            raise
        # The line thread runs only spans whose backend has a C port for it (the emulated line);
        # a box with a DAHDI span is ticked from the loop, as DAHDI's own timing paces the card.
        opened = list(self.spans.values())
        threaded = ctx.clock.real_time and bool(opened) and all(s.realtime_port() is not None for s in opened)
        if threaded:
            self.pacer = LineThreadPacer(ctx.clock, opened, LINE_THREAD_PERIOD)
        else:
            self.pacer = SpanPacer(ctx.clock, opened, self.period)
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
        if not self.spans and not self.failed:
            return Health(False, "no span open")
        parts = []
        for span_id, span in sorted(self.spans.items()):
            status = span.status()
            fault = getattr(span, "fault", None)
            if fault:
                parts.append(fault)
            else:
                parts.append(f"span {span_id}: " + ("up" if status.layer1_up else ", ".join(sorted(status.alarms)) or "down"))
        parts += [why for _, why in sorted(self.failed.items())]
        faulty = self.failed or any(getattr(span, "fault", None) for span in self.spans.values())
        return Health(not faulty, "; ".join(parts))


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

"""The ISDN service of the daemon: a PriStack per `[[isdn]]` entry, bound to its span.

The spans service owns the span objects; this service finds them with
`ctx.peer("spans").spans` and binds each configured stack to its span directly (no socket hop),
in the configured role with the configured timers.  Each span gets the call handler its entry names (firmware/isdn/handlers.py: "pbx", "answer" or "none"), or
`handler_factory(isdn_span)` when one is given (tests).

Stopping clears every call still up with cause 41 (temporary failure: the box cannot carry the
call any more, and the network may try elsewhere), waits up to STOP_GRACE for the far end to
release, then lets go.  Peers find the stacks with `ctx.peer("isdn").spans` (span id ->
IsdnSpan); `show_isdn_status(service.spans)` renders them as a console shows them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable

from firmware.appliance import span_service as _span_service  # noqa: F401  (registers "spans" before "isdn": start order)
from firmware.config.sections.isdn import isdn_role, lapd_timer_values, q931_timer_values
from firmware.appliance.services import BOX_SERVICES, Health, Service, ServiceContext, StopReason

from .handlers import call_handler_for
from .binding import CallHandler, IsdnSpan
from .lapd import LapdTimers
from .q931.calls import Q931Timers
from .q931.causes import Cause
from .show import show_isdn_status
from .stack import PriStack

log = logging.getLogger("pribox.isdn")

STOP_GRACE = 1.0
SPANS_WAIT = 3.0
CLEARING_CAUSE = Cause.TEMPORARY_FAILURE

HandlerFactory = Callable[[IsdnSpan], "CallHandler | None"]


@dataclass(frozen=True)
class IsdnSpanConfig:
    span: int
    role: str
    lapd_timers: LapdTimers
    q931_timers: Q931Timers
    restart_on_first_link_up: bool = True
    restart_scope: str = "interface"
    hunting: str | None = None
    handler: str = "answer"


class IsdnService(Service):
    name = "isdn"

    def __init__(self, entries: list[IsdnSpanConfig], handler_factory: HandlerFactory | None = None):
        self.entries = entries
        self.handler_factory = handler_factory      # None: each entry's named handler
        self.spans: dict[int, IsdnSpan] = {}
        self.skipped: dict[int, str] = {}
        self.clearing_cause = CLEARING_CAUSE

    async def start(self, ctx: ServiceContext) -> None:
        spans_service = ctx.peer("spans")
        deadline = ctx.clock.now() + SPANS_WAIT
        while spans_service is None and ctx.clock.now() < deadline:  # the spans may be restarting
            await asyncio.sleep(0.05)
            spans_service = ctx.peer("spans")
        if spans_service is None:
            raise RuntimeError(f"the isdn service needs the spans service, which has not been running for {SPANS_WAIT:g} s")
        for entry in self.entries:
            span = spans_service.spans.get(entry.span)
            failed = getattr(spans_service, "failed", {}).get(entry.span)
            if span is None and failed:
                # A card that did not come up is the spans service's to report; the other
                # spans' stacks still start.
                log.error("isdn: span %d not open: %s", entry.span, failed)
                self.skipped[entry.span] = f"span {entry.span} is not open: {failed}"
                continue
            if span is None:
                raise RuntimeError(f"isdn: span {entry.span} is not open (open spans: "
                                   f"{', '.join(map(str, sorted(spans_service.spans))) or 'none'})")
            if span.config.dchannel_export is not None:
                # An external stack (libpri as the carrier) owns this D-channel; the other spans
                # still get theirs, and health says which span was left alone and why.
                why = (f"span {entry.span} exports its D-channel on {span.config.dchannel_export}: "
                       "an external stack drives it, so [[isdn]] for it is ignored")
                log.error("isdn: %s", why)
                self.skipped[entry.span] = why
                continue
            stack = PriStack(entry.role, q931_timers=entry.q931_timers, lapd_timers=entry.lapd_timers,
                             hunting=entry.hunting)
            isdn = IsdnSpan(span, stack, clock=ctx.clock, bus=ctx.bus,
                            restart_on_first_link_up=entry.restart_on_first_link_up,
                            restart_scope=entry.restart_scope)
            isdn.handler = (self.handler_factory(isdn) if self.handler_factory is not None
                            else call_handler_for(entry.handler, isdn, ctx))
            self.spans[entry.span] = isdn
        for isdn in self.spans.values():
            isdn.start()

    async def run(self) -> None:
        # Each span's poll timer does the work; this only notices a poll chain that died.
        while True:
            await asyncio.sleep(1.0)
            for isdn in self.spans.values():
                if not isdn.running:
                    raise RuntimeError(f"isdn span {isdn.span_id}: polling stopped")

    async def stop(self, reason: StopReason) -> None:
        for isdn in list(self.spans.values()):
            await self._clear_calls(isdn, reason)
        for isdn in self.spans.values():
            isdn.stop()
        self.spans.clear()
        self.skipped.clear()

    async def _clear_calls(self, isdn: IsdnSpan, reason: StopReason) -> None:
        if not isdn.stack.calls or not isdn.running:
            return
        log.info("span %d: clearing %d call(s) with cause %d (%s)", isdn.span_id, len(isdn.stack.calls),
                 self.clearing_cause, reason.value)
        for call_id in list(isdn.stack.calls):
            isdn.try_disconnect(call_id, self.clearing_cause)
        deadline = isdn.clock.now() + STOP_GRACE
        while isdn.stack.calls and isdn.clock.now() < deadline:
            await asyncio.sleep(0.01)
        if isdn.stack.calls:
            log.warning("span %d: %d call(s) not released by the far end within %g s", isdn.span_id,
                        len(isdn.stack.calls), STOP_GRACE)

    def health(self) -> Health:
        parts = []
        for span_id, isdn in sorted(self.spans.items()):
            calls = isdn.active_calls()
            parts.append(f"span {span_id}: D-channel {'up' if isdn.layer2_up else 'down'}"
                         + (f", {calls} call{'s' if calls != 1 else ''}" if calls else ""))
        parts += [f"span {span_id}: not ours (D-channel exported)" if "exports its D-channel" in why else why
                  for span_id, why in sorted(self.skipped.items())]
        if not self.spans:
            return Health(False, "; ".join(parts) or "no D-channel")
        return Health(not self.skipped, "; ".join(parts))

    def show_status(self) -> str:
        return show_isdn_status(self.spans.values())


def entries_from_config(config) -> list[IsdnSpanConfig]:
    return [IsdnSpanConfig(entry.span, isdn_role(config, entry), LapdTimers(**lapd_timer_values(entry)),
                           Q931Timers(**q931_timer_values(entry)), entry.restart_on_first_link_up,
                           entry.restart_scope, entry.hunting, entry.handler)
            for entry in config.isdn]


def _isdn_from_config(config) -> IsdnService | None:
    if not config.isdn:
        return None
    return IsdnService(entries_from_config(config))


BOX_SERVICES.add("isdn", _isdn_from_config, sections=("isdn", "span"))

from . import console_commands as _console_commands  # noqa: E402,F401  (show isdn status)

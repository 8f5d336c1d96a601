"""A box with emulated spans and a DAHDI span whose card did not come up: the spans service starts
the others, names the missing one in its health and in `show span`, and the ISDN service skips
it instead of failing."""

import asyncio
from types import SimpleNamespace

import drivers.dahdi
from drivers.config import SpanConfig
from drivers.dahdi import SystemReport
from runtime.bus import EventBus
from runtime.clock import LoopClock, virtual_time_loop
from firmware.console.span_commands import show_span
from firmware.isdn.service import IsdnService, IsdnSpanConfig
from firmware.isdn.lapd import LapdTimers
from firmware.isdn.q931.calls import Q931Timers
from firmware.appliance.services import ServiceContext, StopReason
from firmware.appliance.span_service import SpansService

WHY = "span 3: DAHDI span 1 not present (DAHDI spans present: none); is the card in and its driver loaded?"


def test_a_missing_card_leaves_the_other_spans_running(tmp_path, monkeypatch):
    wire = str(tmp_path / "e1.wire")
    common = dict(driver="emulated", law="alaw", wire=wire)
    configs = [SpanConfig(id=1, side="nt", clock="internal", wire_role="listen", **common),
               SpanConfig(id=2, side="te", clock="line", wire_role="connect", **common),
               SpanConfig(id=3, driver="dahdi", dahdi_span=1, side="te", clock="line", law="alaw")]
    asked = []

    def configure(dahdi_configs, **kwargs):
        asked.append([c.id for c in dahdi_configs])
        return SystemReport(failed={3: WHY})

    monkeypatch.setattr(drivers.dahdi, "configure_system", configure)
    loop = virtual_time_loop()
    ctx = ServiceContext(config=SimpleNamespace(source="box.toml"), clock=LoopClock(loop), bus=EventBus())
    service = SpansService(configs)
    seen = {}

    async def scenario():
        await service.start(ctx)
        ctx.services["spans"] = service
        await asyncio.sleep(1.0)
        seen["open"] = sorted(service.spans)
        seen["health"] = service.health()
        seen["show"] = show_span(SimpleNamespace(services=SimpleNamespace(spans=service)), {"N": None})
        isdn = IsdnService([IsdnSpanConfig(2, "user", LapdTimers(), Q931Timers()),
                            IsdnSpanConfig(3, "user", LapdTimers(), Q931Timers())])
        await isdn.start(ctx)
        seen["isdn"] = (sorted(isdn.spans), isdn.health())
        await isdn.stop(StopReason.SHUTDOWN)
        await service.stop(StopReason.SHUTDOWN)

    loop.run_until_complete(scenario())
    assert asked == [[3]]
    assert seen["open"] == [1, 2]
    assert not seen["health"].ok and WHY in seen["health"].detail and "span 1: up" in seen["health"].detail
    assert f"E1 3 is down.\n  Not open: {WHY}" in seen["show"] and "E1 1 is up." in seen["show"]
    spans, health = seen["isdn"]
    assert spans == [2] and "span 3 is not open" in health.detail

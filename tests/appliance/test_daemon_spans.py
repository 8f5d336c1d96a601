"""The daemon brings up the box's spans from the configuration: the embedded default's two
emulated spans on one wire reach layer 1, a reload that changes [span] reopens them, and
shutdown closes them."""

import asyncio

from drivers.events import SpanClosed, SpanOpened
from runtime.bus import Event, EventBus
from runtime.clock import LoopClock, virtual_time_loop
from firmware.config.loader import default_text
from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import ServiceState, load_box_services
from firmware.appliance.supervisor import format_status
from tests.support.daemon_harness import run_beside


def test_the_default_spans_come_up_reload_and_close(tmp_path):
    config = tmp_path / "box.toml"
    wire = tmp_path / "run" / "e1.wire"  # its directory does not exist yet: the service makes it
    config.write_text(default_text().replace("[console]\nenabled = true", "[console]\nenabled = false").replace("/run/pribox/e1-wire-1.sock", str(wire)).replace("/run/pribox/e1-wire-2.sock", str(wire) + "-2"))
    loop = virtual_time_loop()
    bus = EventBus()
    events = []
    bus.subscribe(Event, events.append)
    registry = load_box_services()
    assert "spans" in registry
    daemon = Daemon(FileSource(str(config)), registry, clock=LoopClock(loop), bus=bus, notifier=Notifier(environ={}))
    seen = {}

    async def scenario():
        await asyncio.sleep(1.0)
        service = daemon.supervisor.get("spans")
        assert service.state is ServiceState.RUNNING
        spans = daemon.ctx.peer("spans").spans
        seen["sides"] = {i: s.config.side for i, s in spans.items()}
        seen["up"] = {i: s.status().layer1_up for i, s in spans.items()}
        seen["health"] = service.status().health
        seen["show"] = format_status(daemon.status())
        config.write_text(config.read_text().replace("crc4 = true", "crc4 = false"))
        assert await daemon.reload()
        await asyncio.sleep(1.0)
        spans = daemon.ctx.peer("spans").spans
        seen["crc4_after_reload"] = {i: s.config.crc4 for i, s in spans.items()}
        seen["up_after_reload"] = all(s.status().layer1_up for s in spans.values())
        daemon.request_stop("test")

    try:
        assert loop.run_until_complete(run_beside(daemon, scenario)) == 0
    finally:
        loop.close()
    assert seen["sides"] == {1: "te", 2: "nt", 3: "nt", 4: "te"}
    assert seen["up"] == {1: True, 2: True, 3: True, 4: True}
    assert seen["health"].ok and seen["health"].detail == "span 1: up; span 2: up; span 3: up; span 4: up"
    show = seen["show"].splitlines()
    assert show[0] == "Service      State     Crashes  Detail"
    assert "spans        running         0  span 1: up; span 2: up; span 3: up; span 4: up" in show[1:]
    assert seen["crc4_after_reload"] == {1: False, 2: False, 3: False, 4: False} and seen["up_after_reload"]
    opened = [(e.span_id) for e in events if isinstance(e, SpanOpened)]
    closed = [(e.span_id) for e in events if isinstance(e, SpanClosed)]
    assert opened == [2, 4, 1, 3, 2, 4, 1, 3]  # the listening NT ends first
    assert closed == [1, 3, 2, 4, 1, 3, 2, 4]  # the connecting ends first


def test_a_span_whose_tick_fails_is_seen_as_a_crash_and_the_spans_restart(tmp_path):
    config = tmp_path / "box.toml"
    config.write_text(default_text().replace("[console]\nenabled = true", "[console]\nenabled = false").replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")).replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2"))
    loop = virtual_time_loop()
    loop.set_exception_handler(lambda loop, context: None)  # asyncio would only log the tick's error
    daemon = Daemon(FileSource(str(config)), load_box_services(), clock=LoopClock(loop),
                    notifier=Notifier(environ={}))
    seen = {}

    async def scenario():
        await asyncio.sleep(0.5)
        first = daemon.ctx.peer("spans")

        def broken_tick(now):
            raise OSError("wire gone")

        first.spans[1].tick = broken_tick
        await asyncio.sleep(5.0)
        status = daemon.supervisor.get("spans").status()
        seen["status"] = (status.state, status.crashes, status.last_error)
        again = daemon.ctx.peer("spans")
        seen["up"] = all(s.status().layer1_up for s in again.spans.values())
        daemon.request_stop("test")

    try:
        assert loop.run_until_complete(run_beside(daemon, scenario)) == 0
    finally:
        loop.close()
    state, crashes, error = seen["status"]
    assert state is ServiceState.RUNNING and crashes == 1 and "span pacing stalled" in error
    assert seen["up"]

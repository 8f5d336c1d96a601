"""The daemon on virtual time: supervision, shutdown order, reload, sd_notify."""

import asyncio
import os
import signal
import socket

import pytest

from firmware.bus import Event, EventBus
from firmware.clock import LoopClock, virtual_time_loop
from firmware.config.loader import default_text
from firmware.daemon import Daemon, FileSource
from firmware.sdnotify import Notifier
from firmware.services import (ConfigApplied, ConfigRejected, Service, ServiceRegistry, ServiceState,
                               ServiceStateChanged, StopReason)
from firmware.supervisor import RestartPolicy

POLICY = RestartPolicy(first_delay=1.0, factor=2.0, max_delay=8.0, max_crashes=4, window=60.0, stop_timeout=5.0)


class Recorder:
    """Lines of (virtual time, what, service, detail) as the services live."""

    def __init__(self):
        self.clock = None
        self.lines = []

    def __call__(self, *what):
        self.lines.append((round(self.clock.now(), 3),) + what)

    def of(self, kind):
        return [line for line in self.lines if line[1] == kind]


class ScriptedService(Service):
    """A real service of the test: records its life; crashes `crash_times` times, `crash_after`
    seconds into each run; optionally hangs when told to stop."""

    def __init__(self, name, record, crash_times=0, crash_after=2.0, hang_on_stop=False):
        self.name = name
        self.record = record
        self.crash_times = crash_times
        self.crash_after = crash_after
        self.hang_on_stop = hang_on_stop
        self.starts = 0

    async def start(self, ctx):
        self.starts += 1
        self.record("start", self.name, ctx.config.box.hostname)

    async def run(self):
        if self.starts <= self.crash_times:
            await asyncio.sleep(self.crash_after)
            raise RuntimeError(f"{self.name} fell over (run {self.starts})")
        await asyncio.Event().wait()

    async def stop(self, reason):
        self.record("stop", self.name, reason)
        if self.hang_on_stop:
            await asyncio.Event().wait()


def write_config(path, hostname="pribox", broken=False):
    text = default_text().replace('hostname = "pribox"', f'hostname = "{hostname}"')
    if broken:
        text = text.replace("crc4 = true", 'crc4 = "maybe"', 1)
    path.write_text(text)


def run_daemon(tmp_path, record, services, scenario, notifier=None, policy=POLICY, source=None, wall_offset=None):
    """Run a daemon with `services` (name -> (Service, sections), in start order) and the
    coroutine `scenario(daemon)` beside it on a virtual-time loop; returns (exit code, events)."""
    loop = virtual_time_loop()
    clock = LoopClock(loop)
    record.clock = clock
    bus = EventBus()
    events = []
    bus.subscribe(Event, events.append)
    config_path = tmp_path / "box.toml"
    if not config_path.exists():
        write_config(config_path)
    registry = ServiceRegistry()
    for name, (service, sections) in services.items():
        registry.add(name, lambda config, s=service: s, sections=sections)
    daemon = Daemon(source or FileSource(str(config_path)), registry, clock=clock, bus=bus,
                    notifier=notifier or Notifier(environ={}), policy=policy, wall_offset=wall_offset)

    async def main():
        scene = asyncio.ensure_future(scenario(daemon))
        code = await daemon.run()
        await scene
        return code

    try:
        return loop.run_until_complete(main()), events
    finally:
        loop.close()


def states(events, name):
    return [e.state for e in events if isinstance(e, ServiceStateChanged) and e.service == name]


def test_a_crashed_service_is_restarted_with_backoff_and_the_others_are_untouched(tmp_path):
    record = Recorder()
    a, b, c = (ScriptedService("a", record), ScriptedService("b", record, crash_times=2), ScriptedService("c", record))

    async def scenario(daemon):
        await asyncio.sleep(30)
        status = {s.name: (s.state, s.crashes) for s in daemon.status()}
        assert status == {"a": (ServiceState.RUNNING, 0), "b": (ServiceState.RUNNING, 2),
                          "c": (ServiceState.RUNNING, 0)}
        assert daemon.supervisor.get("b").last_error == "RuntimeError: b fell over (run 2)"
        daemon.request_stop("test")

    code, events = run_daemon(tmp_path, record, {"a": (a, ()), "b": (b, ()), "c": (c, ())}, scenario)
    assert code == 0
    # b crashes 2 s into each run and waits 1 s, then 2 s: it starts at 0, 3 and 7.
    assert [(t, name) for t, _, name, _ in record.of("start")] == [(0, "a"), (0, "b"), (0, "c"), (3.0, "b"), (7.0, "b")]
    assert [(t, name, reason) for t, _, name, reason in record.of("stop")] == [
        (2.0, "b", StopReason.CRASHED), (5.0, "b", StopReason.CRASHED),
        (30.0, "c", StopReason.SHUTDOWN), (30.0, "b", StopReason.SHUTDOWN), (30.0, "a", StopReason.SHUTDOWN)]
    assert (a.starts, b.starts, c.starts) == (1, 3, 1)
    assert states(events, "b") == [ServiceState.STARTING, ServiceState.RUNNING, ServiceState.BACKOFF,
                                   ServiceState.STARTING, ServiceState.RUNNING, ServiceState.BACKOFF,
                                   ServiceState.STARTING, ServiceState.RUNNING,
                                   ServiceState.STOPPING, ServiceState.STOPPED]
    assert states(events, "a") == [ServiceState.STARTING, ServiceState.RUNNING, ServiceState.STOPPING,
                                   ServiceState.STOPPED]

"""The daemon on virtual time: supervision, shutdown order, reload, sd_notify."""

import asyncio
import os
import signal
import socket

import pytest

from runtime.bus import Event, EventBus
from runtime.clock import LoopClock, virtual_time_loop
from firmware.config.loader import default_text
from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import (ConfigApplied, ConfigRejected, Service, ServiceRegistry, ServiceState,
                               ServiceStateChanged, StopReason)
from firmware.appliance.supervisor import RestartPolicy

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


def test_a_service_that_keeps_crashing_is_marked_failed_and_not_restarted_forever(tmp_path):
    record = Recorder()
    good = ScriptedService("good", record)
    bad = ScriptedService("bad", record, crash_times=10**6, crash_after=0.5)
    notifier_lines = []

    class ListNotifier(Notifier):
        def notify(self, *assignments):
            notifier_lines.append(assignments)
            return True

    async def scenario(daemon):
        await asyncio.sleep(600)
        status = {s.name: s for s in daemon.status()}
        assert status["bad"].state is ServiceState.FAILED and status["bad"].crashes == POLICY.max_crashes
        assert not status["bad"].health.ok and status["good"].health.ok
        assert daemon._status_line() == "1/2 services running, 1 failed"
        daemon.request_stop("test")

    code, events = run_daemon(tmp_path, record, {"good": (good, ()), "bad": (bad, ())}, scenario,
                              notifier=ListNotifier(environ={}))
    assert code == 0
    assert bad.starts == POLICY.max_crashes and good.starts == 1
    # 4 crashes: backoff 1, 2, 4 s between them, then nothing more for the rest of the 600 s.
    assert [t for t, _, name, _ in record.of("start") if name == "bad"] == [0, 1.5, 4.0, 8.5]
    failed = [e for e in events if isinstance(e, ServiceStateChanged) and e.state is ServiceState.FAILED]
    assert [(e.service, e.time, e.detail) for e in failed] == [("bad", 9.0, "RuntimeError: bad fell over (run 4)")]
    assert states(events, "good")[-1] is ServiceState.STOPPED
    assert notifier_lines[0] == ("READY=1", "STATUS=2/2 services running")
    assert ("STATUS=1/2 services running, 1 failed: bad failed (RuntimeError: bad fell over (run 4))",) in notifier_lines


def test_sigterm_stops_services_in_reverse_order_and_a_hung_stop_is_abandoned(tmp_path):
    record = Recorder()
    spans = ScriptedService("spans", record)
    isdn = ScriptedService("isdn", record, hang_on_stop=True)
    console = ScriptedService("console", record)

    async def scenario(daemon):
        await asyncio.sleep(12)
        os.kill(os.getpid(), signal.SIGTERM)

    code, events = run_daemon(tmp_path, record, {"spans": (spans, ()), "isdn": (isdn, ()), "console": (console, ())},
                              scenario)
    assert code == 0
    assert [(t, name, reason) for t, _, name, reason in record.of("stop")] == [
        (12.0, "console", StopReason.SHUTDOWN), (12.0, "isdn", StopReason.SHUTDOWN),
        (12.0 + POLICY.stop_timeout, "spans", StopReason.SHUTDOWN)]
    assert all(states(events, n)[-1] is ServiceState.STOPPED for n in ("spans", "isdn", "console"))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers removed after the run


def test_sighup_reload_restarts_services_whose_sections_changed_and_a_bad_file_changes_nothing(tmp_path):
    record = Recorder()
    box_user = ScriptedService("box-user", record)
    span_user = ScriptedService("span-user", record)
    config = tmp_path / "box.toml"
    write_config(config, "first")

    async def scenario(daemon):
        await asyncio.sleep(5)
        write_config(config, "second")
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.sleep(5)
        assert daemon.config.box.hostname == "second"
        write_config(config, "third", broken=True)
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.sleep(5)
        assert daemon.config.box.hostname == "second"
        daemon.request_stop("test")

    code, events = run_daemon(tmp_path, record, {"box-user": (box_user, ("box",)), "span-user": (span_user, ("span",))},
                              scenario)
    assert code == 0
    assert [(name, host) for _, _, name, host in record.of("start")] == [
        ("box-user", "first"), ("span-user", "first"), ("box-user", "second")]
    assert [(name, reason) for _, _, name, reason in record.of("stop")][0] == ("box-user", StopReason.RELOAD)
    applied = [e for e in events if isinstance(e, ConfigApplied)]
    assert [e.changed_sections for e in applied] == [("box",)]
    [rejected] = [e for e in events if isinstance(e, ConfigRejected)]
    assert rejected.errors == (f'{config}:15:1: span[0].crc4: expected true or false, got "maybe"',)


def test_sd_notify_ready_watchdog_and_stopping_reach_the_notify_socket(tmp_path):
    address = str(tmp_path / "notify.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(address)
    receiver.setblocking(False)
    record = Recorder()
    notifier = Notifier(environ={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "4000000"})
    assert notifier.watchdog_interval() == 2.0

    async def scenario(daemon):
        await asyncio.sleep(7)
        daemon.request_stop("test")

    try:
        code, _ = run_daemon(tmp_path, record, {"one": (ScriptedService("one", record), ())}, scenario, notifier=notifier)
        messages = []
        while True:
            try:
                messages.append(receiver.recv(4096).decode())
            except BlockingIOError:
                break
    finally:
        receiver.close()
        notifier.close()
    assert code == 0
    assert messages[0] == "READY=1\nSTATUS=1/1 services running"
    assert messages.count("WATCHDOG=1") == 4  # at 0, 2, 4 and 6 s
    assert messages[-1] == "STOPPING=1\nSTATUS=shutting down (test)"


def test_sd_notify_abstract_socket_and_no_socket():
    name = f"pribox-test-{os.getpid()}"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind("\0" + name)
    try:
        notifier = Notifier(environ={"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
        assert notifier.ready() and receiver.recv(100) == b"READY=1"
        assert notifier.watchdog_interval() is None  # WATCHDOG_PID names another process
        notifier.close()
    finally:
        receiver.close()
    silent = Notifier(environ={})
    assert not silent.enabled and silent.ready() is False


def test_an_unconfirmed_commit_is_rolled_back_by_the_daemon_and_the_services_follow(tmp_path):
    from firmware.config.store import ConfigStore
    from firmware.appliance.daemon import StoreSource

    record = Recorder()
    state = tmp_path / "state"
    store = ConfigStore(state)
    wall_offset = 1_000_000.0  # wall clock = virtual loop time + this
    source = StoreSource(store, lambda: wall_offset)
    assert store.running().comment == "first boot: embedded default"
    box_user = ScriptedService("box-user", record)

    async def scenario(daemon):
        await asyncio.sleep(10)
        risky = default_text().replace('hostname = "pribox"', 'hostname = "risky"')
        store.commit(wall_offset + asyncio.get_running_loop().time(), "risky", text=risky, confirm_within=120)
        daemon.request_reload()  # what `pribox config commit` does through the pid file
        await asyncio.sleep(60)
        assert daemon.config.box.hostname == "risky"
        await asyncio.sleep(70)
        assert daemon.config.box.hostname == "pribox"
        daemon.request_stop("test")

    code, events = run_daemon(tmp_path, record, {"box-user": (box_user, ("box",))}, scenario,
                              source=source, wall_offset=wall_offset)
    assert code == 0
    assert [(t, host) for t, _, _, host in record.of("start")] == [(0, "pribox"), (10.0, "risky"), (130.0, "pribox")]
    assert [c.kind for c in store.history()] == ["bootstrap", "commit", "auto-rollback"]


def test_the_daemon_rearms_a_pending_deadline_after_a_restart(tmp_path):
    from firmware.config.store import ConfigStore
    from firmware.appliance.daemon import StoreSource

    state = tmp_path / "state"
    store = ConfigStore(state)
    store.commit(5000.0, "good", text=default_text())
    store.commit(5000.0, "risky", text=default_text().replace('hostname = "pribox"', 'hostname = "risky"'),
                 confirm_within=300)
    # The daemon restarts 100 s after the commit: 200 s are left.
    record = Recorder()
    box_user = ScriptedService("box-user", record)

    async def scenario(daemon):
        await asyncio.sleep(199)
        assert daemon.config.box.hostname == "risky"
        await asyncio.sleep(2)
        assert daemon.config.box.hostname == "pribox"
        daemon.request_stop("test")

    code, _ = run_daemon(tmp_path, record, {"box-user": (box_user, ("box",))}, scenario,
                         source=StoreSource(ConfigStore(state), lambda: 5100.0), wall_offset=5100.0)
    assert code == 0
    assert [(t, host) for t, _, _, host in record.of("start")] == [(0, "risky"), (200.0, "pribox")]


def test_a_config_that_does_not_validate_at_boot_exits_with_the_errors(tmp_path, caplog):
    write_config(tmp_path / "box.toml", broken=True)
    record = Recorder()

    async def scenario(daemon):
        return None

    code, _ = run_daemon(tmp_path, record, {"x": (ScriptedService("x", record), ())}, scenario)
    assert code == 1 and record.lines == []
    assert 'span[0].crc4: expected true or false, got "maybe"' in caplog.text


class HangingStart(ScriptedService):
    async def start(self, ctx):
        self.starts += 1
        self.record("start", self.name, "")
        await asyncio.Event().wait()


class Introspecting(ScriptedService):
    """Looks at what the daemon hands a service, as the console does."""

    async def start(self, ctx):
        await super().start(ctx)
        self.seen = (ctx.store is not None, [s.name for s in ctx.control.status()], ctx.peer("first") is not None)


def test_a_start_that_hangs_counts_as_a_crash_and_does_not_block_the_others(tmp_path):
    record = Recorder()
    stuck = HangingStart("stuck", record)
    after = ScriptedService("after", record)
    policy = RestartPolicy(first_delay=1.0, max_crashes=2, window=600.0, start_timeout=10.0, stop_timeout=1.0)

    async def scenario(daemon):
        await asyncio.sleep(100)
        status = {s.name: s for s in daemon.status()}
        assert status["stuck"].state is ServiceState.FAILED
        assert status["stuck"].last_error == "RuntimeError: start() did not finish within 10 s"
        assert status["after"].state is ServiceState.RUNNING
        daemon.request_stop("test")

    code, _ = run_daemon(tmp_path, record, {"stuck": (stuck, ()), "after": (after, ())}, scenario, policy=policy)
    assert code == 0 and stuck.starts == 2
    assert [(t, name) for t, _, name, _ in record.of("start")] == [(0, "stuck"), (10.0, "after"), (11.0, "stuck")]


def test_services_see_the_store_the_daemon_and_their_peers(tmp_path):
    from firmware.config.store import ConfigStore
    from firmware.appliance.daemon import StoreSource

    record = Recorder()
    first = ScriptedService("first", record)
    second = Introspecting("second", record)

    async def scenario(daemon):
        await asyncio.sleep(1)
        daemon.request_stop("test")

    source = StoreSource(ConfigStore(tmp_path / "state"), lambda: 0.0)
    code, _ = run_daemon(tmp_path, record, {"first": (first, ()), "second": (second, ())}, scenario, source=source,
                         wall_offset=0.0)
    assert code == 0 and second.seen == (True, ["first", "second"], True)


def test_a_reload_that_disables_a_service_stops_it_and_enabling_starts_it_again(tmp_path):
    record = Recorder()
    config = tmp_path / "box.toml"
    write_config(config)
    made = []

    def console_factory(cfg):
        if not cfg.console.enabled:
            return None
        made.append(ScriptedService("console", record))
        return made[-1]

    async def scenario(daemon):
        await asyncio.sleep(1)
        config.write_text(config.read_text().replace("enabled = true", "enabled = false"))
        assert await daemon.reload()
        assert daemon.supervisor.get("console") is None
        await asyncio.sleep(1)
        config.write_text(config.read_text().replace("enabled = false", "enabled = true"))
        assert await daemon.reload()
        assert daemon.supervisor.get("console").state is ServiceState.RUNNING
        daemon.request_stop("test")

    loop = virtual_time_loop()
    record.clock = LoopClock(loop)
    registry = ServiceRegistry()
    registry.add("console", console_factory, sections=("console",))
    daemon = Daemon(FileSource(str(config)), registry, clock=record.clock, notifier=Notifier(environ={}), policy=POLICY)

    async def main():
        scene = asyncio.ensure_future(scenario(daemon))
        code = await daemon.run(install_signals=False)
        await scene
        return code

    try:
        assert loop.run_until_complete(main()) == 0
    finally:
        loop.close()
    assert len(made) == 2
    assert [(t, what, reason) for t, what, _, reason in record.lines] == [
        (0, "start", "pribox"), (1.0, "stop", StopReason.RELOAD), (2.0, "start", "pribox"),
        (2.0, "stop", StopReason.SHUTDOWN)]


def test_logging_section_sets_levels_and_a_log_file(tmp_path):
    import logging

    from firmware.config import load_text
    from firmware.appliance.daemon import apply_logging

    log_file = tmp_path / "pribox.log"
    apply_logging(load_text(f'[logging]\nlevel = "warning"\nfile = "{log_file}"\nlevels = {{"pribox.isdn" = "debug"}}\n'))
    try:
        assert logging.getLogger("pribox").level == logging.WARNING
        assert logging.getLogger("pribox.isdn").level == logging.DEBUG
        logging.getLogger("pribox.isdn").debug("SETUP sent")
        logging.getLogger("pribox.console").info("not at warning level")
    finally:
        apply_logging(load_text(""))
    assert logging.getLogger("pribox.isdn").level == logging.NOTSET
    text = log_file.read_text()
    assert "pribox.isdn DEBUG SETUP sent" in text and "not at warning level" not in text
    assert logging.getLogger("pribox").level == logging.INFO

"""`pribox run`: the box's daemon.

Loads the startup configuration (a file given with --config, or the committed configuration in
the state directory, seeded with the embedded default on first boot), starts every registered
service under supervision, tells systemd it is ready, pings its watchdog, reloads on SIGHUP
(a bad config is logged and the box keeps running as it was), rolls back an unconfirmed commit
at its deadline, and on SIGTERM/SIGINT stops the services in reverse order.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import time
from pathlib import Path
from typing import Callable

from runtime.bus import EventBus
from runtime.clock import Clock, LoopClock
from firmware.config import Config, ConfigError, load_file
from firmware.config.confirm import ConfirmWatch
from firmware.config.loader import default_text
from firmware.config.store import ConfigStore, StoreError
from .sdnotify import Notifier
from .services import (ConfigApplied, ConfigRejected, ServiceContext, ServiceRegistry, ServiceState,
                       ServiceStateChanged, StopReason, load_box_services)
from .loop_lag import LoopLagMonitor
from .supervisor import RestartPolicy, Supervisor
from firmware.syslog.sender import apply as apply_syslog, server_configs as syslog_servers

log = logging.getLogger("pribox.daemon")

DEFAULT_STATE_DIR = "/var/lib/pribox"
PID_FILE = "pribox.pid"


class FileSource:
    """The startup configuration is one file (pribox run --config FILE)."""

    def __init__(self, path: str):
        self.path = path
        self.store = None

    def load(self) -> Config:
        return load_file(self.path)

    load_for_boot = load

    @property
    def description(self) -> str:
        return self.path


class StoreSource:
    """The startup configuration is the committed one in the state directory."""

    def __init__(self, store: ConfigStore, wall_now: Callable[[], float] = time.time):
        self.store = store
        self.wall_now = wall_now
        if store.running() is None:
            commit = store.commit(wall_now(), "first boot: embedded default", text=default_text())
            log.info("state directory %s was empty: committed the embedded default as commit %d", store.dir, commit.id)

    def load(self) -> Config:
        return self.store.running_config()

    def load_for_boot(self) -> Config:
        """The running commit, or, if it no longer validates (e.g. after an update made the
        schema stricter), the newest commit that does: a box must come up to be fixed.  An
        unconfirmed commit whose deadline passed while the box was down is rolled back first,
        so its services never start."""
        rolled = self.store.expire(self.wall_now())
        if rolled is not None:
            log.warning("%s (while pribox was down)", rolled.comment)
        try:
            return self.load()
        except ConfigError as exc:
            log.error("committed configuration does not validate:\n%s", exc)
            for commit in reversed(self.store.history()[:-1]):
                try:
                    config = self.store.commit_config(commit.id)
                except ConfigError:
                    continue
                log.error("booting with commit %d instead; fix the configuration and commit", commit.id)
                return config
            raise

    @property
    def description(self) -> str:
        return str(self.store.running_path)


def _settle_garbage_collector() -> None:
    """Move everything alive once the services are up into the collector's permanent generation:
    a full collection over the whole heap stalls the loop for 15-20 ms, long enough to upset the
    1 ms pacing of the spans; afterwards only what is new gets scanned.  Done once, at start:
    frozen objects are never collected, so freezing again at each reload would keep the cycles
    of the services it replaced."""
    gc.collect()
    gc.freeze()


class Daemon:
    def __init__(self, source, registry: ServiceRegistry, *, clock: Clock | None = None,
                 bus: EventBus | None = None, notifier: Notifier | None = None,
                 policy: RestartPolicy | None = None, state_dir: str | None = None,
                 wall_offset: float | None = None):
        self.source = source
        self.registry = registry
        self.clock = clock or LoopClock()
        self.bus = bus or EventBus()
        self.notifier = notifier or Notifier()
        self.supervisor = Supervisor(self.clock, self.bus, policy)
        self.state_dir = state_dir
        self.loop_lag = LoopLagMonitor()
        self.wall_offset = wall_offset
        self.config: Config | None = None
        self.ctx: ServiceContext | None = None
        self.confirm_watch: ConfirmWatch | None = None
        # A service given up on is reported to systemd (`systemctl status pribox` shows it).
        self.bus.subscribe(ServiceStateChanged, self._report_failure)
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self.stop_reason = ""

    # -- control from signals, the console, tests -------------------------------------------

    def request_stop(self, why: str = "requested") -> None:
        self.stop_reason = why
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    def status(self):
        return self.supervisor.status()

    # -- life -------------------------------------------------------------------------------

    async def run(self, install_signals: bool = True) -> int:
        try:
            config = self.source.load_for_boot()
        except ConfigError as exc:
            log.error("cannot start with this configuration:\n%s", exc)
            return 1
        self.config = config
        apply_logging(config)
        self.ctx = ServiceContext(config, self.clock, self.bus, self.state_dir,
                                  store=self.source.store, control=self)
        loop = asyncio.get_running_loop()
        signals = []
        if install_signals:
            for sig, handler in ((signal.SIGTERM, lambda: self.request_stop("SIGTERM")),
                                 (signal.SIGINT, lambda: self.request_stop("SIGINT")),
                                 (signal.SIGHUP, self.request_reload)):
                loop.add_signal_handler(sig, handler)
                signals.append(sig)
        pid_file = self._write_pid()
        watchdog = None
        try:
            if self.source.store is not None:
                self.confirm_watch = ConfirmWatch(self.source.store, self.clock, lambda _: self.request_reload(),
                                                  self.wall_offset)
                self.confirm_watch.rearm()
            for entry in self.registry.entries():
                await self._start_entry(entry, config)
            if self.clock.real_time:      # on a virtual clock there is no lag to measure
                self.loop_lag.start()
            interval = self.notifier.watchdog_interval()
            if interval:
                watchdog = loop.create_task(self._watchdog(interval), name="sd-watchdog")
            self.notifier.ready(self._status_line())
            log.info("pribox running: %s", self._status_line())
            _settle_garbage_collector()
            while not self._stop.is_set():
                stop_wait = loop.create_task(self._stop.wait())
                reload_wait = loop.create_task(self._reload.wait())
                await asyncio.wait({stop_wait, reload_wait}, return_when=asyncio.FIRST_COMPLETED)
                stop_wait.cancel()
                reload_wait.cancel()
                if self._reload.is_set() and not self._stop.is_set():
                    self._reload.clear()
                    await self.reload()
            log.info("shutting down (%s)", self.stop_reason)
            self.notifier.stopping(f"shutting down ({self.stop_reason})")
            await self.supervisor.stop_all(StopReason.SHUTDOWN)
            return 0
        finally:
            self.loop_lag.stop()
            if watchdog is not None:
                watchdog.cancel()
            if self.confirm_watch is not None:
                self.confirm_watch.cancel()
            for sig in signals:
                loop.remove_signal_handler(sig)
            if pid_file is not None:
                pid_file.unlink(missing_ok=True)

    async def reload(self) -> bool:
        """Re-read the startup configuration and restart the services whose sections
        changed; a configuration that does not validate is logged and changes nothing."""
        self.notifier.reloading()
        try:
            # Reading and validating the file (flow files, address look-ups) runs in a worker
            # thread: the D-channels' service and the consoles go on meanwhile.
            new = await asyncio.to_thread(self.source.load)
        except (ConfigError, StoreError) as exc:
            errors = tuple(str(i) for i in exc.issues) if isinstance(exc, ConfigError) else (str(exc),)
            log.error("reload refused, still running the previous configuration:\n%s", "\n".join(errors))
            self.bus.publish(ConfigRejected(self.clock.now(), self.source.description, errors))
            self.notifier.ready("reload refused: configuration does not validate")
            return False
        old = self.config
        changed = tuple(name for name in new.sections() if new.section(name) != old.section(name))
        restart = [entry for entry in self.registry.entries()
                   if set(entry.sections) & set(changed) or self._needs_revival(entry.name)]
        for entry in reversed(restart):
            if self.supervisor.get(entry.name) is not None:
                await self.supervisor.stop(entry.name, StopReason.RELOAD)
        self.config = new
        self.ctx.config = new
        apply_logging(new)
        for entry in restart:
            await self._start_entry(entry, new)
        if self.confirm_watch is not None:
            self.confirm_watch.rearm()
        self.bus.publish(ConfigApplied(self.clock.now(), self.source.description, changed))
        log.info("configuration reloaded; changed sections: %s", ", ".join(changed) or "none")
        self.notifier.ready(self._status_line())
        return True

    def _report_failure(self, event: ServiceStateChanged) -> None:
        if event.state is ServiceState.FAILED:
            self.notifier.status(f"{self._status_line()}: {event.service} failed ({event.detail})")

    def _needs_revival(self, name: str) -> bool:
        supervised = self.supervisor.get(name)
        return supervised is None or supervised.state is ServiceState.FAILED

    async def _start_entry(self, entry, config: Config) -> None:
        try:
            service = entry.factory(config)
        except Exception as exc:
            log.error("service %s could not be built from the configuration: %s", entry.name, exc, exc_info=exc)
            return
        if service is None:
            return
        if not service.name:
            service.name = entry.name
        elif service.name != entry.name:
            log.error("service registered as %r calls itself %r; not started", entry.name, service.name)
            return
        await self.supervisor.start(service, self.ctx)

    async def _watchdog(self, interval: float) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    def _status_line(self) -> str:
        states = [s.state.value for s in self.supervisor.status()]
        running = states.count("running")
        return f"{running}/{len(states)} services running" + (
            f", {states.count('failed')} failed" if "failed" in states else "")

    def _write_pid(self) -> Path | None:
        if self.state_dir is None:
            return None
        path = Path(self.state_dir) / PID_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{os.getpid()}\n")
        return path


_our_handler: logging.Handler | None = None
_our_levels: set[str] = set()  # loggers whose level the previous [logging] set


def apply_logging(config: Config) -> None:
    """[logging]: the level of pribox's loggers, per-logger levels, and an optional file."""
    global _our_handler
    section = config.logging
    root = logging.getLogger("pribox")
    root.setLevel(section.level.upper())
    for name in _our_levels - set(section.levels):
        logging.getLogger(name).setLevel(logging.NOTSET)  # removed from the file: inherit again
    for name, level in section.levels.items():
        logging.getLogger(name).setLevel(level.upper())
    _our_levels.clear()
    _our_levels.update(section.levels)
    if _our_handler is not None:
        root.removeHandler(_our_handler)
        _our_handler.close()
        _our_handler = None
    # Remote syslog ([[logging.server]]): queues and sender threads, never blocking the box.
    apply_syslog(syslog_servers(section), hostname=config.box.hostname)
    if section.file:
        try:
            _our_handler = logging.FileHandler(section.file)
        except OSError as exc:
            log.error("logging.file: cannot open %s: %s", section.file, exc.strerror or exc)
            return
        _our_handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.addHandler(_our_handler)


# -- the `pribox run` subcommand ----------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="run from this file instead of the committed configuration in the state directory")
    parser.add_argument("--state-dir", metavar="DIR",
                        help=f"state directory (default {DEFAULT_STATE_DIR} unless --config is given)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    state_dir = args.state_dir or (None if args.config else DEFAULT_STATE_DIR)
    if state_dir is not None:
        try:
            os.makedirs(state_dir, exist_ok=True)
        except OSError as exc:
            log.error("cannot start: state directory %s cannot be created: %s", state_dir, exc.strerror or exc)
            return 1
    try:
        if args.config:
            source = FileSource(args.config)
        else:
            source = StoreSource(ConfigStore(state_dir))
    except (StoreError, ConfigError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    daemon = Daemon(source, load_box_services(), state_dir=state_dir)
    return asyncio.run(daemon.run())

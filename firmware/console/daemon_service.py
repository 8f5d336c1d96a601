"""The console as a service of the daemon (`pribox run`).

The daemon (firmware/appliance/daemon.py) starts each registered service with a ServiceContext holding
the validated configuration, the one clock, the event bus, the state folder, the config store
and the daemon's control.  `register(registry)` adds the console to a registry; `pribox run`
serves it once "firmware.console.box_service" (which registers it in BOX_SERVICES when
imported) is listed in firmware/appliance/services.py SERVICE_MODULES.

Users: the `[[user]]` entries of the configuration (scrypt hashes; privilege 15 is admin),
plus, on a box whose configuration has none yet, the admin password set at the console on
first boot, kept in `<state dir>/console-users.json`.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

from firmware.appliance.services import Health, Service, ServiceRegistry

from .services import SessionTable, pribox_version
from .session import ConsoleSession
from .transport import SerialConsole
from .users import UserStore

REBOOT_COMMAND = ("systemctl", "reboot")
USERS_FILE = "console-users.json"
UPLOADS_DIR = "uploads"


def console_service_factory(config) -> "ConsoleService | None":
    section = config.console
    return ConsoleService(section) if section.enabled else None


class StoreConfigService:
    """`configure ...` over the config branch's ConfigStore (candidate text, commits with
    confirm_within in seconds, confirm, rollback to a commit id, history of Commit records).
    After a commit the daemon is asked to apply it, as `pribox config commit` does."""

    def __init__(self, store, control, wall_clock=time.time):
        self.store = store
        self.control = control
        self.wall_clock = wall_clock

    def _do(self, action):
        try:
            return action()
        except (OSError, ValueError):
            raise
        except Exception as exc:  # StoreError and ConfigError carry a message naming the problem
            raise ValueError(str(exc)) from None

    def applied(self, commit, verb: str) -> str:
        if self.control is not None:
            self.control.request_reload()
        text = f"{verb} {commit.id}"
        if getattr(commit, "confirm_deadline", None) is not None:
            minutes = (commit.confirm_deadline - self.wall_clock()) / 60
            text += f"; it rolls back unless confirmed within {minutes:.0f} minutes (configure confirm)"
        return text

    def candidate(self) -> str:
        return self._do(self.store.candidate_text)

    def replace(self, text: str) -> None:
        self._do(lambda: self.store.set_candidate(text))

    def check(self) -> list[str]:
        try:
            self.store.validate(self.store.candidate_text())
        except Exception as exc:
            issues = getattr(exc, "issues", None)
            return [str(issue) for issue in issues] if issues else [str(exc)]
        return []

    def diff(self) -> str:
        return self._do(self.store.diff)

    def commit(self, confirm_minutes: float | None, user: str) -> str:
        return self.applied(self.store_commit(confirm_minutes, user), "Committed as commit")

    def store_commit(self, confirm_minutes: float | None, user: str, wall_now: float | None = None):
        """The commit written to the store (safe in a worker thread when `wall_now` is given,
        read on the loop); `applied` then asks the daemon to apply it, on the loop."""
        within = confirm_minutes * 60 if confirm_minutes else None
        stamp = self.wall_clock() if wall_now is None else wall_now
        return self._do(lambda: self.store.commit(stamp, "from the console",
                                                   confirm_within=within, user=user))

    def confirm(self) -> str:
        commit = self._do(lambda: self.store.confirm(self.wall_clock()))
        if self.control is not None:
            self.control.request_reload()
        return f"Commit {commit.id} confirmed"

    def rollback(self, commit_id: int | None, user: str) -> str:
        if commit_id is None:
            history = self._do(self.store.history)
            if len(history) < 2:
                raise ValueError("there is no earlier commit to go back to")
            commit_id = history[-2].id
        commit = self._do(lambda: self.store.rollback(commit_id, self.wall_clock(), user=user))
        return self.applied(commit, f"Rolled back to commit {commit_id} as commit")

    def discard(self) -> None:
        self._do(self.store.discard_candidate)

    def history(self) -> list[str]:
        lines = []
        for commit in self._do(self.store.history):
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(commit.time))
            pending = " (unconfirmed)" if getattr(commit, "pending", False) else ""
            lines.append(f"{commit.id:5d}  {stamp}  {commit.kind:<13} {commit.user or '-':<8} "
                         f"{commit.comment}{pending}")
        return lines


class DaemonServices:
    """ConsoleServices over the daemon's service context."""

    def __init__(self, ctx: Any, reboot_command: tuple[str, ...] = REBOOT_COMMAND):
        self.ctx = ctx
        self.reboot_command = reboot_command
        self.bus = ctx.bus
        self.clock = ctx.clock
        self.version = pribox_version()
        self.started_at = ctx.clock.now()
        state = Path(ctx.state_dir) if ctx.state_dir else Path("/var/lib/pribox")
        self.upload_dir = state / UPLOADS_DIR
        self.sessions = SessionTable()
        store = getattr(ctx, "store", None)
        self.config = (StoreConfigService(store, ctx.control, wall_clock=self.wall_time)
                       if store is not None else None)

    @property
    def hostname(self) -> str:
        # Read at every prompt: a committed [box] hostname shows without restarting the console.
        box = getattr(self.ctx.config, "box", None)
        return getattr(box, "hostname", None) or "pribox"

    def __getattr__(self, name: str):
        # Layers' own services (spans, isdn, ...) are found by name among the running peers.
        services = self.__dict__.get("ctx").services if "ctx" in self.__dict__ else {}
        if name in services:
            return services[name]
        raise AttributeError(name)

    def wall_time(self) -> float:
        # The daemon's commit-confirmed deadlines are on its wall clock (one clock + offset).
        watch = getattr(self.ctx.control, "confirm_watch", None)
        return watch.wall_now() if watch is not None else time.time()

    def running_config(self) -> str:
        store = getattr(self.ctx, "store", None)
        text = store.running_text() if store is not None else None
        return text if text is not None else getattr(self.ctx.config, "text", "")

    def service_status(self) -> str:
        from firmware.appliance.supervisor import format_status
        text = format_status(self.ctx.control.status())
        lag = getattr(self.ctx.control, "loop_lag", None)
        return (lag.describe() + "\n" if lag is not None else "") + text

    def reload(self) -> None:
        """Like IOS reload: the whole box reboots (into the other slot after an A/B update);
        systemd stops pribox first, so calls are cleared with a proper cause."""
        try:
            subprocess.Popen(list(self.reboot_command), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        except OSError as exc:
            raise ValueError(f"cannot reboot with {' '.join(self.reboot_command)}: "
                             f"{exc.strerror or exc}") from None


class ConsoleService(Service):
    name = "console"

    def __init__(self, section: Any, reboot_command: tuple[str, ...] = REBOOT_COMMAND):
        self.section = section
        self.reboot_command = reboot_command
        self.console: SerialConsole | None = None
        self.users: UserStore | None = None

    async def start(self, ctx: Any) -> None:
        section = self.section
        local = Path(ctx.state_dir) / USERS_FILE if ctx.state_dir else None
        users = UserStore(local, max_failures=section.login_attempts,
                          lockout_seconds=section.lockout)
        for user in getattr(ctx.config, "user", None) or ():
            users.add_hashed(user.name, user.password_hash,
                             "admin" if user.privilege >= 15 else "operator")
        self.users = users
        services = DaemonServices(ctx, self.reboot_command)
        idle = section.idle_timeout  # 0 in the configuration: never log out
        self.console = SerialConsole(
            section.device,
            lambda pending, wakeup: ConsoleSession(services, users, idle_timeout=idle,
                                                   pending_output=pending, wakeup=wakeup),
            clock=ctx.clock, baudrate=section.baud)
        self.console.start()

    async def run(self) -> None:
        await asyncio.Event().wait()  # driven by the serial line's callbacks until stopped

    async def stop(self, reason: Any) -> None:  # no calls to clear: just let go of the line
        if self.console is not None:
            self.console.close()
            self.console = None

    def health(self) -> Health:
        ok = self.console is not None and self.console.is_open
        return Health(ok, f"{self.section.device} open" if ok else f"{self.section.device} not open")


def register(registry: ServiceRegistry) -> None:
    registry.add("console", console_service_factory, sections=("console", "user"))


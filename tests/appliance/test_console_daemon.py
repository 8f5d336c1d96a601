"""The console as a daemon service: users and settings from the configuration, `configure`
over a config store with the daemon's store interface, `reload` asks the daemon to restart."""

import asyncio
import hashlib
import tomllib
from dataclasses import dataclass, replace
from types import SimpleNamespace

from runtime.bus import EventBus
from runtime.clock import ManualClock
from firmware.console.daemon_service import console_service_factory
from firmware.console.testing import PtyPair, Terminal


def config_hash(password: str) -> str:
    salt = b"per-user-salt-16"
    key = hashlib.scrypt(password.encode(), salt=salt, n=1024, r=8, p=1, dklen=32)
    return f"scrypt:1024:8:1:{salt.hex()}:{key.hex()}"


@dataclass(frozen=True)
class Commit:
    id: int
    time: float
    comment: str
    kind: str
    user: str = ""
    confirm_deadline: float | None = None
    confirmed_at: float | None = None

    @property
    def pending(self):
        return self.confirm_deadline is not None and self.confirmed_at is None


class Problem(Exception):
    def __init__(self, issues):
        super().__init__("\n".join(issues))
        self.issues = issues


class TextStore:
    """The config store's interface (candidate, validate, commit/confirm/rollback, history),
    over TOML text in memory; the daemon passes the real store in the same place."""

    def __init__(self, running):
        self.texts = {1: running}
        self.commits = [Commit(1, 0.0, "", "bootstrap")]
        self.candidate = None

    def running_text(self):
        return self.texts[self.commits[-1].id]

    def candidate_text(self):
        return self.candidate if self.candidate is not None else self.running_text()

    def set_candidate(self, text):
        self.candidate = text

    def discard_candidate(self):
        self.candidate = None

    def diff(self):
        return "" if self.candidate is None else f"-{self.running_text()}+{self.candidate}"

    def validate(self, text, source=None):
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise Problem([f"candidate.toml: {exc}"]) from None

    def _append(self, text, **fields):
        commit = Commit(len(self.commits) + 1, **fields)
        self.commits.append(commit)
        self.texts[commit.id] = text
        return commit

    def commit(self, now, comment="", *, text=None, source=None, confirm_within=None, user=""):
        text = self.candidate_text() if text is None else text
        self.validate(text)
        self.candidate = None
        deadline = now + confirm_within if confirm_within else None
        return self._append(text, time=now, comment=comment, kind="commit", user=user,
                            confirm_deadline=deadline)

    def confirm(self, now):
        if not self.commits[-1].pending:
            raise Problem(["no commit is waiting for confirmation"])
        self.commits[-1] = replace(self.commits[-1], confirmed_at=now)
        return self.commits[-1]

    def rollback(self, commit_id, now, comment="", *, confirm_within=None, user=""):
        if commit_id not in self.texts:
            raise Problem([f"no commit {commit_id}"])
        return self._append(self.texts[commit_id], time=now, comment=comment, kind="rollback",
                            user=user)

    def history(self):
        return list(self.commits)


class Control:
    def __init__(self):
        self.calls = []

    def request_reload(self):
        self.calls.append("reload")

    def request_stop(self, why="requested"):
        self.calls.append(f"stop: {why}")


def test_console_service_in_the_daemon(tmp_path):
    async def main():
        pty = PtyPair()
        clock = ManualClock(0.0)
        section = SimpleNamespace(enabled=True, device=pty.slave_path, baud=115200,
                                  idle_timeout=900.0, login_attempts=2, lockout=30.0)
        config = SimpleNamespace(console=section, box=SimpleNamespace(hostname="gw1"),
                                 user=[SimpleNamespace(name="noc", privilege=15,
                                                       password_hash=config_hash("noc password")),
                                       SimpleNamespace(name="viewer", privilege=1,
                                                       password_hash=config_hash("view only!"))])
        store, control = TextStore("[console]\nbaud = 115200\n"), Control()
        ctx = SimpleNamespace(config=config, clock=clock, bus=EventBus(), state_dir=str(tmp_path),
                              services={}, store=store, control=control)
        service = console_service_factory(config)
        rebooted = tmp_path / "rebooted"
        service.reboot_command = ("touch", str(rebooted))    # the box's is systemctl reboot
        await service.start(ctx)
        assert service.health().ok
        term = Terminal(pty.master_fd, asyncio.get_running_loop())
        try:
            await term.expect("Username: ")
            term.send("noc\rbad\r")
            await term.expect("% Login invalid")
            term.send("noc\rbad\r")                 # login_attempts = 2 from the config
            await term.expect("user noc locked out for 30 s")
            clock.advance(30)
            term.send("noc\rnoc password\r")
            await term.expect("gw1#")
            term.send("show running-config\r")
            out = await term.expect("\r\nend\r\ngw1#")
            assert "[console]\r\nbaud = 115200" in out
            term.send("configure replace\r")
            await term.expect("abandons it\\)\\.\r\n")
            term.send("[console]\rbaud = 9600\rend\r")
            await term.expect("it is valid: `configure commit` applies it\r\ngw1#")
            term.send("configure commit 10\r")
            out = await term.expect("gw1#")
            assert "Committed as commit 2; it rolls back unless confirmed within 10 minutes" in out
            assert control.calls == ["reload"]
            term.send("configure confirm\r")
            assert "Commit 2 confirmed" in await term.expect("gw1#")
            term.send("configure confirm\r")
            assert "% no commit is waiting for confirmation" in await term.expect("gw1#")
            term.send("configure rollback\r")
            assert "Rolled back to commit 1 as commit 3" in await term.expect("gw1#")
            term.send("configure history\r")
            out = await term.expect("gw1#")
            assert "    2  " in out and "commit        noc      from the console" in out
            term.send("reload\r")
            await term.expect("confirm")
            term.send("y\r")
            await term.expect("Reloading")
            for _ in range(100):
                if rebooted.exists():
                    break
                await asyncio.sleep(0.01)
            assert rebooted.exists()
            service.reboot_command = ("/nonexistent/reboot",)
            await service.stop(None)
            await service.start(ctx)
            term.send("\rnoc\rnoc password\rreload\r")
            await term.expect("confirm")
            term.send("\r")
            await term.expect("% cannot reboot with /nonexistent/reboot: No such file or directory")
            term.send("exit\r")
            await term.expect("Username: ")
            term.send("viewer\rview only!\r")       # privilege 1: looks, cannot configure
            await term.expect("gw1>")
            term.send("configure show\r")
            assert "needs an admin user" in await term.expect("gw1>")
        finally:
            term.close()
            await service.stop(None)
            pty.close()
        assert not service.health().ok
    asyncio.run(main())


def test_disabled_console_is_not_started():
    config = SimpleNamespace(console=SimpleNamespace(enabled=False))
    assert console_service_factory(config) is None


def test_a_missing_serial_device_is_retried_not_fatal(tmp_path, caplog):
    async def main():
        section = SimpleNamespace(enabled=True, device=str(tmp_path / "ttyS9"), baud=115200,
                                  idle_timeout=0, login_attempts=5, lockout=60.0)
        config = SimpleNamespace(console=section, user=[], box=None)
        ctx = SimpleNamespace(config=config, clock=ManualClock(0.0), bus=EventBus(),
                              state_dir=str(tmp_path), services={}, store=None, control=None)
        service = console_service_factory(config)
        await service.start(ctx)                       # the box comes up without its console
        health = service.health()
        assert not health.ok and health.detail == f"{tmp_path / 'ttyS9'} not open"
        await service.stop(None)
    asyncio.run(main())
    assert "cannot open" in caplog.text and "retrying in 2 s" in caplog.text


def test_the_other_end_hanging_up_closes_and_retries_the_device(tmp_path, caplog):
    from firmware.console.services import StandaloneServices
    from firmware.console.session import ConsoleSession
    from firmware.console.transport import SerialConsole
    from firmware.console.users import UserStore

    async def main():
        clock = ManualClock(0.0)
        pty = PtyPair()
        services = StandaloneServices(bus=EventBus(), clock=clock, upload_dir=tmp_path)
        users = UserStore(None)
        console = SerialConsole(pty.slave_path, lambda p, w: ConsoleSession(
            services, users, pending_output=p, wakeup=w), clock=clock)
        console.start()
        assert console.is_open
        pty.close()                                   # the USB adapter is pulled out
        for _ in range(100):
            await asyncio.sleep(0.01)
            if not console.is_open:
                break
        assert not console.is_open
        clock.advance(2.0)                            # retried on the one clock
        assert not console.is_open
        console.close()
    asyncio.run(main())
    assert "read from" in caplog.text and "failed" in caplog.text and "cannot open" in caplog.text


def test_the_console_inside_the_real_daemon_with_its_store_and_spans(tmp_path):
    """`pribox run` with the console registered: the committed configuration's users log in,
    `show span` reads the daemon's spans, and `configure` commits through the real store —
    the commit reloads the box and the new hostname is in the prompt."""
    from firmware.config.loader import default_text
    from firmware.config.store import ConfigStore
    from runtime.clock import LoopClock
    from firmware.appliance.daemon import Daemon, StoreSource
    from firmware.appliance.sdnotify import Notifier
    from firmware.appliance.services import load_box_services

    pty = PtyPair()
    text = default_text().replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")).replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2")
    text = text.replace('device = "/dev/ttyS0"', f'device = "{pty.slave_path}"')
    text += f'\n[[user]]\nname = "noc"\npassword_hash = "{config_hash("noc password")}"\nprivilege = 15\n'
    state = tmp_path / "state"
    store = ConfigStore(state)
    store.commit(0.0, "bootstrap", text=text)
    registry = load_box_services()                   # spans and the console, as pribox run
    names = [e.name for e in registry.entries()]
    assert "console" in names and names.index("spans") < names.index("console")  # the console starts after the spans
    daemon = Daemon(StoreSource(store), registry, clock=LoopClock(), bus=EventBus(),
                    notifier=Notifier(environ={}), state_dir=str(state))
    seen = {}

    async def scenario(term):
        try:
            await steps(term)
        finally:
            daemon.request_stop("test")

    async def steps(term):
        await term.expect("Username: ")
        term.send("noc\rnoc password\r")
        await term.expect("pribox#")
        term.send("terminal length 0\r")
        await term.expect("pribox#")
        term.send("show services\r")
        seen["services"] = await term.expect(r"console .*\r\n(?:.*\r\n)*?pribox#")
        for _ in range(50):                               # layer 1 comes up in real time
            term.send("show span\r")
            seen["span"] = await term.expect("Counters:(.|\r\n)*?pribox#")
            if "E1 1 is up." in seen["span"] and "E1 2 is up." in seen["span"]:   # spans 3-4 may come up first
                break
            await asyncio.sleep(0.1)
        term.send("configure replace\r")
        await term.expect(r"abandons it\)\.\r\n")
        edited = text.replace('hostname = "pribox"', 'hostname = "edge-7"')
        term.send("\r".join(edited.splitlines()) + "\rend\r")   # pasted in one go
        seen["replace"] = await term.expect("applies it\r\npribox#")
        term.send("configure commit 5\r")
        seen["commit"] = await term.expect("pribox#")
        for _ in range(50):                               # the reload runs after the commit answers
            term.send("\r")
            if "edge-7#" in await term.expect("#"):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the prompt never showed the new hostname")   # reloaded with the new [box]
        term.send("configure confirm\r")
        seen["confirm"] = await term.expect("edge-7#")
        term.send("configure history\r")
        seen["history"] = await term.expect("edge-7#")

    async def main():
        term = Terminal(pty.master_fd, asyncio.get_running_loop())
        scene = asyncio.ensure_future(scenario(term))
        try:
            code = await asyncio.wait_for(daemon.run(install_signals=False), 60)
            await scene                                  # raises what went wrong in it
        finally:
            term.close()
        return code

    try:
        assert asyncio.run(main()) == 0
    finally:
        pty.close()
    assert "E1 1 is up." in seen["span"] and "E1 2 is up." in seen["span"]
    assert "Service      State     Crashes  Detail" in seen["services"]
    assert f"console      running         0  {pty.slave_path} open" in seen["services"]
    assert "it is valid: `configure commit` applies it" in seen["replace"]
    assert "Committed as commit 2; it rolls back unless confirmed within 5 minutes" in seen["commit"]
    assert "Commit 2 confirmed" in seen["confirm"]
    assert "bootstrap" in seen["history"] and "from the console" in seen["history"]
    assert store.running().confirmed_at is not None
    assert 'hostname = "edge-7"' in store.running_text()

"""The serial console driven through a pseudo-terminal, as a field engineer would."""

import asyncio
import contextlib
from dataclasses import dataclass

import pytest

from firmware.bus import Event, EventBus
from firmware.clock import ManualClock
from firmware.console.commands import registry
from firmware.console.services import StandaloneServices
from firmware.console.session import ConsoleSession
from firmware.console.testing import PtyPair, Terminal
from firmware.console.transport import SerialConsole
from firmware.console.users import UserStore

FAST_SCRYPT = {"n": 2 ** 10, "r": 8, "p": 1}   # the real cost is 2**14; tests need speed
ADMIN_PW = "correct horse"


@dataclass
class Box:
    clock: ManualClock
    bus: EventBus
    services: StandaloneServices
    users: UserStore
    console: SerialConsole
    term: Terminal
    reloads: list

    async def login(self, user="admin", password=ADMIN_PW):
        await self.term.expect("Username: ")
        self.term.send(user + "\r")
        await self.term.expect("Password: ")
        self.term.send(password + "\r")
        await self.term.expect(r"pribox[#>]")

    async def run(self, line, until=r"\r\npribox[#>]"):
        self.term.send(line + "\r")
        return await self.term.expect(until)


@contextlib.asynccontextmanager
async def box_on_pty(tmp_path, *, users=True, idle_timeout=600.0, config_text=None):
    clock = ManualClock(1000.0)
    bus = EventBus()
    store = UserStore(tmp_path / "users.json", cost=FAST_SCRYPT)
    if users:
        store.set_password("admin", ADMIN_PW, role="admin")
        store.set_password("oper", "operator pw", role="operator")
    config_path = None
    if config_text is not None:
        config_path = tmp_path / "pribox.toml"
        config_path.write_text(config_text)
    reloads = []
    services = StandaloneServices(bus=bus, clock=clock, upload_dir=tmp_path / "uploads",
                                  config_path=config_path, hostname="pribox",
                                  on_reload=lambda: reloads.append(clock.now()),
                                  wall_clock=lambda: 1795708800.25)  # 2026-11-26 12:00:00.250 UTC
    pty = PtyPair()
    loop = asyncio.get_running_loop()
    console = SerialConsole(
        pty.slave_path,
        lambda pending: ConsoleSession(services, store, idle_timeout=idle_timeout,
                                       pending_output=pending),
        clock=clock)
    console.start()
    term = Terminal(pty.master_fd, loop)
    try:
        yield Box(clock, bus, services, store, console, term, reloads)
    finally:
        term.close()
        console.close()
        pty.close()


def run(coro):
    return asyncio.run(coro)


def test_login_and_show_version(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.login()
            out = await box.run("show version")
            assert "pribox E1/PRI gateway firmware, version" in out
            assert "pribox uptime is 0 seconds" in out
    run(main())

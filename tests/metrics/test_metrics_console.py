"""`show queues` and `show agents` at the daemon's console: the console service and the api
service started side by side on one service context, as `pribox run` starts them; a terminal on
a pseudo-terminal logs in and types the commands."""

import asyncio
import time

import aiohttp

from firmware.appliance.services import ServiceContext, StopReason
from firmware.config.loader import load_text
from firmware.console.daemon_service import console_service_factory
from firmware.console.testing import PtyPair, Terminal
from pbx_cti.acd.service import CtiService
from pbx_cti.api.service import ApiService
from pbx_cti.metrics.console_commands import NOT_RUNNING
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.api.test_api_config import CENTER
from tests.appliance.test_console_daemon import config_hash
from tests.metrics.metrics_world import busy_morning

PASSWORD = "noc password"


def box_config(device: str, with_center: bool = True):
    console = f'''
[box]
hostname = "center1"
[console]
device = "{device}"
[[user]]
name = "noc"
privilege = 15
password_hash = "{config_hash(PASSWORD)}"
'''
    return load_text((CENTER if with_center else "") + console)


async def console_session(ctx: ServiceContext, pty: PtyPair):
    console = console_service_factory(ctx.config)
    await console.start(ctx)
    term = Terminal(pty.master_fd, asyncio.get_running_loop())
    await term.expect("Username: ")
    term.send(f"noc\r{PASSWORD}\r")
    await term.expect("center1#")

    async def run(command: str) -> str:
        term.send(command + "\r")
        return (await term.expect(f"{command}\r\n(.|\r\n)*?center1#")).replace("\r\n", "\n")

    await run("terminal length 0")
    await run("terminal width 0")
    return console, term, run


def test_show_queues_and_show_agents_read_the_running_contact_center(tmp_path):
    async def scenario():
        pty = PtyPair()
        config = box_config(pty.slave_path)
        peers = {}
        ctx = ServiceContext(config, LoopClock(), EventBus(), str(tmp_path), services=peers)
        cti, api = CtiService(config), ApiService(config)
        await cti.start(ctx)
        await api.start(ctx)
        peers["cti"], peers["api"] = cti, api
        console, term, run = await console_session(ctx, pty)
        try:
            async with aiohttp.ClientSession() as http:
                await busy_morning(http, api)
            queues = await run("show queues")
            lines = queues.splitlines()
            assert "SL: answered within 20 s / answered" in queues and "from 00:00 UTC" in queues
            assert all(len(line) <= 80 for line in lines)          # a serial terminal's width
            header = next(line for line in lines if line.startswith("Queue"))
            assert header.split() == ["Queue", "Wait", "Longest", "Rdy", "Talk", "Wrap", "NRdy",
                                      "Offer", "Ans", "Aband", "SL", "day", "SL", "int"]
            sales = next(line for line in lines if line.startswith("sales")).split()
            # 1 waiting, since 0:00:00; agents 0 ready, 1 talking, 0 wrap-up, 1 not ready;
            # today 3 offered, 1 answered, 1 abandoned; SL 100 % today and in this interval.
            assert sales == ["sales", "1", "0:00:00", "0", "1", "0", "1", "3", "1", "1", "100.0%", "100.0%"]
            assert len([line for line in lines if line.startswith("sales")]) == 1

            agents = await run("sh agents")
            lines = agents.splitlines()
            assert lines[1].split()[:5] == ["Agent", "State", "Reason", "Extension", "Since"]
            alice = next(line for line in lines if line.startswith("alice")).split()
            bob = next(line for line in lines if line.startswith("bob")).split()
            assert alice[:4] == ["alice", "TALKING", "-", "2001"] and alice[-3:] == ["1", "c1", "(sales)"]
            assert bob[:4] == ["bob", "NOT_READY", "lunch", "2002"] and bob[-2:] == ["0", "-"]
            since = api.runner.engine.agents["bob"].since
            assert bob[4] == time.strftime("%H:%M:%S", time.gmtime(since))
            assert bob[5] == "0:00:00"

            # The call ends and alice is in wrap-up: seen at the next command.
            api.runner("call_ended", "c1")
            agents = await run("show agents")
            alice = next(line for line in agents.splitlines() if line.startswith("alice")).split()
            assert alice[1] == "WRAP_UP" and alice[-3:] == ["1", "c1", "(sales)"]

            # The api service stops (a reload): the console says the CTI is not running.
            await api.stop(StopReason.RELOAD)
            peers.pop("api")
            assert NOT_RUNNING in await run("show queues")
            assert NOT_RUNNING in await run("show agents")
        finally:
            term.close()
            await console.stop(StopReason.SHUTDOWN)
            if "api" in peers:
                await api.stop(StopReason.SHUTDOWN)
            await cti.stop(StopReason.SHUTDOWN)
            pty.close()

    asyncio.run(scenario())


def test_a_box_without_a_contact_center_says_so(tmp_path):
    async def scenario():
        pty = PtyPair()
        config = box_config(pty.slave_path, with_center=False)
        ctx = ServiceContext(config, LoopClock(), EventBus(), str(tmp_path), services={})
        console, term, run = await console_session(ctx, pty)
        try:
            out = await run("show queues")
            assert NOT_RUNNING in out
            out = await run("show ?")
            assert "queues" in out and "agents" in out
        finally:
            term.close()
            await console.stop(StopReason.SHUTDOWN)
            pty.close()

    asyncio.run(scenario())

"""`debug isdn q931` during a call: libpri (network) calls our Q.931 user side over LAPD; the
console, logged in with the debug on, shows every message decoded, live."""

import asyncio
import socket

from runtime.bus import EventBus
from runtime.clock import LoopClock
from firmware.console.isdn_debug import q931_tracer
from firmware.console.services import StandaloneServices
from firmware.console.session import ConsoleSession
from firmware.console.testing import PtyPair, Terminal
from firmware.console.transport import SerialConsole
from firmware.console.users import UserStore
from firmware.isdn.dchannel import DChannel
from firmware.isdn.lapd import Lapd, Role
from firmware.isdn.q931.events import IncomingCall, Released
from firmware.isdn.q931.link import Q931Link


async def next_event(link, kind, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        while (event := link.next_event()) is not None:
            if isinstance(event, kind):
                return event
        await asyncio.sleep(0.005)
    raise AssertionError(f"no {kind.__name__} within {timeout} s")


def test_debug_isdn_q931_shows_a_call_live(tmp_path):
    from hil_tests.peers.libpri import LibpriPeer

    async def main():
        clock, bus = LoopClock(), EventBus()
        users = UserStore(None, cost={"n": 2 ** 10, "r": 8, "p": 1})
        users.set_password("admin", "admin password", role="admin")
        services = StandaloneServices(bus=bus, clock=clock, upload_dir=tmp_path, hostname="gw")
        pty = PtyPair()
        console = SerialConsole(pty.slave_path, lambda p, w: ConsoleSession(
            services, users, pending_output=p, wakeup=w), clock=clock)
        console.start()
        term = Terminal(pty.master_fd, asyncio.get_running_loop())
        link = Q931Link("user", trace=q931_tracer(bus, clock, "Se0:15"))
        ours, far = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        peer = LibpriPeer(far, "network")
        peer.start()
        dchannel = DChannel(Lapd(Role("user")), ours, clock, layer3=link)
        try:
            await term.expect("Username: ")
            term.send("admin\radmin password\r")
            await term.expect("gw#")
            term.send("debug isdn q931\r")
            await term.expect("ISDN Q931 packets debugging is on\r\ngw#")
            dchannel.establish()
            await peer.wait_for("dchannel_up")
            peer.call("15881234", calling="0212345678", channel=1)
            incoming = await next_event(link, IncomingCall)
            for action in (link.proceed, link.alert, link.answer):
                action(incoming.call_id, clock.now())
            dchannel.service()
            await peer.wait_for("answer")
            link.disconnect(incoming.call_id, clock.now())
            dchannel.service()
            await next_event(link, Released)
            out = await term.expect(r"TX -> RELEASE_COMP pd = 8  callref = 0x8001\r\ngw#")
            for message in ("RX <- SETUP", "TX -> CALL_PROC", "TX -> ALERTING",
                            "TX -> CONNECT", "RX <- CONNECT_ACK", "TX -> DISCONNECT",
                            "RX <- RELEASE"):
                assert f"ISDN Se0:15: {message} pd = 8" in out, message
            assert "Called Party Number i = 0x" in out and "'15881234'" in out
            assert "Calling Party Number i = 0x" in out and "'0212345678'" in out
            assert out.count("\r\ngw#") >= 7            # the prompt comes back after each block
            term.send("undebug all\r")
            await term.expect("turned off\r\ngw#")
        finally:
            dchannel.close()
            peer.close()
            far.close()
            term.close()
            console.close()
            pty.close()
    asyncio.run(main())

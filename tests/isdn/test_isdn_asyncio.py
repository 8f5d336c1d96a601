"""Q931Link as the layer 3 of lapd's asyncio DChannel adapter: our user and network sides over a
socketpair on a virtual-time loop, so the T309 outage below takes no wall time."""

import asyncio
import socket

from runtime.clock import LoopClock, virtual_time_loop
from firmware.isdn.dchannel import DChannel
from firmware.isdn.lapd import Lapd, Role
from firmware.isdn.q931.events import Answered, IncomingCall, Released
from firmware.isdn.q931.link import Q931Link


async def event(link, kind, seen, timeout=30.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        while (ev := link.next_event()) is not None:
            seen.append(ev)
        for i, ev in enumerate(seen):
            if isinstance(ev, kind):
                return seen.pop(i)
        assert loop.time() < deadline, f"no {kind.__name__}; saw {seen}"
        await asyncio.sleep(0.01)


async def scenario():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    clock = LoopClock()
    user, net = Q931Link("user"), Q931Link("network")
    du = DChannel(Lapd(Role.USER), a, clock, layer3=user)
    dn = DChannel(Lapd(Role.NETWORK), b, clock, layer3=net)
    seen_u, seen_n = [], []
    try:
        du.establish()
        dn.establish()
        while not (user.dl_up and net.dl_up):
            await asyncio.sleep(0.01)
        cid = user.setup("15881234", clock.now(), calling="0212345678")
        du.service()
        inc = await event(net, IncomingCall, seen_n)
        net.proceed(inc.call_id, clock.now())
        net.answer(inc.call_id, clock.now())
        dn.service()
        await event(user, Answered, seen_u)
        # A 3 s layer-1 alarm: both sides keep the call on T309 and confirm it with STATUS after.
        start = clock.now()
        du.layer1_changed(False)
        dn.layer1_changed(False)
        await asyncio.sleep(3)
        du.layer1_changed(True)
        dn.layer1_changed(True)
        while not (user.dl_up and net.dl_up):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        assert user.state_of(cid) == 10 and net.state_of(inc.call_id) == 10
        # A 10 s alarm outlasts T309 (6 s): both sides clear with cause 27.
        du.layer1_changed(False)
        dn.layer1_changed(False)
        assert (await event(user, Released, seen_u)).cause == 27
        assert (await event(net, Released, seen_n)).cause == 27
        return clock.now() - start
    finally:
        du.close()
        dn.close()
        a.close()
        b.close()


def test_q931_over_the_asyncio_dchannel_keeps_calls_through_an_outage():
    loop = virtual_time_loop()
    try:
        virtual_seconds = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert 9 < virtual_seconds < 12

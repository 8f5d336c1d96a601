"""`pribox call`: one call between our Q.931 stack and libpri (the other role, in this process),
over LAPD on a socketpair, with a live `debug isdn q931` trace of every message.

    pribox call                         # libpri network calls our user side; we answer, then clear
    pribox call --direction out         # we call libpri
    pribox call --role network --busy   # we are the network; the call is refused with cause 17
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

from runtime.clock import LoopClock
from firmware.isdn.dchannel import DChannel
from firmware.isdn.lapd import Lapd, Role
from firmware.isdn.pcap import PcapWriter
from firmware.isdn.q931.causes import cause_name
from firmware.isdn.q931.events import Answered, IncomingCall, Released
from firmware.isdn.q931.link import Q931Link


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", choices=["user", "network"], default="user", help="our side (default user)")
    parser.add_argument("--direction", choices=["in", "out"], default="in",
                        help="in: libpri calls us (default); out: we call libpri")
    parser.add_argument("--busy", action="store_true", help="the called side refuses with cause 17 (user busy)")
    parser.add_argument("--hold", type=float, default=0.5, help="seconds the answered call lasts (default 0.5)")
    parser.add_argument("--pcap", metavar="FILE", help="also write every D-channel frame to FILE (LINUX_LAPD)")


async def _ours(link: Q931Link, kind, timeout: float = 5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        while (ev := link.next_event()) is not None:
            if isinstance(ev, kind):
                return ev
        await asyncio.sleep(0.005)
    raise TimeoutError(f"our Q.931 gave no {kind.__name__} within {timeout} s")


async def _run(args: argparse.Namespace) -> int:
    from hil_tests.peers.libpri import LibpriPeer

    clock = LoopClock()
    link = Q931Link(args.role, trace=lambda block: print(block, flush=True))
    sock, far = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    peer = LibpriPeer(far, "user" if args.role == "network" else "network")
    peer.start()
    pcap = PcapWriter(args.pcap, network_side=args.role == "network") if args.pcap else None
    dc = DChannel(Lapd(Role(args.role)), sock, clock, layer3=link, pcap=pcap)
    try:
        dc.establish()
        await peer.wait_for("dchannel_up")
        while not link.dl_up:
            await asyncio.sleep(0.005)
        print(f"ISDN Se0:15: D-channel up, we are the {args.role} side", flush=True)
        if args.direction == "in":
            peer.call("15881234", calling="0212345678", channel=1, redirecting="07012345678", redirecting_reason=15)
            inc = await _ours(link, IncomingCall)
            if args.busy:
                link.disconnect(inc.call_id, clock.now(), 17)
                dc.service()
                await peer.wait_for("hangup")
            else:
                for action in (link.proceed, link.alert, link.answer):
                    action(inc.call_id, clock.now())
                dc.service()
                await peer.wait_for("answer")
                await asyncio.sleep(args.hold)
                link.disconnect(inc.call_id, clock.now())
                dc.service()
            released = await _ours(link, Released)
        else:
            call_id = link.setup("0212345678", clock.now(), calling="15881234", timeslot=1)
            dc.service()
            ring = await peer.wait_for("ring")
            if args.busy:
                peer.proceeding(ring.call)
                peer.hangup(ring.call, 17)
            else:
                peer.proceeding(ring.call)
                peer.alerting(ring.call)
                peer.answer(ring.call)
                await _ours(link, Answered)
                await asyncio.sleep(args.hold)
                link.disconnect(call_id, clock.now())
                dc.service()
            released = await _ours(link, Released)
        await asyncio.sleep(0.05)
        print(f"ISDN Se0:15: call released, cause {released.cause} ({cause_name(released.cause)}); "
              f"B-channels {sum(s == 'idle' for s in link.channels.summary().values())}/30 idle", flush=True)
        return 0
    finally:
        dc.close()
        if pcap is not None:
            pcap.close()
        peer.close()
        far.close()


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except (TimeoutError, RuntimeError) as exc:
        print(f"pribox call: {exc}", file=sys.stderr)
        return 1

"""`pribox dchannel`: bring up our LAPD on a D-channel and show what happens on it.

By default the far end is libpri in this process (the other role), over a socketpair; with
--connect the D-channel is a span's exported socket.  Every frame can go to a pcap file
(LINUX_LAPD, for Wireshark), and with --call libpri places a call so I frames flow.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

from runtime.clock import LoopClock
from firmware.isdn.dchannel import DChannel, connect_unix
from firmware.isdn.lapd import DlData, DlError, DlEstablished, DlReleased, Lapd, LapdTimers, Role
from firmware.isdn.pcap import PcapWriter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", choices=["user", "network"], default="user", help="our side of the link (default user)")
    parser.add_argument("--connect", metavar="PATH", help="a span's D-channel socket instead of an in-process libpri")
    parser.add_argument("--pcap", metavar="FILE", help="write every frame to FILE (pcap, LINUX_LAPD)")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to run (default 3)")
    parser.add_argument("--t203", type=float, default=1.0, help="idle keepalive timer T203 in seconds (default 1)")
    parser.add_argument("--call", action="store_true", help="have libpri place a call once the link is up")


def _say(clock: LoopClock, start: float, text: str) -> None:
    print(f"{clock.now() - start:8.3f}  {text}", flush=True)


async def _run(args: argparse.Namespace) -> int:
    clock = LoopClock()
    start = clock.now()
    role = Role(args.role)
    peer = None
    if args.connect:
        sock = connect_unix(args.connect)
        far = None
    else:
        from hil_tests.peers.libpri import LibpriPeer
        sock, far = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        peer = LibpriPeer(far, "user" if role is Role.NETWORK else "network", timers={"T203": int(args.t203 * 1000)})
        peer.start()
    pcap = PcapWriter(args.pcap, network_side=role is Role.NETWORK) if args.pcap else None
    dc = DChannel(Lapd(role, LapdTimers(t203=args.t203)), sock, clock, pcap=pcap)
    _say(clock, start, f"our LAPD ({role.value} side) asks for the link")
    dc.establish()
    deadline = start + args.seconds
    called = False
    try:
        while (left := deadline - clock.now()) > 0:
            try:
                ev = await asyncio.wait_for(dc.events.get(), min(left, 0.25))
            except asyncio.TimeoutError:
                ev = None
            if isinstance(ev, DlEstablished):
                _say(clock, start, "D-channel UP (multiple frame established)")
                if args.call and peer is not None and not called:
                    called = True
                    peer.call("15881234", calling="0212345678", channel=1)
                    _say(clock, start, "libpri sends SETUP")
            elif isinstance(ev, DlReleased):
                _say(clock, start, "D-channel DOWN")
            elif isinstance(ev, DlData):
                _say(clock, start, f"I frame in: {ev.payload.hex(' ')}")
            elif isinstance(ev, DlError):
                _say(clock, start, f"MDL-ERROR {ev.code}: {ev.description}")
        counters = " ".join(f"{k}={v}" for k, v in sorted(dc.lapd.counters.items()))
        _say(clock, start, f"state {dc.lapd.state}; {counters}")
        if pcap is not None:
            _say(clock, start, f"{pcap.records} frames written to {args.pcap}")
        return 0 if dc.lapd.established else 1
    finally:
        dc.close()
        if pcap is not None:
            pcap.close()
        if peer is not None:
            peer.close()
        if far is not None:
            far.close()


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except ConnectionError as exc:
        print(f"pribox dchannel: {exc}", file=sys.stderr)
        return 2

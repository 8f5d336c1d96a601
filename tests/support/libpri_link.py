"""Shared by the libpri interop and pcap tests: our DChannel and a libpri peer joined by a
cuttable line, on a real asyncio loop."""

import contextlib

import pytest

from firmware.isdn.dchannel import DChannel
from firmware.isdn.lapd import DlEstablished, Lapd, LapdTimers, Role
from hil_tests.peers.libpri import LibpriPeer
from hil_tests.peers.line import CuttableLine

PAIRINGS = [pytest.param(Role.USER, "network", id="libpri-network-vs-our-user"),
            pytest.param(Role.NETWORK, "user", id="our-network-vs-libpri-user")]

# Q.931 answers to libpri's SETUP on B-channel 1 (call reference flag set: we are the called side).
CHANNEL_1 = bytes.fromhex("1803a98381")


def q931(message_type: int, cref: int, body: bytes = b"") -> bytes:
    return bytes([0x08, 0x02, 0x80 | (cref >> 8), cref & 0xFF, message_type]) + body


@contextlib.asynccontextmanager
async def link(our_role: Role, peer_role: str, *, our_timers: LapdTimers, peer_timers: dict, pcap=None):
    line = CuttableLine()
    line.start()
    peer = LibpriPeer(line.far, peer_role, timers=peer_timers)
    peer.start()
    dchannel = DChannel(Lapd(our_role, our_timers), line.near, pcap=pcap)
    dchannel.establish()
    try:
        await dchannel.wait_for(DlEstablished, timeout=3)
        await peer.wait_for("dchannel_up", timeout=3)
        yield dchannel, peer, line
    finally:
        dchannel.close()
        peer.close()
        line.close()
        line.far.close()



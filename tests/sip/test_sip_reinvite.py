"""Re-INVITE, hold and late offer against SIPp as the carrier, on 127.0.0.1 in real time, the
box's IVR answering.  The carrier's RTP ends are the test's own sockets, so what the box's RTP
leg sends is seen packet by packet:
- re-INVITE to a new RTP port: the leg sends there from the next packet, its stream unbroken (the
  sequence follows on: no audio lost at the change), and takes the new end's packets;
- hold (sendonly offered -> recvonly answered): the leg stops sending; resume: it sends again;
- late offer (an INVITE without SDP): the box offers in its 200, the ACK's answer says where to
  send, and the greeting flows there.  About 6 s and 3 s."""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
import time
from pathlib import Path

from firmware.sip import events as sip
from tests.sip.live_box import LiveBox, free_port, until
from tests.support.sip_pbx import SIP070

SCENARIOS = Path(__file__).parent / "sipp"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"       # APT_PACKAGES: sip-tester


class FarRtp(asyncio.DatagramProtocol):
    """One RTP address of the carrier: every packet the box sends here, with its arrival time;
    with `echo`, each is sent back (so the box's leg receives from this address)."""

    def __init__(self, echo: bool = False):
        self.echo = echo
        self.packets: list[tuple[float, int, int, int, int]] = []    # (time, marker, seq, ts, ssrc)
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) < 12 or 200 <= data[1] <= 204:
            return          # RTCP
        _, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
        self.packets.append((time.monotonic(), b1 >> 7, seq, ts, ssrc))
        if self.echo:
            self.transport.sendto(b"\x80\x08" + data[2:8] + b"\x00\x00\x5e\xed" + data[12:], addr)


async def far_rtp(echo: bool = False) -> tuple[FarRtp, int]:
    loop = asyncio.get_running_loop()
    port = free_port(spacing=2) // 2 * 2 + 2
    _, protocol = await loop.create_datagram_endpoint(lambda: FarRtp(echo), local_addr=("127.0.0.1", port))
    return protocol, port


async def run_sipp(scenario: Path, box_port: int, own_port: int) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        SIPP, "-sf", str(scenario), "-s", "07012345678", "-m", "1", "-i", "127.0.0.1", "-p", str(own_port),
        "-mi", "127.0.0.1", "-mp", str(free_port(spacing=4)), "-timeout", "20s", "-nostdin", "-trace_err",
        f"127.0.0.1:{box_port}", cwd=scenario.parent,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 25)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, err.decode(errors="replace")


def scenario_file(tmp_path: Path, name: str, **ports: int) -> Path:
    text = (SCENARIOS / name).read_text()
    for key, port in ports.items():
        text = text.replace(key, str(port))
    path = tmp_path / name
    path.write_text(text)
    return path


def carrier_trunk(carrier_port: int) -> str:
    return SIP070.replace('host = "127.0.0.2"', f'host = "127.0.0.1"\nport = {carrier_port}')


def test_reinvite_moves_the_rtp_leg_without_a_gap_and_hold_stops_and_resume_restarts_it(tmp_path):
    carrier_port = free_port()

    async def scenario():
        first, first_port = await far_rtp()
        second, second_port = await far_rtp(echo=True)
        path = scenario_file(tmp_path, "uac_reinvite.xml", FIRST_RTP_PORT=first_port, SECOND_RTP_PORT=second_port)
        async with LiveBox(tmp_path, carrier_trunk(carrier_port)) as box:
            stats = {}

            async def watch():
                while True:
                    for leg in box.handler.legs.media.values():
                        stats.update(leg.stats(), remote=tuple(leg.session.remote))
                    await asyncio.sleep(0.05)

            watcher = asyncio.ensure_future(watch())
            try:
                result = await run_sipp(path, box.port, carrier_port)
                await until(lambda: box.ended, 3, "the call's end")
            finally:
                watcher.cancel()
        first.transport.close()
        second.transport.close()
        return result, first.packets, second.packets, stats, box, second_port

    (rc, err), at_first, at_second, stats, box, second_port = asyncio.run(scenario())
    assert rc == 0, err
    changes = [e for e in box.sip_events if isinstance(e, sip.MediaChanged)]
    assert [c.media.remote_port for c in changes] == [second_port] * 3
    assert [c.held for c in changes] == [False, True, False]
    # the move: the greeting went to the first port, then to the second, one stream with no gap
    assert len(at_first) > 35 and len(at_second) > 50
    last, following = at_first[-1], at_second[0]
    assert following[4] == last[4] and following[2] == (last[2] + 1) & 0xFFFF
    assert following[1] == 1                                        # marked: a new talkspurt for the new end
    assert following[0] - last[0] < 0.1                              # no pause in the audio either
    assert stats["remote"] == ("127.0.0.1", second_port)
    assert stats["packets_received"] > 20 and stats["lost"] == 0     # the new end's packets are taken
    # hold: a silence of about the hold's length on the second port, then the stream again
    gaps = [(b[0] - a[0], a, b) for a, b in zip(at_second, at_second[1:])]
    longest, before, after = max(gaps)
    assert 0.7 < longest < 1.7, longest
    assert after[1] == 1 and after[4] == before[4]                  # resumed: marked, same stream
    assert after[3] - before[3] >= 8000 * 0.7                        # its timestamps ran on through the hold
    summary = box.ended[0].summary
    assert summary["trunk"] == "sip070" and summary["cleared_by"] == "caller"


def test_an_invite_without_sdp_gets_the_offer_in_the_200_and_the_answer_in_the_ack_is_used(tmp_path):
    carrier_port = free_port()

    async def scenario():
        far, far_port = await far_rtp()
        path = scenario_file(tmp_path, "uac_late_offer.xml", FIRST_RTP_PORT=far_port)
        async with LiveBox(tmp_path, carrier_trunk(carrier_port)) as box:
            result = await run_sipp(path, box.port, carrier_port)
            await until(lambda: box.ended, 3, "the call's end")
        far.transport.close()
        return result, far.packets, box

    (rc, err), packets, box = asyncio.run(scenario())
    assert rc == 0, err                       # SIPp checked the offer in the 200: PCMA and telephone-event
    incoming = next(e for e in box.sip_events if isinstance(e, sip.IncomingCall))
    assert incoming.offer is None
    answer = next(e for e in box.sip_events if isinstance(e, sip.MediaChanged))
    assert answer.media.codec == "PCMA" and answer.media.telephone_event_pt == 101
    assert len(packets) > 60                  # the greeting, about 2 s of it, at the ACK's address
    assert packets[0][1] == 1
    summary = box.ended[0].summary
    assert summary["trunk"] == "sip070" and summary["ivr_path"][:1] == ["greeting"]

"""The softphone's audio between the browser's peer connection (aiortc) and the box's RTP leg.

Both ways the G.711 octets pass untouched.  Toward the browser each RTP payload of the box's leg
becomes an `av.Packet` that aiortc's sender packs as is (no decode, no encode) before SRTP.
From the browser, each RTP packet aiortc has taken out of SRTP is forwarded at once (`forward`)
with its sequence number and timestamp, so the leg's own jitter buffer does the smoothing.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import random
import socket
import struct
from collections import deque

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger("pribox.webrtc")

TIME_BASE = fractions.Fraction(1, 8000)
STATIC_PT = {"PCMA": 8, "PCMU": 0}
QUEUE_PACKETS = 50          # 1 s of 20 ms packets toward the browser; older ones are dropped


def parse_rtp(data: bytes) -> tuple[int, int, bytes] | None:
    """(payload type, timestamp, payload) of an RTP datagram, or None for what is not RTP
    version 2 or is cut short (RFC 3550 5.1)."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    first, second, _seq, timestamp = struct.unpack_from("!BBHI", data)
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if first & 0x20:
        end -= data[-1]
    if offset >= end:
        return None
    return second & 0x7F, timestamp, data[offset:end]


class BoxAudioTrack(MediaStreamTrack):
    """What the box's leg sends, as a track aiortc sends to the browser (payloads untouched)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._packets: deque[av.Packet] = deque(maxlen=QUEUE_PACKETS)
        self._ready = asyncio.Event()
        self._origin: int | None = None
        self.dropped = 0

    def push(self, payload: bytes, timestamp: int) -> None:
        if self._origin is None:
            self._origin = timestamp
        if len(self._packets) == self._packets.maxlen:
            self.dropped += 1
        packet = av.Packet(payload)
        packet.pts = (timestamp - self._origin) & 0xFFFFFFFF
        packet.time_base = TIME_BASE
        self._packets.append(packet)
        self._ready.set()

    async def recv(self) -> av.Packet:
        while not self._packets:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        return self._packets.popleft()

    def stop(self) -> None:
        super().stop()
        self._ready.set()


class _LegProtocol(asyncio.DatagramProtocol):
    def __init__(self, relay: "RtpRelay"):
        self.relay = relay

    def datagram_received(self, data: bytes, addr) -> None:
        self.relay._from_box(data, addr)

    def error_received(self, exc: Exception) -> None:   # the leg is not there (yet): ICMP
        self.relay.send_errors += 1


class RtpRelay:
    """One plain RTP socket toward the box's leg, bound on `host`; the browser's side is a
    `BoxAudioTrack` (to the browser) and `pump(track)` (from it)."""

    def __init__(self, codec: str = "PCMA"):
        if codec not in STATIC_PT:
            raise ValueError(f"codec: expected PCMA or PCMU (G.711 in the trunk's law), got {codec!r}")
        self.codec = codec
        self.track = BoxAudioTrack()
        self.transport: asyncio.DatagramTransport | None = None
        self._rtcp: socket.socket | None = None
        self.remote: tuple[str, int] | None = None
        self.remote_pt = STATIC_PT[codec]
        self.local: tuple[str, int] | None = None
        rng = random.SystemRandom()
        self._ssrc = rng.getrandbits(32)
        self.talking = False          # the browser's audio goes to the box only in an answered call
        self.counters = {"from_box": 0, "to_box": 0, "not_rtp": 0, "foreign": 0, "other_payload": 0}
        self.send_errors = 0

    async def open(self, host: str) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(32):      # an even port with the next one free for RTCP (RFC 3550 11)
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.bind((host, 0))
            port = sock.getsockname()[1]
            rtcp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                if port % 2:
                    raise OSError("odd port")
                rtcp.bind((host, port + 1))
            except OSError:
                sock.close()
                rtcp.close()
                continue
            sock.setblocking(False)
            self._rtcp = rtcp      # held so the box's RTCP finds a port; what arrives is not read
            self.transport, _ = await loop.create_datagram_endpoint(lambda: _LegProtocol(self), sock=sock)
            self.local = (host, port)
            return self.local
        raise OSError(f"no even RTP port pair free on {host}")

    def connect(self, remote: tuple[str, int], payload_type: int | None = None) -> None:
        """Where the box's leg is (its SDP), and the payload type it uses for our codec."""
        self.remote = (remote[0], int(remote[1]))
        if payload_type is not None:
            self.remote_pt = payload_type

    def disconnect(self) -> None:
        self.remote = None
        self.talking = False

    def _from_box(self, data: bytes, addr) -> None:
        if self.remote is None or tuple(addr[:2]) != self.remote:
            self.counters["foreign"] += 1      # only the leg the SDP named is heard
            return
        parsed = parse_rtp(data)
        if parsed is None:
            self.counters["not_rtp"] += 1
            return
        payload_type, timestamp, payload = parsed
        if payload_type != self.remote_pt:
            self.counters["other_payload"] += 1     # telephone-event, comfort noise: not for the page
            return
        self.counters["from_box"] += 1
        self.track.push(payload, timestamp)

    def forward(self, sequence: int, timestamp: int, marker: bool, payload: bytes) -> None:
        """A payload from the browser (SRTP removed) to the box's leg, with the browser's own
        sequence and timing so the leg's jitter buffer sees the real arrival pattern."""
        if not self.talking or self.transport is None or self.remote is None:
            return
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | STATIC_PT[self.codec], sequence & 0xFFFF,
                             timestamp & 0xFFFFFFFF, self._ssrc)
        self.transport.sendto(header + payload, self.remote)
        self.counters["to_box"] += 1

    def close(self) -> None:
        self.track.stop()
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self._rtcp is not None:
            self._rtcp.close()
            self._rtcp = None

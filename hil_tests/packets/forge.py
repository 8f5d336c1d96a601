"""Faulty packets for the bench, forged with scapy, and a sender that plays them on the loopback
on a time schedule.

A stream is a list of scapy packets (IP/UDP/RTP) whose `.time` is when each should arrive.
Faults take a stream and return a new one (the input is left alone):

    stream = rtp_stream(100, ssrc=0x1234)
    faulty = with_jitter(reordered(duplicated(loss_burst(stream, 20, 5), [40]), 60, 2), [0.005] * 100)
    send_schedule(faulty, ("127.0.0.1", 30000))

Malformed packets (wrong version, truncated header, CSRC count past the end, RTCP garbage, SIP
cut short, oversized or split) are returned as the UDP payload bytes a box would receive.
"""

from __future__ import annotations

import ipaddress
import random
import socket
import struct
import time

from scapy.layers.inet import IP, UDP
from scapy.layers.rtp import RTP
from scapy.packet import Raw

BOX = "127.0.0.1"
PEER = "127.0.0.2"


def rtp_stream(count: int, *, ssrc: int = 0x1234ABCD, payload_type: int = 8, first_seq: int = 1000,
               first_timestamp: int = 16000, ptime: float = 0.020, clock_rate: int = 8000, payload_size: int = 160,
               start: float = 1_800_000_000.0, src: tuple[str, int] = (PEER, 40000),
               dst: tuple[str, int] = (BOX, 30000), payload_octet: int = 0xD5, marker_first: bool = True) -> list:
    """`count` RTP packets as a sender with a perfect clock sends them, arriving on time."""
    step = int(round(ptime * clock_rate))
    out = []
    for i in range(count):
        packet = (IP(src=src[0], dst=dst[0]) / UDP(sport=src[1], dport=dst[1])
                  / RTP(version=2, marker=int(marker_first and i == 0), payload_type=payload_type,
                        sequence=(first_seq + i) & 0xFFFF, timestamp=(first_timestamp + i * step) & 0xFFFFFFFF,
                        sourcesync=ssrc)
                  / Raw(bytes([payload_octet]) * payload_size))
        packet.time = start + i * ptime
        out.append(packet)
    return out


def _copy(packet):
    clone = packet.copy()
    clone.time = packet.time
    return clone


def loss_burst(stream: list, first: int, length: int) -> list:
    """The stream without packets first .. first+length-1 (a burst lost on the way)."""
    return [_copy(p) for i, p in enumerate(stream) if not first <= i < first + length]


def duplicated(stream: list, indices, delay: float = 0.001) -> list:
    """Each packet at an index in `indices` arrives a second time, `delay` later."""
    out = []
    for i, packet in enumerate(stream):
        out.append(_copy(packet))
        if i in set(indices):
            again = _copy(packet)
            again.time = packet.time + delay
            out.append(again)
    return sorted(out, key=lambda p: p.time)


def reordered(stream: list, index: int, distance: int) -> list:
    """The packet at `index` arrives after the `distance` packets that follow it."""
    out = [_copy(p) for p in stream]
    late = out.pop(index)
    after = out[index + distance - 1]
    late.time = after.time + 0.0001
    out.insert(index + distance, late)
    return out


def with_jitter(stream: list, delays) -> list:
    """Packet i arrives delays[i] seconds late (its send time is unchanged)."""
    out = []
    for packet, delay in zip(stream, delays):
        clone = _copy(packet)
        clone.time = packet.time + delay
        out.append(clone)
    return sorted(out, key=lambda p: p.time)


def random_delays(count: int, max_delay: float, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(0.0, max_delay) for _ in range(count)]


def wrong_ssrc_from(stream: list, index: int, ssrc: int) -> list:
    """From `index` on, the same flow carries another SSRC (a sender that restarted, or an attack)."""
    out = []
    for i, packet in enumerate(stream):
        clone = _copy(packet)
        if i >= index:
            clone[RTP].sourcesync = ssrc
        out.append(clone)
    return out


# -- malformed RTP, as received UDP payloads --------------------------------------------------

def rtp_bytes(packet) -> bytes:
    return bytes(packet[RTP])


def wrong_version(packet, version: int = 1) -> bytes:
    clone = _copy(packet)
    clone[RTP].version = version
    return rtp_bytes(clone)


def truncated_header(packet, keep: int = 8) -> bytes:
    """Fewer than the 12 fixed header octets."""
    if not 0 <= keep < 12:
        raise ValueError(f"keep {keep} must cut into the 12-octet RTP header (0..11)")
    return rtp_bytes(packet)[:keep]


def csrc_past_end(packet, count: int = 15) -> bytes:
    """A CSRC count whose list would run past the end of the packet."""
    raw = bytearray(rtp_bytes(packet)[:12 + 4])
    raw[0] = (raw[0] & 0xF0) | (count & 0x0F)
    return bytes(raw)


# -- RTCP garbage ------------------------------------------------------------------------------

RTCP_GARBAGE_KINDS = ("random", "length_past_end", "wrong_version", "short_sr", "unknown_type", "not_multiple_of_4")


def rtcp_garbage(kind: str, *, ssrc: int = 0x1234ABCD, seed: int = 7) -> bytes:
    """A packet on the RTCP port that is not valid RTCP, of the named kind."""
    if kind == "random":
        return random.Random(seed).randbytes(64)
    if kind == "length_past_end":
        return struct.pack(">BBHI", 0x80, 201, 50, ssrc)
    if kind == "wrong_version":
        return struct.pack(">BBHI", 0x40, 201, 1, ssrc)
    if kind == "short_sr":
        return struct.pack(">BBHI", 0x80, 200, 1, ssrc)
    if kind == "unknown_type":
        return struct.pack(">BBHI", 0x80, 199, 1, ssrc)
    if kind == "not_multiple_of_4":
        return struct.pack(">BBHI", 0x80, 201, 1, ssrc) + b"\x00\x01\x02"
    raise ValueError(f"unknown RTCP garbage kind {kind!r}; one of {', '.join(RTCP_GARBAGE_KINDS)}")


# -- SIP over UDP --------------------------------------------------------------------------------

def sip_invite(call_id: str = "forge-1", *, to: str = "100", host: str = BOX, body: bytes = b"") -> bytes:
    head = (f"INVITE sip:{to}@{host} SIP/2.0\r\nVia: SIP/2.0/UDP {PEER}:5060;branch=z9hG4bK{call_id}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:bench@{PEER}>;tag=f1\r\nTo: <sip:{to}@{host}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:bench@{PEER}:5060>\r\n")
    if body:
        head += "Content-Type: application/sdp\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def sip_cut_short(message: bytes, keep: int) -> bytes:
    """The first `keep` octets only: a datagram truncated on the way."""
    if not 0 < keep < len(message):
        raise ValueError(f"keep {keep} must be 1..{len(message) - 1} to cut the message short")
    return message[:keep]


def sip_oversized(message: bytes, size: int = 4000) -> bytes:
    """The message padded with a long header to `size` octets: over the 1300-octet UDP bound of
    RFC 3261 18.1.1 (and the path MTU), which the sender should have sent over TCP."""
    head, sep, body = message.partition(b"\r\n\r\n")
    room = size - len(message) - len(b"\r\nX-Padding: ")
    if room < 1:
        raise ValueError(f"size {size} is not larger than the message ({len(message)} octets)")
    return head + b"\r\nX-Padding: " + b"x" * room + sep + body


def sip_split(message: bytes, parts: int) -> list[bytes]:
    """One message sent as `parts` datagrams (a sender that treats UDP as a stream)."""
    if not 2 <= parts <= len(message):
        raise ValueError(f"parts {parts} must be 2..{len(message)}")
    size = -(-len(message) // parts)
    return [message[i:i + size] for i in range(0, len(message), size)]


# -- sending ----------------------------------------------------------------------------------

def send_schedule(items, destination: tuple[str, int], *, source_port: int = 0, speed: float = 1.0,
                  clock=time.monotonic, sleep=time.sleep) -> list[float]:
    """Send each item's UDP payload to `destination` (loopback only) at its `.time` relative to
    the first one (`speed` 2.0 plays twice as fast).  Items are scapy packets with an RTP/UDP
    layer, or (time, bytes) pairs.  Returns the clock readings at which each was sent."""
    host, port = destination
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"destination {host} is not a loopback address; the forger sends on the loopback only")
    schedule = []
    for item in items:
        if isinstance(item, tuple):
            schedule.append((float(item[0]), bytes(item[1])))
        else:
            schedule.append((float(item.time), bytes(item[UDP].payload)))
    if not schedule:
        return []
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sent_at = []
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", source_port))
        origin = schedule[0][0]
        began = clock()
        for when, payload in schedule:
            due = began + (when - origin) / speed
            wait = due - clock()
            if wait > 0:
                sleep(wait)
            sock.sendto(payload, (host, port))
            sent_at.append(clock())
    return sent_at


def as_pairs(stream: list) -> list[tuple[float, bytes]]:
    """(arrival time, UDP payload) of each packet, for mixing with malformed payloads."""
    return [(float(p.time), bytes(p[UDP].payload)) for p in stream]


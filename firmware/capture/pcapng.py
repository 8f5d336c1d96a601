"""pcapng blocks for the box's captures: one interface per kind of traffic.

D-channel frames go on a LINKTYPE_LINUX_LAPD (177) interface with the 16-octet pseudo header
firmware/isdn/pcap.py writes; SIP and RTP/RTCP go on LINKTYPE_RAW (101) interfaces as real IPv4
or IPv6 packets with UDP (or TCP for SIP over TCP) headers and correct checksums.

Speed comes from preformatting: each flow's fixed header words and the checksum sum of its
addresses and ports are computed once; per packet only lengths, the IP identification and the
payload's sum change.  The payload's ones'-complement sum is `int.from_bytes(...) % 0xFFFF`,
one C-level operation (2**16 is 1 modulo 0xFFFF, so the number is congruent to the sum of its
16-bit words, RFC 1071).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

LINKTYPE_RAW = 101
LINKTYPE_LINUX_LAPD = 177

_SHB = 0x0A0D0D0A
_IDB = 0x00000001
_EPB = 0x00000006
_BYTE_ORDER_MAGIC = 0x1A2B3C4D
_OPT_END = 0
_OPT_COMMENT = 1
_IF_NAME = 2
_IF_DESCRIPTION = 3
_IF_TSRESOL = 9
_SHB_USERAPPL = 4
_EPB_FLAGS = 2
# epb_flags bits 0-1: 01 inbound, 10 outbound.
_FLAGS_OPTION = {False: struct.pack("<HHI", _EPB_FLAGS, 4, 1), True: struct.pack("<HHI", _EPB_FLAGS, 4, 2)}
_END_OF_OPTIONS = struct.pack("<HH", _OPT_END, 0)
_EPB_HEAD = struct.Struct("<IIIIIII")
_EPB_TRAILER_LEN = 8 + 4 + 4    # flags option, end of options, trailing block length

# The LINUX_LAPD pseudo header (see firmware/isdn/pcap.py).
LAPD_RECEIVED = 0
LAPD_SENT = 4
_LAPD_HEADER = struct.Struct(">HHH8sH")
_ETH_P_LAPD = 0x0030

PROTO_UDP = 17
PROTO_TCP = 6
_TCP_PSH_ACK = 0x18


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + bytes(-len(value) % 4)


def _block(block_type: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def section_header(application: str) -> bytes:
    body = struct.pack("<IHHq", _BYTE_ORDER_MAGIC, 1, 0, -1)
    body += _option(_SHB_USERAPPL, application.encode()) + _END_OF_OPTIONS
    return _block(_SHB, body)


def interface_description(linktype: int, name: str, description: str, snaplen: int = 0) -> bytes:
    """An IDB with nanosecond timestamps (if_tsresol 9)."""
    body = struct.pack("<HHI", linktype, 0, snaplen)
    body += _option(_IF_NAME, name.encode()) + _option(_IF_DESCRIPTION, description.encode())
    body += _option(_IF_TSRESOL, b"\x09") + _END_OF_OPTIONS
    return _block(_IDB, body)


def enhanced_packet(interface: int, timestamp_ns: int, data: bytes, outbound: bool) -> bytes:
    """One EPB with its direction in epb_flags."""
    n = len(data)
    pad = -n % 4
    total = 28 + n + pad + _EPB_TRAILER_LEN
    return b"".join((
        _EPB_HEAD.pack(_EPB, total, interface, timestamp_ns >> 32, timestamp_ns & 0xFFFFFFFF, n, n),
        data, bytes(pad), _FLAGS_OPTION[outbound], _END_OF_OPTIONS, struct.pack("<I", total),
    ))


def lapd_pseudo_header(sent: bool, network_side: bool) -> bytes:
    address = bytes([1 if network_side else 0]) + bytes(7)
    return _LAPD_HEADER.pack(LAPD_SENT if sent else LAPD_RECEIVED, 0, 0, address, _ETH_P_LAPD)


LAPD_HEADERS = {(sent, side): lapd_pseudo_header(sent, side) for sent in (False, True) for side in (False, True)}


def _checksum(total: int) -> int:
    """The 16-bit ones'-complement checksum of a sum of 16-bit words."""
    folded = total % 0xFFFF
    return 0xFFFF - folded if folded else 0


def _words_sum(data: bytes) -> int:
    if len(data) & 1:
        data += b"\x00"
    return int.from_bytes(data, "big") % 0xFFFF


@dataclass(frozen=True, slots=True)
class Flow:
    """One direction of a UDP or TCP conversation: addresses as text, ports, transport."""

    src: str
    sport: int
    dst: str
    dport: int
    transport: str = "udp"     # "udp" or "tcp"

    def reversed(self) -> "Flow":
        return Flow(self.dst, self.dport, self.src, self.sport, self.transport)


class FlowFormatter:
    """Preformatted IP and UDP/TCP headers of one flow; `packet(payload)` is the IP packet."""

    __slots__ = ("_v6", "_proto", "_ip_sum", "_pseudo_sum", "_ports", "_ident", "_src", "_dst",
                 "seq", "peer")

    def __init__(self, flow: Flow):
        src, dst = ipaddress.ip_address(flow.src), ipaddress.ip_address(flow.dst)
        if src.version != dst.version:
            raise ValueError(f"flow {flow.src} -> {flow.dst} mixes IPv{src.version} and IPv{dst.version}")
        for name, port in (("source port", flow.sport), ("destination port", flow.dport)):
            if not 0 <= port <= 65535:
                raise ValueError(f"{name} {port} is not 0..65535")
        if flow.transport not in ("udp", "tcp"):
            raise ValueError(f"transport {flow.transport!r} is not udp or tcp")
        self._v6 = src.version == 6
        self._proto = PROTO_TCP if flow.transport == "tcp" else PROTO_UDP
        self._src, self._dst = src.packed, dst.packed
        self._ports = struct.pack(">HH", flow.sport, flow.dport)
        addresses = self._src + self._dst
        self._pseudo_sum = _words_sum(addresses) + self._proto + _words_sum(self._ports)
        if not self._v6:
            # version/IHL, don't-fragment, TTL, protocol and addresses; length, id and checksum vary.
            self._ip_sum = 0x4500 + 0x4000 + (64 << 8 | self._proto) + _words_sum(addresses)
        self._ident = 0
        self.seq = 1            # TCP: next sequence number of this direction
        self.peer: FlowFormatter | None = None

    def packet(self, payload: bytes) -> bytes:
        if self._proto == PROTO_UDP:
            length = 8 + len(payload)
            # A computed 0 goes out as 0xFFFF: 0 means 'no checksum' in UDP (RFC 768).
            checksum = _checksum(self._pseudo_sum + length + length + _words_sum(payload)) or 0xFFFF
            transport = self._ports + struct.pack(">HH", length, checksum)
        else:
            length = 20 + len(payload)
            ack = self.peer.seq if self.peer is not None else 1
            fixed = struct.pack(">IIBBH", self.seq, ack, 5 << 4, _TCP_PSH_ACK, 65535)
            checksum = _checksum(self._pseudo_sum + length + _words_sum(fixed) + _words_sum(payload))
            transport = self._ports + fixed + struct.pack(">HH", checksum, 0)
            self.seq = (self.seq + len(payload)) & 0xFFFFFFFF
        if self._v6:
            return struct.pack(">IHBB", 0x60000000, len(transport) + len(payload), self._proto, 64) + \
                self._src + self._dst + transport + payload
        total = 20 + len(transport) + len(payload)
        self._ident = ident = (self._ident + 1) & 0xFFFF
        checksum = _checksum(self._ip_sum + total + ident)
        return struct.pack(">BBHHHBBH", 0x45, 0, total, ident, 0x4000, 64, self._proto, checksum) + \
            self._src + self._dst + transport + payload

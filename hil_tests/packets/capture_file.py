"""Read a capture (pcap or pcapng, ours or tcpdump's) into scapy packets with the interface,
time and direction of each: raw-IP interfaces (LINKTYPE_RAW 101, IPV4 228, IPV6 229) become
IP/IPv6 layers, LINUX_LAPD (177) becomes the 16-octet header and a LAPD layer."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import PcapNgReader, PcapReader

from .isdn_layers import LAPD

_RAW_IP = {101, 228, 229, 12, 14}


@dataclass
class CapturedPacket:
    interface: str          # pcapng interface name (if_name), or "" for classic pcap
    time: float
    outbound: bool | None   # from epb_flags (or the LAPD header); None when not recorded
    packet: Packet          # IP/IPv6, Ether, or LAPD (for D-channel frames)
    lapd_sent: bool | None = None
    lapd_network_side: bool | None = None


def _decode(linktype: int, raw: bytes) -> tuple[Packet, bool | None, bool | None]:
    if linktype == 177:
        pkttype, _, _, address, _ = struct.unpack_from(">HHH8sH", raw)
        return LAPD(raw[16:]), pkttype == 4, address[0] == 1
    if linktype in _RAW_IP:
        return (IPv6(raw) if raw[:1] and raw[0] >> 4 == 6 else IP(raw)), None, None
    if linktype == 1:
        return Ether(raw), None, None
    return Raw(raw), None, None


def read_capture(path) -> list[CapturedPacket]:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    out = []
    if magic == b"\x0a\x0d\x0d\x0a":
        with PcapNgReader(str(path)) as reader:
            # scapy keeps per-interface (linktype, tsresol, name) in its reader state.
            for record in reader:
                iface = getattr(record, "sniffed_on", None) or ""
                linktype = _linktypes(reader).get(iface, 1)
                packet, sent, side = _decode(linktype, bytes(record))
                packet.time = record.time      # the capture's time, so analyse() of these packets uses it
                direction = getattr(record, "direction", None)
                outbound = {1: False, 2: True}.get(direction) if direction is not None else sent
                out.append(CapturedPacket(iface, float(record.time), outbound, packet, sent, side))
        return out
    with PcapReader(str(path)) as reader:
        linktype = reader.linktype
        for record in reader:
            packet, sent, side = _decode(linktype, bytes(record))
            packet.time = record.time
            out.append(CapturedPacket("", float(record.time), sent, packet, sent, side))
    return out


def _linktypes(reader) -> dict[str, int]:
    found = {}
    for linktype, _, options in reader.interfaces:
        name = options.get("name", b"")
        found[name.decode() if isinstance(name, bytes) else name] = linktype
    return found

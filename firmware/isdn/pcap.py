"""D-channel traces as pcap files of link type LINUX_LAPD (177), the form Wireshark decodes
with direction and command/response right.

Each record is a 16-octet pseudo header — packet type (0 received, 4 sent), hardware type and
length (0), eight address octets whose first is 1 when we are the network side, protocol 0x0030
(ETH_P_LAPD) — then the LAPD frame from its address field, without FCS.
"""

from __future__ import annotations

import io
import struct
import time
from pathlib import Path
from typing import BinaryIO

LINKTYPE_LINUX_LAPD = 177
PACKET_RECEIVED = 0   # LINUX_SLL_HOST
PACKET_SENT = 4       # LINUX_SLL_OUTGOING
_ETH_P_LAPD = 0x0030
_GLOBAL_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_LINUX_LAPD)
_RECORD = struct.Struct("<IIII")
_LAPD_HEADER = struct.Struct(">HHH8sH")


class PcapWriter:
    """Write LAPD frames to a pcap file (a path, or an open binary file that stays the caller's)."""

    def __init__(self, target: str | Path | BinaryIO, *, network_side: bool):
        if isinstance(target, (str, Path)):
            self._file: BinaryIO = open(target, "wb")
            self._owned = True
        elif isinstance(target, io.IOBase) or hasattr(target, "write"):
            self._file = target
            self._owned = False
        else:
            raise TypeError(f"pcap target must be a path or a binary file, not {type(target).__name__}")
        self.network_side = network_side
        self.records = 0
        address = bytes([1 if network_side else 0]) + bytes(7)
        self._headers = {
            True: _LAPD_HEADER.pack(PACKET_SENT, 0, 0, address, _ETH_P_LAPD),
            False: _LAPD_HEADER.pack(PACKET_RECEIVED, 0, 0, address, _ETH_P_LAPD),
        }
        self._file.write(_GLOBAL_HEADER)

    def write(self, frame: bytes, *, sent: bool, timestamp: float | None = None) -> None:
        """One LAPD frame (no FCS); `sent` is True for frames we transmitted; `timestamp` in
        seconds since the epoch (now when omitted)."""
        if timestamp is None:
            timestamp = time.time()
        if timestamp < 0:
            raise ValueError(f"pcap timestamp {timestamp} is before the epoch")
        seconds = int(timestamp)
        micros = min(int(round((timestamp - seconds) * 1e6)), 999_999)
        header = self._headers[bool(sent)]
        length = len(header) + len(frame)
        self._file.write(_RECORD.pack(seconds, micros, length, length) + header + bytes(frame))
        self.records += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if self._owned and not self._file.closed:
            self._file.close()
        elif not self._owned:
            self._file.flush()

    def __enter__(self) -> "PcapWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_pcap(data: bytes) -> list[tuple[float, bool, bool, bytes]]:
    """Parse a LINUX_LAPD pcap written by PcapWriter: (timestamp, sent, network_side, frame)."""
    if len(data) < 24:
        raise ValueError(f"pcap file of {len(data)} octets is shorter than its 24-octet header")
    magic, _, _, _, _, _, network = struct.unpack_from("<IHHiIII", data, 0)
    if magic != 0xA1B2C3D4:
        raise ValueError(f"pcap magic {magic:#010x} is not little-endian microsecond pcap")
    if network != LINKTYPE_LINUX_LAPD:
        raise ValueError(f"pcap link type {network}, expected LINUX_LAPD ({LINKTYPE_LINUX_LAPD})")
    out = []
    offset = 24
    while offset < len(data):
        if offset + 16 > len(data):
            raise ValueError(f"pcap record header truncated at offset {offset}")
        sec, usec, incl, _ = _RECORD.unpack_from(data, offset)
        offset += 16
        if incl < 16 or offset + incl > len(data):
            raise ValueError(f"pcap record at offset {offset - 16} claims {incl} octets")
        pkttype, _, _, address, _ = _LAPD_HEADER.unpack_from(data, offset)
        out.append((sec + usec / 1e6, pkttype == PACKET_SENT, address[0] == 1, data[offset + 16:offset + incl]))
        offset += incl
    return out

"""The data plane's capture tap (dsp/c/capture_tap.h): RTP ports copy every datagram their legs
send and receive into its bounded ring, from the line thread; the control plane drains whole
records in batches.  A full ring drops the copy (counted), never the datagram.

    tap = CaptureTap(4 << 20)
    port.set_capture_tap(tap)      # dsp.rtp.RtpPort; one tap may serve every port
    tap.enable(True)
    for time_ns, flags, family, src, sport, dst, dport, payload in tap.drain(): ...
    tap.stats()["dropped"]
"""

from __future__ import annotations

import struct

from dsp import ffi, lib

SENT = lib.CAPTURE_TAP_SENT
RTCP = lib.CAPTURE_TAP_RTCP
HEADER = lib.CAPTURE_TAP_RECORD_HEADER
# time_ns, length, flags, family, src port, dst port, src address, dst address (dsp/c/capture_tap.h)
_RECORD = struct.Struct("=qHBBHH16s16s")
assert _RECORD.size == HEADER
STATS_FIELDS = [name for name, _ in ffi.typeof("capture_tap_stats").fields]


class CaptureTap:
    def __init__(self, capacity_octets: int = 4 << 20, drain_octets: int = 1 << 20):
        if not isinstance(capacity_octets, int) or not 4096 <= capacity_octets <= 1 << 30:
            raise ValueError(f"capture tap capacity: expected 4096 .. 2**30 octets, got {capacity_octets!r}")
        handle = lib.capture_tap_new(capacity_octets)
        if handle == ffi.NULL:
            raise MemoryError("capture tap: out of memory")
        self._tap = ffi.gc(handle, lib.capture_tap_free)
        self._out = bytearray(max(drain_octets, HEADER + lib.CAPTURE_TAP_MAX_DATAGRAM + 8))
        self._out_c = ffi.from_buffer(self._out)
        self._last_octets = 0

    def enable(self, on: bool) -> None:
        lib.capture_tap_enable(self._tap, int(bool(on)))

    def drain_raw(self) -> memoryview:
        """The records waiting (up to the drain buffer's size), as one buffer reused next call."""
        n = lib.capture_tap_drain(self._tap, self._out_c, len(self._out))
        self._last_octets = n
        return memoryview(self._out)[:n]

    def buffer_filled(self, records: int) -> bool:
        """Whether the last drain stopped because its buffer was full (more may be waiting)."""
        return records > 0 and self._last_octets + HEADER + lib.CAPTURE_TAP_MAX_DATAGRAM + 8 > len(self._out)

    def drain(self) -> list[tuple]:
        """(time_ns, flags, family, src, sport, dst, dport, payload) per datagram, oldest first;
        addresses as 16 raw octets (the first 4 for IPv4)."""
        raw = self.drain_raw()
        out = []
        offset, end = 0, len(raw)
        unpack = _RECORD.unpack_from
        while offset < end:
            time_ns, length, flags, family, sport, dport, src, dst = unpack(raw, offset)
            start = offset + HEADER
            out.append((time_ns, flags, family, src, sport, dst, dport, bytes(raw[start:start + length])))
            offset = start + ((length + 7) & ~7)
        return out

    def stats(self) -> dict[str, int]:
        st = ffi.new("capture_tap_stats *")
        lib.capture_tap_get_stats(self._tap, st)
        return {name: int(getattr(st, name)) for name in STATS_FIELDS}

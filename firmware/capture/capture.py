"""A running capture: producers offer packets to a bounded ring, a writer thread formats them
into a pcapng file.  Nothing on the producers' path waits or touches the file.

    capture = Capture(parse_definition("all", packets="100k"), "/var/lib/pribox/captures/c1.pcapng")
    capture.start()
    capture.dchannel(1, frame, sent=True, network_side=False)        # LAPD frame without FCS
    capture.sip(Flow("192.0.2.10", 5060, "192.0.2.1", 5060), message, sent=True, call="c7")
    capture.rtp(Flow("192.0.2.10", 20000, "192.0.2.1", 30000), packet, sent=True, call="c7")
    capture.stop(); capture.status()

Each producer call returns False when the packet was not taken (filtered out, capture not
running, ring full — counted in `dropped` — or longer than an IP packet holds — `oversized`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import BinaryIO

from .definition import KINDS, CaptureDefinition
from .pcapng import (LAPD_HEADERS, LINKTYPE_LINUX_LAPD, LINKTYPE_RAW, Flow, FlowFormatter, enhanced_packet,
                     interface_description, section_header)
from .ring import PacketRing

_DCHANNEL, _SIP, _RTP = 0, 1, 2
# An IPv4 packet's 16-bit total length must hold the payload and its headers (20 IP + 20 TCP).
MAX_PAYLOAD = 65535 - 40
_KIND_INDEX = {"dchannel": _DCHANNEL, "sip": _SIP, "rtp": _RTP}
_INTERFACES = {
    "dchannel": (LINKTYPE_LINUX_LAPD, "dchannel", "ISDN D-channels (LAPD, all spans)"),
    "sip": (LINKTYPE_RAW, "sip", "SIP signalling (IP/UDP, IP/TCP)"),
    "rtp": (LINKTYPE_RAW, "rtp", "RTP and RTCP media (IP/UDP)"),
}


class Capture:
    def __init__(self, definition: CaptureDefinition, target: str | Path | BinaryIO, *,
                 ring_capacity: int = 65536, batch: int = 4096, idle_wait: float = 0.002,
                 application: str = "pribox"):
        self.definition = definition
        self.ring = PacketRing(ring_capacity)
        self._target = target
        self._batch = batch
        self._idle_wait = idle_wait
        self._application = application
        self._interface = {}
        for kind in KINDS:
            if kind in definition.kinds:
                self._interface[_KIND_INDEX[kind]] = len(self._interface)
        self._formatters: dict[Flow, FlowFormatter] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._file: BinaryIO | None = None
        self._owned = False
        self.running = False
        self.state = "defined"
        self.stop_reason: str | None = None
        self.error: str | None = None
        self.packets = 0
        self.bytes = 0
        self.oversized = 0          # offered payloads too long for an IP packet, not written
        self.started_at: float | None = None
        self.stopped_at: float | None = None

    # -- producers (any thread; never blocks) ------------------------------------------------

    def dchannel(self, span: int, frame: bytes, *, sent: bool, network_side: bool, timestamp: float | None = None,
                 call: str | None = None) -> bool:
        if not self.running or not self.definition.wants("dchannel", span, call):
            return False
        ts = time.time_ns() if timestamp is None else int(timestamp * 1e9)
        return self.ring.offer((_DCHANNEL, ts, bool(sent), bool(network_side), bytes(frame)))

    def sip(self, flow: Flow, message: bytes, *, sent: bool, timestamp: float | None = None,
            span: int | None = None, call: str | None = None) -> bool:
        if not self.running or not self.definition.wants("sip", span, call):
            return False
        if len(message) > MAX_PAYLOAD:
            self.oversized += 1
            return False
        ts = time.time_ns() if timestamp is None else int(timestamp * 1e9)
        return self.ring.offer((_SIP, ts, bool(sent), flow, bytes(message)))

    def rtp(self, flow: Flow, packet: bytes, *, sent: bool, timestamp: float | None = None,
            span: int | None = None, call: str | None = None) -> bool:
        """An RTP or RTCP packet (the UDP payload)."""
        if not self.running or not self.definition.wants("rtp", span, call):
            return False
        if len(packet) > MAX_PAYLOAD:
            self.oversized += 1
            return False
        ts = time.time_ns() if timestamp is None else int(timestamp * 1e9)
        return self.ring.offer((_RTP, ts, bool(sent), flow, bytes(packet)))

    # -- control ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.state != "defined":
            raise RuntimeError(f"capture is {self.state}; define a new one to start again")
        if isinstance(self._target, (str, Path)):
            self._file = open(self._target, "wb")
            self._owned = True
        else:
            self._file = self._target
        header = [section_header(self._application)]
        for kind in KINDS:
            if kind in self.definition.kinds:
                header.append(interface_description(*_INTERFACES[kind]))
        self._file.write(b"".join(header))
        self.bytes = sum(len(h) for h in header)
        self.started_at = time.monotonic()
        self.state = "running"
        self.running = True
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    def stop(self, reason: str = "stopped") -> None:
        """Stop taking packets, write what the ring holds, close the file."""
        self.running = False
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a limit to end the capture; True when it has ended."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.state == "stopped"

    def status(self) -> dict:
        end = self.stopped_at if self.stopped_at is not None else time.monotonic()
        return {
            "state": self.state, "what": sorted(self.definition.kinds), "span": self.definition.span,
            "call": self.definition.call, "packets": self.packets, "bytes": self.bytes,
            "dropped": self.ring.dropped, "oversized": self.oversized, "queued": len(self.ring), "ring_capacity": self.ring.capacity,
            "seconds": round(end - self.started_at, 3) if self.started_at is not None else 0.0,
            "stop_reason": self.stop_reason, "error": self.error,
        }

    # -- the writer thread ------------------------------------------------------------------

    def _formatter(self, flow: Flow) -> FlowFormatter:
        formatter = FlowFormatter(flow)
        peer = self._formatters.get(flow.reversed())
        if peer is not None:
            formatter.peer, peer.peer = peer, formatter
        self._formatters[flow] = formatter
        return formatter

    def _limit_reached(self) -> str | None:
        d = self.definition
        if d.max_packets is not None and self.packets >= d.max_packets:
            return "packet limit"
        if d.max_bytes is not None and self.bytes >= d.max_bytes:
            return "byte limit"
        if d.max_seconds is not None and time.monotonic() - self.started_at >= d.max_seconds:
            return "time limit"
        return None

    def _run(self) -> None:
        try:
            self._write_loop()
        except Exception as exc:           # a full disk or a bad flow must end the capture, not the box
            self.error = f"{type(exc).__name__}: {exc}"
            self.stop_reason = "error"
        finally:
            self.running = False
            self.state = "stopped"
            self.stopped_at = time.monotonic()
            if self._owned:
                self._file.close()
            else:
                self._file.flush()

    def _write_loop(self) -> None:
        ring, batch, interface = self.ring, self._batch, self._interface
        formatters = self._formatters
        lapd_headers = LAPD_HEADERS
        epb = enhanced_packet
        write = self._file.write
        while True:
            reason = self._limit_reached()
            if reason is not None:
                self.running = False
                self.stop_reason = self.stop_reason or reason
                return
            items = ring.take(batch)
            if not items:
                if self._stop.is_set():
                    return
                self._stop.wait(self._idle_wait)
                continue
            blocks = []
            room_packets = (self.definition.max_packets - self.packets) if self.definition.max_packets else None
            for kind, ts, sent, key, payload in items:
                if kind == _DCHANNEL:
                    data = lapd_headers[sent, key] + payload
                else:
                    formatter = formatters.get(key)
                    if formatter is None:
                        formatter = self._formatter(key)
                    data = formatter.packet(payload)
                blocks.append(epb(interface[kind], ts, data, sent))
                if room_packets is not None and len(blocks) >= room_packets:
                    break
            chunk = b"".join(blocks)
            write(chunk)
            self.packets += len(blocks)
            self.bytes += len(chunk)

"""Feeds a capture from the data plane's tap (dsp/capture_tap.py): the RTP and RTCP datagrams
the line thread's RTP ports send and receive, with their real addresses and ports.

The line thread only copies datagrams into the tap's ring; this feed's thread drains it in
batches and offers each packet to the capture's own ring, so neither the tick nor the event loop
formats or writes anything.  Copies the tap had to refuse are counted in `tap_dropped`.

    feed = DataPlaneFeed(tap, capture)     # capture: firmware.capture.capture.Capture
    feed.start(); ...; feed.stop()         # stop drains what is left, then the capture may stop
"""

from __future__ import annotations

import ipaddress
import threading

from .pcapng import Flow

_SENT, _RTCP = 1, 2   # the tap's record flags (dsp/c/capture_tap.h)


class DataPlaneFeed:
    def __init__(self, tap, capture, *, idle_wait: float = 0.005):
        self.tap = tap
        self.capture = capture
        self._idle_wait = idle_wait
        self._flows: dict[tuple, Flow] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.offered = 0
        self.refused = 0          # offered but not taken by the capture (filtered, full or stopped)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the data plane feed is already running")
        self._stop.clear()
        self.tap.enable(True)
        self._thread = threading.Thread(target=self._run, name="capture-data-plane", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop copying, then hand the capture everything the tap still holds."""
        self.tap.enable(False)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def tap_dropped(self) -> int:
        return self.tap.stats()["dropped"]

    def _flow(self, family: int, src: bytes, sport: int, dst: bytes, dport: int) -> Flow:
        key = (family, src, sport, dst, dport)
        flow = self._flows.get(key)
        if flow is None:
            size = 4 if family == 4 else 16
            flow = Flow(str(ipaddress.ip_address(src[:size])), sport, str(ipaddress.ip_address(dst[:size])), dport)
            self._flows[key] = flow
        return flow

    def pump(self) -> int:
        """Offer what the tap holds now (up to one drain buffer); the packets offered."""
        records = self.tap.drain()
        rtp = self.capture.rtp
        flows = self._flows
        refused = 0
        for time_ns, flags, family, src, sport, dst, dport, payload in records:
            flow = flows.get((family, src, sport, dst, dport)) or self._flow(family, src, sport, dst, dport)
            if not rtp(flow, payload, sent=bool(flags & _SENT), timestamp=time_ns / 1e9):
                refused += 1
        self.offered += len(records)
        self.refused += refused
        return len(records)

    def _run(self) -> None:
        # Drain in batches: a wait between drains lets packets gather, so the GIL is taken a
        # few hundred times a second rather than once per packet.
        while not self._stop.is_set():
            if not self.tap.buffer_filled(self.pump()):
                self._stop.wait(self._idle_wait)
        while self.pump():   # what was copied before the tap was turned off
            pass

"""D-channel export: a span's D-channel offered on a Unix SOCK_SEQPACKET socket so an external
ISDN stack (libpri, another LAPD) can drive it.

Semantics are DAHDI's `hdlcfcs` channel, which libpri's default I/O (`pri_new`) and
`pri_new_cb` callbacks expect:

* span -> stack: one packet per HDLC frame received with a good FCS, followed by its 2 FCS
  octets (low octet first, as sent on the line).  libpri drops the last 2 octets it reads.
* stack -> span: one packet per frame, whose last 2 octets are FCS placeholders (libpri writes
  `len + 2`); the span strips them and sends the frame with a freshly computed FCS.

One stack at a time: the socket is listened on, the first connection is the stack, and a
second connection while one is attached is refused (closed at once, counted, logged).
Frames received while no stack is attached are counted and dropped, as DAHDI drops them
when nobody has the channel open.
"""

from __future__ import annotations

import logging
import socket

from drivers import seqpacket
from dsp.line import fcs16

log = logging.getLogger("pribox.dchannel")

FCS_OCTETS = 2


class DChannelExport:
    def __init__(self, path: str):
        self.path = path
        self._listener: socket.socket | None = None
        self._stack: socket.socket | None = None
        self.stats = {"frames_to_stack": 0, "frames_from_stack": 0, "dropped_no_stack": 0,
                      "short_packets": 0, "refused_connections": 0, "tx_queue_full": 0,
                      "to_stack_overrun": 0}
        # Optional observer of every frame crossing the export, (direction, frame without FCS),
        # direction "rx" (line -> stack) or "tx" (stack -> line); for traces.
        self.tap = None

    @property
    def attached(self) -> bool:
        return self._stack is not None

    def open(self) -> None:
        if self._listener is None:
            self._listener = seqpacket.listen(self.path)

    def close(self) -> None:
        self._detach("closed")
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            seqpacket.unlink_socket(self.path)

    def poll(self) -> None:
        if self._listener is None:
            return
        while True:
            conn = seqpacket.accept(self._listener)
            if conn is None:
                return
            if self._stack is None:
                self._stack = conn
                log.info("D-channel %s: stack attached", self.path)
            else:
                conn.close()
                self.stats["refused_connections"] += 1
                log.warning("D-channel %s: refused a second stack; one is already attached", self.path)

    def _detach(self, why: str) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
            log.info("D-channel %s: stack detached (%s)", self.path, why)

    def take_from_stack(self) -> list[bytes]:
        """Frames the stack wrote since the last call, FCS placeholders removed."""
        if self._stack is None:
            return []
        try:
            packets = seqpacket.receive_all(self._stack)
        except seqpacket.PeerGone as exc:
            self._detach(str(exc))
            return []
        frames = []
        for data, truncated in packets:
            if truncated or len(data) <= FCS_OCTETS:
                self.stats["short_packets"] += 1
                log.warning("D-channel %s: dropped a packet of %d octets from the stack: a frame needs "
                            "at least 1 octet plus %d FCS placeholder octets", self.path, len(data), FCS_OCTETS)
                continue
            frame = data[:-FCS_OCTETS]
            frames.append(frame)
            if self.tap is not None:
                self.tap("tx", frame)
        self.stats["frames_from_stack"] += len(frames)
        return frames

    def deliver_to_stack(self, frames: list[bytes]) -> None:
        """Hand frames received from the line to the stack, each followed by its FCS."""
        for frame in frames:
            if self.tap is not None:
                self.tap("rx", frame)
            if self._stack is None:
                self.stats["dropped_no_stack"] += 1
                continue
            fcs = fcs16(frame)
            try:
                self._stack.send(frame + bytes((fcs & 0xFF, fcs >> 8)))
            except (BlockingIOError, InterruptedError):
                self.stats["to_stack_overrun"] += 1   # the stack is not reading
                continue
            except OSError as exc:
                self._detach(exc.strerror or str(exc))
                self.stats["dropped_no_stack"] += 1
                continue
            self.stats["frames_to_stack"] += 1

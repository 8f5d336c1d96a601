"""The emulated E1 wire: whole 32-octet frames in datagrams (contract: docs/emulated-wire.md).

A `Wire` is one end as a span sees it.  The frames themselves move in C (`dsp.line_port.WireEnd`,
dsp/c/e1_wire.c), so the line's own thread sends and receives with no Python in the way; what
stays here is the control plane's part: listening, accepting, connecting, noticing a far end
that left, and logging bad datagrams.  Two kinds:

* `UnixSeqpacketWire` — the real, documented wire: a Unix SOCK_SEQPACKET socket that a span
  listens on or connects to.  Another process (or another box's emulation) is the far end.
* `LockstepWire.pair()` — both ends in one process with no socket, for tests on the virtual
  clock (ManualClock): what one end sends is there for the other end's next `receive()`.

The wire only carries frames; pacing (8000 frames/s by the span's clock), the elastic store
and impairments belong to the span.
"""

from __future__ import annotations

import abc
import logging
import socket

import numpy as np

from drivers import seqpacket
from dsp.line_port import WireEnd

log = logging.getLogger("pribox.wire")

FRAME_OCTETS = 32
FRAMES_PER_SECOND = 8000


class WireStats:
    """The C wire's counters, read when asked."""

    __slots__ = ("_end",)
    NAMES = ("datagrams_tx", "datagrams_rx", "frames_tx", "frames_rx", "bad_datagrams",
             "tx_dropped_datagrams", "connects", "disconnects")

    def __init__(self, end: WireEnd):
        self._end = end

    def __getattr__(self, name: str) -> int:
        if name in WireStats.NAMES:
            return self._end.stats()[name]
        raise AttributeError(name)

    def as_dict(self) -> dict[str, int]:
        stats = self._end.stats()
        return {name: stats[name] for name in WireStats.NAMES}


class Wire(abc.ABC):
    """One end of an emulated E1 wire."""

    def __init__(self, name: str, frames_per_datagram: int, end: WireEnd | None = None):
        if not 1 <= frames_per_datagram <= 160:
            raise ValueError(f"wire {name}: frames_per_datagram {frames_per_datagram} outside 1..160")
        self.name = name
        self.frames_per_datagram = frames_per_datagram
        self.end = end if end is not None else WireEnd(frames_per_datagram)
        self.stats = WireStats(self.end)
        self._bad_logged = 0

    def open(self) -> None:
        """Start listening or connecting; never waits for the far end."""

    def poll(self, now: float) -> None:
        """Control-plane housekeeping (a few times a second is enough): accept a peer, retry a
        connect, let go of a far end that left, log bad datagrams."""
        self.report_bad_datagrams()

    def close(self) -> None:
        pass

    @property
    def connected(self) -> bool:
        """A far end is attached (the cable is plugged in)."""
        return self.end.connected

    def send(self, frames: np.ndarray) -> None:
        """Send uint8 (k * frames_per_datagram, 32) as k datagrams.  With no far end attached
        the frames go nowhere, as on an unplugged cable."""
        n = self.frames_per_datagram
        if frames.ndim != 2 or frames.shape[1] != FRAME_OCTETS or frames.shape[0] % n:
            raise ValueError(f"wire {self.name}: send takes (k*{n}, {FRAME_OCTETS}) frames, got {frames.shape}")
        self.end.send(np.ascontiguousarray(frames, np.uint8))

    def receive(self) -> np.ndarray:
        """All whole frames that arrived since the last call, uint8 (n, 32).  A datagram that is
        not a whole number of frames is counted in `stats.bad_datagrams`, logged and dropped."""
        frames = self.end.receive()
        self.report_bad_datagrams()
        return frames

    def report_bad_datagrams(self) -> None:
        for size, truncated in self.end.bad_datagrams():
            self._bad_logged += 1
            count = self._bad_logged
            if count <= 10 or count % 1000 == 0:  # a babbling peer must not flood the log
                what = (f"more than {seqpacket.MAX_DATAGRAM} octets" if truncated
                        else f"{size} octets, not a whole number of {FRAME_OCTETS}-octet frames")
                log.warning("wire %s: dropped a datagram of %s (%d bad so far)", self.name, what,
                            self.stats.bad_datagrams)


class LockstepWire(Wire):
    """One end of an in-process wire; build both ends with `LockstepWire.pair()`."""

    def __init__(self, name: str, frames_per_datagram: int = 8, end: WireEnd | None = None):
        super().__init__(name, frames_per_datagram, end)
        self.peer: LockstepWire | None = None

    @classmethod
    def pair(cls, frames_per_datagram: int = 8) -> tuple["LockstepWire", "LockstepWire"]:
        end_a, end_b = WireEnd.pair(frames_per_datagram)
        a, b = cls("lockstep-a", frames_per_datagram, end_a), cls("lockstep-b", frames_per_datagram, end_b)
        a.peer, b.peer = b, a
        return a, b

    @property
    def plugged(self) -> bool:
        return self.end.plugged

    @plugged.setter
    def plugged(self, on: bool) -> None:
        self.end.plugged = on

    def inject(self, data: bytes) -> None:
        """Put raw octets on the wire towards this end, as a misbehaving far end would."""
        self.end.inject(data)


class UnixSeqpacketWire(Wire):
    """The wire over a Unix SOCK_SEQPACKET socket at `path`, as listener or connector.

    The listener takes one far end at a time and waits for the next when it leaves; the
    connector retries every `retry_interval` seconds until the listener is there, and again
    after the far end goes away.  While nothing is attached the span sees loss of signal.
    The connected socket's descriptor is handed to the C wire, which reads and writes it.
    """

    def __init__(self, path: str, role: str, frames_per_datagram: int = 8, *, retry_interval: float = 0.1):
        super().__init__(path, frames_per_datagram)
        if role not in ("listen", "connect"):
            raise ValueError(f"wire {path}: role {role!r}, expected 'listen' or 'connect'")
        self.path = path
        self.role = role
        self.retry_interval = retry_interval
        self._listener: socket.socket | None = None
        self._peer: socket.socket | None = None
        self._next_attempt = float("-inf")
        self._waiting_logged = False

    def open(self) -> None:
        if self.role == "listen" and self._listener is None:
            self._listener = seqpacket.listen(self.path)

    def poll(self, now: float) -> None:
        super().poll(now)
        if self._peer is not None and self.end.peer_gone:
            self._detach("the far end closed or broke the connection")
        if self._peer is not None:
            return
        if self.role == "listen":
            if self._listener is not None:
                self._attach(seqpacket.accept(self._listener))
        elif now >= self._next_attempt:
            self._next_attempt = now + self.retry_interval
            sock = seqpacket.connect(self.path)
            if sock is None and not self._waiting_logged:
                self._waiting_logged = True
                log.info("wire %s: nobody listens yet; retrying every %g s", self.path, self.retry_interval)
            self._attach(sock)

    def receive(self) -> np.ndarray:
        frames = super().receive()
        if self._peer is not None and self.end.peer_gone:
            self._detach("end of file")
        return frames

    def _attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        self._peer = sock
        self._waiting_logged = False
        self.end.attach_fd(sock.fileno())
        log.info("wire %s: far end attached (%s)", self.path, self.role)

    def _detach(self, why: str) -> None:
        if self._peer is not None:
            self.end.detach_fd()     # the C side lets go of the descriptor before it is closed
            self._peer.close()
            self._peer = None
            log.info("wire %s: far end gone (%s)", self.path, why)

    def close(self) -> None:
        self._detach("closed")
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            seqpacket.unlink_socket(self.path)

"""The emulated E1 wire: whole 32-octet frames in datagrams (contract: docs/emulated-wire.md).

A `Wire` is one end as a span sees it.  Two kinds:

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
from collections import deque

import numpy as np

from drivers import seqpacket

log = logging.getLogger("pribox.wire")

FRAME_OCTETS = 32
FRAMES_PER_SECOND = 8000
_NO_FRAMES = np.zeros((0, FRAME_OCTETS), np.uint8)


class WireStats:
    __slots__ = ("datagrams_tx", "datagrams_rx", "frames_tx", "frames_rx", "bad_datagrams",
                 "tx_dropped_datagrams", "connects", "disconnects")

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class Wire(abc.ABC):
    """One end of an emulated E1 wire."""

    def __init__(self, name: str, frames_per_datagram: int):
        if not 1 <= frames_per_datagram <= 160:
            raise ValueError(f"wire {name}: frames_per_datagram {frames_per_datagram} outside 1..160")
        self.name = name
        self.frames_per_datagram = frames_per_datagram
        self.stats = WireStats()

    def open(self) -> None:
        """Start listening or connecting; never waits for the far end."""

    def poll(self, now: float) -> None:
        """Housekeeping once per tick: accept a peer, retry a connect."""

    def close(self) -> None:
        pass

    @property
    @abc.abstractmethod
    def connected(self) -> bool:
        """A far end is attached (the cable is plugged in)."""

    def send(self, frames: np.ndarray) -> None:
        """Send uint8 (k * frames_per_datagram, 32) as k datagrams.  With no far end attached
        the frames go nowhere, as on an unplugged cable."""
        n = self.frames_per_datagram
        if frames.ndim != 2 or frames.shape[1] != FRAME_OCTETS or frames.shape[0] % n:
            raise ValueError(f"wire {self.name}: send takes (k*{n}, {FRAME_OCTETS}) frames, got {frames.shape}")
        if not self.connected:
            return
        data = np.ascontiguousarray(frames, np.uint8).tobytes()
        step = n * FRAME_OCTETS
        for offset in range(0, len(data), step):
            if not self.connected:  # the far end left during this send
                return
            self._send_datagram(data[offset:offset + step])

    @abc.abstractmethod
    def _send_datagram(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def _receive_datagrams(self) -> list[tuple[bytes, bool]]: ...

    def receive(self) -> np.ndarray:
        """All whole frames that arrived since the last call, uint8 (n, 32).  A datagram that is
        not a whole number of frames is counted in `stats.bad_datagrams`, logged and dropped."""
        good = []
        for data, truncated in self._receive_datagrams():
            if truncated or not data or len(data) % FRAME_OCTETS:
                self._bad_datagram(len(data), truncated)
                continue
            good.append(data)
        if not good:
            return _NO_FRAMES
        self.stats.datagrams_rx += len(good)
        frames = np.frombuffer(b"".join(good), np.uint8).reshape(-1, FRAME_OCTETS)
        self.stats.frames_rx += len(frames)
        return frames

    def _bad_datagram(self, size: int, truncated: bool) -> None:
        self.stats.bad_datagrams += 1
        count = self.stats.bad_datagrams
        if count <= 10 or count % 1000 == 0:  # a babbling peer must not flood the log
            what = (f"more than {seqpacket.MAX_DATAGRAM} octets" if truncated
                    else f"{size} octets, not a whole number of {FRAME_OCTETS}-octet frames")
            log.warning("wire %s: dropped a datagram of %s (%d bad so far)", self.name, what, count)


class LockstepWire(Wire):
    """One end of an in-process wire; build both ends with `LockstepWire.pair()`."""

    def __init__(self, name: str, frames_per_datagram: int = 8):
        super().__init__(name, frames_per_datagram)
        self.peer: LockstepWire | None = None
        self.inbox: deque[bytes] = deque()
        self.plugged = True

    @classmethod
    def pair(cls, frames_per_datagram: int = 8) -> tuple["LockstepWire", "LockstepWire"]:
        a, b = cls("lockstep-a", frames_per_datagram), cls("lockstep-b", frames_per_datagram)
        a.peer, b.peer = b, a
        return a, b

    @property
    def connected(self) -> bool:
        return self.peer is not None and self.plugged and self.peer.plugged

    def inject(self, data: bytes) -> None:
        """Put raw octets on the wire towards this end, as a misbehaving far end would."""
        self.inbox.append(bytes(data))

    def _send_datagram(self, data: bytes) -> None:
        self.stats.datagrams_tx += 1
        self.stats.frames_tx += len(data) // FRAME_OCTETS
        self.peer.inbox.append(data)

    def _receive_datagrams(self) -> list[tuple[bytes, bool]]:
        out = [(d, False) for d in self.inbox]
        self.inbox.clear()
        return out


class UnixSeqpacketWire(Wire):
    """The wire over a Unix SOCK_SEQPACKET socket at `path`, as listener or connector.

    The listener takes one far end at a time and waits for the next when it leaves; the
    connector retries every `retry_interval` seconds until the listener is there, and again
    after the far end goes away.  While nothing is attached the span sees loss of signal.
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

    @property
    def connected(self) -> bool:
        return self._peer is not None

    def poll(self, now: float) -> None:
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

    def _attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        self._peer = sock
        self._waiting_logged = False
        self.stats.connects += 1
        log.info("wire %s: far end attached (%s)", self.path, self.role)

    def _detach(self, why: str) -> None:
        if self._peer is not None:
            self._peer.close()
            self._peer = None
            self.stats.disconnects += 1
            log.info("wire %s: far end gone (%s)", self.path, why)

    def _send_datagram(self, data: bytes) -> None:
        try:
            self._peer.send(data)
        except (BlockingIOError, InterruptedError):
            self.stats.tx_dropped_datagrams += 1  # the far end is not reading: the frames are lost
            return
        except OSError as exc:
            self._detach(exc.strerror or str(exc))
            return
        self.stats.datagrams_tx += 1
        self.stats.frames_tx += len(data) // FRAME_OCTETS

    def _receive_datagrams(self) -> list[tuple[bytes, bool]]:
        if self._peer is None:
            return []
        try:
            return seqpacket.receive_all(self._peer)
        except seqpacket.PeerGone as exc:
            self._detach(str(exc))
            return []

    def close(self) -> None:
        self._detach("closed")
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            seqpacket.unlink_socket(self.path)

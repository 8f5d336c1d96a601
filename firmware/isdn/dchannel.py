"""The thin asyncio adapter between a D-channel socket and the sans-I/O LAPD (and layer 3).

The D-channel is a Unix SOCK_SEQPACKET socket with DAHDI `hdlcfcs` semantics: every packet is
one HDLC frame followed by its 2 FCS octets, in both directions.  The far end (the span driver's
HDLC, or libpri in tests) owns the FCS, so on receive the 2 octets are stripped unchecked and on
send 2 placeholder octets are appended, exactly as libpri does on a DAHDI channel.

Layer 3 plugs in through `Layer3`: the adapter hands it every LAPD event, drains its outgoing
messages into LAPD, and runs its timer together with LAPD's on the one clock.  With no layer 3,
events are kept in `events` (an asyncio.Queue) for tests and tools.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import Counter
from typing import Protocol

from runtime.clock import Clock, LoopClock, TimerHandle

from .lapd import DlError, DlEstablished, DlReleased, Lapd, LapdEvent
from .pcap import PcapWriter

log = logging.getLogger("pribox.isdn.dchannel")

FCS_OCTETS = b"\x00\x00"
_MAX_PACKET = 512  # N201 (260) + address, control and FCS, with room to spare


def connect_unix(path: str) -> socket.socket:
    """Connect to a D-channel offered on a Unix SOCK_SEQPACKET socket path (a span driver's
    D-channel export); the error names the path and what went wrong."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise ConnectionError(f"cannot open the D-channel at {path}: {exc.strerror or exc}") from None
    return sock


class Layer3(Protocol):
    """What the adapter needs from the layer above LAPD (Q.931), itself sans-I/O."""

    def dl_event(self, event: LapdEvent, now: float) -> None: ...

    def messages_to_send(self) -> list[bytes]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


class DChannel:
    """Runs on an asyncio loop (build it inside a running loop, or pass LoopClock(loop)), or in
    lockstep on a ManualClock with no loop, the owner calling poll() each tick."""

    def __init__(self, lapd: Lapd, sock: socket.socket | None, clock: Clock | None = None, *,
                 layer3: Layer3 | None = None, pcap: PcapWriter | None = None):
        self.lapd = lapd
        self.layer3 = layer3
        self.clock = clock or LoopClock()
        self.pcap = pcap
        self.counters: Counter[str] = Counter()
        self.events: asyncio.Queue[LapdEvent] = asyncio.Queue()
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: TimerHandle | None = None
        self._timer_when: float | None = None
        self._closed = False
        # pcap timestamps are wall-clock; the one clock may be virtual, so keep a fixed offset.
        self._wall_offset = time.time() - self.clock.now()
        if sock is not None:
            self.attach(sock)

    # ------------------------------------------------------------------ wiring
    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop that watches the socket; None in lockstep use (a ManualClock and no running
        loop), where the owner calls poll() every tick instead."""
        if isinstance(self.clock, LoopClock):
            return self.clock.loop
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    def poll(self) -> None:
        """Read whatever the socket holds now (lockstep use; under asyncio the loop does it)."""
        self._readable()

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def attach(self, sock: socket.socket) -> None:
        """Put the D-channel on `sock` (layer 1 comes up); a previous socket is closed."""
        if sock.type != socket.SOCK_SEQPACKET:
            raise ValueError(f"D-channel socket must be SOCK_SEQPACKET, got {sock.type!r}")
        old = self._drop_socket()
        if old is not None and old is not sock:
            old.close()
        sock.setblocking(False)
        self._sock = sock
        self._loop = self.loop
        if self._loop is not None:
            self._loop.add_reader(sock.fileno(), self._readable)
        self.lapd.layer1_changed(True, self.clock.now())
        self._service()

    def detach(self) -> socket.socket | None:
        """Take the D-channel off its socket (layer 1 goes down); returns the socket, unclosed."""
        sock = self._drop_socket()
        self.lapd.layer1_changed(False, self.clock.now())
        self._service()
        return sock

    async def stay_connected(self, path: str, retry_interval: float = 1.0) -> None:
        """Keep the D-channel on the span socket at `path`: (re)connect whenever it is not
        attached — at start, and after the span driver closed it (restart, reload).  Runs until
        cancelled; each failed attempt is counted and retried after `retry_interval`."""
        while True:
            if self._sock is None and not self._closed:
                try:
                    self.attach(connect_unix(path))
                    self.counters["connects"] += 1
                except ConnectionError as exc:
                    self.counters["connect_failures"] += 1
                    if self.counters["connect_failures"] == 1:
                        log.warning("%s; retrying every %.1f s", exc, retry_interval)
            await asyncio.sleep(retry_interval)

    def layer1_changed(self, up: bool) -> None:
        """Layer 1 alarm raised (False) or cleared (True) by the span, socket left in place."""
        self.lapd.layer1_changed(up, self.clock.now())
        self._service()

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        sock = self._drop_socket()
        if sock is not None:
            sock.close()
        if self.pcap is not None:
            self.pcap.flush()

    def _drop_socket(self) -> socket.socket | None:
        sock, self._sock = self._sock, None
        if sock is not None and self._loop is not None:
            try:
                self._loop.remove_reader(sock.fileno())
            except (ValueError, OSError):
                pass
        return sock

    # ------------------------------------------------------------------ DL requests
    def establish(self) -> None:
        self.lapd.establish(self.clock.now())
        self._service()

    def release(self) -> None:
        self.lapd.release(self.clock.now())
        self._service()

    def send(self, payload: bytes) -> None:
        self.lapd.send(payload, self.clock.now())
        self._service()

    def set_own_busy(self, busy: bool) -> None:
        """Receiver busy on (RNR: the peer holds its I frames) or off (RR: they flow again)."""
        self.lapd.set_own_busy(busy, self.clock.now())
        self._service()

    def service(self) -> None:
        """Move whatever layer 3 queued after one of its own actions, and re-arm the timer."""
        self._service()

    async def wait_for(self, kind: type, timeout: float = 5.0) -> LapdEvent:
        """Next event of `kind` from `events` (tests without a layer 3); others are dropped."""
        async def _wait():
            while True:
                ev = await self.events.get()
                if isinstance(ev, kind):
                    return ev
        return await asyncio.wait_for(_wait(), timeout)

    # ------------------------------------------------------------------ I/O
    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(64):  # bounded so one busy D-channel cannot starve the loop
            try:
                packet = sock.recv(_MAX_PACKET)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self.counters["rx_socket_error"] += 1
                log.warning("D-channel receive failed: %s; treating as layer 1 loss", exc)
                self.detach()
                return
            if not packet:  # the far end closed its side of the line
                self.counters["rx_closed"] += 1
                self.detach()
                return
            if len(packet) < 2 + 3:
                self.counters["rx_runt"] += 1
                continue
            frame = packet[:-2]
            self.counters["rx_packets"] += 1
            now = self.clock.now()
            if self.pcap is not None:
                self.pcap.write(frame, sent=False, timestamp=now + self._wall_offset)
            self.lapd.receive_frame(frame, now)
        self._service()

    def _service(self) -> None:
        if self._closed:
            return
        lapd, layer3 = self.lapd, self.layer3
        now = self.clock.now()
        for _ in range(1000):
            moved = False
            while (ev := lapd.next_event()) is not None:
                moved = True
                self._note(ev)
                if layer3 is not None:
                    self._guard("dl_event", layer3.dl_event, ev, now)
                else:
                    self.events.put_nowait(ev)
            if layer3 is not None:
                for message in self._guard("messages_to_send", layer3.messages_to_send) or ():
                    moved = True
                    try:
                        lapd.send(message, now)
                    except ValueError as exc:  # e.g. longer than N201: layer 3's bug, not the line's
                        self.counters["layer3_errors"] += 1
                        log.error("layer 3 message refused by LAPD: %s", exc)
            for frame in lapd.frames_to_send():
                self._transmit(frame, now)
            if not moved:
                break
        self._arm_timer()

    def _guard(self, what: str, fn, *args):
        """Call into layer 3; a bug there is logged and counted, and the D-channel keeps running."""
        try:
            return fn(*args)
        except Exception:
            self.counters["layer3_errors"] += 1
            log.exception("layer 3 %s failed", what)
            return None

    def _note(self, ev: LapdEvent) -> None:
        if isinstance(ev, DlError):
            self.counters["mdl_errors"] += 1
            log.warning("D-channel MDL-ERROR %s: %s", ev.code, ev.description)
        elif isinstance(ev, DlEstablished):
            self.counters["established"] += 1
            log.info("D-channel up (%s side)", self.lapd.role.value)
        elif isinstance(ev, DlReleased):
            self.counters["released"] += 1
            log.info("D-channel down (%s side)", self.lapd.role.value)

    def _transmit(self, frame: bytes, now: float) -> None:
        if self.pcap is not None:
            self.pcap.write(frame, sent=True, timestamp=now + self._wall_offset)
        sock = self._sock
        if sock is None:
            self.counters["tx_no_line"] += 1
            return
        try:
            sock.send(frame + FCS_OCTETS)
            self.counters["tx_packets"] += 1
        except (BlockingIOError, InterruptedError):
            self.counters["tx_dropped_full"] += 1  # a congested line loses the frame; LAPD recovers
        except OSError as exc:
            self.counters["tx_socket_error"] += 1
            log.warning("D-channel send failed: %s", exc)

    def _arm_timer(self) -> None:
        when = self.lapd.get_timer()
        if self.layer3 is not None:
            t3 = self._guard("get_timer", self.layer3.get_timer)
            if t3 is not None and (when is None or t3 < when):
                when = t3
        if when == self._timer_when and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_when = when
        if when is not None:
            self._timer = self.clock.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        # asyncio may fire a timer up to its clock resolution early: count it as due.
        now = max(self.clock.now(), self._timer_when or 0.0)
        self._timer = None
        self._timer_when = None
        lapd_t = self.lapd.get_timer()
        if lapd_t is not None and lapd_t <= now:
            self.lapd.handle_timer(now)
        if self.layer3 is not None:
            t3 = self._guard("get_timer", self.layer3.get_timer)
            if t3 is not None and t3 <= now:
                self._guard("handle_timer", self.layer3.handle_timer, now)
        self._service()

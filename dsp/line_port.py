"""The emulated line's real-time part in C, for Python callers: the wire end, the line port
(pacing, impairment, elastic store, framer/deframer and HDLC of one span) and the line thread
that advances ports on CLOCK_MONOTONIC with no Python in the loop.

    wire = WireEnd(frames_per_datagram=8)           # attach_fd(sock.fileno()) or WireEnd.pair()
    port = LinePort(wire, crc4=True, clock_line=False, elastic_depth=256, idle_octet=0xD5)
    port.start(now)
    port.advance(now)            # lockstep: on the virtual clock
    thread = LineThread(period=0.001); thread.attach(port); thread.start()   # real time

The C side is dsp/c/e1_wire.h, line_port.h and line_thread.h; every call takes the port's lock
for C work only, so the control plane may call in while the thread runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp import ffi, lib
from dsp.line import _CRC4_STATES, _COUNTER_NAMES, B_CHANNELS, FRAME_OCTETS, LineStatus, _check_array, _ptr

WIRE_STATS = [name for name, _ in ffi.typeof("e1_wire_stats").fields]
PORT_STATE = [name for name, _ in ffi.typeof("line_port_state").fields]
THREAD_STATS = [name for name, _ in ffi.typeof("line_thread_stats").fields]
_RECEIVE_FRAMES = 8192


def _status(st) -> LineStatus:
    return LineStatus(bool(st.frame_aligned), bool(st.multiframe_aligned), _CRC4_STATES[st.crc4_state],
                      bool(st.los), bool(st.ais), bool(st.lof), bool(st.rai), bool(st.remote_alarm_sent))


class WireEnd:
    """One end of the emulated wire in C (see dsp/c/e1_wire.h)."""

    def __init__(self, frames_per_datagram: int = 8):
        handle = lib.e1_wire_new(frames_per_datagram)
        if handle == ffi.NULL:
            raise ValueError(f"frames_per_datagram: expected 1..{lib.E1_WIRE_MAX_DATAGRAM // FRAME_OCTETS}, "
                             f"got {frames_per_datagram!r}")
        self._wire = ffi.gc(handle, lib.e1_wire_free)
        self.frames_per_datagram = frames_per_datagram
        self._partner: WireEnd | None = None   # keeps a paired end alive as long as this one
        self._rx = np.zeros((_RECEIVE_FRAMES, FRAME_OCTETS), np.uint8)

    @classmethod
    def pair(cls, frames_per_datagram: int = 8) -> tuple["WireEnd", "WireEnd"]:
        a, b = cls(frames_per_datagram), cls(frames_per_datagram)
        lib.e1_wire_pair(a._wire, b._wire)
        a._partner, b._partner = b, a
        return a, b

    def attach_fd(self, fd: int) -> None:
        lib.e1_wire_attach_fd(self._wire, fd)

    def detach_fd(self) -> None:
        lib.e1_wire_detach_fd(self._wire)

    @property
    def peer_gone(self) -> bool:
        return bool(lib.e1_wire_peer_gone(self._wire))

    @property
    def plugged(self) -> bool:
        return bool(lib.e1_wire_plugged(self._wire))

    @plugged.setter
    def plugged(self, on: bool) -> None:
        lib.e1_wire_set_plugged(self._wire, int(bool(on)))

    @property
    def connected(self) -> bool:
        return bool(lib.e1_wire_connected(self._wire))

    def send(self, frames: np.ndarray) -> int:
        """Send uint8 (k * frames_per_datagram, 32) frames; returns the datagrams sent."""
        _check_array(frames, "frames", (None, FRAME_OCTETS))
        if frames.shape[0] % self.frames_per_datagram:
            raise ValueError(f"frames: send takes (k*{self.frames_per_datagram}, {FRAME_OCTETS}) frames, "
                             f"got {frames.shape}")
        return lib.e1_wire_send(self._wire, _ptr(frames), frames.shape[0]) if frames.shape[0] else 0

    def receive(self) -> np.ndarray:
        """Every whole frame that arrived, uint8 (n, 32) (a copy)."""
        chunks = []
        while True:
            n = lib.e1_wire_receive(self._wire, _ptr(self._rx), _RECEIVE_FRAMES)
            if n:
                chunks.append(self._rx[:n].copy())
            if n < _RECEIVE_FRAMES - self.frames_per_datagram:
                break
        return np.concatenate(chunks) if chunks else np.zeros((0, FRAME_OCTETS), np.uint8)

    def inject(self, data: bytes) -> None:
        data = bytes(data)
        if lib.e1_wire_inject(self._wire, data, len(data)) != 0:
            raise OverflowError(f"the wire's inbox is full ({lib.E1_WIRE_INBOX_OCTETS} octets)")

    def bad_datagrams(self) -> list[tuple[int, bool]]:
        """(size, truncated) of the bad datagrams since the last call (the last few only)."""
        size, truncated = ffi.new("int *"), ffi.new("int *")
        out = []
        while lib.e1_wire_next_bad(self._wire, size, truncated):
            out.append((size[0], bool(truncated[0])))
        return out

    def stats(self) -> dict[str, int]:
        st = ffi.new("e1_wire_stats *")
        lib.e1_wire_get_stats(self._wire, st)
        return {name: int(getattr(st, name)) for name in WIRE_STATS}


@dataclass(frozen=True)
class PortSecond:
    end: float
    crc4_errors: int
    fas_errors: int
    ebit_errors: int
    slips: int
    oof: bool
    los: bool
    ais: bool


class LinePort:
    """One span's real-time part (see dsp/c/line_port.h).  The port keeps its wire alive."""

    def __init__(self, wire: WireEnd, *, crc4: bool = True, dchannel_timeslot: int = 16, max_hdlc_frame: int = 260,
                 clock_line: bool = False, ppm: float = 0.0, elastic_depth: int = 256, idle_octet: int = 0xD5,
                 seed: int = 0, holdover: float = 0.05, max_catch_up: float = 0.25):
        cfg = ffi.new("line_port_config *")
        cfg.crc4 = int(bool(crc4))
        cfg.dchannel_timeslot = dchannel_timeslot
        cfg.max_hdlc_frame = max_hdlc_frame
        cfg.clock_line = lib.LINE_PORT_CLOCK_LINE if clock_line else lib.LINE_PORT_CLOCK_INTERNAL
        cfg.ppm = ppm
        cfg.elastic_depth = elastic_depth
        cfg.idle_octet = idle_octet
        cfg.seed = seed
        cfg.holdover = holdover
        cfg.max_catch_up = max_catch_up
        handle = lib.line_port_new(cfg, wire._wire)
        if handle == ffi.NULL:
            raise ValueError(f"line port: bad configuration (D-channel TS{dchannel_timeslot}, "
                             f"elastic depth {elastic_depth}, HDLC frames up to {max_hdlc_frame} octets)")
        self._port = ffi.gc(handle, lib.line_port_free)
        self.wire = wire
        self.elastic_depth = elastic_depth
        self._max_hdlc_frame = max_hdlc_frame
        self._hdlc_buf = ffi.new("uint8_t[]", max_hdlc_frame)
        self._change = ffi.new("line_port_change *")
        self._second = ffi.new("line_port_second *")
        ts = ffi.new("uint8_t[30]")
        span = lib.e1_span_new(int(bool(crc4)), dchannel_timeslot, max_hdlc_frame)
        lib.e1_span_bearer_timeslots(span, ts)
        lib.e1_span_free(span)
        self.bearer_timeslots: tuple[int, ...] = tuple(ts)

    # -- running ----------------------------------------------------------------------------
    def start(self, now: float) -> None:
        lib.line_port_start(self._port, now)

    def advance(self, now: float) -> None:
        lib.line_port_advance(self._port, now)

    def set_ppm(self, ppm: float) -> None:
        lib.line_port_set_ppm(self._port, ppm)

    # -- what the control plane drains ------------------------------------------------------
    def changes(self) -> list[tuple[float, LineStatus]]:
        out = []
        while lib.line_port_next_change(self._port, self._change):
            out.append((self._change.time, _status(self._change.status)))
        return out

    def seconds(self) -> list["PortSecond"]:
        out = []
        s = self._second
        while lib.line_port_next_second(self._port, s):
            out.append(PortSecond(s.end, s.crc4_errors, s.fas_errors, s.ebit_errors, s.slips,
                                    bool(s.oof), bool(s.los), bool(s.ais)))
        return out

    def status(self) -> LineStatus:
        st = ffi.new("e1_status *")
        lib.line_port_get_status(self._port, st)
        return _status(st)

    def counters(self) -> dict[str, int]:
        c = ffi.new("e1_counters *")
        lib.line_port_get_counters(self._port, c)
        return {name: int(getattr(c, name)) for name in _COUNTER_NAMES}

    def state(self) -> dict[str, int]:
        st = ffi.new("line_port_state *")
        lib.line_port_get_state(self._port, st)
        return {name: int(getattr(st, name)) for name in PORT_STATE}

    # -- D-channel and bearers ----------------------------------------------------------------
    def send_dchannel(self, frame: bytes) -> bool:
        if not frame:
            raise ValueError("frame: an HDLC frame needs at least one octet")
        if len(frame) > self._max_hdlc_frame:
            raise ValueError(f"frame: {len(frame)} octets exceeds max_hdlc_frame={self._max_hdlc_frame}")
        return lib.line_port_send_hdlc(self._port, frame, len(frame)) == 0

    def recv_dchannel(self) -> list[bytes]:
        frames = []
        while True:
            n = lib.line_port_recv_hdlc(self._port, self._hdlc_buf, self._max_hdlc_frame)
            if n < 0:
                return frames
            frames.append(bytes(ffi.buffer(self._hdlc_buf, n)))

    def write_bearer(self, block: np.ndarray) -> None:
        _check_array(block, "bearer block", (B_CHANNELS, None))
        if block.shape[1]:
            lib.line_port_write_bearer(self._port, _ptr(block), block.shape[1])

    def read_bearer(self, n: int) -> np.ndarray:
        out = np.empty((B_CHANNELS, int(n)), dtype=np.uint8)
        if n:
            lib.line_port_read_bearer(self._port, _ptr(out), int(n))
        return out

    @property
    def bearer_rx_available(self) -> int:
        return lib.line_port_bearer_rx_available(self._port)

    # -- maintenance and impairment ----------------------------------------------------------
    def set_loopback(self, mode: int) -> None:
        lib.line_port_set_loopback(self._port, mode)

    def prbs_start(self, mask: int) -> None:
        lib.line_port_prbs_start(self._port, mask)

    def prbs_stop(self) -> None:
        lib.line_port_prbs_stop(self._port)

    def prbs_result(self) -> dict:
        r = ffi.new("e1_prbs_result *")
        lib.line_port_prbs_result(self._port, r)
        return {"bits_checked": r.bits_checked, "bit_errors": r.bit_errors,
                "in_sync": bool(r.in_sync), "resyncs": r.resyncs, "active": bool(r.active)}

    def impair_ber(self, p: float) -> None:
        lib.line_port_impair_ber(self._port, p)

    def impair_burst(self, nbits: int) -> None:
        lib.line_port_impair_burst(self._port, nbits)

    def impair_ais(self, on: bool) -> None:
        lib.line_port_impair_ais(self._port, int(bool(on)))

    def impair_cut(self, on: bool) -> None:
        lib.line_port_impair_cut(self._port, int(bool(on)))

    @property
    def impair_errors(self) -> int:
        return lib.line_port_impair_errors(self._port)


class LineThread:
    """The line's own thread (dsp/c/line_thread.h): advances attached ports every `period`."""

    def __init__(self, period: float = 0.001):
        handle = lib.line_thread_new(int(round(period * 1e9)))
        if handle == ffi.NULL:
            raise ValueError(f"line thread period {period} s: expected 0.0001 .. 0.02 s")
        self._thread = ffi.gc(handle, lib.line_thread_free)
        self.period = period
        self._ports: list[LinePort] = []   # kept alive while the thread may touch them

    def attach(self, port: LinePort) -> None:
        if lib.line_thread_attach(self._thread, port._port) != 0:
            raise OverflowError(f"the line thread drives at most {lib.LINE_THREAD_MAX_PORTS} spans")
        if port not in self._ports:
            self._ports.append(port)

    def detach(self, port: LinePort) -> None:
        lib.line_thread_detach(self._thread, port._port)   # returns once the thread let go
        if port in self._ports:
            self._ports.remove(port)

    def start(self, realtime_priority: bool = True) -> None:
        if lib.line_thread_start(self._thread, int(bool(realtime_priority))) != 0:
            raise OSError("could not start the line thread")

    def stop(self) -> None:
        lib.line_thread_stop(self._thread)

    def stats(self) -> dict[str, int]:
        st = ffi.new("line_thread_stats *")
        lib.line_thread_get_stats(self._thread, st)
        return {name: int(getattr(st, name)) for name in THREAD_STATS}

    def reset_stats(self) -> None:
        lib.line_thread_reset_stats(self._thread)

    @staticmethod
    def now() -> float:
        return lib.line_thread_now()

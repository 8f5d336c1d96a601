"""The emulated line's real-time part in C, for Python callers: the wire end, the line port
(pacing, impairment, elastic store, framer/deframer and HDLC of one span) and the line thread
that advances ports on CLOCK_MONOTONIC with no Python in the loop.

    wire = WireEnd(frames_per_datagram=8)           # attach_fd(sock.fileno()) or WireEnd.pair()
    port = LinePort(wire, crc4=True, clock_line=False, elastic_depth=256, idle_octet=0xD5)
    port.start(now)
    port.advance(now)            # lockstep: on the virtual clock
    thread = LineThread(period=0.001); thread.attach(port); thread.start()   # real time

The C side is dsp/c/e1_wire.h, line_port.h, media_port.h and line_thread.h; every call takes its port's lock
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
        self._media: MediaPort | None = None

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

    # -- the media plane ---------------------------------------------------------------------
    def media(self) -> "MediaPort":
        """The span's media plane, enabled on the first call: from then on every 10 ms block the
        advance receives runs through it (the line's transmit side is primed with one block of
        silence), and the bearer read/write calls are no longer the control plane's."""
        if self._media is None:
            handle = lib.line_port_media_enable(self._port)
            if handle == ffi.NULL:
                raise MemoryError("media plane: out of memory")
            self._media = MediaPort(handle, owner=self)
        return self._media


class LineThread:
    """The line's own thread (dsp/c/line_thread.h): advances attached ports every `period`."""

    def __init__(self, period: float = 0.001):
        handle = lib.line_thread_new(int(round(period * 1e9)))
        if handle == ffi.NULL:
            raise ValueError(f"line thread period {period} s: expected 0.0001 .. 0.02 s")
        self._thread = ffi.gc(handle, lib.line_thread_free)
        self.period = period
        self._ports: list = []   # line and RTP ports, kept alive while the thread may touch them

    def attach(self, port: LinePort) -> None:
        if lib.line_thread_attach(self._thread, port._port) != 0:
            raise OverflowError(f"the line thread drives at most {lib.LINE_THREAD_MAX_PORTS} spans")
        if port not in self._ports:
            self._ports.append(port)

    def detach(self, port: LinePort) -> None:
        lib.line_thread_detach(self._thread, port._port)   # returns once the thread let go
        if port in self._ports:
            self._ports.remove(port)

    def attach_rtp(self, port) -> None:
        """Advance an RTP port (dsp/rtp.py) every period, after the line ports: an E1 channel
        and an RTP leg bridged to each other are then run by this one thread."""
        if lib.line_thread_attach_rtp(self._thread, port._port) != 0:
            raise OverflowError(f"the line thread drives at most {lib.LINE_THREAD_MAX_RTP_PORTS} RTP ports")
        if port not in self._ports:
            self._ports.append(port)

    def detach_rtp(self, port) -> None:
        lib.line_thread_detach_rtp(self._thread, port._port)   # returns once the thread let go
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


class MediaPort:
    """A span's media plane in C (dsp/c/media_port.h): 30 channels through one media batch per
    10 ms block, with its own lock and event ring.  An emulated span's line port owns one
    (`LinePort.media()`) and runs it inside its advance; a DAHDI span makes its own
    (`MediaPort()`) and runs `block` on what its B-channel descriptors delivered."""

    CHANNELS = lib.MEDIA_PORT_CHANNELS
    BLOCK = lib.MEDIA_PORT_BLOCK

    def __init__(self, handle=None, *, owner: object = None):
        if handle is None:
            handle = lib.media_port_new()
            if handle == ffi.NULL:
                raise MemoryError("media plane: out of memory")
            handle = ffi.gc(handle, lib.media_port_free)
        self._mp = handle
        self._owner = owner    # the line port that owns (and frees) a handle it lent us
        self._out = np.empty((self.CHANNELS, self.BLOCK), np.uint8)

    def block(self, line_in: np.ndarray) -> np.ndarray:
        """Run one block: uint8 (30, 80) received octets in, the (30, 80) octets to send out
        (a buffer reused by the next call)."""
        _check_array(line_in, "media block", (self.CHANNELS, self.BLOCK))
        lib.media_port_block(self._mp, _ptr(line_in), _ptr(self._out))
        return self._out

    def set_idle_law(self, law: int) -> None:
        """Channels with no call send silence in `law` (lib.MEDIA_CODEC_ALAW or ULAW; A-law
        unless told): the law of the span, for a carrier that takes every channel's octets."""
        if law not in (lib.MEDIA_CODEC_ALAW, lib.MEDIA_CODEC_ULAW):
            raise ValueError(f"idle law: expected MEDIA_CODEC_ALAW or MEDIA_CODEC_ULAW, got {law!r}")
        for channel in range(self.CHANNELS):
            lib.media_port_configure(self._mp, channel, law, 0)

    @property
    def blocks(self) -> int:
        return lib.media_port_blocks(self._mp)


class _Channel:
    """One B-channel's blocks in the media plane, allocated when the channel opens."""

    def __init__(self):
        player = lib.player_new()
        rx = lib.dtmf_rx_new()
        point = lib.bridge_point_new()
        if player == ffi.NULL or rx == ffi.NULL or point == ffi.NULL:
            raise MemoryError("media channel: out of memory")
        self.player = ffi.gc(player, lib.player_free)
        self.rx = ffi.gc(rx, lib.dtmf_rx_free)
        self.point = ffi.gc(point, lib.bridge_point_free)
        # Who this channel hears and who hears it: both ends keep each other (and so each other's
        # bridge point) alive until the relation is undone under the listener's port lock.
        self.hears: dict[int, tuple["PortMedia", "_Channel"]] = {}
        self.heard_by: dict[int, tuple["PortMedia", "_Channel"]] = {}
        self.playing: dict[int, np.ndarray] = {}   # item id -> samples the C player points into
        self.recorders: dict[int, object] = {}      # direction -> pcm ring


class PortMedia:
    """A span's media plane (dsp/c/media_port.h) for the control plane: 30 channels through one
    media batch per 10 ms block, run by whoever carries the span's B-channels (the emulated
    line's advance, a DAHDI span's tick).  Channels are 0..29 (B-channel 1..30).  The control plane
    opens a channel for a call in its law, queues prompts on it, bridges it to other channels
    (`hear`: calls, conferences, monitor/whisper/barge), and drains what the block's taps found;
    nothing here runs per block."""

    def __init__(self, port: "MediaPort | LinePort"):
        self.port = port.media() if isinstance(port, LinePort) else port
        if not isinstance(self.port, MediaPort):
            raise TypeError(f"PortMedia takes a MediaPort (or a LinePort), got {type(port).__name__}")
        mp = self.port._mp
        self._channels: dict[int, _Channel] = {}
        self._law: dict[int, int] = {}
        self._events = ffi.new("media_port_event[256]")
        self._counter = lib.media_port_event_counter(mp)
        self._seen = self._counter[0]
        self._digits: dict[int, list[str]] = {}
        self._ended: dict[int, list[tuple[int, int]]] = {}
        
    @staticmethod
    def _check_channel(channel: int) -> int:
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= channel < B_CHANNELS:
            raise ValueError(f"channel: expected 0..{B_CHANNELS - 1} (B-channel 1..30), got {channel!r}")
        return int(channel)

    def open(self, channel: int, law: int, *, dtmf: bool = True) -> None:
        """Start carrying `channel` in `law` (lib.MEDIA_CODEC_ALAW or ULAW), silent, with a DTMF
        receiver on what the line sends (unless `dtmf` is False: an RTP leg whose digits come
        as RFC 4733 events and whose codec would not carry tones, such as G.729)."""
        channel = self._check_channel(channel)
        self.close(channel)
        ch = _Channel()
        port = self.port._mp
        self._raise(lib.media_port_configure(port, channel, law, 1), f"open channel {channel}")
        self._raise(lib.media_port_attach_player(port, channel, ch.player), f"player on channel {channel}")
        if dtmf:
            self._raise(lib.media_port_attach_dtmf(port, channel, ch.rx), f"DTMF receiver on channel {channel}")
        self._raise(lib.media_port_attach_bridge(port, channel, ch.point), f"bridge on channel {channel}")
        self._channels[channel] = ch
        self._law[channel] = law

    def close(self, channel: int) -> None:
        channel = self._check_channel(channel)
        ch = self._channels.pop(channel, None)
        if ch is None:
            return
        lib.media_port_player_stop(self.port._mp, ch.player)
        for listener_media, listener in list(ch.heard_by.values()):
            listener_media._unhear(listener, ch)
        for _, source in list(ch.hears.values()):
            self._unhear(ch, source)
        lib.media_port_clear(self.port._mp, channel)
        lib.media_port_configure(self.port._mp, channel, self._law.pop(channel), 0)
        self._digits.pop(channel, None)
        self._ended.pop(channel, None)

    def is_open(self, channel: int) -> bool:
        return channel in self._channels

    def play(self, channel: int, samples: np.ndarray, *, loops: int = 1, interruptible: bool = False) -> int:
        """Queue int16 samples on the channel (loops 0: until stopped); returns the item's id."""
        ch = self._open_channel(channel)
        samples = np.ascontiguousarray(samples, np.int16)
        if samples.ndim != 1 or not len(samples):
            raise ValueError(f"samples: expected a non-empty 1-D int16 array, got shape {samples.shape}")
        item = ffi.new("int64_t *")
        rc = lib.media_port_player_enqueue(self.port._mp, ch.player, ffi.from_buffer("int16_t[]", samples),
                                          len(samples), loops, int(interruptible), item)
        if rc == lib.PLAYER_ERR_QUEUE_FULL:
            raise OverflowError(f"channel {channel}: already {lib.PLAYER_MAX_QUEUE} prompts queued")
        self._raise(rc, f"play on channel {channel}")
        ch.playing[item[0]] = samples
        return int(item[0])

    def stop(self, channel: int) -> None:
        ch = self._channels.get(self._check_channel(channel))
        if ch is not None:
            lib.media_port_player_stop(self.port._mp, ch.player)
            ch.playing.clear()   # the player let go of every item under the port's lock

    def barge_in(self, channel: int, on: bool = True) -> None:
        ch = self._open_channel(channel)
        lib.media_port_player_barge_in(self.port._mp, ch.player, ch.rx if on else ffi.NULL)

    def hear(self, channel: int, source: "PortMedia", source_channel: int, gain_db: float = 0.0) -> None:
        """`channel` hears what the line sends on `source_channel` of `source` (this span or
        another run by the same thread: see dsp/c/media_port.h), mixed with whatever else it hears."""
        ch = self._open_channel(channel)
        src = source._open_channel(source_channel)
        if src is ch:
            raise ValueError(f"channel {channel} cannot hear itself")
        if not -90.0 <= gain_db <= 12.0:
            raise ValueError(f"gain: expected -90 .. +12 dB, got {gain_db}")
        gain = int(round(4096 * 10 ** (gain_db / 20)))
        rc = lib.media_port_bridge_listen(self.port._mp, ch.point, src.point, gain)
        if rc == lib.BRIDGE_ERR_FULL:
            raise OverflowError(f"channel {channel} already hears {lib.BRIDGE_MAX_SOURCES} channels")
        self._raise(rc, f"bridge channel {channel}")
        ch.hears[id(src)] = (source, src)
        src.heard_by[id(ch)] = (self, ch)

    def stop_hearing(self, channel: int, source: "PortMedia", source_channel: int) -> None:
        ch = self._channels.get(self._check_channel(channel))
        src = source._channels.get(self._check_channel(source_channel))
        if ch is not None and src is not None:
            self._unhear(ch, src)

    def _unhear(self, ch: _Channel, src: _Channel) -> None:
        lib.media_port_bridge_unlisten(self.port._mp, ch.point, src.point)
        ch.hears.pop(id(src), None)
        src.heard_by.pop(id(ch), None)

    def bridge_stats(self, channel: int) -> dict[str, int]:
        ch = self._open_channel(channel)
        st = ffi.new("bridge_point_stats_t *")
        lib.media_port_bridge_stats(self.port._mp, ch.point, st)
        return {"samples_written": int(st.samples_written), "underruns": int(st.underruns),
                "resyncs": int(st.resyncs), "sources": int(st.sources)}

    def poll(self) -> None:
        """Take what the span's taps found since the last poll, in one call (only when the port
        says there is something: its counter is read without a call)."""
        if self._counter[0] == self._seen:
            return
        self._seen = self._counter[0]
        while True:
            n = lib.media_port_events(self.port._mp, self._events, 256)
            for k in range(n):
                ev = self._events[k]
                if ev.channel not in self._channels:
                    continue
                if ev.kind == lib.MEDIA_PORT_EVENT_DIGIT_START:
                    self._digits.setdefault(ev.channel, []).append(ev.digit.decode())
                elif ev.kind == lib.MEDIA_PORT_EVENT_PROMPT_END:
                    ch = self._channels[ev.channel]
                    ch.playing.pop(int(ev.item_id), None)
                    self._ended.setdefault(ev.channel, []).append((int(ev.item_id), int(ev.reason)))
            if n < 256:
                return

    def finished(self, channel: int) -> list[tuple[int, int]]:
        """(item id, reason) of prompts that ended since the last call; their samples are released."""
        self.poll()
        return self._ended.pop(channel, [])

    def digits(self, channel: int) -> list[str]:
        """Digits whose tone started since the last call."""
        self.poll()
        return self._digits.pop(channel, [])

    def reset_dtmf(self, channel: int) -> None:
        """The channel's DTMF receiver starts afresh (a new call: a digit the last call was
        holding must not swallow the new call's first)."""
        ch = self._open_channel(channel)
        lib.media_port_dtmf_reset(self.port._mp, ch.rx)
        self.digits(channel)

    def record(self, channel: int, direction: int = lib.MEDIA_FROM_LINE, seconds: float = 30.0) -> None:
        """Tap the channel's linear audio (from the line, or to it) into a ring of `seconds`;
        drain it with `recorded()`.  The tap stays until the channel closes."""
        ch = self._open_channel(channel)
        if direction in ch.recorders:
            return
        ring = lib.pcm_ring_new(int(seconds * 8000))
        if ring == ffi.NULL:
            raise MemoryError("recorder ring: out of memory")
        ring = ffi.gc(ring, lib.pcm_ring_free)
        self._raise(lib.media_port_attach_recorder(self.port._mp, channel, direction, ring),
                    f"recorder on channel {channel}")
        ch.recorders[direction] = ring

    def recorded(self, channel: int, direction: int = lib.MEDIA_FROM_LINE) -> np.ndarray:
        """The audio the recorder tap took since the last call, int16."""
        ch = self._open_channel(channel)
        ring = ch.recorders.get(direction)
        if ring is None:
            raise ValueError(f"channel {channel}: no recorder in that direction")
        chunks = []
        buf = np.empty(8000, np.int16)
        while True:
            n = lib.media_port_recorder_take(self.port._mp, ring, ffi.from_buffer("int16_t[]", buf), len(buf))
            chunks.append(buf[:n].copy())
            if n < len(buf):
                return np.concatenate(chunks)

    def recorder_lost(self, channel: int, direction: int = lib.MEDIA_FROM_LINE) -> int:
        """Samples the tap dropped because nobody drained its ring in time (oldest first), since
        the tap was attached.  Read without the port's lock: one aligned 64-bit load."""
        ring = self._open_channel(channel).recorders.get(direction)
        if ring is None:
            raise ValueError(f"channel {channel}: no recorder in that direction")
        return int(lib.pcm_ring_lost(ring))

    @property
    def blocks(self) -> int:
        return lib.media_port_blocks(self.port._mp)

    def _open_channel(self, channel: int) -> _Channel:
        ch = self._channels.get(self._check_channel(channel))
        if ch is None:
            raise ValueError(f"channel {channel}: not open in the media plane")
        return ch

    @staticmethod
    def _raise(rc: int, what: str) -> None:
        if rc < 0:
            raise ValueError(f"media plane: {what} failed (error {rc})")

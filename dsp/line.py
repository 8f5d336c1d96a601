"""One E1 span's layer 1 and D-channel HDLC, in C, behind a thin Python wrapper.

What the C core does (dsp/c/e1_span.c, hdlc.c, prbs.c, elastic.c, impair.c, e1_crc4.c):

* Transmit: 32-octet frames, TS0 per G.704 (FAS ``x0011011`` in even frames; NFAS with bit 2 = 1,
  A-bit, Sa4..Sa8), the CRC-4 multiframe (C1..C4 over the previous sub-multiframe, MFAS
  ``001011``, E-bits), the D-channel timeslot carrying HDLC, 30 bearer timeslots.
* Receive: G.706 frame alignment (lost after 3 consecutive bad FAS; regained on FAS in frame n,
  NFAS bit 2 = 1 in n+1, FAS in n+2), CRC-4 multiframe alignment (two MFAS within 8 ms spaced
  by multiples of 2 ms; non-CRC-4 fallback after 400 ms, G.706 Annex B), false-alignment
  restart at >= 915 errored blocks in 1000, alarms and counters.

**Wire assumption.** The wire (the emulated E1 link) keeps octet and frame boundaries: every
frame handed to `receive()` is 32 octets with TS0 first.  The receiver therefore never hunts
for bit or octet alignment; its frame search only decides *which* frames are FAS frames (even
or odd parity), exactly per the G.706 three-step procedure.  A consequence: G.706's 8 ms
re-search when no CRC-4 multiframe is found is not needed to escape a spurious FAS position
(an NFAS frame's bit 2 is 1, so it can never pass for a FAS); the multiframe search simply
keeps running until it succeeds or the 400 ms fallback timer expires.

Bit order: bit 1 of a timeslot is the most significant bit of its octet.  HDLC bits are sent
LSB first per octet, so the n-th HDLC bit lands in the D-channel timeslot octets MSB first.

Alarm criteria as implemented: LOS after a run of 255 zeros (G.775 allows 10..255), cleared
by a frame with >= 12.5 % ones; AIS at <= 2 zeros in each of two consecutive 512-bit
periods, cleared at >= 3 zeros in each of two; LOF = not frame aligned; RAI once three
consecutive NFAS frames carry A = 1 (cleared by three with A = 0).  The A-bit we send is
automatic (set while we have LOS, LOF or AIS) unless forced with `set_remote_alarm`.
E-bits are sent as 0 until our receiver is CRC-4 multiframe aligned, then 0 once per received
errored sub-multiframe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp import ffi, lib

FRAME_OCTETS = lib.E1_FRAME_OCTETS
B_CHANNELS = lib.E1_B_CHANNELS
MAX_HDLC_FRAME_LIMIT = lib.HDLC_MAX_FRAME_LIMIT
LOS_ZERO_RUN = lib.E1_LOS_ZERO_RUN

_CRC4_STATES = {
    lib.E1_CRC4_OFF: "off",
    lib.E1_CRC4_SEARCHING: "searching",
    lib.E1_CRC4_ALIGNED: "aligned",
    lib.E1_CRC4_FALLBACK: "fallback",
}
_LOOPBACKS = {"none": lib.E1_LOOP_NONE, "local": lib.E1_LOOP_LOCAL, "line": lib.E1_LOOP_LINE}
_COUNTER_NAMES = [name for name, _ in ffi.typeof("e1_counters").fields]


def _as_bytes(data, what: str) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be bytes, got {type(data).__name__}")


def _check_array(arr, what: str, shape: tuple, *, writable: bool = False) -> np.ndarray:
    """Every array crossing into C: uint8, the exact shape, C-contiguous (and writable for out)."""
    # Called on every tick: the fast test first, the error text only when something is wrong.
    if (isinstance(arr, np.ndarray) and arr.dtype == np.uint8 and arr.ndim == len(shape)
            and all(d is None or d == a for d, a in zip(shape, arr.shape))
            and arr.flags.c_contiguous and (arr.flags.writeable or not writable)):
        return arr
    expected = "x".join("n" if d is None else str(d) for d in shape)
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{what}: expected a numpy uint8 array of shape ({expected}), got {type(arr).__name__}")
    if arr.dtype != np.uint8:
        raise ValueError(f"{what}: expected dtype uint8, got {arr.dtype}")
    if arr.ndim != len(shape) or any(d is not None and d != a for d, a in zip(shape, arr.shape)):
        raise ValueError(f"{what}: expected shape ({expected}), got {arr.shape}")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{what}: expected a C-contiguous array (use np.ascontiguousarray)")
    raise ValueError(f"{what}: expected a writable array")


def _ptr(arr: np.ndarray):
    return ffi.from_buffer("uint8_t[]", arr, require_writable=arr.flags.writeable)


def fcs16(data: bytes) -> int:
    """HDLC FCS-16 of `data` as transmitted (CRC-CCITT reflected, init FFFF, final xor);
    the low octet goes on the line first."""
    data = _as_bytes(data, "data")
    return lib.hdlc_fcs16(data, len(data))


@dataclass(frozen=True)
class LineStatus:
    frame_aligned: bool
    multiframe_aligned: bool
    crc4: str            # "off" | "searching" | "aligned" | "fallback"
    los: bool
    ais: bool
    lof: bool
    rai: bool
    remote_alarm_sent: bool


class SpanCore:
    """One span's layer 1 + D-channel HDLC.  Not thread-safe: one owner drives it."""

    def __init__(self, *, crc4: bool = True, dchannel_timeslot: int = 16, max_hdlc_frame: int = 260):
        if not isinstance(crc4, bool):
            raise ValueError(f"crc4: expected True or False, got {crc4!r}")
        if not isinstance(dchannel_timeslot, int) or not 1 <= dchannel_timeslot <= 31:
            raise ValueError(f"dchannel_timeslot: expected an integer timeslot 1..31, got {dchannel_timeslot!r}")
        if not isinstance(max_hdlc_frame, int) or not 1 <= max_hdlc_frame <= MAX_HDLC_FRAME_LIMIT:
            raise ValueError(f"max_hdlc_frame: expected 1..{MAX_HDLC_FRAME_LIMIT} octets, got {max_hdlc_frame!r}")
        span = lib.e1_span_new(int(crc4), dchannel_timeslot, max_hdlc_frame)
        if span == ffi.NULL:
            raise MemoryError("could not allocate an E1 span core")
        self._span = ffi.gc(span, lib.e1_span_free)
        self._max_hdlc_frame = max_hdlc_frame
        self._rx_buf = ffi.new("uint8_t[]", max_hdlc_frame)
        self.dchannel_timeslot = dchannel_timeslot
        ts = ffi.new("uint8_t[30]")
        lib.e1_span_bearer_timeslots(self._span, ts)
        self.bearer_timeslots: tuple[int, ...] = tuple(ts)

    # -- D-channel --
    def send_dchannel(self, frame: bytes) -> bool:
        """Queue one HDLC frame (without FCS); False if the transmit queue is full."""
        frame = _as_bytes(frame, "frame")
        if not frame:
            raise ValueError("frame: an HDLC frame needs at least one octet")
        if len(frame) > self._max_hdlc_frame:
            raise ValueError(f"frame: {len(frame)} octets exceeds max_hdlc_frame={self._max_hdlc_frame}")
        return lib.e1_span_send_hdlc(self._span, frame, len(frame)) == 0

    def recv_dchannel(self) -> list[bytes]:
        """Good received frames (FCS checked and removed), oldest first."""
        frames = []
        while True:
            n = lib.e1_span_recv_hdlc(self._span, self._rx_buf, self._max_hdlc_frame)
            if n < 0:
                return frames
            frames.append(bytes(ffi.buffer(self._rx_buf, n)))

    # -- B-channels --
    def write_bearer(self, block: np.ndarray) -> None:
        """Queue the next n octets of B1..B30 (uint8 (30, n)) for transmission."""
        _check_array(block, "bearer block", (B_CHANNELS, None))
        if block.shape[1]:
            lib.e1_span_write_bearer(self._span, _ptr(block), block.shape[1])

    def read_bearer(self, n: int) -> np.ndarray:
        """The next n received octets of B1..B30 as uint8 (30, n); short reads are padded with
        0xFF and counted as bearer_rx_underrun."""
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n: expected a non-negative number of octets, got {n!r}")
        out = np.empty((B_CHANNELS, int(n)), dtype=np.uint8)
        if n:
            lib.e1_span_read_bearer(self._span, _ptr(out), int(n))
        return out

    @property
    def bearer_rx_available(self) -> int:
        return lib.e1_span_bearer_rx_available(self._span)

    def set_bearer_idle(self, octet: int) -> None:
        """Octet sent on B-channels with nothing queued (default 0xD5, A-law silence)."""
        if not isinstance(octet, int) or not 0 <= octet <= 255:
            raise ValueError(f"octet: expected 0..255, got {octet!r}")
        lib.e1_span_set_bearer_idle(self._span, octet)

    # -- frames --
    def transmit(self, out: np.ndarray) -> None:
        """Fill `out` (uint8 (n, 32), C-contiguous) with the next n frames."""
        _check_array(out, "out", (None, FRAME_OCTETS), writable=True)
        if out.shape[0]:
            lib.e1_span_transmit(self._span, _ptr(out), out.shape[0])

    def receive(self, frames: np.ndarray) -> None:
        """Deframe uint8 (n, 32) frames as they came off the wire."""
        _check_array(frames, "frames", (None, FRAME_OCTETS))
        if frames.shape[0]:
            lib.e1_span_receive(self._span, _ptr(frames), frames.shape[0])

    # -- maintenance --
    def set_remote_alarm(self, on: bool | None) -> None:
        """Force the A-bit on or off; None = automatic (on while LOS, LOF or AIS)."""
        if on is not None and not isinstance(on, bool):
            raise ValueError(f"on: expected True, False or None, got {on!r}")
        lib.e1_span_set_remote_alarm(self._span, -1 if on is None else int(on))

    def set_sa_bits(self, sa: int) -> None:
        """Sa4..Sa8 as a 5-bit value, Sa4 the most significant bit (default 0b11111)."""
        if not isinstance(sa, int) or not 0 <= sa <= 0x1F:
            raise ValueError(f"sa: expected a 5-bit value 0..31 (Sa4 = bit 4), got {sa!r}")
        lib.e1_span_set_sa_bits(self._span, sa)

    def set_send_ais(self, on: bool) -> None:
        lib.e1_span_set_send_ais(self._span, int(bool(on)))

    def set_crc4(self, on: bool) -> None:
        lib.e1_span_set_crc4(self._span, int(bool(on)))

    def set_loopback(self, mode: str) -> None:
        """"none"; "local" (what we transmit is what we receive; the wire's frames are ignored);
        "line" (what we receive is sent back, still monitored on the way through)."""
        if mode not in _LOOPBACKS:
            raise ValueError(f"loopback mode: expected one of {sorted(_LOOPBACKS)}, got {mode!r}")
        lib.e1_span_set_loopback(self._span, _LOOPBACKS[mode])

    def prbs_start(self, timeslots: list[int] | str = "all") -> None:
        """Start the 2^15-1 BERT on the given timeslots (1..31), or "all" = TS1..TS31.  A BERT
        on the D-channel timeslot suspends HDLC there until prbs_stop()."""
        if timeslots == "all":
            timeslots = list(range(1, 32))
        if isinstance(timeslots, str) or not timeslots:
            raise ValueError(f"timeslots: expected 'all' or a non-empty list of timeslots 1..31, got {timeslots!r}")
        mask = 0
        for ts in timeslots:
            if not isinstance(ts, int) or not 1 <= ts <= 31:
                raise ValueError(f"timeslots: {ts!r} is not a timeslot 1..31 (TS0 carries framing)")
            mask |= 1 << ts
        lib.e1_span_prbs_start(self._span, mask)

    def prbs_stop(self) -> None:
        lib.e1_span_prbs_stop(self._span)

    def prbs_result(self) -> dict:
        r = ffi.new("e1_prbs_result *")
        lib.e1_span_prbs_result(self._span, r)
        return {"bits_checked": r.bits_checked, "bit_errors": r.bit_errors,
                "in_sync": bool(r.in_sync), "resyncs": r.resyncs, "active": bool(r.active)}

    # -- state --
    def status(self) -> LineStatus:
        st = ffi.new("e1_status *")
        lib.e1_span_get_status(self._span, st)
        return LineStatus(bool(st.frame_aligned), bool(st.multiframe_aligned),
                          _CRC4_STATES[st.crc4_state], bool(st.los), bool(st.ais), bool(st.lof),
                          bool(st.rai), bool(st.remote_alarm_sent))

    def counters(self) -> dict[str, int]:
        """Running totals since the core was made.  Less obvious ones: ebits_received = far-end
        block errors (E = 0 while we are multiframe aligned); hdlc_short / hdlc_misaligned =
        received frames under 3 octets or not a whole number of octets (dropped, like bad FCS);
        hdlc_rx_overflow = good frames lost because recv_dchannel() was not called in time;
        bearer_* = B-channel rings (1024 frames each way) over- or under-run by the caller;
        line_loop_underrun = frames sent as all ones in line loopback for want of received ones."""
        c = ffi.new("e1_counters *")
        lib.e1_span_get_counters(self._span, c)
        return {name: getattr(c, name) for name in _COUNTER_NAMES}


class SpanBatch:
    """A fixed set of spans processed together in one C call per tick (see process_spans)."""

    def __init__(self, cores: list[SpanCore]):
        if not cores or not all(isinstance(c, SpanCore) for c in cores):
            raise ValueError("cores: expected a non-empty list of SpanCore")
        self.cores = list(cores)
        self._ptrs = ffi.new("e1_span *[]", [c._span for c in self.cores])

    def process(self, rx: np.ndarray, tx: np.ndarray, bearer_in: np.ndarray | None = None,
                bearer_out: np.ndarray | None = None) -> None:
        """rx/tx uint8 (nspans, n, 32); optional bearer_in/bearer_out uint8 (nspans, 30, n):
        write bearers, receive, transmit, read bearers for every span, in one C call."""
        nspans = len(self.cores)
        _check_array(rx, "rx", (nspans, None, FRAME_OCTETS))
        n = rx.shape[1]
        _check_array(tx, "tx", (nspans, n, FRAME_OCTETS), writable=True)
        bin_ptr = bout_ptr = ffi.NULL
        if bearer_in is not None:
            bin_ptr = _ptr(_check_array(bearer_in, "bearer_in", (nspans, B_CHANNELS, n)))
        if bearer_out is not None:
            bout_ptr = _ptr(_check_array(bearer_out, "bearer_out", (nspans, B_CHANNELS, n), writable=True))
        lib.e1_process_spans(self._ptrs, nspans, _ptr(rx), _ptr(tx), n, bin_ptr, bout_ptr)


def process_spans(cores: list[SpanCore], rx: np.ndarray, tx: np.ndarray,
                  bearer_in: np.ndarray | None = None, bearer_out: np.ndarray | None = None) -> None:
    """Receive rx and transmit tx (uint8 (nspans, n, 32)) for all spans in one C call."""
    SpanBatch(cores).process(rx, tx, bearer_in, bearer_out)


class ElasticStore:
    """Frames in at the wire's pace, out at the local clock's; a full store drops the arriving
    frame, an empty one repeats the last: each a counted controlled slip.  Reading starts once
    the store has first been half full; until then reads give all-ones frames."""

    def __init__(self, depth_frames: int = 64):
        if not isinstance(depth_frames, int) or not 2 <= depth_frames <= lib.ELASTIC_MAX_DEPTH:
            raise ValueError(f"depth_frames: expected 2..{lib.ELASTIC_MAX_DEPTH}, got {depth_frames!r}")
        store = lib.elastic_new(depth_frames)
        if store == ffi.NULL:
            raise MemoryError("could not allocate the elastic store")
        self._store = ffi.gc(store, lib.elastic_free)
        self.depth = depth_frames

    def write(self, frames: np.ndarray) -> int:
        """Store uint8 (n, 32) frames; returns how many were dropped (overflow slips)."""
        _check_array(frames, "frames", (None, FRAME_OCTETS))
        return lib.elastic_write(self._store, _ptr(frames), frames.shape[0]) if frames.shape[0] else 0

    def read(self, out: np.ndarray) -> int:
        """Fill uint8 (n, 32) with the next frames; returns how many were repeats (underflow slips)."""
        _check_array(out, "out", (None, FRAME_OCTETS), writable=True)
        return lib.elastic_read(self._store, _ptr(out), out.shape[0]) if out.shape[0] else 0

    def _stats(self):
        st = ffi.new("elastic_stats *")
        lib.elastic_get_stats(self._store, st)
        return st

    @property
    def slips(self) -> int:
        st = self._stats()
        return st.overflow_slips + st.underflow_slips

    @property
    def overflow_slips(self) -> int:
        return self._stats().overflow_slips

    @property
    def underflow_slips(self) -> int:
        return self._stats().underflow_slips

    @property
    def fill(self) -> int:
        return self._stats().fill

    @property
    def primed(self) -> bool:
        """True once the store has been half full: from then on reads take stored frames."""
        return bool(self._stats().primed)


class LineImpairment:
    """Impairs frames in place on their way over the wire.  Precedence: cut (all zeros), then
    AIS (all ones), then error bursts and random bit errors."""

    def __init__(self, seed: int = 0):
        if not isinstance(seed, int) or not 0 <= seed < 2**64:
            raise ValueError(f"seed: expected an integer 0..2**64-1, got {seed!r}")
        im = lib.impair_new(seed)
        if im == ffi.NULL:
            raise MemoryError("could not allocate the line impairment")
        self._im = ffi.gc(im, lib.impair_free)

    def set_ber(self, p: float) -> None:
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"bit-error rate: expected 0..1, got {p}")
        lib.impair_set_ber(self._im, p)

    def burst(self, nbits: int) -> None:
        """Invert the next nbits bits that pass."""
        if not isinstance(nbits, int) or not 0 <= nbits < 2**32:
            raise ValueError(f"nbits: expected 0..2**32-1, got {nbits!r}")
        lib.impair_burst(self._im, nbits)

    def set_ais(self, on: bool) -> None:
        lib.impair_set_ais(self._im, int(bool(on)))

    def set_cut(self, on: bool) -> None:
        lib.impair_set_cut(self._im, int(bool(on)))

    @property
    def errors_injected(self) -> int:
        return lib.impair_errors_injected(self._im)

    def apply(self, frames: np.ndarray) -> None:
        """Impair uint8 (n, 32) frames in place."""
        _check_array(frames, "frames", (None, FRAME_OCTETS), writable=True)
        if frames.size:
            lib.impair_apply(self._im, _ptr(frames), frames.size)

"""DTMF receiver and generator: thin wrappers over dsp/c/dtmf.c.

Receiver limits (defaults; ITU-T Q.24 leaves the exact figures to each administration):

==========================  =========================================================
frequency                    accepts ≤ 1.5 % off nominal, rejects ≥ 3.5 % (limit 2.0 %)
level, each tone             accepts −36 … 0 dBm0, rejects below −40 dBm0
twist                        normal (low group louder) up to 9 dB, reverse up to 5 dB:
                             accepts 8 dB normal / 4 dB reverse, rejects 10 dB / 6 dB
duration                     accepts ≥ 34.4 ms, rejects < 28 ms (Q.24: 40 ms / 23 ms)
interruption                 a break of ≤ 10 ms does not split a digit; a pause of
                             ≥ 40 ms always separates two
==========================  =========================================================

How the tone's frequency and level are measured (dsp/c/dtmf.c): the phase advance of each
tone's DFT from one 51-sample hop to the next gives its frequency to a hertz or two; each
tone's leakage into the other group's filters is computed from that and subtracted, and the
window's loss for the measured offset is undone, so twist and level are judged within a
fraction of a dB whatever the tones' phases.

Why those durations: decisions come every hop of 51 samples (6.375 ms) over the last two
hops.  A digit needs 4 hits (with at most 2 misses between two of them: speech under a key
press knocks out single windows) and ends after 5 consecutive misses.  A window hits
only when the tone pair carries ≥ 85 % of its power (`min_tone_fraction`, also the main
talk-off guard), so a window half-filled by the tone's ragged end hits only if that end fills
≥ 70 % of its hop.  With m whole hops of tone and ragged ends a, b (fractions of a hop), the
hits, all in a row, are (m − 1) + [a ≥ 0.7] + [b ≥ 0.7]: 4 hits need m + a + b ≥ 4.4 hops (28 ms), and
≥ 5.4 hops (34.4 ms) always give 4.  A 10 ms break touches at most 3 hops, hence at most 4
windows; a 40 ms pause holds at least 4 silent windows plus an edge window that is at most
18 % tone.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from dsp import ffi, lib
from dsp.levels import require_int16

DIGITS = "0123456789*#ABCD"
ROW_HZ = (697.0, 770.0, 852.0, 941.0)
COL_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")
HOP_SAMPLES = lib.DTMF_HOP_SAMPLES
# The C receiver queues at most 64 events and drops the oldest beyond that.  Digits at their
# fastest (28 ms tone, 10 ms break) make 2 events per 38 ms, so half a second holds at most 27:
# longer blocks go to C in pieces of this size, drained between pieces, and no event is lost.
_DRAIN_EVERY_SAMPLES = 4000


def digit_frequencies(digit: str) -> tuple[float, float]:
    """(low, high) frequencies in Hz of a DTMF digit."""
    for r, row in enumerate(KEYPAD):
        c = row.find(digit.upper()) if len(digit) == 1 else -1
        if c >= 0:
            return ROW_HZ[r], COL_HZ[c]
    raise ValueError(f"not a DTMF digit: {digit!r} (expected one of {DIGITS})")


@dataclass(frozen=True)
class DtmfEvent:
    kind: str      # "start" or "end"
    digit: str
    sample: int    # onset (start) or end of the tone, in samples since the receiver began


@dataclass
class DtmfParams:
    min_level_dbm0: float = -40.0
    normal_twist_db: float = 9.0
    reverse_twist_db: float = 5.0
    max_deviation: float = 0.02
    min_tone_fraction: float = 0.85
    relative_peak_db: float = 8.0
    on_decisions: int = 4
    off_decisions: int = 5

    def _to_c(self):
        p = ffi.new("dtmf_rx_params_t *")
        for f in fields(self):
            setattr(p, f.name, getattr(self, f.name))
        return p


_KIND = {lib.DTMF_EVENT_START: "start", lib.DTMF_EVENT_END: "end"}


def _new_receiver(params: DtmfParams):
    state = lib.dtmf_rx_new()
    if state == ffi.NULL:
        raise MemoryError("dtmf_rx_new: out of memory")
    state = ffi.gc(state, lib.dtmf_rx_free)
    if lib.dtmf_rx_set_params(state, params._to_c()) != 0:
        raise ValueError(f"DTMF receiver parameters out of range: {params}")
    return state


class _EventReader:
    def __init__(self, capacity: int = 64):
        self._buf = ffi.new("dtmf_event_t[]", capacity)
        self._capacity = capacity

    def drain(self, state) -> list[DtmfEvent]:
        out: list[DtmfEvent] = []
        while True:
            n = lib.dtmf_rx_get_events(state, self._buf, self._capacity)
            for i in range(n):
                e = self._buf[i]
                out.append(DtmfEvent(_KIND[e.kind], e.digit.decode(), e.sample))
            if n < self._capacity:
                return out


class DtmfReceiver:
    """One channel's DTMF receiver.  Feed blocks of any length; get digit start/end events."""

    def __init__(self, params: DtmfParams | None = None):
        self.params = params or DtmfParams()
        self._state = _new_receiver(self.params)
        self._reader = _EventReader()

    def process(self, samples: np.ndarray) -> list[DtmfEvent]:
        samples = require_int16(samples, "DtmfReceiver.process(samples)")
        events = self._reader.drain(self._state)     # also what an empty block returns
        for start in range(0, samples.size, _DRAIN_EVERY_SAMPLES):
            piece = samples[start:start + _DRAIN_EVERY_SAMPLES]
            lib.dtmf_rx(self._state, ffi.from_buffer("int16_t[]", piece), piece.size)
            events += self._reader.drain(self._state)
        return events

    @property
    def current(self) -> str | None:
        d = lib.dtmf_rx_current(self._state)
        return d.decode() if d != b"\x00" else None

    @property
    def lost_events(self) -> int:
        return lib.dtmf_rx_lost_events(self._state)

    def reset(self) -> None:
        lib.dtmf_rx_reset(self._state)


class DtmfReceiverBank:
    """Receivers for many channels, run in one C call per block (the per-tick shape)."""

    def __init__(self, channels: int, params: DtmfParams | None = None):
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"DtmfReceiverBank: channels must be a positive int, got {channels!r}")
        self.params = params or DtmfParams()
        self._states = [_new_receiver(self.params) for _ in range(channels)]
        self._array = ffi.new("dtmf_rx_state_t *[]", self._states)
        self._reader = _EventReader()
        self.channels = channels

    def process(self, block: np.ndarray) -> list[list[DtmfEvent]]:
        block = require_int16(block, "DtmfReceiverBank.process(block)", ndim=2)
        if block.shape[0] != self.channels:
            raise ValueError(f"DtmfReceiverBank.process(block): expected {self.channels} rows "
                             f"(one per channel), got shape {block.shape}")
        events = [self._reader.drain(state) for state in self._states]
        for start in range(0, block.shape[1], _DRAIN_EVERY_SAMPLES):
            piece = np.ascontiguousarray(block[:, start:start + _DRAIN_EVERY_SAMPLES])
            lib.dtmf_rx_many(self._array, self.channels, ffi.from_buffer("int16_t[]", piece), piece.shape[1])
            for channel_events, state in zip(events, self._states):
                channel_events += self._reader.drain(state)
        return events

    def reset(self, channel: int) -> None:
        """Forget all `channel` heard (a digit it thinks is still sounding, events not yet read):
        a new call on the channel must not inherit the last one's."""
        if not isinstance(channel, int) or not 0 <= channel < self.channels:
            raise ValueError(f"DtmfReceiverBank.reset: channel {channel!r} out of range 0..{self.channels - 1}")
        lib.dtmf_rx_reset(self._states[channel])


def digits_of(events: list[DtmfEvent]) -> str:
    return "".join(e.digit for e in events if e.kind == "start")


def detect_digits(samples: np.ndarray, params: DtmfParams | None = None) -> str:
    """The digits in a whole recording (a digit still sounding at the end counts)."""
    return digits_of(DtmfReceiver(params).process(samples))


class DtmfGenerator:
    """Queued DTMF digits at a settable level and on/off timing (spandsp's dtmf_tx shape)."""

    def __init__(self, level_dbm0: float = -10.0, twist_db: float = 0.0,
                 on_ms: int = 50, off_ms: int = 55):
        state = lib.dtmf_tx_new()
        if state == ffi.NULL:
            raise MemoryError("dtmf_tx_new: out of memory")
        self._state = ffi.gc(state, lib.dtmf_tx_free)
        self.set_level(level_dbm0, twist_db)
        self.set_timing(on_ms, off_ms)

    def set_level(self, level_dbm0: float, twist_db: float = 0.0) -> None:
        """level_dbm0: the low-group tone; the high-group tone is twist_db below it."""
        if lib.dtmf_tx_set_level(self._state, level_dbm0, twist_db) != 0:
            raise ValueError(f"DTMF level {level_dbm0} dBm0 / twist {twist_db} dB out of range "
                             "(expected level −90 … +3.14 dBm0, twist −20 … 20 dB)")

    def set_timing(self, on_ms: int, off_ms: int) -> None:
        if lib.dtmf_tx_set_timing(self._state, int(on_ms), int(off_ms)) != 0:
            raise ValueError(f"DTMF timing on={on_ms} ms off={off_ms} ms out of range "
                             "(expected on 1 … 60000 ms, off 0 … 60000 ms)")

    def put(self, digits: str) -> int:
        raw = digits.encode("ascii", errors="replace")
        taken = lib.dtmf_tx_put(self._state, raw, len(raw))
        if taken < 0:
            bad = next(ch for ch in digits if ch.upper() not in DIGITS)
            raise ValueError(f"not a DTMF digit: {bad!r} in {digits!r} (expected one of {DIGITS})")
        return taken

    @property
    def pending(self) -> int:
        return lib.dtmf_tx_pending(self._state)

    def generate(self, n: int) -> np.ndarray:
        """Up to n samples; fewer once every queued digit (and its pause) has been sent."""
        out = np.zeros(n, dtype=np.int16)
        written = lib.dtmf_tx(self._state, ffi.from_buffer("int16_t[]", out), n)
        return out[:written]

    def render(self, digits: str) -> np.ndarray:
        """All samples of `digits`, each tone followed by its pause."""
        chunks = []
        for start in range(0, len(digits), 100):
            self.put(digits[start:start + 100])
            while self.pending:
                chunks.append(self.generate(8000))
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

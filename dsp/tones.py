"""Call-progress tones: the cadence table per country, a generator, and a detector for the tones
an outbound call hears (dial, ringback, busy, congestion, fax CNG/CED).

The C receiver (dsp/c/tones.c) turns audio into segments — which watched frequencies sound,
from when to when — and this module, the control plane, matches those segments against the
cadence table.  Samples never loop in Python; segments come a few per second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp import ffi, lib
from dsp.levels import SAMPLE_RATE, require_int16


@dataclass(frozen=True)
class ToneSpec:
    name: str
    freqs_hz: tuple[float, ...]
    cadence_ms: tuple[int, ...]       # on, off, on, off, ...; () means continuous
    assumed: bool = False             # True: no public source found, a placeholder to confirm
    source: str = ""

    @property
    def continuous(self) -> bool:
        return not self.cadence_ms


_FAX = {
    # ITU-T T.30: calling tone 1100 Hz 0.5 s on / 3 s off; answer tone 2100 Hz for 2.6–4 s.
    "fax_cng": ToneSpec("fax_cng", (1100.0,), (500, 3000), source="ITU-T T.30"),
    "fax_ced": ToneSpec("fax_ced", (2100.0,), (), source="ITU-T T.30"),
}

TONES: dict[str, dict[str, ToneSpec]] = {
    "KR": {
        "dial": ToneSpec("dial", (350.0, 440.0), (), source="shared/REFERENCE.md (Korea)"),
        "ringback": ToneSpec("ringback", (440.0, 480.0), (1000, 2000), source="shared/REFERENCE.md (Korea)"),
        "busy": ToneSpec("busy", (480.0, 620.0), (500, 500), source="shared/REFERENCE.md (Korea)"),
        # No public source for Korea's congestion tone: the North American reorder pattern on the
        # busy frequencies, to be confirmed against the carrier.
        "congestion": ToneSpec("congestion", (480.0, 620.0), (250, 250), assumed=True),
        **_FAX,
    },
    "US": {
        "dial": ToneSpec("dial", (350.0, 440.0), (), source="ANSI T1.401 precise tone plan"),
        "ringback": ToneSpec("ringback", (440.0, 480.0), (2000, 4000), source="ANSI T1.401"),
        "busy": ToneSpec("busy", (480.0, 620.0), (500, 500), source="ANSI T1.401"),
        "congestion": ToneSpec("congestion", (480.0, 620.0), (250, 250), source="ANSI T1.401 (reorder)"),
        **_FAX,
    },
}

DEFAULT_LEVEL_DBM0 = -13.0
# A cadence matches when each measured period is within 20 % + 60 ms of the table's: the
# receiver's 25 ms blocks and its 2-block debounce put each edge within about ±25 ms.
TOLERANCE_FRACTION = 0.2
TOLERANCE_MS = 60
# A continuous tone is reported once it has lasted this long.
CONTINUOUS_REPORT_MS = {"dial": 1000, "fax_ced": 500}


def tone_spec(country: str, name: str) -> ToneSpec:
    if country not in TONES:
        raise ValueError(f"no tone table for country {country!r} (known: {', '.join(sorted(TONES))})")
    if name not in TONES[country]:
        raise ValueError(f"no tone {name!r} in the {country} table (known: {', '.join(TONES[country])})")
    return TONES[country][name]


class ToneGenerator:
    """A call-progress tone from the table, cadence and all, at `level_dbm0` per frequency."""

    def __init__(self, country: str, name: str, level_dbm0: float = DEFAULT_LEVEL_DBM0, repeat: bool = True):
        self.spec = tone_spec(country, name)
        freqs = self.spec.freqs_hz + (0.0,) * (2 - len(self.spec.freqs_hz))
        cadence = ffi.new("int32_t[]", list(self.spec.cadence_ms) or [0])
        state = lib.tone_tx_new(freqs[0], freqs[1], level_dbm0, cadence, len(self.spec.cadence_ms), int(repeat))
        if state == ffi.NULL:
            raise ValueError(f"tone {country}/{name}: level {level_dbm0} dBm0 out of range (−90 … +3.14)")
        self._state = ffi.gc(state, lib.tone_tx_free)
        self.repeat = repeat

    @property
    def period_samples(self) -> int | None:
        """Samples of one whole cadence (one second of a continuous tone) when the tone repeats,
        so a player can loop one period; None when it ends."""
        if not self.repeat:
            return None
        return (sum(self.spec.cadence_ms) or 1000) * 8

    def generate(self, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int16)
        written = lib.tone_tx(self._state, ffi.from_buffer("int16_t[]", out), n)
        return out[:written]


@dataclass(frozen=True)
class ToneReport:
    name: str
    on_s: float | None         # measured on period (None for a continuous tone)
    off_s: float | None        # measured off period (None when reported on the burst alone)
    duration_s: float | None   # how long a continuous tone had lasted when reported
    at_s: float                # time of the report, seconds since the detector began


@dataclass(frozen=True)
class Segment:
    freqs_hz: tuple[float, ...]   # () for no tone
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def _close(measured_s: float, nominal_ms: int) -> bool:
    return abs(measured_s * 1000 - nominal_ms) <= nominal_ms * TOLERANCE_FRACTION + TOLERANCE_MS


class CallProgressDetector:
    """Listens to an outbound call's audio and reports which table tone it hears, with the
    cadence measured.  Each tone is reported once (`reset()` to listen afresh)."""

    def __init__(self, country: str = "KR", min_level_dbm0: float = -40.0):
        if country not in TONES:
            raise ValueError(f"no tone table for country {country!r} (known: {', '.join(sorted(TONES))})")
        self.specs = list(TONES[country].values())
        self.freqs = tuple(sorted({f for s in self.specs for f in s.freqs_hz}))
        if len(self.freqs) > lib.TONE_MAX_FREQS:
            raise ValueError(f"{country} table watches {len(self.freqs)} frequencies; the receiver "
                             f"takes at most {lib.TONE_MAX_FREQS}")
        self._masks = {s.name: sum(1 << self.freqs.index(f) for f in s.freqs_hz) for s in self.specs}
        state = lib.tone_rx_new(ffi.new("float[]", self.freqs), len(self.freqs), min_level_dbm0)
        if state == ffi.NULL:
            raise ValueError(f"tone receiver: min_level_dbm0 {min_level_dbm0} out of range (−70 … +3)")
        self._state = ffi.gc(state, lib.tone_rx_free)
        self._seg_buf = ffi.new("tone_segment_t[]", 32)
        self._cur = ffi.new("tone_segment_t *")
        self.segments: list[tuple[int, int, int]] = []    # (mask, start, end) in samples
        self.reported: dict[str, ToneReport] = {}

    def reset(self) -> None:
        self.reported.clear()

    def _segment(self, mask: int, start: int, end: int) -> Segment:
        freqs = tuple(f for k, f in enumerate(self.freqs) if mask >> k & 1)
        return Segment(freqs, start / SAMPLE_RATE, end / SAMPLE_RATE)

    def history(self) -> list[Segment]:
        return [self._segment(*s) for s in self.segments]

    def process(self, samples: np.ndarray) -> list[ToneReport]:
        samples = require_int16(samples, "CallProgressDetector.process(samples)")
        lib.tone_rx(self._state, ffi.from_buffer("int16_t[]", samples), samples.size)
        return self._collect()

    def _collect(self) -> list[ToneReport]:
        while True:
            n = lib.tone_rx_get_segments(self._state, self._seg_buf, 32)
            self.segments += [(g.mask, g.start, g.end) for g in self._seg_buf[0:n]]
            if n < 32:
                break
        del self.segments[:-16]
        lib.tone_rx_current(self._state, self._cur)
        now = self._cur.end / SAMPLE_RATE
        current = (self._cur.mask, self._cur.start, self._cur.end)
        reports = []
        for spec in self.specs:
            if spec.name in self.reported:
                continue
            report = self._match(spec, current, now)
            if report:
                self.reported[spec.name] = report
                reports.append(report)
        return reports

    def _match(self, spec: ToneSpec, current: tuple[int, int, int], now: float) -> ToneReport | None:
        mask = self._masks[spec.name]
        if spec.continuous:
            need_s = CONTINUOUS_REPORT_MS.get(spec.name, 1000) / 1000
            for m, start, end in self.segments[-1:] + [current]:
                if m == mask and (end - start) / SAMPLE_RATE >= need_s:
                    return ToneReport(spec.name, None, None, round((end - start) / SAMPLE_RATE, 3), now)
            return None
        on_ms, off_ms = spec.cadence_ms[0], spec.cadence_ms[1]
        segs = self.segments + [current]
        for i in range(len(segs) - 1):
            m, start, end = segs[i]
            if m != mask or not _close((end - start) / SAMPLE_RATE, on_ms):
                continue
            if off_ms >= 2000 and spec.name.startswith("fax"):
                # CNG: one burst of the right length is enough; its 3 s pause would delay the answer
                return ToneReport(spec.name, round((end - start) / SAMPLE_RATE, 3), None, None, now)
            nm, nstart, nend = segs[i + 1]
            complete = i + 1 < len(self.segments)
            if nm == 0 and complete and _close((nend - nstart) / SAMPLE_RATE, off_ms):
                return ToneReport(spec.name, round((end - start) / SAMPLE_RATE, 3),
                                  round((nend - nstart) / SAMPLE_RATE, 3), None, now)
        return None


class CallProgressBank:
    """Detectors for many outbound channels, their audio analysed in one C call per block."""

    def __init__(self, channels: int, country: str = "KR", min_level_dbm0: float = -40.0):
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"CallProgressBank: channels must be a positive int, got {channels!r}")
        self.detectors = [CallProgressDetector(country, min_level_dbm0) for _ in range(channels)]
        self._array = ffi.new("tone_rx_state_t *[]", [d._state for d in self.detectors])
        self.channels = channels

    def process(self, block: np.ndarray) -> list[list[ToneReport]]:
        block = require_int16(block, "CallProgressBank.process(block)", ndim=2)
        if block.shape[0] != self.channels:
            raise ValueError(f"CallProgressBank.process(block): expected {self.channels} rows "
                             f"(one per channel), got shape {block.shape}")
        lib.tone_rx_many(self._array, self.channels, ffi.from_buffer("int16_t[]", block), block.shape[1])
        return [d._collect() for d in self.detectors]

"""What a call heard, from its recording (int16, 8 kHz, as the span's media plane decoded it).

* `find_prompt` — normalised cross-correlation of the recording with the prompt's own audio,
  computed with FFTs: a G.711 round trip leaves the score near 0.99, any delay is just where
  the peak sits, and a level change does not matter.
* `find_tone` — a table tone (ringback, busy, ...) by its cadence, with the C tone receiver.
* `find_frequency` — a steady sine (a test tone) in 100 ms frames.
* `find_silence` — a stretch below -50 dBm0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp.levels import SAMPLE_RATE, power_dbm0
from dsp.tones import CallProgressDetector

SILENCE_DBM0 = -50.0
FRAME = 800          # 100 ms


@dataclass(frozen=True)
class Found:
    at: float            # seconds into the recording where it starts (or is reported)
    score: float         # correlation, tone purity, or seconds of silence
    detail: str = ""


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


def correlation(recording: np.ndarray, prompt: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of `prompt` against every offset of `recording` (values in
    -1 .. 1; empty when the recording is shorter than the prompt)."""
    x = recording.astype(np.float64)
    p = prompt.astype(np.float64)
    p = p - p.mean()
    m = p.size
    if x.size < m or m == 0:
        return np.zeros(0)
    size = _next_pow2(x.size + m)
    raw = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(p, size)), size)[: x.size - m + 1]
    csum = np.concatenate(([0.0], np.cumsum(x)))
    csum2 = np.concatenate(([0.0], np.cumsum(x * x)))
    window_sum = csum[m:] - csum[:-m]
    window_energy = csum2[m:] - csum2[:-m] - window_sum ** 2 / m
    denominator = np.sqrt(np.maximum(window_energy, 1e-9) * float(np.dot(p, p)))
    return raw / np.maximum(denominator, 1e-9)


def find_prompt(recording: np.ndarray, prompt: np.ndarray, min_score: float = 0.5) -> Found | None:
    """Where the prompt plays in the recording, if its best correlation reaches `min_score`.
    A prompt longer than 4 s is matched on its first 4 s, so a caller who hangs up during a
    long prompt is still found to have heard it."""
    prompt = prompt[: 4 * SAMPLE_RATE]
    scores = correlation(recording, prompt)
    if scores.size == 0:
        return None
    best = int(np.argmax(scores))
    score = float(scores[best])
    if score < min_score:
        return None
    return Found(best / SAMPLE_RATE, score, f"correlation {score:.2f}")


def best_prompt_score(recording: np.ndarray, prompt: np.ndarray) -> float:
    scores = correlation(recording, prompt[: 4 * SAMPLE_RATE])
    return float(scores.max()) if scores.size else 0.0


def find_tone(recording: np.ndarray, name: str, country: str = "KR") -> Found | None:
    detector = CallProgressDetector(country)
    for start in range(0, recording.size, SAMPLE_RATE):
        for report in detector.process(np.ascontiguousarray(recording[start:start + SAMPLE_RATE])):
            if report.name == name:
                cadence = f"{report.on_s} s on, {report.off_s} s off" if report.on_s else f"{report.duration_s} s"
                return Found(report.at_s, 1.0, cadence)
    return None


def _frames(recording: np.ndarray) -> np.ndarray:
    usable = recording.size // FRAME * FRAME
    return recording[:usable].astype(np.float64).reshape(-1, FRAME)


def find_frequency(recording: np.ndarray, hz: float, min_seconds: float = 0.3) -> Found | None:
    """A run of frames where a sine at `hz` (± 25 Hz) holds 80 % of the power, above -40 dBm0."""
    frames = _frames(recording)
    if not len(frames):
        return None
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1)) ** 2
    bins = np.fft.rfftfreq(FRAME, 1 / SAMPLE_RATE)
    band = (bins >= hz - 25) & (bins <= hz + 25)
    purity = spectrum[:, band].sum(axis=1) / np.maximum(spectrum.sum(axis=1), 1e-9)
    loud = np.array([power_dbm0(f) > -40 for f in frames.astype(np.int16)])
    return _longest_run(purity > 0.8, loud, min_seconds, f"{hz:g} Hz")


def find_silence(recording: np.ndarray, seconds: float) -> Found | None:
    frames = _frames(recording)
    if not len(frames):
        return None
    power = 10 * np.log10(np.maximum((frames ** 2).mean(axis=1), 1e-9) / (32767.0 ** 2 / 2)) + 3.14
    quiet = power < SILENCE_DBM0
    return _longest_run(quiet, np.ones_like(quiet), seconds, f"silence below {SILENCE_DBM0:g} dBm0")


def _longest_run(a: np.ndarray, b: np.ndarray, min_seconds: float, what: str) -> Found | None:
    hit = a & b
    need = max(1, int(round(min_seconds * SAMPLE_RATE / FRAME)))
    run = 0
    for index, value in enumerate(hit):           # one step per 100 ms frame, not per sample
        run = run + 1 if value else 0
        if run >= need:
            start = index - run + 1
            return Found(start * FRAME / SAMPLE_RATE, run * FRAME / SAMPLE_RATE, what)
    return None


def level_dbm0(recording: np.ndarray) -> float:
    return power_dbm0(recording) if recording.size else float("-inf")

"""Test signals for the DTMF tests, synthesised in numpy independently of our generator."""

from __future__ import annotations

import numpy as np

from dsp.dtmf import digit_frequencies
from dsp.levels import dbm0_to_amplitude


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def tone_pair(digit: str, ms: float, low_dbm0: float = -10.0, high_dbm0: float | None = None,
              low_dev: float = 0.0, high_dev: float = 0.0, phase: float = 0.3) -> np.ndarray:
    """Float samples of one digit's two tones, each optionally off nominal by a fraction."""
    high_dbm0 = low_dbm0 if high_dbm0 is None else high_dbm0
    low, high = digit_frequencies(digit)
    t = np.arange(int(round(ms * 8)))
    return (dbm0_to_amplitude(low_dbm0) * np.sin(2 * np.pi * low * (1 + low_dev) * t / 8000 + phase)
            + dbm0_to_amplitude(high_dbm0) * np.sin(2 * np.pi * high * (1 + high_dev) * t / 8000 + 2 * phase + 1.0))


def silence(ms: float) -> np.ndarray:
    return np.zeros(int(round(ms * 8)))


def framed(x: np.ndarray, lead_samples: int = 800, tail_ms: float = 100.0) -> np.ndarray:
    """x with silence before and after, as int16."""
    return to_int16(np.concatenate([np.zeros(lead_samples), x, silence(tail_ms)]))

"""Signal levels and sample-buffer checks shared by the DSP wrappers.

dBm0 follows spandsp's convention, so levels mean the same on both sides of the cross-check:
a full-scale int16 sine (peak 32767) is +3.14 dBm0, the μ-law coder's maximum.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 8000
DBM0_FULL_SCALE_SINE = 3.14


def dbm0_to_amplitude(dbm0: float) -> float:
    """Peak amplitude (int16 units) of a sine at `dbm0`."""
    return 32767.0 * 10.0 ** ((dbm0 - DBM0_FULL_SCALE_SINE) / 20.0)


def power_dbm0(samples: np.ndarray) -> float:
    """Mean power of int16 samples in dBm0 (-inf for silence)."""
    x = np.asarray(samples, dtype=np.float64)
    mean_square = float(np.mean(x * x)) if x.size else 0.0
    if mean_square == 0.0:
        return float("-inf")
    full_scale_sine_power = 32767.0 ** 2 / 2.0
    return DBM0_FULL_SCALE_SINE + 10.0 * np.log10(mean_square / full_scale_sine_power)


def require_int16(samples: object, what: str, ndim: int = 1) -> np.ndarray:
    """The C-contiguous int16 array the C core reads, or ValueError naming what was expected."""
    shape_words = {1: "1-D (samples,)", 2: "2-D (channels, samples)"}[ndim]
    if not isinstance(samples, np.ndarray):
        raise ValueError(f"{what}: expected a {shape_words} numpy int16 array of 8 kHz linear PCM, "
                         f"got {type(samples).__name__}")
    if samples.dtype != np.int16:
        raise ValueError(f"{what}: expected dtype int16 (8 kHz linear PCM), got {samples.dtype}")
    if samples.ndim != ndim:
        raise ValueError(f"{what}: expected a {shape_words} array, got shape {samples.shape}")
    return np.ascontiguousarray(samples)

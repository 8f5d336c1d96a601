"""How close decoded audio is to what went in: the measurement the codec tool reports and the
codec tests assert on."""

from __future__ import annotations

import numpy as np


def best_lag_snr_db(reference: np.ndarray, decoded: np.ndarray, max_lag: int = 240) -> tuple[float, int]:
    """SNR of `decoded` against `reference` at the codec delay that maximises it."""
    ref = reference.astype(np.float64)
    dec = decoded.astype(np.float64)
    best = (-np.inf, 0)
    for lag in range(max_lag + 1):
        a = ref[: ref.size - lag]
        b = dec[lag:]
        noise = np.sum((a - b) ** 2)
        snr = 10 * np.log10(np.sum(a ** 2) / noise) if noise > 0 else np.inf
        if snr > best[0]:
            best = (snr, lag)
    return best

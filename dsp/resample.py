"""Rational-ratio resampling to the telephone rate with a polyphase windowed-sinc filter.

Conversion by L/M (L = out/g, M = in/g, g = gcd) is upsampling by L, a low-pass at the lower
of the two Nyquist rates, and keeping every M-th sample; the polyphase form computes only the
kept samples, each from about 300 taps whatever the ratio.  The filter is a Kaiser-windowed
sinc (Kaiser's design formulas) with its stop band starting exactly at the lower Nyquist
frequency, so nothing above 4 kHz aliases into the telephone band by more than -70 dB, and a
pass band flat to well under 0.01 dB up to 85 % of Nyquist (3.4 kHz at 8 kHz: the whole
telephone band).  This runs once per prompt at load time, in numpy, in blocks.
"""

from __future__ import annotations

import functools
import math

import numpy as np

STOPBAND_DB = 70.0
PASSBAND_FRACTION = 0.85
MAX_UP_FACTOR = 640            # L beyond this means an odd rate and a needlessly huge filter
_BLOCK_ELEMENTS = 1 << 21      # outputs x taps gathered at once: bounds the temporary memory


class ResampleError(ValueError):
    pass


@functools.lru_cache(maxsize=16)
def polyphase_filter(rate_in: int, rate_out: int) -> tuple[int, int, np.ndarray, int]:
    """(L, M, phases[L, K], delay): phases[p, i] is tap p + L*i of the prototype low-pass
    at rate rate_in*L, whose group delay is `delay` samples at that rate."""
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    if up > MAX_UP_FACTOR:
        raise ResampleError(f"rate {rate_in} Hz: converting to {rate_out} Hz needs an up-sampling factor "
                            f"of {up}, more than {MAX_UP_FACTOR}")
    rate_up = rate_in * up
    stop = min(rate_in, rate_out) / 2.0
    width = stop * (1.0 - PASSBAND_FRACTION)
    cutoff = stop - width / 2.0
    beta = 0.1102 * (STOPBAND_DB - 8.7)
    taps = int(math.ceil((STOPBAND_DB - 7.95) / (2.285 * 2.0 * math.pi * width / rate_up))) + 1
    taps += 1 - taps % 2  # odd: a whole-sample group delay
    centre = (taps - 1) // 2
    t = np.arange(taps) - centre
    prototype = np.sinc(2.0 * cutoff / rate_up * t) * np.kaiser(taps, beta)
    prototype *= up / prototype.sum()  # unity DC gain once the zeros of up-sampling are in
    per_phase = -(-taps // up)
    padded = np.zeros(per_phase * up)
    padded[:taps] = prototype
    phases = np.ascontiguousarray(padded.reshape(per_phase, up).T)
    return up, down, phases, centre


def resample(x: np.ndarray, rate_in: int, rate_out: int = 8000) -> np.ndarray:
    """x: float samples (1-D).  Returns float64 samples at rate_out, time-aligned with x
    (the filter's delay is taken out), ceil(len(x) * rate_out / rate_in) of them."""
    x = np.asarray(x, np.float64)
    if x.ndim != 1:
        raise ResampleError(f"x: expected 1 dimension, got shape {x.shape}")
    if rate_in == rate_out:
        return x.copy()
    up, down, phases, delay = polyphase_filter(rate_in, rate_out)
    per_phase = phases.shape[1]
    n_out = -(-len(x) * up // down)
    if up == 1:  # plain decimation: numpy's convolution beats gathering taps (bench/prompts.py)
        full = np.convolve(np.concatenate([x, np.zeros(delay + 1)]), phases[0])
        return full[delay:delay + n_out * down:down].copy()
    # zeros before and after, so every tap of every output has an input sample to read
    lead = per_phase
    padded = np.concatenate([np.zeros(lead), x, np.zeros(per_phase + delay // up + 2)])
    out = np.empty(n_out)
    block = max(1, _BLOCK_ELEMENTS // per_phase)
    back = np.arange(per_phase)
    for start in range(0, n_out, block):
        n = np.arange(start, min(start + block, n_out), dtype=np.int64)
        t_up = n * down + delay
        phase = t_up % up
        base = t_up // up + lead
        gathered = padded[base[:, None] - back[None, :]]
        out[start:start + len(n)] = np.einsum("ij,ij->i", gathered, phases[phase])
    return out

"""spandsp's DTMF receiver and generator, through the `_spandsp_ref` cffi peer module."""

from __future__ import annotations

import numpy as np

from dsp.levels import require_int16
from hil_tests.peers._spandsp_ref import ffi, lib

TICK_SAMPLES = 160   # 20 ms, the tick both receivers are fed in


def new_receiver():
    """A spandsp dtmf_rx state with its 0.0.6 defaults (twist 8 dB, reverse 4 dB, −42 dBm0)."""
    state = lib.ref_dtmf_rx_new()
    if state == ffi.NULL:
        raise MemoryError("spandsp dtmf_rx_init failed")
    return ffi.gc(state, lib.dtmf_rx_free)


def spandsp_detect_digits(samples: np.ndarray, chunk: int = TICK_SAMPLES) -> str:
    samples = require_int16(samples, "spandsp_detect_digits(samples)")
    state = new_receiver()
    max_digits = max(16, samples.size // 400 + 16)
    out = ffi.new("char[]", max_digits)
    n = lib.ref_dtmf_rx_run(state, ffi.from_buffer("int16_t[]", samples), samples.size,
                            chunk, out, max_digits)
    return ffi.unpack(out, n).decode()


def spandsp_generate(digits: str, level_dbm0: int = -10, twist_db: int = 0,
                     on_ms: int = 50, off_ms: int = 55) -> np.ndarray:
    state = ffi.gc(lib.dtmf_tx_init(ffi.NULL), lib.dtmf_tx_free)
    lib.dtmf_tx_set_level(state, level_dbm0, twist_db)
    lib.dtmf_tx_set_timing(state, on_ms, off_ms)
    raw = digits.encode()
    # spandsp 0.0.6 returns how many digits did NOT fit in its queue
    if lib.dtmf_tx_put(state, raw, len(raw)) != 0:
        raise ValueError(f"spandsp dtmf_tx_put could not queue all of {digits!r}")
    total = len(digits) * (on_ms + off_ms) * 8
    out = np.zeros(total + 800, dtype=np.int16)
    n = lib.dtmf_tx(state, ffi.from_buffer("int16_t[]", out), out.size)
    return out[:n]

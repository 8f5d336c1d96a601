"""DTMF receiver throughput: ours against spandsp's dtmf_rx on the same audio, in the same run.

Both run a bank of channels fed in 20 ms ticks, one C call per tick for the whole bank (ours:
dtmf_rx_many; spandsp: a C loop over its dtmf_rx), so the Python overhead is the same and
negligible.  Channels per core = seconds of audio processed per CPU second.
The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dsp import ffi, lib                                          # noqa: E402
from dsp.dtmf import DtmfReceiverBank                             # noqa: E402
from hil_tests.dtmf_corpus import make_cases                      # noqa: E402
from hil_tests.peers import _spandsp_ref as sp                    # noqa: E402

CHANNELS = 64
SECONDS = 10
TICK = 160


def audio_for_channels(seconds: float = SECONDS) -> np.ndarray:
    """CHANNELS rows of `seconds` of digits with noise, cut from the cross-check corpus."""
    cases = make_cases(400, seed=99)
    stream = np.concatenate([c.samples for c in cases])
    n = int(seconds * 8000)
    rows = [np.roll(stream, -i * 1237)[:n] for i in range(CHANNELS)]
    return np.ascontiguousarray(np.stack(rows))


def best_of(runs: int, fn) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def measure(seconds: float = SECONDS, runs: int = 3) -> dict:
    """DTMF receivers on the same audio, ours and spandsp's, in real-time channels per core."""
    block = audio_for_channels(seconds)
    ticks = [np.ascontiguousarray(block[:, i:i + TICK]) for i in range(0, block.shape[1], TICK)]
    tick_ptrs = [ffi.from_buffer("int16_t[]", t) for t in ticks]

    def ours() -> None:
        bank = DtmfReceiverBank(CHANNELS)
        for p in tick_ptrs:
            lib.dtmf_rx_many(bank._array, CHANNELS, p, TICK)

    sp_ptrs = [sp.ffi.from_buffer("int16_t[]", t) for t in ticks]

    def spandsp() -> None:
        states = [sp.ffi.gc(sp.lib.ref_dtmf_rx_new(), sp.lib.dtmf_rx_free) for _ in range(CHANNELS)]
        arr = sp.ffi.new("dtmf_rx_state_t *[]", states)
        for p in sp_ptrs:
            sp.lib.ref_dtmf_rx_many(arr, CHANNELS, p, TICK)

    audio_seconds = CHANNELS * seconds
    t_ours = best_of(runs, ours)
    t_spandsp = best_of(runs, spandsp)
    result = {
        "dtmf_channels_per_core": round(audio_seconds / t_ours),
        "spandsp_dtmf_channels_per_core": round(audio_seconds / t_spandsp),
        "dtmf_vs_spandsp": round(t_spandsp / t_ours, 2),
        "audio_seconds_per_run": audio_seconds,
        "tick_samples": TICK,
    }
    print(f"dtmf: ours {t_ours:.3f} s, spandsp {t_spandsp:.3f} s of CPU for {audio_seconds} s of audio")
    return result


def main() -> None:
    print(json.dumps(measure()))


if __name__ == "__main__":
    main()

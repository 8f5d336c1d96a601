"""DSP core benchmark: each figure of ours is measured beside its reference in the same run.

    g711_msamples_per_s / audioop_msamples_per_s
        A-law and mu-law encode + decode of the same block, ours through dsp.codecs, theirs
        through Python's audioop.  Goal: ours >= 5x audioop.
    g729_transcode_channels_per_core / bcg729_raw_channels_per_core
        Full-duplex channels one core keeps in real time: ours is the per-tick batch (A-law line
        in -> G.729 out, G.729 in -> A-law line out, 20 ms ticks, all channels in one call); the
        reference is raw libbcg729 encode + decode per channel and frame in a plain C loop.
        Goal: ours >= 0.9x raw.

Times are CPU time of this process (the machine is shared), best of several rounds.  The last
line printed is one JSON object with every figure.  Another measurement is one more function
returning a dict, added to MEASUREMENTS.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # run as bench/dsp.py, look from the repo root: this file is not the dsp package

# --quick (for the test that this benchmark runs) shrinks every measurement to a smoke run.
SCALE = {"rounds": 5, "g711_repeat": 20, "g729_channels": 30, "g729_seconds": 2.0, "dtmf_seconds": 10}


def best_cpu_seconds(run) -> float:
    best = float("inf")
    for _ in range(SCALE["rounds"]):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def measure_g711() -> dict:
    import numpy as np

    from dsp import codecs
    from hil_tests.speechlike import speech_like
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

    pcm = speech_like(20.0, seed=2)  # 160,000 samples
    alaw, ulaw = codecs.encode_alaw(pcm), codecs.encode_ulaw(pcm)
    out_codes = np.empty(pcm.size, np.uint8)
    out_pcm = np.empty(pcm.size, np.int16)
    raw, raw_alaw, raw_ulaw = pcm.tobytes(), alaw.tobytes(), ulaw.tobytes()
    repeat = SCALE["g711_repeat"]

    def ours():
        for _ in range(repeat):
            codecs.encode_alaw(pcm, out_codes)
            codecs.decode_alaw(alaw, out_pcm)
            codecs.encode_ulaw(pcm, out_codes)
            codecs.decode_ulaw(ulaw, out_pcm)

    def theirs():
        for _ in range(repeat):
            audioop.lin2alaw(raw, 2)
            audioop.alaw2lin(raw_alaw, 2)
            audioop.lin2ulaw(raw, 2)
            audioop.ulaw2lin(raw_ulaw, 2)

    samples = 4 * repeat * pcm.size
    ours_rate = samples / best_cpu_seconds(ours) / 1e6
    theirs_rate = samples / best_cpu_seconds(theirs) / 1e6
    return {"g711_msamples_per_s": round(ours_rate, 1), "audioop_msamples_per_s": round(theirs_rate, 1),
            "g711_vs_audioop": round(ours_rate / theirs_rate, 2)}


def bcg729_raw_channels_per_core(channels: int, seconds: float, seed: int = 3) -> float:
    """The reference: raw libbcg729 encode + decode per channel and frame in a plain C loop, on
    speech-like audio; full-duplex channels one core keeps in real time (best of the rounds)."""
    import numpy as np

    from hil_tests.peers._bcg729_ref import ffi as ref_ffi
    from hil_tests.peers._bcg729_ref import lib as ref
    from hil_tests.speechlike import speech_like

    pcm = speech_like(seconds, seed=seed)
    frames = pcm.size // 80
    out = np.empty_like(pcm)

    def theirs():
        ref.bcg729_ref_full_duplex(channels, frames, ref_ffi.from_buffer("int16_t[]", pcm),
                                   ref_ffi.from_buffer("int16_t[]", out))

    return channels * seconds / best_cpu_seconds(theirs)


def measure_g729_transcode() -> dict:
    from dsp import codecs
    from dsp.codecs import Codec
    from dsp.media import MediaBatch
    from hil_tests.speechlike import speech_like

    channels, seconds = SCALE["g729_channels"], SCALE["g729_seconds"]
    pcm = speech_like(seconds, seed=3)

    def ours():
        batch = MediaBatch(channels, frames_per_tick=2)
        for channel in range(channels):
            batch.configure(channel, line_law=Codec.ALAW, net_codec=Codec.G729)
        buffers = batch.new_buffers()
        # Loop each channel's G.729 output straight back into its input: the batch encodes a
        # channel before it decodes it, so sharing the arrays is a zero-delay loopback.
        buffers.net_in, buffers.net_in_lengths = buffers.net_out, buffers.net_out_lengths
        line = codecs.encode_alaw(pcm).reshape(-1, batch.samples_per_tick)
        for block in line:
            buffers.line_in[:] = block
            batch.run(buffers)

    channel_seconds = channels * seconds
    ours_rate = channel_seconds / best_cpu_seconds(ours)
    theirs_rate = bcg729_raw_channels_per_core(channels, seconds)
    return {"g729_transcode_channels_per_core": round(ours_rate, 1),
            "bcg729_raw_channels_per_core": round(theirs_rate, 1),
            "g729_vs_bcg729": round(ours_rate / theirs_rate, 3)}


def measure_dtmf() -> dict:
    from bench import dsp_dtmf  # the DTMF receiver beside spandsp's dtmf_rx, on the same audio
    return dsp_dtmf.measure(seconds=SCALE["dtmf_seconds"], runs=SCALE["rounds"] if SCALE["rounds"] < 3 else 3)


MEASUREMENTS = [
    measure_g711,
    measure_g729_transcode,
    measure_dtmf,
]


def main() -> None:
    if "--quick" in sys.argv[1:]:
        SCALE.update(rounds=1, g711_repeat=1, g729_channels=2, g729_seconds=0.2, dtmf_seconds=0.5)
    results: dict = {}
    for measure in MEASUREMENTS:
        figures = measure()
        print(f"{measure.__name__}: {figures}", flush=True)
        results.update(figures)
    print(json.dumps(results))


if __name__ == "__main__":
    main()

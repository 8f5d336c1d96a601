"""Prompt benchmark: each figure of ours beside its reference, measured in the same run.

    prompt_channels_per_core / media_only_channels_per_core
        Channels one core keeps in real time through the per-tick media batch (A-law line and
        network, 20 ms ticks, all channels in one call), every channel playing a looping
        prompt through its player source, against the same batch with no players (where a
        same-law call is a plain copy of octets, so any work at all shows as a large fraction).
        Goal: with every channel playing, far beyond the 120 channels of a four-span box.
    player_bank_msamples_per_s / numpy_copy_msamples_per_s
        The player bank alone (every channel's next block written in one C call) against numpy
        copying the same prompt slices into the same block row by row.
    resample_44k1_realtime, resample_48k_realtime / convolve_48k_realtime
        Seconds of audio converted to 8 kHz per CPU second by dsp/resample.py (44.1 kHz: the
        polyphase path; 48 kHz: plain decimation), and the reference: numpy.convolve of the
        48 kHz audio with the same filter, then every 6th sample.

Times are CPU time of this process (the machine is shared), best of several rounds.  The last
line printed is one JSON object.  --quick shrinks everything to a smoke run.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # bench/dsp.py would otherwise hide the dsp package

import numpy as np  # noqa: E402

from dsp.codecs import Codec  # noqa: E402
from dsp.media import MediaBatch  # noqa: E402
from dsp.player import Player, PlayerBank  # noqa: E402
from dsp.prompts import Prompt  # noqa: E402
from dsp.resample import polyphase_filter, resample  # noqa: E402

SCALE = {"rounds": 5, "channels": 240, "ticks": 250, "resample_seconds": 20.0}
FRAMES = 2
TICK = FRAMES * 80


def best_cpu_seconds(run) -> float:
    best = float("inf")
    for _ in range(SCALE["rounds"]):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def prompt(seconds=3.7) -> Prompt:
    t = np.arange(int(8000 * seconds)) / 8000
    return Prompt("moh", (6000 * np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 0.5 * t)).astype(np.int16))


def media_tick() -> dict:
    channels, ticks = SCALE["channels"], SCALE["ticks"]
    moh = prompt()

    def batch_with(players: bool):
        batch = MediaBatch(channels, FRAMES)
        keep = []
        for ch in range(channels):
            batch.configure(ch, line_law=Codec.ALAW, net_codec=Codec.ALAW)
            if players:
                player = Player()
                player.attach(batch, ch)
                player.play(moh, loops=0)
                keep.append(player)
        buffers = batch.new_buffers()
        buffers.net_in_lengths[:] = 80
        buffers.net_in[:] = 0xD5
        return batch, buffers, keep

    figures = {}
    for name, players in (("media_only", False), ("prompt", True)):
        batch, buffers, keep = batch_with(players)
        seconds = best_cpu_seconds(lambda: [batch.run(buffers) for _ in range(ticks)])
        figures[f"{name}_channels_per_core"] = round(channels * ticks * TICK / 8000 / seconds)
    figures["prompt_overhead_fraction"] = round(
        figures["media_only_channels_per_core"] / figures["prompt_channels_per_core"] - 1, 4)
    return figures


def player_bank() -> dict:
    channels, ticks = SCALE["channels"], SCALE["ticks"]
    moh = prompt()
    players = [Player() for _ in range(channels)]
    for k, player in enumerate(players):
        player.play(moh, loops=0)
        player.process(np.zeros(37 * k % moh.samples.size or 1, np.int16))  # channels at different points
    bank = PlayerBank(players)
    block = np.zeros((channels, TICK), np.int16)
    ours = best_cpu_seconds(lambda: [bank.process(block) for _ in range(ticks)])

    looped = np.concatenate([moh.samples, moh.samples[:TICK]])
    positions = np.array([37 * k % moh.samples.size for k in range(channels)])

    def numpy_copy():
        pos = positions.copy()
        for _ in range(ticks):
            for c in range(channels):
                block[c] = looped[pos[c]:pos[c] + TICK]
            pos += TICK
            pos %= moh.samples.size

    theirs = best_cpu_seconds(numpy_copy)
    samples = channels * ticks * TICK
    return {"player_bank_msamples_per_s": round(samples / ours / 1e6, 1),
            "numpy_copy_msamples_per_s": round(samples / theirs / 1e6, 1)}


def resampling() -> dict:
    seconds = SCALE["resample_seconds"]
    rng = np.random.default_rng(1)
    x44 = rng.standard_normal(int(44100 * seconds)) * 3000
    x48 = rng.standard_normal(int(48000 * seconds)) * 3000
    polyphase_filter(44100, 8000)  # the filter design is cached per ratio: time the conversion
    ours = best_cpu_seconds(lambda: resample(x44, 44100))
    ours48 = best_cpu_seconds(lambda: resample(x48, 48000))
    _, _, phases, _ = polyphase_filter(48000, 8000)
    prototype = phases[0]
    theirs = best_cpu_seconds(lambda: np.convolve(x48, prototype)[::6])
    return {"resample_44k1_realtime": round(seconds / ours, 1), "resample_48k_realtime": round(seconds / ours48, 1),
            "convolve_48k_realtime": round(seconds / theirs, 1)}


MEASUREMENTS = [media_tick, player_bank, resampling]


def main() -> None:
    if "--quick" in sys.argv[1:]:
        SCALE.update(rounds=1, channels=8, ticks=10, resample_seconds=0.5)
    results = {}
    for measure in MEASUREMENTS:
        results.update(measure())
        print(f"{measure.__name__}: done", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    main()

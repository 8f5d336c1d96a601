"""`pribox codec`: put a WAV file through a channel of the media batch and hear the result.

The audio enters as an E1 line would carry it (A-law or mu-law octets), crosses the batch to
the chosen network codec, is looped back through a lossy network (frames dropped at random,
as RTP losses would be) and comes back down the line.  Prints what happened and the SNR.

    pribox codec call.wav out.wav --codec g729 --vad --loss 0.05
"""

from __future__ import annotations

import argparse
import sys
import wave
from pathlib import Path

import numpy as np

from dsp import codecs
from dsp.codecs import Codec
from dsp.media import MediaBatch
from dsp.compare import best_lag_snr_db

CODECS = {"alaw": Codec.ALAW, "ulaw": Codec.ULAW, "g729": Codec.G729}


class WavFormatError(ValueError):
    pass


def read_mono_8k(path: Path) -> np.ndarray:
    try:
        with wave.open(str(path), "rb") as wav:
            shape = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
            if shape != (1, 2, 8000):
                raise WavFormatError(f"{path}: expected 8000 Hz 16-bit mono WAV, got {shape[2]} Hz "
                                     f"{8 * shape[1]}-bit {shape[0]}-channel")
            raw = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        detail = f" ({exc})" if str(exc) else ""
        raise WavFormatError(f"{path}: not a WAV file{detail}") from None
    return np.frombuffer(raw[:len(raw) // 2 * 2], "<i2").astype(np.int16)


def write_mono_8k(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(pcm.astype("<i2").tobytes())


def transcode(pcm: np.ndarray, codec: Codec, *, line_law: Codec = Codec.ALAW, vad: bool = False,
              loss: float = 0.0, frames_per_tick: int = 2, seed: int = 1) -> tuple[np.ndarray, dict]:
    """Line -> network codec -> lossy loopback -> line.  Returns the audio sent back down the
    line (aligned with the input) and the channel's statistics, plus `lost`: frames sent but
    dropped on the way."""
    batch = MediaBatch(1, frames_per_tick)
    batch.configure(0, line_law=line_law, net_codec=codec, vad=vad)
    buffers = batch.new_buffers()
    rng = np.random.default_rng(seed)
    samples = batch.samples_per_tick
    padded = np.zeros(-(-pcm.size // samples) * samples + samples, np.int16)
    padded[:pcm.size] = pcm
    line = codecs.encode(line_law, padded).reshape(-1, samples)
    out = np.empty((line.shape[0], samples), np.int16)
    lost = 0
    for t, block in enumerate(line):
        buffers.line_in[0] = block
        batch.run(buffers)
        out[t] = batch.pcm_to_line[0]
        buffers.net_in[:] = buffers.net_out
        buffers.net_in_lengths[:] = buffers.net_out_lengths
        dropped = (rng.random(frames_per_tick) < loss) & (buffers.net_in_lengths[0] > 0)
        lost += int(dropped.sum())
        buffers.net_in_lengths[0, dropped] = 0
    # The loopback delays everything by one tick.
    return out.ravel()[samples:samples + pcm.size], dict(batch.stats(0), lost=lost)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="8 kHz 16-bit mono WAV")
    parser.add_argument("output", type=Path, help="where to write what came back down the line")
    parser.add_argument("--codec", choices=sorted(CODECS), default="g729", help="network codec (default g729)")
    parser.add_argument("--line-law", choices=("alaw", "ulaw"), default="alaw", help="E1 line law (default alaw)")
    parser.add_argument("--vad", action="store_true", help="G.729 Annex B: send SID frames in silence")
    parser.add_argument("--loss", type=float, default=0.0, help="fraction of network frames lost (0..1)")
    parser.add_argument("--ptime", type=int, choices=(10, 20, 30, 40), default=20, help="tick in ms (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the loss pattern")


def run(args: argparse.Namespace) -> int:
    if not 0.0 <= args.loss <= 1.0:
        print(f"pribox codec: --loss: expected a fraction in 0..1, got {args.loss}", file=sys.stderr)
        return 2
    try:
        pcm = read_mono_8k(args.input)
    except (OSError, WavFormatError) as exc:
        print(f"pribox codec: {exc}", file=sys.stderr)
        return 2
    back, stats = transcode(pcm, CODECS[args.codec], line_law=CODECS[args.line_law], vad=args.vad,
                            loss=args.loss, frames_per_tick=args.ptime // 10, seed=args.seed)
    write_mono_8k(args.output, back)
    snr, lag = best_lag_snr_db(pcm, back) if pcm.size else (float("nan"), 0)
    print(f"{args.input} -> {args.line_law} line -> {args.codec} -> {args.output}: {pcm.size / 8000:.2f} s")
    print(f"  frames sent {stats['ticks'] * (args.ptime // 10) - stats['untransmitted_out']}, "
          f"SID {stats['sid_out']}, untransmitted {stats['untransmitted_out']}, "
          f"lost {stats['lost']}")
    print(f"  SNR {snr:.1f} dB at a codec delay of {lag} samples")
    return 0

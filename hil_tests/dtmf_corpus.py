"""A reproducible set of DTMF digit sequences with noise and speech, for cross-checking our
receiver against spandsp and for benchmarking both on the same audio.

Every case stays inside both receivers' documented limits (spandsp 0.0.6: twist 8 dB normal,
4 dB reverse, −42 dBm0; ours: see dsp/dtmf.py), so a disagreement is a real difference in
behaviour, not a difference in settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp.dtmf import DIGITS, digit_frequencies
from dsp.levels import dbm0_to_amplitude


@dataclass(frozen=True)
class Case:
    digits: str
    samples: np.ndarray       # int16, 8 kHz
    level_dbm0: float         # low-group tone
    twist_db: float           # low minus high
    snr_db: float             # DTMF power over white noise power
    speech: bool              # speech mixed under the digits


def _case(rng: np.random.Generator, speech_clips: list[np.ndarray] | None) -> Case:
    n_digits = int(rng.integers(1, 7))
    digits = "".join(rng.choice(list(DIGITS), n_digits))
    level = float(rng.uniform(-30.0, -6.0))
    twist = float(rng.uniform(-2.0, 4.0))
    snr = float(rng.uniform(12.0, 35.0))
    parts = [np.zeros(int(rng.integers(200, 800)))]
    for d in digits:
        low, high = digit_frequencies(d)
        on = int(rng.integers(50, 110) * 8)
        t = np.arange(on)
        dev_low, dev_high = rng.uniform(-0.01, 0.01, 2)   # within ±1 %: real keypads hold ±0.5 %
        tone = (dbm0_to_amplitude(level) * np.sin(2 * np.pi * low * (1 + dev_low) * t / 8000 + rng.uniform(0, 6.3))
                + dbm0_to_amplitude(level - twist) * np.sin(2 * np.pi * high * (1 + dev_high) * t / 8000 + rng.uniform(0, 6.3)))
        parts += [tone, np.zeros(int(rng.integers(50, 110) * 8))]
    x = np.concatenate(parts)
    tone_power = dbm0_to_amplitude(level) ** 2 / 2 * (1 + 10 ** (-twist / 10))
    x += rng.normal(0.0, np.sqrt(tone_power / 10 ** (snr / 10)), x.size)
    with_speech = bool(speech_clips) and rng.random() < 0.4
    if with_speech:
        clip = speech_clips[int(rng.integers(len(speech_clips)))]
        start = int(rng.integers(0, max(1, clip.size - x.size)))
        piece = clip[start:start + x.size]
        active = piece[np.abs(piece) > 0.02]
        rms = float(np.sqrt(np.mean(active ** 2))) if active.size else 1.0
        # speech 10 to 25 dB under the digits: a talker behind the keypad
        target = np.sqrt(tone_power) * 10 ** (-rng.uniform(10.0, 25.0) / 20)
        x[:piece.size] += piece * (target / rms)
    samples = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    return Case(digits, samples, level, twist, snr, with_speech)


def make_cases(count: int, seed: int = 2024, speech_clips: list[np.ndarray] | None = None) -> list[Case]:
    rng = np.random.default_rng(seed)
    return [_case(rng, speech_clips) for _ in range(count)]

"""Reproducible speech-like test audio at 8 kHz, for codec and detector tests and benchmarks.

There is no speech corpus on the box, so this builds the parts of speech that stress a codec:
voiced stretches (a glottal pulse train with a gliding pitch, shaped by three formants),
unvoiced stretches (shaped noise), pauses with low background noise, and syllable-rate
amplitude envelopes.  Everything is vectorised NumPy; a seed makes it repeatable.
"""

from __future__ import annotations

import numpy as np

RATE = 8000


def _formant_envelope(freqs: np.ndarray, formants, bandwidths) -> np.ndarray:
    gain = np.zeros_like(freqs)
    for centre, width in zip(formants, bandwidths):
        gain += 1.0 / (1.0 + ((freqs - centre) / (width / 2)) ** 2)
    return gain


def _shape(signal: np.ndarray, formants, bandwidths) -> np.ndarray:
    spectrum = np.fft.rfft(signal)
    freqs = np.fft.rfftfreq(signal.size, 1 / RATE)
    return np.fft.irfft(spectrum * _formant_envelope(freqs, formants, bandwidths), signal.size)


def _voiced(n: int, rng: np.random.Generator) -> np.ndarray:
    f0_start, f0_end = rng.uniform(90, 230, 2)
    f0 = np.linspace(f0_start, f0_end, n)
    phase = np.cumsum(f0 / RATE)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    formants = (rng.uniform(300, 800), rng.uniform(900, 2200), rng.uniform(2300, 3300))
    return _shape(pulses, formants, (90, 120, 180))


def _unvoiced(n: int, rng: np.random.Generator) -> np.ndarray:
    return _shape(rng.standard_normal(n), (rng.uniform(2000, 3500),), (1500,)) * 0.3


def speech_like(seconds: float, seed: int = 1, level_dbfs: float = -18.0,
                pause_fraction: float = 0.25, noise_dbfs: float = -60.0) -> np.ndarray:
    """int16 speech-like audio: syllables of 80-300 ms, some unvoiced, pauses in between;
    active parts have an RMS of `level_dbfs` (0 dBFS = full-scale sine RMS)."""
    rng = np.random.default_rng(seed)
    total = int(seconds * RATE)
    out = np.zeros(total)
    position = 0
    while position < total:
        length = min(int(rng.uniform(0.08, 0.3) * RATE), total - position)
        if rng.random() < pause_fraction:
            position += length
            continue
        piece = _unvoiced(length, rng) if rng.random() < 0.2 else _voiced(length, rng)
        envelope = np.sin(np.linspace(0, np.pi, length)) ** 0.5
        piece = piece * envelope
        rms = np.sqrt(np.mean(piece ** 2)) or 1.0
        out[position:position + length] = piece / rms
        position += length
    full_scale_rms = 32767 / np.sqrt(2)
    out *= full_scale_rms * 10 ** (level_dbfs / 20)
    out += rng.standard_normal(total) * full_scale_rms * 10 ** (noise_dbfs / 20)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def tone(seconds: float, freq: float, level_dbfs: float = -12.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    amplitude = 32767 * 10 ** (level_dbfs / 20)
    return np.round(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


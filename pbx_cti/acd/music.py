"""Music on hold made on the box, for a center whose prompt directory has no `hold_music.wav`:
a slow arpeggio of soft tones, each note shaped so the loop has no clicks, about -22 dBm0
(quiet enough under an announcement, loud enough that a caller knows the line is alive)."""

from __future__ import annotations

import functools

import numpy as np

RATE = 8000
# C major, A minor, F major, G major: four bars of four notes (Hz), 0.5 s each.
_NOTES = (261.6, 329.6, 392.0, 523.3, 220.0, 261.6, 329.6, 440.0,
          174.6, 220.0, 261.6, 349.2, 196.0, 246.9, 293.7, 392.0)
NOTE_SECONDS = 0.5
LEVEL = 1800.0     # peak of one note, in int16 units (about -22 dBm0 in power)


@functools.lru_cache(maxsize=1)
def hold_music() -> np.ndarray:
    n = int(NOTE_SECONDS * RATE)
    t = np.arange(n) / RATE
    envelope = np.minimum(1.0, t / 0.03) * np.exp(-2.5 * t)       # soft attack, a bell's decay
    notes = [np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t) for f in _NOTES]
    music = np.concatenate([note * envelope for note in notes]) * (LEVEL / 1.3)
    return np.ascontiguousarray(music.astype(np.int16))

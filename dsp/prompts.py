"""Prompts: audio files loaded once, converted to 8 kHz int16 mono, named and shared.

    store = PromptStore()
    store.load("greeting", "prompts/greeting.wav")   # 44.1 kHz stereo float? fine
    store.load("busy", "prompts/all_agents_busy.alaw")
    store["greeting"].samples          # int16, 8000 Hz, read-only
    store["greeting"].octets("alaw")   # the same audio as A-law code words

Conversion: channels are averaged; 8-bit/24-bit/32-bit integer and 32/64-bit float PCM are
scaled to int16; any rate 4-192 kHz is resampled to 8 kHz by dsp/resample.py.  A G.711 WAV or
raw .alaw/.ulaw file keeps its own code words, so playing it to a line of the same law is bit
for bit the file.  Every problem is a PromptFileError (a ValueError) naming the file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import numpy as np

from dsp import companding
from dsp.resample import ResampleError, resample
from dsp.wavfile import Audio, PromptFileError, read_audio

RATE = 8000
log = logging.getLogger("pribox.prompts")

__all__ = ["Prompt", "PromptStore", "PromptFileError", "load_prompt", "RATE"]


class Prompt:
    """One prompt: `samples` (int16 at 8 kHz, read-only, shared by every channel playing it)."""

    def __init__(self, name: str, samples: np.ndarray, *, source: str = "<samples>",
                 source_format: str = "16-bit PCM 8000 Hz mono", warnings: tuple[str, ...] = (),
                 octets: dict[str, np.ndarray] | None = None):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name: expected a non-empty string, got {name!r}")
        samples = np.ascontiguousarray(samples, dtype=np.int16)
        if samples.ndim != 1 or samples.size == 0:
            raise ValueError(f"prompt {name!r}: expected a non-empty 1-D array of samples, got shape "
                             f"{samples.shape}")
        samples.flags.writeable = False
        self.name = name
        self.samples = samples
        self.source = source
        self.source_format = source_format
        self.warnings = tuple(warnings)
        self._octets = dict(octets or {})
        for array in self._octets.values():
            array.flags.writeable = False

    @property
    def duration(self) -> float:
        return self.samples.size / RATE

    def octets(self, law) -> np.ndarray:
        """The prompt as G.711 code words of `law` ('alaw', 'ulaw' or Codec.ALAW/ULAW), encoded
        once, read-only."""
        law = companding.law_name(law)
        if law not in self._octets:
            encoded = companding.encode(self.samples, law)
            encoded.flags.writeable = False
            self._octets[law] = encoded
        return self._octets[law]

    def __repr__(self) -> str:
        return f"Prompt({self.name!r}, {self.duration:.3f} s from {self.source} [{self.source_format}])"


def load_prompt(path: str | Path, name: str | None = None) -> Prompt:
    path = Path(path)
    audio = read_audio(path)
    return _to_prompt(audio, name or path.stem, str(path))


def _to_prompt(audio: Audio, name: str, source: str) -> Prompt:
    octets = {}
    if audio.rate == RATE and audio.octets is not None and audio.law is not None:
        octets[audio.law] = audio.octets
    mono = audio.samples.mean(axis=1) if audio.channels > 1 else audio.samples[:, 0]
    if audio.rate != RATE:
        try:
            mono = resample(mono, audio.rate, RATE)
        except ResampleError as exc:
            raise PromptFileError(f"{source}: {exc}") from None
    samples = np.clip(np.rint(mono), -32768, 32767).astype(np.int16)
    for warning in audio.warnings:
        log.warning("%s", warning)
    return Prompt(name, samples, source=source, source_format=audio.description,
                  warnings=tuple(audio.warnings), octets=octets)


class PromptStore:
    """Prompts by name, loaded once.  Players hold on to the prompts they play, so replacing
    or removing a name never pulls audio from under a channel that is playing it."""

    def __init__(self) -> None:
        self._prompts: dict[str, Prompt] = {}

    def load(self, name: str, path: str | Path) -> Prompt:
        prompt = load_prompt(path, name)
        self._prompts[name] = prompt
        return prompt

    def load_directory(self, directory: str | Path) -> list[Prompt]:
        """Every .wav/.alaw/.ulaw file of `directory`, named by its stem."""
        suffixes = {".wav", ".alaw", ".al", ".ulaw", ".ul", ".mulaw", ".mu"}
        files = sorted(p for p in Path(directory).iterdir() if p.suffix.lower() in suffixes)
        return [self.load(p.stem, p) for p in files]

    def add(self, name: str, samples: np.ndarray) -> Prompt:
        prompt = Prompt(name, samples)
        self._prompts[name] = prompt
        return prompt

    def remove(self, name: str) -> None:
        self[name]
        del self._prompts[name]

    def __getitem__(self, name: str) -> Prompt:
        try:
            return self._prompts[name]
        except KeyError:
            known = ", ".join(sorted(self._prompts)) or "none loaded"
            raise KeyError(f"no prompt named {name!r} (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._prompts

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._prompts))

    def __len__(self) -> int:
        return len(self._prompts)

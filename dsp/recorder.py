"""Call recording: one stereo WAV per call, caller on the left, agent on the right, 8 kHz 16-bit.

Written so that a kill -9 or a power cut leaves a playable file up to the last commit (one
second of audio by default): the header is on disk before any audio, audio is appended as it
comes, and every `commit_every_frames` the data is fsynced first and only then the header's
sizes are rewritten to cover it.  So the sizes never claim audio that is not on disk, and a
reader sees a valid WAV of everything committed; audio after the last commit is ignored.

From the media batch: caller = `batch.pcm_from_line[ch]`, agent = `batch.pcm_to_line[ch]`.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from dsp._buffers import require_array

HEADER_BYTES = 44
_RIFF_SIZE_OFFSET = 4
_DATA_SIZE_OFFSET = 40
_MAX_DATA_BYTES = 0xFFFFFFFF - (HEADER_BYTES - 8)


def wav_header(sample_rate: int, channels: int, data_bytes: int) -> bytes:
    block_align = channels * 2
    return b"".join([
        b"RIFF", struct.pack("<I", HEADER_BYTES - 8 + data_bytes), b"WAVE",
        b"fmt ", struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block_align, block_align, 16),
        b"data", struct.pack("<I", data_bytes),
    ])


class StereoWavRecorder:
    def __init__(self, path: str | os.PathLike, *, sample_rate: int = 8000, commit_every_frames: int = 8000,
                 durable: bool = True):
        """`durable` fsyncs at each commit (what survives a power cut); tests of kill -9 alone may
        turn it off, since the page cache survives a killed process."""
        if not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ValueError(f"sample_rate: expected a positive int, got {sample_rate!r}")
        if not isinstance(commit_every_frames, int) or commit_every_frames <= 0:
            raise ValueError(f"commit_every_frames: expected a positive int, got {commit_every_frames!r}")
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.commit_every_frames = commit_every_frames
        self.durable = durable
        self.frames_written = 0
        self.frames_committed = 0
        self._interleaved = np.empty((0, 2), "<i2")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(self._fd, wav_header(sample_rate, 2, 0))
            self._sync()
        except BaseException:
            os.close(self._fd)
            raise

    def __enter__(self) -> StereoWavRecorder:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def append(self, caller: np.ndarray, agent: np.ndarray) -> None:
        """One block of both sides (int16, equal lengths)."""
        if self.closed:
            raise ValueError(f"{self.path}: recording is closed")
        caller = require_array("caller", caller, np.int16, ndim=1)
        agent = require_array("agent", agent, np.int16, ndim=1)
        if caller.size != agent.size:
            raise ValueError(f"caller, agent: expected equal lengths, got {caller.size} and {agent.size}")
        n = caller.size
        if (self.frames_written + n) * 4 > _MAX_DATA_BYTES:
            raise ValueError(f"{self.path}: a WAV file cannot hold more than 4 GiB; start a new recording")
        if self._interleaved.shape[0] < n:
            self._interleaved = np.empty((n, 2), "<i2")
        block = self._interleaved[:n]
        block[:, 0] = caller
        block[:, 1] = agent
        data = block.tobytes()
        written = 0
        while written < len(data):
            written += os.write(self._fd, data[written:])
        self.frames_written += n
        if self.frames_written - self.frames_committed >= self.commit_every_frames:
            self.commit()

    def commit(self) -> None:
        """Make everything appended so far part of the file a reader (or a crash) sees."""
        if self.closed or self.frames_committed == self.frames_written:
            return
        self._sync()  # audio on disk before the header claims it
        data_bytes = self.frames_written * 4
        os.pwrite(self._fd, struct.pack("<I", HEADER_BYTES - 8 + data_bytes), _RIFF_SIZE_OFFSET)
        os.pwrite(self._fd, struct.pack("<I", data_bytes), _DATA_SIZE_OFFSET)
        self._sync()
        self.frames_committed = self.frames_written

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.commit()
        finally:
            os.close(self._fd)
            self._fd = -1

    def _sync(self) -> None:
        if self.durable:
            os.fsync(self._fd)

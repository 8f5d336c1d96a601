"""Stereo 16-bit 8 kHz WAV written as a stream: a header whose sizes are fixed up as the file
grows (at each sync) and on close, and `repair` for a file a crash left behind — its sizes
rewritten from the file's length, a torn last frame cut off."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 8000
CHANNELS = 2
SAMPLE_BYTES = 2
FRAME_BYTES = CHANNELS * SAMPLE_BYTES
HEADER_BYTES = 44


class WavError(ValueError):
    """A file that is not a WAV this module wrote (or could repair), naming the file and why."""


def header(data_bytes: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, CHANNELS, RATE, RATE * FRAME_BYTES, FRAME_BYTES, 16)
            + b"data" + struct.pack("<I", data_bytes))


def interleave(left: np.ndarray, right: np.ndarray) -> bytes:
    """Two equal-length int16 channels as little-endian stereo frames."""
    if len(left) != len(right):
        raise ValueError(f"interleave: channels differ in length ({len(left)} and {len(right)} samples)")
    frames = np.empty((len(left), 2), "<i2")
    frames[:, 0] = left
    frames[:, 1] = right
    return frames.tobytes()


class StereoWavWriter:
    """Appends stereo frames to a new file; not thread-safe (one writer thread owns it)."""

    def __init__(self, path: str | os.PathLike, *, sync_seconds: float = 1.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "xb", buffering=0)   # each block reaches the OS: a kill -9 keeps it
        self._file.write(header(0))
        self.data_bytes = 0
        self._sync_every = int(sync_seconds * RATE * FRAME_BYTES)
        self._unsynced = 0

    @property
    def frames(self) -> int:
        return self.data_bytes // FRAME_BYTES

    @property
    def seconds(self) -> float:
        return self.frames / RATE

    def write(self, frames: bytes) -> None:
        if len(frames) % FRAME_BYTES:
            raise ValueError(f"{self.path}: {len(frames)} bytes is not a whole number of stereo frames")
        self._file.write(frames)
        self.data_bytes += len(frames)
        self._unsynced += len(frames)
        if self._unsynced >= self._sync_every:
            self.sync()

    def sync(self) -> None:
        """Sizes in the header brought up to date and everything on the disk: a power cut loses
        at most what came since."""
        self._fix_header()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._unsynced = 0

    def close(self) -> int:
        """Header fixed up and the file closed; returns its size in bytes."""
        if self._file.closed:
            return HEADER_BYTES + self.data_bytes
        self.sync()
        self._file.close()
        return HEADER_BYTES + self.data_bytes

    def _fix_header(self) -> None:
        end = self._file.tell()
        self._file.seek(0)
        self._file.write(header(self.data_bytes))
        self._file.seek(end)


@dataclass(frozen=True)
class WavInfo:
    frames: int
    bytes: int

    @property
    def seconds(self) -> float:
        return self.frames / RATE


def _check_format(path: Path, head: bytes) -> None:
    if len(head) < HEADER_BYTES:
        raise WavError(f"{path}: {len(head)} bytes, shorter than a WAV header ({HEADER_BYTES})")
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE" or head[12:16] != b"fmt " or head[36:40] != b"data":
        raise WavError(f"{path}: not a RIFF/WAVE file with a 16-byte fmt chunk then data")
    fmt = struct.unpack("<IHHIIHH", head[16:36])
    if fmt != (16, 1, CHANNELS, RATE, RATE * FRAME_BYTES, FRAME_BYTES, 16):
        raise WavError(f"{path}: format {fmt} is not PCM stereo 16-bit {RATE} Hz")


def needs_repair(path: str | os.PathLike) -> bool:
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES)
        size = os.fstat(f.fileno()).st_size
    _check_format(path, head)
    data = struct.unpack("<I", head[40:44])[0]
    return data != size - HEADER_BYTES or (size - HEADER_BYTES) % FRAME_BYTES != 0


def repair(path: str | os.PathLike) -> WavInfo:
    """Sizes rewritten from the file's length, a torn last frame cut: the audio a crash left
    behind, playable.  Raises WavError for a file that is not one of ours."""
    path = Path(path)
    with open(path, "r+b") as f:
        head = f.read(HEADER_BYTES)
        _check_format(path, head)
        size = os.fstat(f.fileno()).st_size
        data = (size - HEADER_BYTES) // FRAME_BYTES * FRAME_BYTES
        if HEADER_BYTES + data != size:
            f.truncate(HEADER_BYTES + data)
        f.seek(0)
        f.write(header(data))
        f.flush()
        os.fsync(f.fileno())
    return WavInfo(data // FRAME_BYTES, HEADER_BYTES + data)


def read_stereo(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) int16 of a finished file."""
    path = Path(path)
    raw = path.read_bytes()
    _check_format(path, raw[:HEADER_BYTES])
    data = struct.unpack("<I", raw[40:44])[0]
    frames = np.frombuffer(raw[HEADER_BYTES:HEADER_BYTES + data], "<i2").reshape(-1, 2)
    return frames[:, 0].astype(np.int16), frames[:, 1].astype(np.int16)

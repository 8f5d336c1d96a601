"""Uploaded files land atomically: written to a hidden temporary file in the upload folder,
flushed to disk, then renamed over the final name — a power cut or a cancelled transfer leaves
either the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class AtomicUpload:
    def __init__(self, folder: Path, name: str):
        self.folder = Path(folder)
        self.name = name
        self.size = 0
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=".part")
        self._file = os.fdopen(fd, "wb")

    @property
    def path(self) -> Path:
        return self.folder / self.name

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self.size += len(data)

    def commit(self) -> Path:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self.path)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself must survive a power cut
        finally:
            os.close(dir_fd)
        return self.path

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass

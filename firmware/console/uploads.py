"""Uploads over the console line: an X/YMODEM receive into a folder.

Files land atomically: written to a hidden temporary file in the upload folder, flushed to
disk, then renamed over the final name — a power cut or a cancelled transfer leaves either the
old file or the new one, never half of one.  A YMODEM file the folder cannot take (not
writable, not enough room) is refused before its header is acknowledged.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from . import xymodem

MAX_UPLOAD = 1 << 30          # a firmware bundle; at 115200 baud even 64 MiB takes 1.6 hours
FREE_SPACE_MARGIN = 16 << 20  # keep the state partition usable after an upload


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


class UploadJob:
    """One transfer: the sans-I/O receiver, its files, and what to tell the engineer."""

    def __init__(self, folder: Path, *, batch: bool, now: float, name: str = "upload.bin",
                 use_crc: bool = True):
        self.folder = Path(folder)
        self.results: list[str] = []
        self._file: AtomicUpload | None = None
        self.receiver = xymodem.XYModemReceiver(batch=batch, now=now, xmodem_name=name,
                                                use_crc=use_crc, max_file_size=MAX_UPLOAD,
                                                check_file=self._room_for)

    @property
    def finished(self) -> bool:
        return self.receiver.finished

    def get_timer(self) -> float | None:
        return self.receiver.get_timer()

    def receive(self, data: bytes, now: float) -> bytes:
        self.receiver.receive_data(data, now)
        return self._pump()

    def handle_timer(self, now: float) -> bytes:
        self.receiver.handle_timer(now)
        return self._pump()

    def start(self) -> bytes:
        return self._pump()

    def abort(self) -> None:
        if self._file is not None:
            self._file.abort()
            self._file = None

    def _room_for(self, name: str, size: int | None) -> str | None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(self.folder).free
        except OSError as exc:
            return f"cannot write the upload into {self.folder}: {exc.strerror or exc}"
        if size is not None and size + FREE_SPACE_MARGIN > free:
            return f"{name} needs {size} bytes, {self.folder} has {free} free"
        return None

    def _pump(self) -> bytes:
        while (event := self.receiver.next_event()) is not None:
            try:
                self._on_event(event)
            except OSError as exc:
                self.receiver.cancel(f"cannot write the upload: {exc.strerror or exc}")
        return self.receiver.data_to_send()

    def _on_event(self, event) -> None:
        if isinstance(event, xymodem.FileStarted):
            self._file = AtomicUpload(self.folder, event.name)
        elif isinstance(event, xymodem.FileData):
            assert self._file is not None
            self._file.write(event.data)
        elif isinstance(event, xymodem.FileCompleted):
            assert self._file is not None
            path = self._file.commit()
            self._file = None
            self.results.append(f"Received {event.name} ({event.size} bytes) as {path}")
        elif isinstance(event, xymodem.TransferFailed):
            self.abort()
            self.results.append(f"% Upload failed: {event.reason}; nothing was kept of the "
                                f"file in progress")

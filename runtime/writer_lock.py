"""One writer per database file: an advisory lock on `<file>.writer` holding the writer's pid,
so a second daemon (or a test left running) is refused with the holder named instead of two
writers interleaving their transactions."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class WriterLockError(OSError):
    """Another process writes the file, or the lock file cannot be opened; the text says which."""


def lock_for_writing(path: Path, who: str = "process", doing: str = "writing it") -> IO[str]:
    """Take `path`'s writer lock; keep the returned handle open as long as you write (closing it
    releases the lock).  The refusal reads "<path>: another <who> (pid N) is <doing>"."""
    lock_path = path.with_name(path.name + ".writer")
    try:
        handle = open(lock_path, "a+")
    except OSError as exc:
        raise WriterLockError(f"{path}: cannot open {lock_path.name}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise WriterLockError(f"{path}: another {who} (pid {holder}) is {doing}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle

"""Which filesystem a directory is on, from /proc/self/mountinfo: recordings belong on the data
partition, never on a RAM-backed filesystem a reboot empties."""

from __future__ import annotations

import os
from pathlib import Path

MOUNTINFO = "/proc/self/mountinfo"
RAM_FILESYSTEMS = frozenset({"tmpfs", "ramfs", "devtmpfs"})


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash in paths as octal escapes (\040 ...)
    return field.encode().decode("unicode_escape") if "\\" in field else field


def parse_mountinfo(text: str) -> list[tuple[str, str]]:
    """(mount point, filesystem type) of each line, in the order mounted."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        after = line.split(" - ", 1)[1].split()
        if after:
            mounts.append((_unescape(fields[4]), after[0]))
    return mounts


def existing_ancestor(path: str | os.PathLike) -> Path:
    """The path itself or the nearest parent that exists (a directory not made yet lands on
    whatever its parent is on)."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p.resolve()


def filesystem_at(target: str, mounts: list[tuple[str, str]]) -> str | None:
    """The filesystem type of the mount holding the absolute, resolved path `target`: the last
    one mounted at the longest mount point that contains it."""
    best, kind = -1, None
    for point, fstype in mounts:
        inside = target == point or point == "/" or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= best:
            best, kind = len(point), fstype
    return kind


def filesystem_of(path: str | os.PathLike, mountinfo: str = MOUNTINFO) -> str | None:
    """The filesystem type `path` (or, not made yet, its nearest existing parent) is on, or
    None when the mount table cannot be read."""
    try:
        text = Path(mountinfo).read_text()
    except OSError:
        return None
    return filesystem_at(str(existing_ancestor(path)), parse_mountinfo(text))


def ram_backed_problem(path: str | os.PathLike, key: str, mountinfo: str = MOUNTINFO) -> str | None:
    """A message naming `key` when `path` is on a RAM-backed filesystem, else None."""
    kind = filesystem_of(path, mountinfo)
    if kind in RAM_FILESYSTEMS:
        return (f"{key}: {path} is on a {kind} filesystem, which a reboot empties; "
                f"recordings must go on the data partition")
    return None


def free_space(path: str | os.PathLike) -> tuple[int, int]:
    """(bytes free to an unprivileged writer, total bytes) of the filesystem holding `path`."""
    st = os.statvfs(existing_ancestor(path))
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize

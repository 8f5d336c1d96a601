"""Keeping the recordings directory within bounds (blocking: run in a worker thread).

A pass deletes, oldest first, what is older than `retention_days`, then as many more as it takes
to keep `min_free_mb` and `min_free_percent` of the filesystem free; a recording still being
written is never touched.  It reports the free space it left and a warning once free space is
below the warning level — before retention has to start deleting young recordings, and long
before the disk is full.  `repair_interrupted` is the start-up pass that completes what a crash
left: each row still "recording" gets its file's header repaired and its true duration."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .mounts import free_space
from .store import RecordingRow, RecordingStore
from .wav import WavError, needs_repair, repair

log = logging.getLogger("pribox.recording")

MB = 1 << 20
DAY = 86400.0


@dataclass(frozen=True)
class Limits:
    retention_days: int = 90
    min_free_mb: int = 200
    min_free_percent: int = 5
    warn_free_mb: int = 500
    warn_free_percent: int = 10

    @classmethod
    def from_section(cls, section) -> "Limits":
        return cls(section.retention_days, section.min_free_mb, section.min_free_percent,
                   section.warn_free_mb, section.warn_free_percent)

    def floor(self, total: int) -> int:
        return max(self.min_free_mb * MB, total * self.min_free_percent // 100)

    def warning_level(self, total: int) -> int:
        return max(self.warn_free_mb * MB, total * self.warn_free_percent // 100)


@dataclass
class RetentionReport:
    deleted_by_age: list[str] = field(default_factory=list)
    deleted_for_space: list[str] = field(default_factory=list)
    free: int = 0
    total: int = 0
    warning: str | None = None


class Retention:
    def __init__(self, store: RecordingStore, directory: str | os.PathLike, limits: Limits, *,
                 disk_usage: Callable[[Path], tuple[int, int]] = free_space, wall: Callable[[], float] = time.time):
        self.store = store
        self.directory = Path(directory)
        self.limits = limits
        self.disk_usage = disk_usage      # (free, total) bytes of the directory's filesystem
        self.wall = wall

    def run(self) -> RetentionReport:
        report = RetentionReport()
        if self.limits.retention_days > 0:
            cutoff = self.wall() - self.limits.retention_days * DAY
            while True:
                batch = self.store.oldest_finished(100, before=cutoff)
                deleted = [row.id for row in batch if self._delete(row)]
                report.deleted_by_age += deleted
                if not deleted:          # none left, or none that can be deleted: try again next pass
                    break
        free, total = self.disk_usage(self.directory)
        floor = self.limits.floor(total)
        progress = True
        while free < floor and progress:
            progress = False
            for row in self.store.oldest_finished(20):
                if not self._delete(row):
                    continue
                progress = True
                report.deleted_for_space.append(row.id)
                free, total = self.disk_usage(self.directory)
                if free >= floor:
                    break
        report.free, report.total = free, total
        if report.deleted_by_age:
            log.info("recording retention: %d recording(s) older than %d days deleted",
                     len(report.deleted_by_age), self.limits.retention_days)
        if report.deleted_for_space:
            log.warning("recording retention: %d oldest recording(s) deleted to keep %d MB free in %s",
                        len(report.deleted_for_space), floor // MB, self.directory)
        level = self.limits.warning_level(total)
        if free < level:
            share = 100.0 * free / total if total else 0.0
            report.warning = (f"low disk space for recordings: {free // MB} MB ({share:.1f} %) free in "
                              f"{self.directory}, below the warning level of {level // MB} MB; "
                              + ("nothing left to delete: new recordings will fail when the disk fills"
                                 if free < floor else
                                 f"the oldest recordings are deleted below {floor // MB} MB"))
            log.warning("%s", report.warning)
        return report

    def _delete(self, row: RecordingRow) -> bool:
        path = Path(row.path)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("recording retention: could not delete %s: %s", path, exc)
            return False                  # keep the row: the file is still there
        self.store.delete(row.id)
        parent = path.parent              # day folders left empty go too
        while parent != self.directory and self.directory in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
        return True


def repair_interrupted(store: RecordingStore, directory: str | os.PathLike) -> list[str]:
    """Rows a crash left "recording": the file's header repaired, the row completed as
    "interrupted" (or "failed" with no audio).  WAV files in the directory that no row names
    and whose header is stale are repaired too.  Returns the ids completed."""
    done = []
    for row in store.unfinished():
        path = Path(row.path)
        try:
            info = repair(path)
        except FileNotFoundError:
            store.finish(row.id, ended=row.started, duration=0.0, size=0, status="failed")
            log.warning("recording %s: its file %s is missing after a crash", row.id, path)
        except (OSError, WavError) as exc:
            store.finish(row.id, ended=row.started, duration=0.0, size=0, status="failed")
            log.error("recording %s: cannot repair %s: %s", row.id, path, exc)
        else:
            store.finish(row.id, ended=row.started + info.seconds, duration=info.seconds, size=info.bytes,
                         status="interrupted")
            log.warning("recording %s of call %s was interrupted; %.1f s of audio kept", row.id, row.call_id, info.seconds)
        done.append(row.id)
    known = store.paths()
    for path in Path(directory).rglob("*.wav"):
        if str(path) in known:
            continue
        try:
            if needs_repair(path):
                repair(path)
                log.warning("recording file %s had no finished header; repaired", path)
        except (OSError, WavError) as exc:
            log.error("recording file %s: %s", path, exc)
    return done

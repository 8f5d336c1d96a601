"""Recordings' metadata in SQLite (`recordings.sqlite` in the state directory, WAL).

A row is written when a recording starts (status "recording") and completed when it stops, so
a crash leaves a row the next start's repair pass finds and completes ("interrupted").  The
store is blocking and thread-safe: callers on the event loop reach it through a worker thread
(the recorder's writer, `asyncio.to_thread`)."""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "recordings.sqlite"
REASONS = ("all", "queue", "on-demand")
STATUSES = ("recording", "complete", "interrupted", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS recordings (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    agent TEXT,
    queue TEXT,
    caller TEXT,
    started REAL NOT NULL,
    ended REAL,
    duration REAL NOT NULL DEFAULT 0,
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS recordings_started ON recordings (started);
CREATE INDEX IF NOT EXISTS recordings_agent ON recordings (agent, started);
CREATE INDEX IF NOT EXISTS recordings_call ON recordings (call_id);
"""


@dataclass(frozen=True)
class RecordingRow:
    id: str
    call_id: str
    agent: str | None
    queue: str | None
    caller: str | None
    started: float               # wall-clock seconds (Unix time)
    ended: float | None
    duration: float              # seconds of audio in the file
    path: str
    bytes: int
    reason: str                  # why it was recorded: all / queue / on-demand
    status: str                  # recording / complete / interrupted / failed

    def to_json(self) -> dict:
        out = asdict(self)
        out.pop("path")          # where the box keeps it is nobody's business over the API
        return out


_COLUMNS = tuple(RecordingRow.__dataclass_fields__)


class RecordingStore:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def in_state_dir(cls, state_dir: str | os.PathLike) -> "RecordingStore":
        return cls(Path(state_dir) / FILE_NAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes ------------------------------------------------------------------------------
    def begin(self, row: RecordingRow) -> None:
        if row.reason not in REASONS:
            raise ValueError(f"recording {row.id}: reason {row.reason!r} is not one of {', '.join(REASONS)}")
        with self._lock:
            self._db.execute(f"INSERT INTO recordings ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                             tuple(getattr(row, c) for c in _COLUMNS))

    def finish(self, recording_id: str, *, ended: float, duration: float, size: int, status: str = "complete") -> None:
        if status not in STATUSES:
            raise ValueError(f"recording {recording_id}: status {status!r} is not one of {', '.join(STATUSES)}")
        with self._lock:
            self._db.execute("UPDATE recordings SET ended = ?, duration = ?, bytes = ?, status = ? WHERE id = ?",
                             (ended, duration, size, status, recording_id))

    def delete(self, recording_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM recordings WHERE id = ?", (recording_id,))

    # -- reads -------------------------------------------------------------------------------
    def get(self, recording_id: str) -> RecordingRow | None:
        rows = self._select("WHERE id = ?", (recording_id,))
        return rows[0] if rows else None

    def find(self, *, agent: str | None = None, call_id: str | None = None, since: float | None = None,
             until: float | None = None, limit: int = 100, offset: int = 0) -> list[RecordingRow]:
        """Newest first."""
        where, args = [], []
        for column, op, value in (("agent", "=", agent), ("call_id", "=", call_id),
                                  ("started", ">=", since), ("started", "<", until)):
            if value is not None:
                where.append(f"{column} {op} ?")
                args.append(value)
        clause = ("WHERE " + " AND ".join(where) + " ") if where else ""
        return self._select(clause + "ORDER BY started DESC, id DESC LIMIT ? OFFSET ?", (*args, limit, offset))

    def unfinished(self) -> list[RecordingRow]:
        return self._select("WHERE status = 'recording' ORDER BY started", ())

    def oldest_finished(self, limit: int = 100, before: float | None = None) -> list[RecordingRow]:
        """Finished recordings, oldest first (those still being written are never offered)."""
        clause = "WHERE status != 'recording'" + (" AND started < ?" if before is not None else "")
        args = (before,) if before is not None else ()
        return self._select(clause + " ORDER BY started, id LIMIT ?", (*args, limit))

    def paths(self) -> set[str]:
        with self._lock:
            return {p for (p,) in self._db.execute("SELECT path FROM recordings")}

    def _select(self, clause: str, args: tuple) -> list[RecordingRow]:
        with self._lock:
            cursor = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM recordings {clause}", args)
            return [RecordingRow(*values) for values in cursor.fetchall()]

"""The append-only event log of the contact center (Asterisk's queue_log in spirit).

Every change of run-time state is one record; the engine rebuilds itself by replaying them and
every statistic is computed from them.  Storage sits behind `EventStore` so a bigger site can
put the log in PostgreSQL; `SqliteEventStore` is the embedded default.

Writes never block the caller: `append()` only queues the record; a writer thread commits what
has queued at least every `flush_interval` seconds (0.2 s by default) in one transaction, in
WAL mode, so a kill -9 loses at most the records of that last fraction of a second.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Protocol

log = logging.getLogger("pribox.cti")
_RETRY = object()   # the writer's own wake-up: try the held records again

DB_FILE = "cti-events.sqlite"


@dataclass(frozen=True)
class LogRecord:
    """One thing that happened.  `time` is wall-clock seconds (the one clock's `now` plus the
    daemon's fixed wall offset), so logs of successive runs line up and intervals are real
    quarter hours.  `kind` is one of the K_* names below."""

    seq: int
    time: float
    kind: str
    queue: str = ""
    caller: str = ""
    agent: str = ""
    data: dict = field(default_factory=dict)


# Kinds of record, and what their data holds.
K_AGENT_STATE = "AGENT_STATE"    # state, reason, caller, [endpoint, groups on login], [wrap_until]
K_PENDING = "PENDING"            # reason: the agent goes NOT_READY with it when its call ends
K_ENTER = "ENTER"                # priority, info: a caller joined the queue
K_OFFER = "OFFER"                # agents, offer, deadline: the caller rings at these agents
K_OFFER_END = "OFFER_END"        # outcome (withdrawn/ring-no-answer/rejected/failed), offer
K_CONNECT = "CONNECT"            # wait: the agent answered
K_ABANDON = "ABANDON"            # wait, reason: the caller left before being answered
K_CALL_END = "CALL_END"          # talk: the connected call ended
K_WRAP_CODE = "WRAP_CODE"        # code
K_ENDPOINT = "ENDPOINT"          # endpoint, available
K_CHECKPOINT = "CHECKPOINT"      # the engine's whole run-time state: restore starts from the last one
KINDS = (K_AGENT_STATE, K_PENDING, K_ENTER, K_OFFER, K_OFFER_END, K_CONNECT, K_ABANDON,
         K_CALL_END, K_WRAP_CODE, K_ENDPOINT, K_CHECKPOINT)


class EventStore(Protocol):
    def append(self, record: LogRecord) -> None:
        """Queue one record; it must not block on I/O."""

    def append_many(self, records: list[LogRecord]) -> None:
        """Queue records that become durable together or not at all (one engine operation)."""

    def records(self, after_seq: int = 0) -> Iterator[LogRecord]:
        """Every durable record with seq > after_seq, in order (flush first to include all)."""

    def last_checkpoint(self) -> LogRecord | None:
        """The durable CHECKPOINT record with the highest seq, if any."""

    def flush(self) -> None:
        """Wait until every appended record is durable."""

    def close(self) -> None: ...


class MemoryEventStore:
    """The log in a list: for tests and for engines that need no persistence."""

    def __init__(self, records: Iterable[LogRecord] = ()):
        self._records: list[LogRecord] = list(records)

    def append(self, record: LogRecord) -> None:
        self._records.append(record)

    def append_many(self, records: list[LogRecord]) -> None:
        self._records.extend(records)

    def records(self, after_seq: int = 0) -> Iterator[LogRecord]:
        return iter([r for r in self._records if r.seq > after_seq])

    def last_checkpoint(self) -> LogRecord | None:
        return next((r for r in reversed(self._records) if r.kind == K_CHECKPOINT), None)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class EventLogError(Exception):
    pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS cti_events (
    seq    INTEGER PRIMARY KEY,
    time   REAL NOT NULL,
    kind   TEXT NOT NULL,
    queue  TEXT NOT NULL DEFAULT '',
    caller TEXT NOT NULL DEFAULT '',
    agent  TEXT NOT NULL DEFAULT '',
    data   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS cti_events_time ON cti_events(time);
CREATE INDEX IF NOT EXISTS cti_events_kind ON cti_events(kind, seq);
"""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a committed transaction survives a process kill; only a power cut
    # can take the last commits, which the data partition's journaling bounds.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _row_to_record(row) -> LogRecord:
    seq, time, kind, queue_name, caller, agent, data = row
    return LogRecord(seq, time, kind, queue_name, caller, agent, json.loads(data))


class SqliteEventStore:
    """The log in SQLite (WAL) with one writer thread that commits in batches."""

    def __init__(self, path: str | os.PathLike, flush_interval: float = 0.2):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.flush_interval = flush_interval
        try:
            self._read = _connect(self.path)
            self._read.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise EventLogError(f"{self.path}: cannot open the CTI event log: {exc}") from exc
        self._queue: queue.Queue = queue.Queue()
        self._failure: BaseException | None = None
        # A disk that refuses for a while (full, locked by another process, an I/O error) is
        # not a failure: the writer holds what it could not commit and retries, as the CDR
        # store does, so the engine never sees it and nothing is lost once the disk takes it.
        self._held: sqlite3.OperationalError | None = None
        self._held_count = 0
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="cti-eventlog", daemon=True)
        self._writer.start()

    @classmethod
    def in_state_dir(cls, state_dir: str | os.PathLike, **kwargs) -> "SqliteEventStore":
        return cls(Path(state_dir) / DB_FILE, **kwargs)

    def append(self, record: LogRecord) -> None:
        self.append_many([record])

    def append_many(self, records: list[LogRecord]) -> None:
        if self._closed:
            raise EventLogError(f"{self.path}: event log is closed; records from {records[0].seq} not written")
        if self._failure is not None:
            raise EventLogError(f"{self.path}: the writer failed: {self._failure}")
        rows = []
        for record in records:
            try:
                data = json.dumps(record.data, separators=(",", ":"), sort_keys=True)
            except (TypeError, ValueError) as exc:
                raise EventLogError(f"{self.path}: record {record.seq} ({record.kind}) has data that is not "
                                    f"JSON: {exc}") from exc
            rows.append((record.seq, record.time, record.kind, record.queue, record.caller, record.agent, data))
        self._queue.put(rows)  # one item: the writer never splits it across transactions

    def flush(self) -> None:
        done = threading.Event()
        self._queue.put(done)
        while not done.wait(0.5):
            if not self._writer.is_alive():
                raise EventLogError(f"{self.path}: the writer thread is gone")
        if self._failure is not None:
            raise EventLogError(f"{self.path}: the writer failed: {self._failure}")
        if self._held is not None:
            raise EventLogError(f"{self.path}: {self._held_count} record(s) held, not yet written: {self._held}")

    @property
    def held(self) -> int:
        """Records the disk has refused so far and the writer keeps retrying."""
        return self._held_count if self._held is not None else 0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join()
        self._read.close()
        if self._failure is not None:
            raise EventLogError(f"{self.path}: the writer failed: {self._failure}")
        if self._held is not None:
            raise EventLogError(f"{self.path}: closed with {self._held_count} record(s) the disk refused: "
                                f"{self._held}")

    def records(self, after_seq: int = 0) -> Iterator[LogRecord]:
        cur = self._read.execute(
            "SELECT seq, time, kind, queue, caller, agent, data FROM cti_events WHERE seq > ? ORDER BY seq",
            (after_seq,))
        for row in cur:
            yield _row_to_record(row)

    def last_checkpoint(self) -> LogRecord | None:
        row = self._read.execute(
            "SELECT seq, time, kind, queue, caller, agent, data FROM cti_events WHERE kind = ? "
            "ORDER BY seq DESC LIMIT 1", (K_CHECKPOINT,)).fetchone()
        return None if row is None else _row_to_record(row)

    def _write_loop(self) -> None:
        conn = _connect(self.path)
        stop = False
        pending: list[tuple] = []
        while not stop:
            waiters: list[threading.Event] = []
            try:
                items = [self._queue.get(timeout=self.flush_interval if pending else None)]
            except queue.Empty:
                items = [_RETRY]
            # Whatever else arrives within the flush interval joins the same transaction; a
            # flush or close marker commits at once.
            deadline = time.monotonic() + self.flush_interval
            while items[-1] is not None and items[-1] is not _RETRY and not isinstance(items[-1], threading.Event):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    items.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
            for entry in items:
                if entry is None:
                    stop = True
                elif isinstance(entry, threading.Event):
                    waiters.append(entry)
                elif entry is not _RETRY:
                    pending.extend(entry)
            if pending and self._failure is None:
                try:
                    conn.execute("BEGIN")
                    conn.executemany(
                        "INSERT INTO cti_events (seq, time, kind, queue, caller, agent, data) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        pending)
                    conn.execute("COMMIT")
                    if self._held is not None:
                        log.warning("%s: CTI event log writes work again (%d held record(s) written)",
                                    self.path, len(pending))
                    self._held, self._held_count = None, 0
                    pending = []
                except sqlite3.OperationalError as exc:   # full, locked, I/O: hold and retry
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                    if self._held is None:
                        log.error("%s: cannot write CTI events (%s); holding them and retrying", self.path, exc)
                    self._held, self._held_count = exc, len(pending)
                except Exception as exc:  # kept and raised at the next append/flush: never silent
                    self._failure = exc
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
            for waiter in waiters:
                waiter.set()
        conn.close()


def read_records(path: str | os.PathLike, *, after_seq: int = 0, since: float | None = None,
                 checkpoints: bool = True) -> list[LogRecord]:
    """The records of a log file, read-only (for `pribox stats` and the live figures beside a
    running daemon): those after `after_seq`, from time `since` on, without CHECKPOINT records
    (the whole state, large and of no use to statistics) when `checkpoints` is False."""
    path = Path(path)
    if not path.exists():
        raise EventLogError(f"{path}: no CTI event log there")
    where, params = ["seq > ?"], [after_seq]
    if since is not None:
        where.append("time >= ?")
        params.append(since)
    if not checkpoints:
        where.append("kind != ?")
        params.append(K_CHECKPOINT)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT seq, time, kind, queue, caller, agent, data FROM cti_events WHERE "
                + " AND ".join(where) + " ORDER BY seq", params).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise EventLogError(f"{path}: not a readable CTI event log: {exc}") from exc
    return [_row_to_record(r) for r in rows]


def read_agent_states_before(path: str | os.PathLike, before: float) -> list[LogRecord]:
    """Each agent's last AGENT_STATE record from before `before`, in log order: what every agent
    was doing when a report's window opens (read-only, like `read_records`)."""
    path = Path(path)
    if not path.exists():
        raise EventLogError(f"{path}: no CTI event log there")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT seq, time, kind, queue, caller, agent, data FROM cti_events WHERE seq IN "
                "(SELECT MAX(seq) FROM cti_events WHERE kind = ? AND time < ? GROUP BY agent) ORDER BY seq",
                (K_AGENT_STATE, before)).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise EventLogError(f"{path}: not a readable CTI event log: {exc}") from exc
    return [_row_to_record(r) for r in rows]

"""The CDR writer: `CdrStore.open/update/close` queue the change and return at once; one writer
thread applies what queued in a transaction at least every `flush_interval` seconds (WAL), so
the asyncio loop never waits for the disk and a kill -9 loses at most that last interval.

A full queue (the disk stalled for longer than the queue lasts) drops the change, counts it in
`stats()["dropped"]` and logs a warning at most once a second: the caller is never blocked, and
nothing is dropped without a trace.  Spilling to memory was rejected: an unbounded spill turns a
stalled disk into a box that runs out of memory.  Every change carries the call id, so a later
`update`/`close` of a call whose `open` was dropped still creates its record (with what it knew).

Every second with calls open the writer stamps their `last_seen`: a call cut by a crash is
closed at the next boot (cause 41, `cleared_by = "restart"`) with that as its end time.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import time
from dataclasses import fields
from pathlib import Path
from typing import Callable

from runtime.writer_lock import WriterLockError, lock_for_writing

from .record import (CAUSE_RESTART, CLEARED_BY, CLOSED, DERIVED_FIELDS, OPEN, UPDATABLE_FIELDS, CallRecord,
                     column_of, encode_value, to_ms)
from .schema import CdrError, connect, path_in_state_dir

log = logging.getLogger("pribox.cdr")

DEFAULT_FLUSH_INTERVAL = 0.25
DEFAULT_QUEUE_SIZE = 10_000
HEARTBEAT_INTERVAL = 1.0

_OPEN, _UPDATE, _CLOSE = "open", "update", "close"


def _encode_fields(path: Path, call_id: str, values: dict) -> dict:
    """Field values as their columns store them; a field that does not exist is the caller's bug
    and is refused at once, where the caller can see it."""
    derived = sorted(set(values) & set(DERIVED_FIELDS))
    if derived:
        raise CdrError(f"{path}: call {call_id}: field {', '.join(derived)} is kept by the store "
                       "(state by open/close, duration and billable from the times), not set")
    unknown = sorted(set(values) - set(UPDATABLE_FIELDS))
    if unknown:
        raise CdrError(f"{path}: call {call_id}: no CDR field named {', '.join(unknown)} "
                       f"(fields: {', '.join(UPDATABLE_FIELDS)})")
    encoded = {}
    for name, value in values.items():
        try:
            stored = encode_value(name, value)
        except (TypeError, ValueError) as exc:
            raise CdrError(f"{path}: call {call_id}: field {name}: {exc}") from exc
        if not isinstance(stored, (str, int, float, type(None))):
            raise CdrError(f"{path}: call {call_id}: field {name} must be text or a number, "
                           f"not {type(value).__name__}")
        encoded[column_of(name)] = stored
    return encoded


class CdrStore:
    """The writer.  Construct it at service start (it opens, migrates and recovers the file:
    blocking I/O, a few milliseconds; from a running loop use `await loop.run_in_executor(None,
    CdrStore, path)`), then call open/update/close from the loop."""

    def __init__(self, path: str | os.PathLike, *, now: Callable[[], float] = time.time,
                 flush_interval: float = DEFAULT_FLUSH_INTERVAL, queue_size: int = DEFAULT_QUEUE_SIZE,
                 heartbeat_interval: float = HEARTBEAT_INTERVAL, busy_timeout: float = 5.0):
        if not 0 < flush_interval <= 1.0:
            raise ValueError("flush_interval must be in (0, 1] seconds: at most the last second may be lost")
        self.path = Path(path)
        self.now = now
        self.flush_interval = flush_interval
        self.heartbeat_interval = min(heartbeat_interval, 1.0)
        self.busy_timeout = busy_timeout
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CdrError(f"{self.path}: cannot create its directory: {exc.strerror or exc}") from exc
        # One writer per file: a second one would take the first one's open calls for calls cut
        # by a crash.  The kernel drops the lock with its holder, kill -9 included.
        self._writer_lock = self._lock_for_writing()
        try:
            conn = connect(self.path, readonly=False, timeout=busy_timeout)
            try:
                self.recovered = self._close_calls_cut_by_crash(conn)
            finally:
                conn.close()
        except BaseException:
            self._writer_lock.close()
            raise
        if self.recovered:
            log.warning("%s: closed %d call(s) left open by the last stop (cause %d, cleared by restart): %s",
                        self.path, len(self.recovered), CAUSE_RESTART, ", ".join(self.recovered[:10])
                        + (" ..." if len(self.recovered) > 10 else ""))
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._counters = {"queued": 0, "written": 0, "commits": 0, "dropped": 0, "rejected": 0,
                          "write_errors": 0}
        self._last_error = ""
        self._last_drop_log = 0.0
        self._drops_unlogged = 0
        self._stopped = False
        self._writer = threading.Thread(target=self._write_loop, name="cdr-writer", daemon=True)
        self._writer.start()

    @classmethod
    def in_state_dir(cls, state_dir: str | os.PathLike, **kwargs) -> "CdrStore":
        return cls(path_in_state_dir(state_dir), **kwargs)

    def _lock_for_writing(self):
        try:
            return lock_for_writing(self.path, "process", "writing these CDRs")
        except WriterLockError as exc:
            raise CdrError(str(exc)) from None

    # -- the caller's side: never blocks ------------------------------------------------------

    def open(self, record: CallRecord) -> bool:
        """A call started.  `setup_time` defaults to now.  False when the queue was full."""
        at = self.now()
        values = {f.name: getattr(record, f.name) for f in fields(record)
                  if f.name in UPDATABLE_FIELDS}
        if values["setup_time"] is None:
            values["setup_time"] = at
        return self._put((_OPEN, record.call_id, to_ms(at), _encode_fields(self.path, record.call_id, values)))

    def update(self, call_id: str, **changes) -> bool:
        """Some fields of a call changed (answer_time, ivr_path, route_target...)."""
        return self._put((_UPDATE, call_id, to_ms(self.now()),
                          _encode_fields(self.path, call_id, changes)))

    def close(self, call_id: str, *, cause: int, cleared_by: str, end_time: float | None = None,
              **changes) -> bool:
        """The call ended: end time (default now), Q.850 cause and who cleared; duration and
        billable seconds are computed from the record's setup and answer times."""
        if cleared_by not in CLEARED_BY:
            raise CdrError(f"{self.path}: call {call_id}: cleared_by {cleared_by!r} is not one of "
                           f"{', '.join(CLEARED_BY)}")
        at = self.now()
        changes.update(cause=int(cause), cleared_by=cleared_by, end_time=at if end_time is None else end_time)
        return self._put((_CLOSE, call_id, to_ms(at), _encode_fields(self.path, call_id, changes)))

    def _put(self, op: tuple) -> bool:
        if self._stopped:
            raise CdrError(f"{self.path}: the CDR store is stopped; {op[0]} of call {op[1]} not written")
        try:
            self._queue.put_nowait(op)
        except queue.Full:
            self._dropped(op)
            return False
        with self._lock:
            self._counters["queued"] += 1
        return True

    def _dropped(self, op: tuple) -> None:
        with self._lock:
            self._counters["dropped"] += 1
            self._drops_unlogged += 1
            moment = time.monotonic()
            if moment - self._last_drop_log < 1.0:
                return
            self._last_drop_log = moment
            count, self._drops_unlogged = self._drops_unlogged, 0
            total = self._counters["dropped"]
        log.warning("%s: CDR queue full (%d changes waiting for the disk): dropped %d change(s), %d in all; "
                    "latest: %s of call %s", self.path, self._queue.maxsize, count, total, op[0], op[1])

    def stats(self) -> dict:
        """queued, written (changes committed), commits, dropped (queue full), rejected (changes
        the database refused, e.g. a second open of one call id), write_errors, waiting, last_error."""
        with self._lock:
            return {**self._counters, "waiting": self._queue.qsize(), "last_error": self._last_error}

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait (blocking) until what was queued before is committed; False on timeout."""
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is queued and end the writer.  Calls still open stay open in their
        records: the next start closes them as cut by a restart."""
        if self._stopped:
            return
        self._stopped = True
        self._queue.put(None)
        self._writer.join(timeout)
        if self._writer.is_alive():
            log.error("%s: the CDR writer did not finish within %.0f s; %d change(s) not written",
                      self.path, timeout, self._queue.qsize())
        else:
            self._writer_lock.close()

    def __enter__(self) -> "CdrStore":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the writer thread -------------------------------------------------------------------

    def _close_calls_cut_by_crash(self, conn: sqlite3.Connection) -> list[str]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            ids = [r[0] for r in conn.execute("SELECT call_id FROM calls WHERE state = 'open' ORDER BY setup_ms")]
            conn.execute(
                "UPDATE calls SET state = 'closed', cause = ?, cleared_by = 'restart', "
                "end_ms = COALESCE(last_seen_ms, setup_ms), "
                "duration_ms = MAX(0, COALESCE(last_seen_ms, setup_ms) - setup_ms), "
                "billable_ms = CASE WHEN answer_ms IS NULL THEN 0 "
                "                   ELSE MAX(0, COALESCE(last_seen_ms, setup_ms) - answer_ms) END "
                "WHERE state = 'open'", (CAUSE_RESTART,))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise CdrError(f"{self.path}: cannot close the calls a crash left open: {exc}") from exc
        return ids

    def _write_loop(self) -> None:
        try:
            conn = connect(self.path, readonly=False, timeout=self.busy_timeout)
        except CdrError as exc:
            self._last_error = str(exc)
            log.error("%s", exc)
            return
        pending: list[tuple] = []   # changes taken from the queue, not yet committed
        waiters: list[threading.Event] = []
        stop = False
        last_heartbeat = time.monotonic()
        while True:
            if not pending and not stop:
                # Block for the first change (or until the heartbeat is due), then gather what
                # else comes within the flush interval into the same transaction.
                try:
                    first = self._queue.get(timeout=self.heartbeat_interval)
                    stop = self._take(first, pending, waiters)
                    deadline = time.monotonic() + self.flush_interval
                    while not stop and not waiters:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        stop = self._take(self._queue.get(timeout=remaining), pending, waiters)
                except queue.Empty:
                    pass
            now_ms = to_ms(self.now())
            heartbeat = time.monotonic() - last_heartbeat >= self.heartbeat_interval
            if pending or heartbeat:
                if self._commit(conn, pending, now_ms):
                    pending = []
                    last_heartbeat = time.monotonic()
                elif stop:
                    log.error("%s: stopping with %d CDR change(s) not written: %s", self.path, len(pending),
                              self._last_error)
                    pending = []
                else:
                    time.sleep(self.flush_interval)   # the disk refused: retry what we hold
                    continue
            for waiter in waiters:
                waiter.set()
            waiters = []
            if stop:
                break
        conn.close()

    def _take(self, item, pending: list, waiters: list) -> bool:
        if item is None:
            # Whatever was queued before the stop marker is already in `pending`.
            return True
        if isinstance(item, threading.Event):
            waiters.append(item)
        else:
            pending.append(item)
        return False

    def _commit(self, conn: sqlite3.Connection, ops: list[tuple], now_ms: int) -> bool:
        rejected = 0
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                try:
                    self._apply(conn, op)
                except (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
                        _Rejected) as exc:
                    rejected += 1
                    log.error("%s: CDR %s of call %s not written: %s", self.path, op[0], op[1], exc)
            conn.execute("UPDATE calls SET last_seen_ms = ? WHERE state = 'open'", (now_ms,))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            with self._lock:
                first = self._last_error == ""
                self._counters["write_errors"] += 1
                self._last_error = str(exc)
            if first or self._counters["write_errors"] % 20 == 0:
                log.error("%s: cannot write CDRs (%s); holding %d change(s) and retrying", self.path, exc, len(ops))
            return False
        with self._lock:
            if self._last_error:
                log.warning("%s: CDR writes work again", self.path)
            self._last_error = ""
            self._counters["written"] += len(ops) - rejected
            self._counters["rejected"] += rejected
            if ops:
                self._counters["commits"] += 1
        return True

    def _apply(self, conn: sqlite3.Connection, op: tuple) -> None:
        kind, call_id, at_ms, values = op
        if kind == _OPEN:
            columns = ["call_id", "state", "last_seen_ms", *values]
            cur = conn.execute(
                f"INSERT OR IGNORE INTO calls ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                (call_id, OPEN, at_ms, *values.values()))
            if cur.rowcount == 0:
                raise _Rejected("the call id already has a record (call ids must be unique)")
            return
        # An update or close of a call whose open was lost (queue full) creates the record.
        conn.execute("INSERT OR IGNORE INTO calls (call_id, state, setup_ms, last_seen_ms) VALUES (?, ?, ?, ?)",
                     (call_id, OPEN, at_ms, at_ms))
        sets = [f"{column} = ?" for column in values]
        params = list(values.values())
        if kind == _CLOSE:
            state = conn.execute("SELECT state FROM calls WHERE call_id = ?", (call_id,)).fetchone()[0]
            if state == CLOSED:
                raise _Rejected("the call is already closed")
            end = values["end_ms"]
            sets += ["state = ?",
                     "duration_ms = MAX(0, ? - setup_ms)",
                     "billable_ms = CASE WHEN COALESCE(?, answer_ms) IS NULL THEN 0 "
                     "ELSE MAX(0, ? - COALESCE(?, answer_ms)) END"]
            answer = values.get("answer_ms")
            params += [CLOSED, end, answer, end, answer]
        sets.append("last_seen_ms = ?")
        params.append(at_ms)
        conn.execute(f"UPDATE calls SET {', '.join(sets)} WHERE call_id = ?", (*params, call_id))


class _Rejected(Exception):
    pass



class DisabledCdrStore:
    """What the PBX holds when the CDR database cannot be opened: the same calls, which write
    nothing and count what they did not write, so calls go on and `stats()` tells the console."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        self.recovered: list[str] = []
        self._dropped = 0

    def open(self, record: CallRecord) -> bool:
        self._dropped += 1
        return False

    def update(self, call_id: str, **changes) -> bool:
        self._dropped += 1
        return False

    def close(self, call_id: str, *, cause: int, cleared_by: str, end_time: float | None = None,
              **changes) -> bool:
        self._dropped += 1
        return False

    def stats(self) -> dict:
        return {"queued": 0, "written": 0, "commits": 0, "dropped": self._dropped, "rejected": 0,
                "write_errors": 0, "waiting": 0, "last_error": self.reason}

    def flush(self, timeout: float = 10.0) -> bool:
        return True

    def stop(self, timeout: float = 10.0) -> None:
        pass


def open_store(path: str | os.PathLike, **kwargs) -> CdrStore | DisabledCdrStore:
    """The CDR store at `path`, or, when the file cannot be used (not SQLite, a newer schema,
    an unwritable directory), a DisabledCdrStore after logging the one line that says why."""
    try:
        return CdrStore(path, **kwargs)
    except CdrError as exc:
        log.error("%s; calls go on without CDRs", exc)
        return DisabledCdrStore(path, str(exc))

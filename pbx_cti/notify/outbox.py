"""The persistent outbox: every notification is a row of `notify-outbox.sqlite` (WAL,
synchronous=FULL) committed before anything is sent.

    queued ──claim──▶ sending ──▶ sent
      ▲                  │  └───▶ failed
      └── retry/fallback ┘

A row is `sending` from the moment it is claimed until the provider's answer is written.  A row
still `sending` when the outbox is opened was cut by a crash or a stop: `recover()` queues it
again with the same idempotency key, so a provider that honours the key delivers it once.

One sender per file: the store holds an exclusive lock on `notify-outbox.sqlite.writer` (its
pid inside) for its life, so a second one cannot take the first one's `sending` rows for rows
cut by a crash and send them again.  The kernel drops the lock with its holder, kill -9 included.

Blocking: every method does SQLite I/O.  The notifier calls them through asyncio.to_thread;
one lock serialises them on the one connection.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path

from runtime.writer_lock import WriterLockError, lock_for_writing

from .model import Message, MessageState, MessageStatus, Request

DB_FILE = "notify-outbox.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    to_number TEXT NOT NULL,
    template TEXT NOT NULL,
    params TEXT NOT NULL,
    text TEXT NOT NULL,
    fallback_text TEXT NOT NULL,
    call_id TEXT NOT NULL,
    agent TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    next_attempt REAL,
    reason TEXT NOT NULL DEFAULT '',
    fallback INTEGER NOT NULL DEFAULT 0,
    provider_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_due ON messages(state, next_attempt);
CREATE INDEX IF NOT EXISTS messages_call ON messages(call_id);
"""


class OutboxError(Exception):
    """The outbox file cannot be used (named in the message)."""


def path_in_state_dir(state_dir: str | os.PathLike) -> Path:
    return Path(state_dir) / DB_FILE


class OutboxStore:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutboxError(f"{self.path}: cannot create its directory: {exc.strerror or exc}") from exc
        self._writer = self._lock_for_writing()
        try:
            self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=5.0)
        except sqlite3.Error as exc:
            self._writer.close()
            raise OutboxError(f"{self.path}: cannot open the notification outbox: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise OutboxError(f"{self.path}: outbox schema version {version} is newer than this firmware's "
                                  f"{SCHEMA_VERSION}; left untouched")
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a queued notification survives a power cut, not only a crash of the process.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            self._writer.close()
            raise OutboxError(f"{self.path}: not a notification outbox ({exc})") from exc
        except BaseException:
            self._db.close()
            self._writer.close()
            raise

    def _lock_for_writing(self):
        try:
            return lock_for_writing(self.path, "notifier", "sending from this outbox")
        except WriterLockError as exc:
            raise OutboxError(str(exc)) from None

    @classmethod
    def in_state_dir(cls, state_dir: str | os.PathLike) -> "OutboxStore":
        return cls(path_in_state_dir(state_dir))

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._writer.close()

    # -- writes -----------------------------------------------------------------------------

    def insert(self, message_id: str, request: Request, key: str, now: float) -> tuple[str, bool, bool]:
        """Commit a new queued message: (its id, True, True).  When a message with this
        idempotency key exists already nothing changes: (that message's id, False, whether it
        is the same request)."""
        with self._lock, self._db:
            row = self._db.execute("SELECT * FROM messages WHERE idempotency_key = ?", (key,)).fetchone()
            if row is not None:
                same = ((row["kind"], row["to_number"], row["template"], json.loads(row["params"]), row["text"],
                         row["call_id"], row["agent"])
                        == (request.kind, request.to, request.template, dict(request.params), request.text,
                            request.call_id, request.agent))
                return row["id"], False, same
            self._db.execute(
                "INSERT INTO messages (id, idempotency_key, kind, channel, to_number, template, params, text, "
                "fallback_text, call_id, agent, state, attempts, created, updated, next_attempt) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?)",
                (message_id, key, request.kind, request.kind, request.to, request.template,
                 json.dumps(request.params, ensure_ascii=False), request.text, request.fallback_text,
                 request.call_id, request.agent, now, now, now))
            return message_id, True, True

    def recover(self, now: float) -> list[str]:
        """Rows left `sending` by the last run: queued again, due now, same key."""
        with self._lock, self._db:
            ids = [r["id"] for r in self._db.execute("SELECT id FROM messages WHERE state = 'sending'")]
            self._db.execute("UPDATE messages SET state = 'queued', next_attempt = ?, updated = ?, "
                             "reason = 'resent after a restart (same idempotency key)' WHERE state = 'sending'",
                             (now, now))
            return ids

    def claim_due(self, now: float, limit: int) -> list[tuple[Message, int, float]]:
        """Mark up to `limit` due messages `sending` (attempts + 1) and commit that before
        returning them as (message, attempts, created)."""
        with self._lock, self._db:
            rows = self._db.execute("SELECT * FROM messages WHERE state = 'queued' AND next_attempt <= ? "
                                    "ORDER BY next_attempt, created LIMIT ?", (now, limit)).fetchall()
            out = []
            for row in rows:
                self._db.execute("UPDATE messages SET state = 'sending', attempts = attempts + 1, updated = ?, "
                                 "next_attempt = NULL WHERE id = ?", (now, row["id"]))
                out.append((_message(row), row["attempts"] + 1, row["created"]))
            return out

    def mark_sent(self, message_id: str, now: float, provider_id: str, reason: str, by_sms: bool = False) -> None:
        """`by_sms`: the provider took it to send as the SMS fallback itself."""
        with self._lock, self._db:
            self._db.execute("UPDATE messages SET state = 'sent', updated = ?, next_attempt = NULL, reason = ?, "
                             "provider_id = ?, channel = CASE WHEN ? THEN 'sms' ELSE channel END, "
                             "fallback = CASE WHEN ? THEN 1 ELSE fallback END WHERE id = ?",
                             (now, reason, provider_id, by_sms, by_sms, message_id))

    def mark_failed(self, message_id: str, now: float, reason: str) -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE messages SET state = 'failed', updated = ?, next_attempt = NULL, reason = ? "
                             "WHERE id = ?", (now, reason, message_id))

    def retry_at(self, message_id: str, now: float, when: float, reason: str) -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE messages SET state = 'queued', updated = ?, next_attempt = ?, reason = ? "
                             "WHERE id = ?", (now, when, reason, message_id))

    def fall_back(self, message_id: str, now: float, reason: str) -> None:
        """The AlimTalk cannot reach the recipient: the same message goes out as its SMS, now."""
        with self._lock, self._db:
            self._db.execute("UPDATE messages SET state = 'queued', channel = 'sms', fallback = 1, updated = ?, "
                             "next_attempt = ?, reason = ? WHERE id = ?", (now, now, reason, message_id))

    # -- reads ------------------------------------------------------------------------------

    def next_due(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT MIN(next_attempt) AS t FROM messages WHERE state = 'queued'").fetchone()
        return row["t"]

    def status(self, message_id: str) -> MessageStatus | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        return _status(row) if row is not None else None

    def for_call(self, call_id: str) -> list[MessageStatus]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM messages WHERE call_id = ? ORDER BY created", (call_id,)).fetchall()
        return [_status(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) AS n FROM messages GROUP BY state").fetchall()
        counts = {s.value: 0 for s in MessageState}
        counts.update({r["state"]: r["n"] for r in rows})
        return counts


def _message(row: sqlite3.Row) -> Message:
    return Message(id=row["id"], kind=row["kind"], to=row["to_number"], template=row["template"],
                   params=json.loads(row["params"]), text=row["text"], fallback_text=row["fallback_text"],
                   call_id=row["call_id"], agent=row["agent"], idempotency_key=row["idempotency_key"],
                   channel=row["channel"])


def _status(row: sqlite3.Row) -> MessageStatus:
    return MessageStatus(id=row["id"], state=MessageState(row["state"]), kind=row["kind"], channel=row["channel"],
                         to=row["to_number"], template=row["template"], call_id=row["call_id"], agent=row["agent"],
                         attempts=row["attempts"], created=row["created"], updated=row["updated"],
                         next_attempt=row["next_attempt"], reason=row["reason"], fallback=bool(row["fallback"]))

"""The CDR database's schema, its version (PRAGMA user_version) and the way from each version to
the next.  `connect()` is the one place a CDR database is opened, by the writer and readers alike,
so a file that is not SQLite, is some other SQLite database, or comes from a newer firmware is
refused with one line naming it.

Migration path: `MIGRATIONS[n]` takes a database from version n to n + 1 (index 0 creates the
tables), and SCHEMA_VERSION is their count.  The writer applies the missing steps in one
transaction when it opens the file, so an older box's records are carried forward; a file of a
newer version is refused (a downgraded firmware never rewrites what it does not understand) and
readers never migrate.  A change of schema appends a step here, never edits a shipped one.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

DB_FILE = "cdr.sqlite"

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: the calls table.  Times and durations in integer milliseconds (UTC epoch); numbers
    # before (`*_number`) and after (`*_mapped`) the gateway's mapping; legs, IVR path and data
    # as JSON.
    """
    CREATE TABLE calls (
        call_id                         TEXT PRIMARY KEY,
        direction                       TEXT NOT NULL DEFAULT 'in',
        state                           TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
        called_number                   TEXT NOT NULL DEFAULT '',
        called_ton                      TEXT NOT NULL DEFAULT '',
        calling_number                  TEXT NOT NULL DEFAULT '',
        calling_ton                     TEXT NOT NULL DEFAULT '',
        calling_presentation            TEXT NOT NULL DEFAULT '',
        redirecting_number              TEXT NOT NULL DEFAULT '',
        redirecting_ton                 TEXT NOT NULL DEFAULT '',
        redirecting_presentation        TEXT NOT NULL DEFAULT '',
        called_mapped                   TEXT NOT NULL DEFAULT '',
        called_mapped_ton               TEXT NOT NULL DEFAULT '',
        calling_mapped                  TEXT NOT NULL DEFAULT '',
        calling_mapped_ton              TEXT NOT NULL DEFAULT '',
        calling_mapped_presentation     TEXT NOT NULL DEFAULT '',
        redirecting_mapped              TEXT NOT NULL DEFAULT '',
        redirecting_mapped_ton          TEXT NOT NULL DEFAULT '',
        redirecting_mapped_presentation TEXT NOT NULL DEFAULT '',
        legs                            TEXT NOT NULL DEFAULT '[]',
        setup_ms                        INTEGER,
        alerting_ms                     INTEGER,
        answer_ms                       INTEGER,
        end_ms                          INTEGER,
        duration_ms                     INTEGER,
        billable_ms                     INTEGER,
        cause                           INTEGER,
        cleared_by                      TEXT NOT NULL DEFAULT '',
        ivr_path                        TEXT NOT NULL DEFAULT '[]',
        digits                          TEXT NOT NULL DEFAULT '',
        ivr_data                        TEXT NOT NULL DEFAULT '{}',
        route_entry                     TEXT NOT NULL DEFAULT '',
        route_target                    TEXT NOT NULL DEFAULT '',
        last_seen_ms                    INTEGER
    );
    CREATE INDEX calls_setup ON calls(setup_ms);
    CREATE INDEX calls_open ON calls(state) WHERE state = 'open';
    """,
    # 1 -> 2: the contact center's part: the queue the caller waited in and the agent who took it.
    """
    ALTER TABLE calls ADD COLUMN queue TEXT NOT NULL DEFAULT '';
    ALTER TABLE calls ADD COLUMN agent TEXT NOT NULL DEFAULT '';
    CREATE INDEX calls_agent ON calls(agent, setup_ms) WHERE agent != '';
    """,
    # 2 -> 3: each RTP leg's figures as the call ended (packets, loss, jitter, MOS), JSON.
    """
    ALTER TABLE calls ADD COLUMN media TEXT NOT NULL DEFAULT '[]';
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class CdrError(Exception):
    """One line naming the file and what is wrong with it."""


def path_in_state_dir(state_dir: str | os.PathLike) -> Path:
    return Path(state_dir) / DB_FILE


DEFAULT_STATE_DIR = "/var/lib/pribox"


def stateless_records_dir() -> Path:
    """Where a box run without a state directory (`pribox run --config FILE`, the demo of
    `make run`) keeps its records: $XDG_STATE_HOME/pribox, else ~/.local/state/pribox."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "pribox"


def records_path(state_dir: str | os.PathLike | None) -> Path:
    """The CDR database of a box: in its state directory, or the stateless default without one."""
    return path_in_state_dir(state_dir if state_dir is not None else stateless_records_dir())


def _describe(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "not a database" in text:
        return "not a CDR database (not an SQLite file)"
    if "locked" in text or "busy" in text:
        return "locked by another process; try again in a moment"
    return text


def connect(path: str | os.PathLike, *, readonly: bool, timeout: float = 5.0) -> sqlite3.Connection:
    """An open connection to a CDR database of this firmware's schema (migrated when writable)."""
    path = Path(path)
    try:
        if readonly:
            if not path.exists():
                raise CdrError(f"{path}: no CDR database there")
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout, check_same_thread=False)
        else:
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=timeout, check_same_thread=False)
    except sqlite3.Error as exc:
        raise CdrError(f"{path}: cannot open the CDR database: {_describe(exc)}") from exc
    conn.row_factory = sqlite3.Row
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CdrError(f"{path}: CDR schema version {version} is newer than this firmware's "
                           f"{SCHEMA_VERSION}; left untouched (use the firmware that wrote it, or move the file away)")
        if version == 0:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
            if tables:
                raise CdrError(f"{path}: an SQLite database but not a CDR database (tables: {', '.join(tables)})")
        if readonly:
            if version == 0:
                raise CdrError(f"{path}: an empty database, no CDRs yet")
            return conn
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction survives a process kill; only a power cut
        # can take the last commits, which the data partition's ext4 journal bounds.
        conn.execute("PRAGMA synchronous=NORMAL")
        if version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for step in range(version, SCHEMA_VERSION):
                    for statement in _statements(MIGRATIONS[step]):
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return conn
    except CdrError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise CdrError(f"{path}: {_describe(exc)}") from exc


def _statements(script: str) -> list[str]:
    # executescript() would commit the open transaction; split so every step shares one.
    return [s.strip() for s in script.split(";") if s.strip()]

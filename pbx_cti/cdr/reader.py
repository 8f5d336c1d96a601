"""Reading CDRs: `CdrReader(path).calls(...)` and `.call(call_id)`, for `pribox cdr`, the
scenario runner and the CTI's statistics.

Read-only (SQLite `mode=ro`), one short connection per query: in WAL mode a reader sees the last
committed state and never blocks the writer, so it is safe beside a running box.  Queries are
blocking I/O: from an asyncio loop, run them in an executor.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .record import CallRecord, decode_row, to_ms
from .schema import CdrError, connect, path_in_state_dir

NUMBER_COLUMNS = ("called_number", "calling_number", "redirecting_number",
                  "called_mapped", "calling_mapped", "redirecting_mapped")


class CdrReader:
    def __init__(self, path: str | os.PathLike, *, timeout: float = 2.0):
        self.path = Path(path)
        self.timeout = timeout

    @classmethod
    def in_state_dir(cls, state_dir: str | os.PathLike, **kwargs) -> "CdrReader":
        return cls(path_in_state_dir(state_dir), **kwargs)

    def calls(self, *, since: float | None = None, until: float | None = None, number: str | None = None,
              cause: int | None = None, state: str | None = None, call_ids=None,
              limit: int | None = 100, oldest_first: bool = False) -> list[CallRecord]:
        """Calls whose setup time is in [since, until) (epoch seconds), newest first unless
        `oldest_first`.  `number` matches part of any number, before or after mapping."""
        where, params = [], []
        if since is not None:
            where.append("setup_ms >= ?")
            params.append(to_ms(since))
        if until is not None:
            where.append("setup_ms < ?")
            params.append(to_ms(until))
        if number:
            where.append("(" + " OR ".join(f"instr({c}, ?) > 0" for c in NUMBER_COLUMNS) + ")")
            params += [number] * len(NUMBER_COLUMNS)
        if cause is not None:
            where.append("cause = ?")
            params.append(int(cause))
        if state is not None:
            where.append("state = ?")
            params.append(state)
        if call_ids is not None:
            ids = list(call_ids)
            where.append(f"call_id IN ({', '.join('?' * len(ids))})" if ids else "0")
            params += ids
        order = "ASC" if oldest_first else "DESC"
        sql = "SELECT * FROM calls" + (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY setup_ms {order}, call_id {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [decode_row(row) for row in self._query(sql, params)]

    def call(self, call_id: str) -> CallRecord | None:
        rows = self._query("SELECT * FROM calls WHERE call_id = ?", [call_id])
        return decode_row(rows[0]) if rows else None

    def count(self) -> int:
        return self._query("SELECT COUNT(*) AS n FROM calls", [])[0]["n"]

    def _query(self, sql: str, params: list) -> list[sqlite3.Row]:
        conn = connect(self.path, readonly=True, timeout=self.timeout)
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            text = str(exc)
            why = ("locked by another process; try again in a moment" if "locked" in text or "busy" in text
                   else text)
            raise CdrError(f"{self.path}: cannot read CDRs: {why}") from exc
        finally:
            conn.close()

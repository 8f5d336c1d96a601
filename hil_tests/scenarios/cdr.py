"""CDR rows as the scenarios read them: one small interface over the state directory's SQLite.

Every table and column name the bench uses is in `CDR_SCHEMA` below and nowhere else: the
box's own CDR table (pbx_cti/cdr/schema.py); pass another `CdrSchema` to `read_cdrs` for
another box's.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CdrSchema:
    table: str
    # The bench's field name -> the table's column name.
    columns: dict[str, str] = field(default_factory=dict)


CDR_SCHEMA = CdrSchema("calls", {         # pbx_cti/cdr/schema.py: the box's CDR table
    "calling": "calling_number",
    "called": "called_number",
    "called_mapped": "called_mapped",
    "cause": "cause",
    "cleared_by": "cleared_by",          # calling / called / box / network / restart
    "start": "setup_ms",
    "answer": "answer_ms",
    "end": "end_ms",
    "duration": "duration_ms",
    "route": "route_target",
    "digits": "digits",
    "ivr_path": "ivr_path",
    "queue": "queue",
    "agent": "agent",
})


class CdrError(RuntimeError):
    pass


def read_cdrs(database: str, schema: CdrSchema = CDR_SCHEMA, *, calling: str | None = None,
              called: str | None = None) -> list[dict[str, str | None]]:
    """Rows (bench field -> value as text), oldest first, optionally those of one call's numbers."""
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise CdrError(f"CDR database {database}: {exc}") from None
    try:
        present = {row[1] for row in connection.execute(f'PRAGMA table_info("{schema.table}")')}
        if not present:
            raise CdrError(f"CDR database {database}: no table {schema.table!r}")
        wanted = {name: column for name, column in schema.columns.items() if column in present}
        where, args = [], []
        for name, value in (("calling", calling), ("called", called)):
            if value is not None and name in wanted:
                where.append(f'"{wanted[name]}" = ?')
                args.append(value)
        query = (f'SELECT {", ".join(chr(34) + c + chr(34) for c in wanted.values())} FROM "{schema.table}"'
                 + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY rowid")
        rows = connection.execute(query, args).fetchall()
    except sqlite3.Error as exc:
        raise CdrError(f"CDR database {database}: {exc}") from None
    finally:
        connection.close()
    return [{name: (None if value is None else str(value)) for name, value in zip(wanted, row)} for row in rows]


def check_cdr(database: str, expected: dict[str, str], *, calling: str, called: str,
              schema: CdrSchema = CDR_SCHEMA, wait: float = 2.0) -> tuple[bool, str]:
    """(held, why) for one call's expected CDR fields.  The box writes its records from a
    thread of its own within a second, so a row that does not hold yet is read again for up to
    `wait` seconds of real time before the check fails."""
    import time
    unknown = [name for name in expected if name not in schema.columns]
    if unknown:
        return False, f"no CDR field {', '.join(unknown)} (known: {', '.join(schema.columns)})"
    deadline = time.monotonic() + wait
    while True:
        held, why = _check_once(database, expected, calling, called, schema)
        if held or time.monotonic() >= deadline:
            return held, why
        time.sleep(0.05)


def _check_once(database, expected, calling, called, schema) -> tuple[bool, str]:
    try:
        rows = read_cdrs(database, schema, calling=calling or None, called=called)
    except CdrError as exc:
        return False, str(exc)
    if not rows:
        return False, f"no CDR row for {calling or '-'} -> {called}"
    row = rows[-1]
    wrong = [f"{name} is {row.get(name)!r}, expected {value!r}" for name, value in expected.items()
             if row.get(name) != value]
    return (not wrong), ("; ".join(wrong) if wrong else f"CDR row {', '.join(f'{k}={v}' for k, v in expected.items())}")

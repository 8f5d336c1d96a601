"""`pribox stats`: contact-center figures from the CTI event log, as a table or CSV.

Reads the log read-only, so it is safe beside a running daemon.  Times are UTC.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from .eventlog import DB_FILE, EventLogError, LogRecord, read_records
from .stats import TOTAL, AgentFigures, QueueFigures, compute

DEFAULT_STATE_DIR = "/var/lib/pribox"

QUEUE_COLUMNS = ["queue", "interval", "offered", "answered", "abandoned", "short_abandoned", "handled",
                 "sl", "sl2", "asa_s", "aht_s", "abandon_rate", "max_wait_s"]
AGENT_COLUMNS = ["agent", "interval", "offered", "missed", "answered", "handled", "aht_s", "occupancy", "ready_s", "reserved_s",
                 "talking_s", "hold_s", "wrap_up_s", "not_ready_s", "not_ready_by_reason"]
PERCENT_COLUMNS = frozenset({"sl", "sl2", "abandon_rate", "occupancy"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", metavar="FILE", help="the CTI event log (SQLite) to read")
    where.add_argument("--state-dir", metavar="DIR", default=DEFAULT_STATE_DIR,
                       help=f"the box's state directory, whose {DB_FILE} is read (default {DEFAULT_STATE_DIR})")
    parser.add_argument("--interval", type=parse_minutes, metavar="MINUTES",
                        help="add a row per interval of this many minutes (15 is the trade's usual)")
    parser.add_argument("--since", type=parse_when, metavar="WHEN",
                        help='from this time on (UTC): "today", "YYYY-MM-DD" or "YYYY-MM-DD HH:MM"')
    parser.add_argument("--until", type=parse_when, metavar="WHEN", help="up to this time (UTC), same forms")
    parser.add_argument("--queue", action="append", metavar="NAME", help="only this queue (repeatable)")
    parser.add_argument("--agent", action="append", metavar="ID", help="only this agent (repeatable)")
    parser.add_argument("--sl-threshold", type=parse_seconds, default=20.0, metavar="SECONDS",
                        help="service-level threshold T: answered within T counts as in service (default 20)")
    parser.add_argument("--short-abandon", type=parse_seconds, default=5.0, metavar="SECONDS",
                        help="abandons within this many seconds are left out of the abandon rate (default 5)")
    parser.add_argument("--csv", action="store_true", help="CSV on standard output instead of tables")


@dataclass(frozen=True)
class StatsQuery:
    """What a report asks for: the CLI's options, and the API's query parameters."""

    since: float | None = None
    until: float | None = None
    interval: float | None = None          # seconds; None = whole-period rows only
    queues: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    sl_threshold: float = 20.0
    short_abandon: float = 5.0


@dataclass
class StatsTable:
    title: str                             # "Queues" / "Agents"
    columns: list[str]
    rows: list[list]                       # raw values: numbers, None when undefined, a dict of reasons


def stats_tables(records: Sequence[LogRecord], now: float, query: StatsQuery) -> list[StatsTable]:
    """The one computation behind `pribox stats` and GET /api/v1/stats."""
    report = compute(records, now=now, sl_threshold=query.sl_threshold, short_abandon=query.short_abandon,
                     interval=query.interval, start=query.since, end=query.until)
    # --queue alone asks about queues, --agent alone about agents; neither or both: both tables.
    tables = []
    if query.queues or not query.agents:
        tables.append(StatsTable("Queues", QUEUE_COLUMNS,
                                 [_queue_row(name, b, f) for (name, b), f in sorted(report.queues.items(), key=_order)
                                  if not query.queues or name in query.queues]))
    if query.agents or not query.queues:
        tables.append(StatsTable("Agents", AGENT_COLUMNS,
                                 [_agent_row(name, b, f) for (name, b), f in sorted(report.agents.items(), key=_order)
                                  if not query.agents or name in query.agents]))
    return tables


def write_csv(tables: list[StatsTable], out) -> None:
    writer = csv.writer(out)
    for table in tables:
        if table.rows:
            writer.writerow(table.columns)
            writer.writerows([[cell(c, v) for c, v in zip(table.columns, row)] for row in table.rows])


def write_text(tables: list[StatsTable], out, query: StatsQuery, record_count: int) -> None:
    print(f"service level: answered within {query.sl_threshold:g} s; abandons under "
          f"{query.short_abandon:g} s left out of the abandon rate; {record_count} log records", file=out)
    for table in tables:
        print(f"\n{table.title}", file=out)
        if table.rows:
            _table(out, table.columns, [[cell(c, v) for c, v in zip(table.columns, row)] for row in table.rows])
        else:
            print("  (none in the log)", file=out)


def cell(column: str, value) -> str:
    """A raw value as the table and CSV show it."""
    if column in PERCENT_COLUMNS:
        return _pct(value)
    if column.endswith("_s"):
        return _sec(value)
    if column == "not_ready_by_reason":
        return " ".join(f"{r}={s:.0f}" for r, s in sorted(value.items()))
    return str(value)


def run(args: argparse.Namespace) -> int:
    path = Path(args.db) if args.db else Path(args.state_dir) / DB_FILE
    try:
        records = read_records(path)
    except EventLogError as exc:
        print(f"pribox stats: {exc}", file=sys.stderr)
        return 1
    query = StatsQuery(since=args.since, until=args.until,
                       interval=None if args.interval is None else args.interval * 60,
                       queues=tuple(args.queue or ()), agents=tuple(args.agent or ()),
                       sl_threshold=args.sl_threshold, short_abandon=args.short_abandon)
    tables = stats_tables(records, time.time(), query)
    if args.csv:
        write_csv(tables, sys.stdout)
    else:
        write_text(tables, sys.stdout, query, len(records))
    return 0


def _order(item):
    (name, bucket), _ = item
    return (name, -1.0 if bucket is TOTAL else bucket)


def _when(bucket) -> str:
    if bucket is TOTAL:
        return "total"
    return datetime.fromtimestamp(bucket, timezone.utc).strftime("%Y-%m-%d %H:%M")


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def _sec(value) -> str:
    return "" if value is None else f"{value:.1f}"


def _queue_row(name: str, bucket, f: QueueFigures) -> list:
    return [name, _when(bucket), f.offered, f.answered, f.abandoned, f.short_abandoned, f.handled,
            f.service_level(), f.service_level2(), f.asa(), f.aht(), f.abandon_rate(), f.max_wait]


def _agent_row(name: str, bucket, f: AgentFigures) -> list:
    reasons = {}
    for (state, reason), seconds in f.time.items():
        if state == "NOT_READY":
            reasons[reason or "-"] = reasons.get(reason or "-", 0.0) + seconds
    return [name, _when(bucket), f.offered, f.missed, f.answered, f.handled, f.aht(), f.occupancy(),
            f.seconds("READY"), f.seconds("RESERVED"), f.seconds("TALKING"), f.seconds("HOLD"),
            f.seconds("WRAP_UP"), f.seconds("NOT_READY"), reasons]


def _table(out, columns: list[str], rows: list[list]) -> None:
    cells = [columns] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        print("  " + "  ".join(c.ljust(w) if i < 2 or i == len(columns) - 1 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip(), file=out)


def parse_when(text: str) -> float:
    if text == "today":
        return datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    for form in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, form).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f'wants "today", "YYYY-MM-DD" or "YYYY-MM-DD HH:MM" (UTC), got {text!r}')


def parse_minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--interval wants minutes as a number, got {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"--interval must be more than 0 minutes, got {text!r}")
    return value


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants seconds as a number, got {text!r}") from None
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"seconds must be a finite number >= 0, got {text!r}")
    return value

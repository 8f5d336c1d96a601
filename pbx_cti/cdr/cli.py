"""`pribox cdr`: the call detail records of a box, as a table, one call in full, or CSV.

Reads the database read-only, so it is safe beside a running box.  Times are shown in UTC.

    pribox cdr [--state-dir DIR | --db FILE] list [--since T] [--until T] [--number N] [--cause C] [--limit N]
    pribox cdr [--state-dir DIR | --db FILE] show CALL_ID
    pribox cdr [--state-dir DIR | --db FILE] export [--csv FILE] [the filters of list]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from .reader import CdrReader
from .record import DURATION_FIELDS, FIELD_NAMES, TIME_FIELDS, CallRecord, iso_utc
from .schema import DB_FILE, DEFAULT_STATE_DIR, CdrError, path_in_state_dir, stateless_records_dir

try:  # the one place a cause number gets its name
    from firmware.isdn.q931.causes import cause_name
except ImportError:  # pragma: no cover - the firmware package is always installed with pbx_cti
    def cause_name(value: int) -> str:
        return f"cause {value}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", metavar="FILE", help="the CDR database (SQLite) to read")
    where.add_argument("--state-dir", metavar="DIR",
                       help=f"the box's state directory, whose {DB_FILE} is read (default {DEFAULT_STATE_DIR}; "
                            f"when it has none, {stateless_records_dir()}, where a box run without a state "
                            "directory keeps them)")
    # --state-dir / --db are accepted after the action too (`pribox cdr list --db X`).
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    after.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    def filters(p: argparse.ArgumentParser, limit: int | None) -> None:
        p.add_argument("--since", type=_moment, metavar="T",
                       help="calls set up at or after T: 2026-12-07, '2026-12-07 09:30' (UTC), or an age such as 2h, 30m, 7d")
        p.add_argument("--until", type=_moment, metavar="T", help="calls set up before T (same forms)")
        p.add_argument("--number", metavar="DIGITS", help="calls with DIGITS in any number, before or after mapping")
        p.add_argument("--cause", type=int, metavar="N", help="calls cleared with Q.850 cause N")
        p.add_argument("--limit", type=_limit, default=limit, metavar="N",
                       help=f"at most N calls, newest first ({'default ' + str(limit) if limit else 'default all'}; 0 = all)")

    filters(sub.add_parser("list", help="recent calls as a table (the default action)", parents=[after]), 50)
    p = sub.add_parser("show", help="one call in full", parents=[after])
    p.add_argument("call_id", metavar="CALL_ID")
    p = sub.add_parser("export", help="calls as CSV, every field (oldest first)", parents=[after])
    p.add_argument("--csv", metavar="FILE", default="-", help="write to FILE (default: standard output)")
    filters(p, None)
    parser.set_defaults(action="list", since=None, until=None, number=None, cause=None, limit=50)


def database_of(args: argparse.Namespace) -> Path:
    if args.db:
        return Path(args.db)
    if args.state_dir:
        return path_in_state_dir(args.state_dir)
    box = path_in_state_dir(DEFAULT_STATE_DIR)
    stateless = path_in_state_dir(stateless_records_dir())
    return stateless if not box.exists() and stateless.exists() else box


def run(args: argparse.Namespace) -> int:
    path = database_of(args)
    reader = CdrReader(path)
    try:
        if args.action == "show":
            return _show(reader, args.call_id)
        calls = reader.calls(since=args.since, until=args.until, number=args.number, cause=args.cause,
                             limit=args.limit or None, oldest_first=args.action == "export")
        if args.action == "export":
            return _export(calls, args.csv)
        _table(calls, sys.stdout)
        return 0
    except CdrError as exc:
        print(f"pribox cdr: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pribox cdr: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1


# -- output ----------------------------------------------------------------------------------

TABLE_COLUMNS = ("call_id", "setup (UTC)", "dir", "calling", "called", "route", "dur", "bill", "cause", "cleared_by")


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _number(raw: str, mapped: str) -> str:
    return raw if not mapped or mapped == raw else f"{raw}>{mapped}"


def _table_row(call: CallRecord) -> list[str]:
    cause = "" if call.cause is None else str(call.cause)
    return [call.call_id, iso_utc(call.setup_time).replace("T", " ").removesuffix("Z"), call.direction,
            _number(call.calling_number, call.calling_mapped) or "-", _number(call.called_number, call.called_mapped),
            call.route_target, _seconds(call.duration), _seconds(call.billable),
            cause if call.state == "closed" else "(open)", call.cleared_by]


def _table(calls: list[CallRecord], out) -> None:
    if not calls:
        print("no calls match", file=out)
        return
    rows = [list(TABLE_COLUMNS)] + [_table_row(c) for c in calls]
    widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_COLUMNS))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip(), file=out)


def _show(reader: CdrReader, call_id: str) -> int:
    call = reader.call(call_id)
    if call is None:
        print(f"pribox cdr: {reader.path}: no call {call_id!r}", file=sys.stderr)
        return 1
    for name, value in _fields(call):
        if name == "cause" and call.cause is not None:
            value = f"{call.cause} ({cause_name(call.cause)})"
        print(f"{name:32} {value}")
    return 0


def _fields(call: CallRecord, *, for_reading: bool = True) -> list[tuple[str, str]]:
    """Every field as text: times ISO 8601 UTC, durations seconds.ms, legs and IVR data as JSON
    (the IVR path too in CSV, where a program reads it back; "a > b" on screen)."""
    out = []
    for name in FIELD_NAMES:
        value = getattr(call, name)
        if name in TIME_FIELDS:
            text = iso_utc(value)
        elif name in DURATION_FIELDS:
            text = "" if value is None else f"{value:.3f}"
        elif name == "legs":
            text = json.dumps([leg.__dict__ for leg in value], ensure_ascii=False, separators=(",", ":"))
        elif name == "ivr_path" and for_reading:
            text = " > ".join(value)
        elif name == "ivr_path":
            text = json.dumps(list(value), ensure_ascii=False, separators=(",", ":"))
        elif name == "ivr_data":
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        elif name == "media":
            text = json.dumps(list(value), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        else:
            text = "" if value is None else str(value)
        out.append((name, text))
    return out


def _export(calls: list[CallRecord], target: str) -> int:
    if target == "-":
        _write_csv(calls, sys.stdout)
    else:
        with open(target, "w", newline="", encoding="utf-8") as out:
            _write_csv(calls, out)
        print(f"{len(calls)} call(s) written to {target}", file=sys.stderr)
    return 0


def _write_csv(calls: list[CallRecord], out) -> None:
    writer = csv.writer(out)
    writer.writerow(FIELD_NAMES)
    for call in calls:
        writer.writerow([text for _, text in _fields(call, for_reading=False)])


# -- argument types --------------------------------------------------------------------------

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _moment(text: str) -> float:
    """An age (30m, 2h, 7d), an ISO date/time in UTC, or epoch seconds."""
    text = text.strip()
    age = _AGE.match(text)
    if age:
        return time.time() - float(age.group(1)) * _UNIT[age.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.removesuffix("Z"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use 2026-12-07, '2026-12-07 09:30' (UTC), an age (30m, 2h, 7d) or epoch seconds")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (0 or more)")
    return value

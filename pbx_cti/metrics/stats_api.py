"""GET /api/v1/stats: what `pribox stats` prints, for supervisors, as JSON or CSV.

Query parameters mirror the command's options (sl_threshold and short_abandon default to the
box's [api] values): interval (minutes), since, until (UTC, as
`--since`), queue and agent (repeatable), sl_threshold, short_abandon, format=json|csv.  The
tables come from `stats_cli.stats_tables`, the one function behind both; the CSV is the bytes
`pribox stats --csv` writes.  The log is read and the figures computed in a worker thread.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io

from aiohttp import web

from pbx_cti.api.app import PREFIX, AgentApi, Refused
from pbx_cti.cti.eventlog import EventLogError
from pbx_cti.cti.stats_cli import (StatsQuery, StatsTable, parse_minutes, parse_seconds, parse_when, stats_tables,
                                   write_csv)

from .figures import log_records

STATS_PATH = PREFIX + "/stats"
FORMATS = ("json", "csv")
_SINGLE = {"interval": parse_minutes, "since": parse_when, "until": parse_when,
           "sl_threshold": parse_seconds, "short_abandon": parse_seconds}
_REPEATED = ("queue", "agent")


def parse_stats_query(params, defaults: StatsQuery = StatsQuery()) -> tuple[StatsQuery, str]:
    """The query and the format from a request's parameters (what they leave out from
    `defaults`); `Refused(400)` names what is wrong."""
    unknown = sorted(set(params) - set(_SINGLE) - set(_REPEATED) - {"format", "token"})
    if unknown:
        raise Refused(400, f"unknown query parameter(s) {', '.join(unknown)}; expected "
                           f"{', '.join([*_SINGLE, *_REPEATED, 'format'])}")
    values = {}
    for name, parse in _SINGLE.items():
        given = params.getall(name, [])
        if len(given) > 1:
            raise Refused(400, f"query parameter {name!r} is given {len(given)} times; once at most")
        if given:
            try:
                values[name] = parse(given[0])
            except argparse.ArgumentTypeError as exc:
                raise Refused(400, f"query parameter {name!r}: {exc}") from None
    for name in _REPEATED:
        if any(not v for v in params.getall(name, [])):
            raise Refused(400, f"query parameter {name!r} is empty")
    fmt = params.get("format", "json")
    if fmt not in FORMATS:
        raise Refused(400, f"query parameter 'format': expected json or csv, got {fmt!r}")
    interval = values.pop("interval", None)
    query = dataclasses.replace(defaults, interval=None if interval is None else interval * 60,
                                queues=tuple(params.getall("queue", [])), agents=tuple(params.getall("agent", [])),
                                **values)
    return query, fmt


def tables_as_json(tables: list[StatsTable], query: StatsQuery, record_count: int) -> dict:
    body = {"sl_threshold": query.sl_threshold, "short_abandon": query.short_abandon,
            "interval_minutes": None if query.interval is None else query.interval / 60,
            "since": query.since, "until": query.until, "records": record_count}
    for table in tables:
        body[table.title.lower()] = [dict(zip(table.columns, row)) for row in table.rows]
    return body


def add_stats_route(api: AgentApi, defaults: StatsQuery = StatsQuery()) -> None:
    """Adds GET /api/v1/stats to the API's application (through its middleware: rate limits,
    JSON errors) with the API's own supervisor check; `defaults` holds the box's service-level
    threshold and short-abandon limit."""

    async def stats(request: web.Request) -> web.Response:
        api.supervisor(request)
        query, fmt = parse_stats_query(request.query, defaults)
        store, now = api.runner.engine.store, api.runner.wall_now()

        def work():
            records = log_records(store)
            return stats_tables(records, now, query), len(records)

        try:
            tables, count = await asyncio.to_thread(work)
        except EventLogError as exc:
            raise Refused(503, f"the event log cannot be read: {exc}") from None
        if fmt == "csv":
            out = io.StringIO()
            write_csv(tables, out)
            return web.Response(text=out.getvalue(), content_type="text/csv")
        return web.json_response(tables_as_json(tables, query, count))

    api.app.router.add_get(STATS_PATH, stats)

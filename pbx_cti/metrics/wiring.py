"""The daemon's wiring of the live figures into the `api` service: one `BoxFigures` per run of
the service, holding today's log, the Prometheus registry and its collectors, serving
GET /metrics and GET /api/v1/stats on the API's application; the console's `show queues` and
`show agents` find it as `ctx.services.api.figures`.

The collectors reach the spans and the ISDN stacks through the daemon's running services,
looked up at each scrape, so a restarted spans or isdn service is seen as it is now.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Mapping

from prometheus_client import CollectorRegistry

from pbx_cti.api.app import AgentApi
from pbx_cti.cti.eventlog import EventLogError
from pbx_cti.cti.runner import CtiRunner
from pbx_cti.cti.stats_cli import StatsQuery

from .collectors import CtiCollector, IsdnCollector, SpanCollector
from .figures import DayFigures, FigureSettings, TodaysLog
from .http import add_metrics_route
from .stats_api import add_stats_route

log = logging.getLogger("pribox.metrics")


def closed_calls_by_cause(path: Path) -> dict[int | None, int] | None:
    """{Q.850 cause: closed calls} from the CDR file, read-only; None when there is none.
    Blocking: from a worker thread."""
    from pbx_cti.cdr.schema import CdrError, connect
    if not path.exists():
        return None
    try:
        conn = connect(path, readonly=True)
        try:
            rows = conn.execute("SELECT cause, COUNT(*) FROM calls WHERE state = 'closed' GROUP BY cause").fetchall()
        finally:
            conn.close()
    except (CdrError, sqlite3.Error) as exc:
        log.warning("metrics: CDR totals not read: %s", exc)
        return None
    return {cause: count for cause, count in rows}


def _peer_attribute(services: Mapping, name: str, attribute: str) -> dict:
    found = getattr(services.get(name), attribute, None)
    return dict(found) if isinstance(found, Mapping) else {}


class BoxFigures:
    def __init__(self, runner: CtiRunner, services: Mapping, settings: FigureSettings = FigureSettings(),
                 cdr_path: Path | None = None):
        self.runner, self.settings, self.cdr_path = runner, settings, cdr_path
        self.today = TodaysLog(runner.engine.store, settings)
        self.closed_calls: dict | None = None
        self.registry = CollectorRegistry()
        self.registry.register(CtiCollector(lambda: self.runner.engine, runner.wall_now, lambda: self.today.latest))
        self.registry.register(SpanCollector(lambda: _peer_attribute(services, "spans", "spans")))
        self.registry.register(IsdnCollector(lambda: _peer_attribute(services, "isdn", "spans"),
                                             lambda: self.closed_calls))

    async def refresh(self) -> DayFigures:
        """Today's figures as of now (the log is read in a worker thread)."""
        return await asyncio.to_thread(self.today.refresh, self.runner.wall_now())

    async def before_scrape(self) -> None:
        try:
            await self.refresh()
        except EventLogError as exc:  # the live state is still served; today's figures are the last ones read
            log.warning("metrics: today's figures not refreshed: %s", exc)
        if self.cdr_path is not None:
            self.closed_calls = await asyncio.to_thread(closed_calls_by_cause, self.cdr_path)


def serve_figures(api: AgentApi, ctx, section) -> BoxFigures:
    """Called by the api service before its application starts: the figures, /metrics (bearer
    token `[api] metrics_token` when set) and /api/v1/stats (supervisors)."""
    from pbx_cti.cdr.schema import records_path
    settings = FigureSettings(section.sl_threshold, section.short_abandon, section.stats_interval)
    figures = BoxFigures(api.runner, ctx.services, settings, records_path(ctx.state_dir))
    add_metrics_route(api.app, figures.registry, token=section.metrics_token, prepare=figures.before_scrape)
    add_stats_route(api, StatsQuery(sl_threshold=section.sl_threshold, short_abandon=section.short_abandon))
    return figures

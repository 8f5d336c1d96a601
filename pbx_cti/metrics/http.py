"""GET /metrics on an aiohttp application: the registry's collectors rendered in the Prometheus
text format by the client library.

`add_metrics_route(app_or_router, registry, token=..., prepare=...)`: with a token, a scrape
must send `Authorization: Bearer <token>` (Prometheus' `authorization` / `bearer_token` scrape
setting); without one the endpoint is open to whoever reaches the listen address.  `prepare`
(async, optional) runs before each scrape: the place to read what the collectors then show
without blocking the loop (today's figures from the event log, CDR totals).
"""

from __future__ import annotations

import hmac
import logging
from typing import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger("pribox.metrics")

METRICS_PATH = "/metrics"


def add_metrics_route(app_or_router: web.Application | web.UrlDispatcher, registry: CollectorRegistry, *,
                      token: str = "", prepare: Callable[[], Awaitable[None]] | None = None,
                      path: str = METRICS_PATH) -> None:
    router = app_or_router.router if isinstance(app_or_router, web.Application) else app_or_router
    expected = f"Bearer {token}".encode() if token else None

    async def metrics(request: web.Request) -> web.Response:
        if expected is not None:
            sent = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(sent, expected):
                log.warning("metrics scrape from %s refused: %s", request.remote,
                            "wrong token" if sent else "no token")
                return web.Response(status=401, text="metrics: send Authorization: Bearer <[api] metrics_token>\n",
                                    headers={"WWW-Authenticate": 'Bearer realm="pribox metrics"'})
        if prepare is not None:
            await prepare()
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    router.add_get(path, metrics)

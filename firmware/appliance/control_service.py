"""The daemon's status on a Unix socket, for tools on the box (`pribox upgrade confirm`,
`pribox capture`).

The smallest thing that answers "is the box healthy now": a client connects to
`<state dir>/control.sock`, sends `status`, and reads one JSON line — every service's state and
health as the supervisor sees it, the spans' layer 1, and what the configuration asks for
(which spans, which D-channels) — then the socket closes.  `status` changes nothing; other
requests are answered by the layer that registered their first word in CONTROL_REQUESTS
(`capture ...`: firmware/capture/control.py), with {"error": "..."} when refused.  The socket
is 0600 so only root (the daemon's user) reaches it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
from pathlib import Path

from .services import BOX_SERVICES, Health, Service, ServiceContext, StopReason

log = logging.getLogger("pribox.control")

CONTROL_SOCKET = "control.sock"
MAX_REQUEST = 1024   # a capture definition, an export path
# first word of a request -> async handler(ctx, request) -> JSON-able reply
CONTROL_REQUESTS: dict = {}
# Modules that add to CONTROL_REQUESTS when imported (by name: the appliance never imports them).
CONTROL_REQUEST_MODULES: tuple[str, ...] = ("firmware.capture.control",)
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with its terminating NUL


def box_status(ctx: ServiceContext) -> dict:
    """What the box looks like right now, as plain JSON-able data."""
    services = []
    for status in ctx.control.status() if ctx.control is not None else ():
        services.append({"name": status.name, "state": status.state.value, "crashes": status.crashes,
                         "last_error": status.last_error, "healthy": status.health.ok,
                         "detail": status.health.detail})
    spans = []
    spans_service = ctx.peer("spans")
    for span_id, span in sorted(getattr(spans_service, "spans", {}).items()):
        span_status = span.status()
        spans.append({"id": span_id, "open": span_status.is_open, "layer1_up": span_status.layer1_up,
                      "alarms": sorted(span_status.alarms)})
    config = ctx.config
    lag = getattr(ctx.control, "loop_lag", None)
    return {
        "event_loop_lag": lag.figures() if lag is not None else None,
        "services": services,
        "registered": [entry.name for entry in BOX_SERVICES.entries()],
        "spans": spans,
        "configured": {
            "spans": [span.id for span in getattr(config, "span", None) or ()],
            "isdn": [entry.span for entry in getattr(config, "isdn", None) or ()],
        },
    }


class ControlService(Service):
    name = "control"

    def __init__(self) -> None:
        self.path: Path | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ctx: ServiceContext | None = None

    async def start(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        if ctx.state_dir is None:
            return  # `pribox run --config FILE`: a throwaway run, no tools to answer
        for module in CONTROL_REQUEST_MODULES:
            importlib.import_module(module)
        self.path = Path(ctx.state_dir) / CONTROL_SOCKET
        if len(os.fsencode(self.path)) > MAX_SOCKET_PATH:
            raise OSError(f"{self.path}: too long for a Unix socket path (at most {MAX_SOCKET_PATH} bytes); "
                          "use a shorter state directory")
        self.path.unlink(missing_ok=True)  # left by a daemon that was killed
        self._server = await asyncio.start_unix_server(self._answer, path=str(self.path))
        os.chmod(self.path, 0o600)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await reader.readline())[:MAX_REQUEST].decode("utf-8", "replace").strip()
            handler = CONTROL_REQUESTS.get(request.split(" ", 1)[0])
            if request == "status":
                reply = box_status(self._ctx)
            elif handler is not None:
                try:
                    reply = await handler(self._ctx, request)
                except Exception as exc:  # a layer's bug answers the tool, never ends the service
                    log.exception("control request %r failed", request[:40])
                    reply = {"error": f"{request.split(' ', 1)[0]} failed: {type(exc).__name__}: {exc}"}
            else:
                known = ", ".join(["status"] + sorted(CONTROL_REQUESTS))
                reply = {"error": f"unknown request {request[:40]!r} (the control socket answers {known})"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("control client went away: %s", exc)
        finally:
            writer.close()

    async def stop(self, reason: StopReason) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def health(self) -> Health:
        if self._ctx is not None and self._ctx.state_dir is None:
            return Health(True, "off (no state directory)")
        ok = self._server is not None and self._server.is_serving()
        return Health(ok, f"{self.path} serving" if ok else f"{self.path} not serving")


async def query_status(socket_path: str | os.PathLike, timeout: float = 5.0) -> dict:
    """Ask a running daemon for box_status(); raises OSError if no daemon answers."""
    reply = await query(socket_path, "status", timeout)
    if "error" in reply:
        raise ConnectionError(f"{socket_path}: {reply['error']}")
    return reply


async def query(socket_path: str | os.PathLike, request: str, timeout: float = 5.0) -> dict:
    """One request to a running daemon and its JSON reply ({"error": ...} when refused);
    raises OSError if no daemon answers."""
    async def ask() -> dict:
        reader, writer = await asyncio.open_unix_connection(str(socket_path))
        try:
            writer.write(request.encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
        if not line:
            raise ConnectionError(f"{socket_path}: the daemon closed the connection without answering")
        return json.loads(line)

    return await asyncio.wait_for(ask(), timeout)


BOX_SERVICES.add("control", lambda config: ControlService())

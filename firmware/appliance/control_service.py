"""The daemon's status on a Unix socket, for tools on the box (`pribox upgrade confirm`).

The smallest thing that answers "is the box healthy now": a client connects to
`<state dir>/control.sock`, sends `status`, and reads one JSON line — every service's state and
health as the supervisor sees it, the spans' layer 1, and what the configuration asks for
(which spans, which D-channels) — then the socket closes.  Read-only: nothing on it changes
the box, and the socket is 0600 so only root (the daemon's user) reaches it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

from .services import BOX_SERVICES, Health, Service, ServiceContext, StopReason

log = logging.getLogger("pribox.control")

CONTROL_SOCKET = "control.sock"
MAX_REQUEST = 256
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
        self.path = Path(ctx.state_dir) / CONTROL_SOCKET
        if len(os.fsencode(self.path)) > MAX_SOCKET_PATH:
            raise OSError(f"{self.path}: too long for a Unix socket path (at most {MAX_SOCKET_PATH} bytes); "
                          "use a shorter state directory")
        self.path.unlink(missing_ok=True)  # left by a daemon that was killed
        self._server = await asyncio.start_unix_server(self._answer, path=str(self.path))
        os.chmod(self.path, 0o600)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await reader.readline())[:MAX_REQUEST].decode("ascii", "replace").strip()
            if request == "status":
                reply = box_status(self._ctx)
            else:
                reply = {"error": f"unknown request {request[:40]!r} (the control socket answers 'status')"}
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
    async def ask() -> dict:
        reader, writer = await asyncio.open_unix_connection(str(socket_path))
        try:
            writer.write(b"status\n")
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
        if not line:
            raise ConnectionError(f"{socket_path}: the daemon closed the connection without answering")
        reply = json.loads(line)
        if "error" in reply:
            raise ConnectionError(f"{socket_path}: {reply['error']}")
        return reply

    return await asyncio.wait_for(ask(), timeout)


BOX_SERVICES.add("control", lambda config: ControlService())

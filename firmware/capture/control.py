"""`pribox capture` on a running box: the daemon's control socket takes `capture ...` requests
and runs them through the console's own commands, so both share one grammar, one set of errors
and one capture (a capture started from the command line shows at the console, and back).

    capture define all span 1 packets 10k   ->  monitor capture define all span 1 packets 10k
    capture start | stop | export PATH      ->  monitor capture start | stop | export PATH
    capture status                          ->  show monitor capture

The reply is {"lines": [...]} or {"error": "..."} with the console's message (what `% ...`
shows there).  Imported by the control service (firmware/appliance/control_service.py
CONTROL_REQUEST_MODULES), which registers it for the word `capture`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from firmware.appliance.control_service import CONTROL_REQUESTS
from firmware.console.commands import CommandError, registry
from firmware.console.session import OffLoop

from . import console as _console  # noqa: F401  (the monitor capture commands)

ACTIONS = {"define": "monitor capture define", "start": "monitor capture start", "stop": "monitor capture stop",
           "export": "monitor capture export", "status": "show monitor capture"}
UPLOADS_DIR = "uploads"     # as the console under the daemon: captures go beside the upload folder


class _BoxView:
    """What the capture commands read from `ctx.services`, over the daemon's service context:
    the bus, the folder captures go to, and the running peers (spans, isdn) by name."""

    def __init__(self, ctx) -> None:
        self._ctx = ctx
        self.bus = ctx.bus
        state = Path(ctx.state_dir) if ctx.state_dir else Path("/var/lib/pribox")
        self.upload_dir = state / UPLOADS_DIR

    def __getattr__(self, name: str):
        services = self.__dict__["_ctx"].services
        if name in services:
            return services[name]
        raise AttributeError(name)


class _CommandContext:
    def __init__(self, ctx) -> None:
        self.services = _BoxView(ctx)


def console_line(request: str) -> str:
    """The console command a `capture ...` request stands for; ValueError naming what is wrong."""
    words = request.split(None, 2)
    if len(words) < 2 or words[1] not in ACTIONS:
        raise ValueError(f"capture: expected one of {', '.join(ACTIONS)}, got {' '.join(words[1:2]) or 'nothing'}")
    rest = words[2] if len(words) > 2 else ""
    return f"{ACTIONS[words[1]]} {rest}".strip()


async def answer(ctx, request: str) -> dict:
    try:
        line = console_line(request)
        try:
            parsed = registry.parse(line)
        except CommandError as exc:
            # The console points at the word with '^'; here the word is named instead.
            message = str(exc)
            if exc.column is not None and line[exc.column:].strip():
                message = message.replace("at '^' marker.", f"at {line[exc.column:].split()[0]!r}")
            raise ValueError(message) from None
        result = parsed.node.handler(_CommandContext(ctx), parsed.args)
        if isinstance(result, OffLoop):
            result = result.then(await asyncio.to_thread(result.work))
    except (ValueError, OSError) as exc:
        return {"error": str(exc)}
    lines = [result] if isinstance(result, str) else list(result or [])
    return {"lines": lines}


CONTROL_REQUESTS["capture"] = answer

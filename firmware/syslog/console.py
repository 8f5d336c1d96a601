"""`show logging` at the console: each remote syslog server with its queue, sent and dropped."""

from __future__ import annotations

import logging

from firmware.console.commands import registry

from .sender import current


def format_logging(handler, level: str | None = None) -> list[str]:
    lines = []
    if level:
        lines.append(f"Local logging: level {level}")
    if handler is None or not handler.servers:
        lines.append("Remote syslog: disabled (no [[logging.server]] configured)")
        return lines
    lines.append(f"Remote syslog: {len(handler.servers)} server(s), hostname {handler.hostname}, "
                 f"app-name {handler.app_name}, RFC 5424")
    for server in handler.servers:
        s = server.status()
        lines.append(f"  Logging to {s['server']}, facility {s['facility']}, severity {s['severity']} and above")
        lines.append(f"    state {s['state']}, {s['sent']} messages sent, {s['dropped']} dropped, "
                     f"{s['queued']} queued of {s['queue']}")
        if s["last_error"]:
            lines.append(f"    last error: {s['last_error']}")
    if handler.formatting_errors:
        lines.append(f"  {handler.formatting_errors} records could not be formatted")
    return lines


def show_logging(ctx, args) -> list[str]:
    level = logging.getLevelName(logging.getLogger("pribox").getEffectiveLevel()).lower()
    return format_logging(current(), level)


registry.add("show logging", show_logging, help="Remote syslog servers: state, queue, sent and dropped")

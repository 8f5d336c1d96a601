"""Which RFC 5424 MSGID and severity a pribox log record goes out with.

A record may say so itself (`log.warning(..., extra={"msgid": "LOGIN", "syslog_severity": 5})`);
otherwise the logger name and the message decide, by the first rule that matches.  Each rule is
what an operator filters on at the syslog server."""

from __future__ import annotations

import logging
import re

# (logger name prefix, message pattern or None, MSGID)
RULES: tuple[tuple[str, re.Pattern | None, str], ...] = (
    ("pribox.span", re.compile(r"\balarm\b"), "ALARM"),
    ("pribox.span", re.compile(r"layer 1|\bslip|\bloss of"), "SPAN"),
    ("pribox.isdn", re.compile(r"D-channel"), "DCHAN"),
    ("pribox.isdn.dchannel", None, "DCHAN"),
    ("pribox.dchannel", None, "DCHAN"),
    ("pribox.isdn", re.compile(r"layer 1"), "SPAN"),
    ("pribox.isdn", re.compile(r"not answered|clearing|not released|cause"), "CALLFAIL"),
    ("pribox.auth", None, "LOGIN"),
    ("pribox.config", re.compile(r"roll", re.I), "ROLLBACK"),
    ("pribox.config", None, "CONFIG"),
    ("pribox.daemon", re.compile(r"rolled back|rollback", re.I), "ROLLBACK"),
    ("pribox.daemon", re.compile(r"configuration reloaded|committed", re.I), "CONFIG"),
    ("pribox.update", None, "UPGRADE"),
    ("pribox.upgrade", None, "UPGRADE"),
    ("pribox.daemon", re.compile(r"service .* (crashed|failed|did not stop)"), "SERVICE"),
    ("pribox.daemon", None, "DAEMON"),
    ("pribox.network", None, "NETWORK"),
    ("pribox.console", None, "CONSOLE"),
)

# Python levels to syslog severities: warning 4, error 3, critical 2; info is 6, debug 7.
_LEVELS = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def severity_of(record: logging.LogRecord) -> int:
    explicit = getattr(record, "syslog_severity", None)
    if isinstance(explicit, int) and 0 <= explicit < 8:
        return explicit
    for level, severity in _LEVELS:
        if record.levelno >= level:
            return severity
    return 7


def msgid_of(record: logging.LogRecord, text: str) -> str:
    explicit = getattr(record, "msgid", None)
    if explicit:
        return str(explicit)
    name = record.name
    for prefix, pattern, msgid in RULES:
        if (name == prefix or name.startswith(prefix + ".")) and (pattern is None or pattern.search(text)):
            return msgid
    parts = name.split(".")
    return (parts[1] if len(parts) > 1 else parts[0]).upper()[:32]


_SPAN = re.compile(r"\bspan (\d+)")


def structured_params(record: logging.LogRecord, text: str) -> dict:
    """Parameters for our SD element: the logger, and span/call/user when the record has them."""
    params = {"logger": record.name}
    for key in ("span", "call", "user", "alarm"):
        value = getattr(record, key, None)
        if value is not None:
            params[key] = value
    if "span" not in params:
        match = _SPAN.search(text)
        if match:
            params["span"] = match[1]
    return params

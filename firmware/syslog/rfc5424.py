"""RFC 5424 syslog messages and their framing for UDP (one per datagram, RFC 5426) and for TCP
and TLS (octet counting, RFC 6587 3.4.1 / RFC 5425 4.3)."""

from __future__ import annotations

import datetime

FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
              "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5",
              "local6", "local7")
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
# Spellings engineers also type.
SEVERITY_ALIASES = {"emergency": 0, "critical": 2, "error": 3, "warn": 4, "informational": 6}
NIL = "-"
# Our structured data ID: RFC 5612's documentation enterprise number until pribox has its own.
SD_ID = "pribox@32473"
_BOM = b"\xef\xbb\xbf"


def facility_number(value) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(FACILITIES):
        return value
    if isinstance(value, str) and value.lower() in FACILITIES:
        return FACILITIES.index(value.lower())
    raise ValueError(f"facility {value!r} is not one of {', '.join(FACILITIES)} or 0..23")


def severity_number(value) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(SEVERITIES):
        return value
    if isinstance(value, str):
        name = value.lower()
        if name in SEVERITIES:
            return SEVERITIES.index(name)
        if name in SEVERITY_ALIASES:
            return SEVERITY_ALIASES[name]
    raise ValueError(f"severity {value!r} is not one of {', '.join(SEVERITIES)} or 0..7")


def _token(value: str | None, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, at most `limit` characters, or NIL."""
    if not value:
        return NIL
    cleaned = "".join(c if 33 <= ord(c) <= 126 else "_" for c in str(value))
    return cleaned[:limit]


def _param_name(name: str) -> str:
    cleaned = "".join(c for c in name if 33 <= ord(c) <= 126 and c not in '= ]"')
    return cleaned[:32] or "x"


def _param_value(value) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def structured_data(elements: dict[str, dict]) -> str:
    if not elements:
        return NIL
    parts = []
    for sd_id, params in elements.items():
        inner = "".join(f' {_param_name(k)}="{_param_value(v)}"' for k, v in params.items() if v is not None)
        parts.append(f"[{sd_id}{inner}]")
    return "".join(parts)


def timestamp(epoch: float) -> str:
    """RFC 3339 in UTC with microseconds, as RFC 5424 6.2.3 allows."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_message(*, facility: int, severity: int, epoch: float, hostname: str | None, app_name: str | None,
                   procid: str | int | None, msgid: str | None, sd: dict[str, dict] | None, message: str) -> bytes:
    if not 0 <= facility < 24 or not 0 <= severity < 8:
        raise ValueError(f"facility {facility} / severity {severity} out of range")
    header = (f"<{facility * 8 + severity}>1 {timestamp(epoch)} {_token(hostname, 255)} {_token(app_name, 48)} "
              f"{_token(None if procid is None else str(procid), 128)} {_token(msgid, 32)} "
              f"{structured_data(sd or {})}")
    if not message:
        return header.encode()
    body = message.encode("utf-8", "replace")
    # MSG in UTF-8 starts with a BOM (RFC 5424 6.4); plain ASCII goes as MSG-ANY without one.
    return header.encode() + b" " + (body if body.isascii() else _BOM + body)


def octet_counted(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message

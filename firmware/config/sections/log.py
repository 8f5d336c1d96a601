"""[logging]: how loud the box is and where it writes — a local file and remote syslog servers
([[logging.server]], RFC 5424 over UDP, TCP or TLS; sent by firmware/syslog)."""

from __future__ import annotations

import ipaddress
import socket

from ..registry import register_section
from ..schema import (INVALID, OPTIONAL, Checker, Choice, Field, Int, MapOf, Path, Record, Section, Str, Table,
                      TableList, Type)

LEVELS = ("debug", "info", "warning", "error", "critical")
# RFC 5424 names (kept here so validating a file never imports the sender).
FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
              "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5",
              "local6", "local7")
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
SEVERITY_ALIASES = ("emergency", "critical", "error", "warn", "informational")


class NameOrNumber(Type):
    """A name from a fixed list, or its number 0..len-1 (syslog facilities and severities)."""

    def __init__(self, names: tuple[str, ...], what: str, aliases: tuple[str, ...] = ()):
        self.names, self.aliases, self.what = names, aliases, what
        self.expected = f"a {what} name ({', '.join(names)}) or a number 0..{len(names) - 1}"

    def convert(self, value, path, checker):
        if isinstance(value, bool):
            return self.wrong(value, path, checker)
        if isinstance(value, int):
            if 0 <= value < len(self.names):
                return value
            checker.report(path, f"{self.what} {value} is out of range 0..{len(self.names) - 1}")
            return INVALID
        if isinstance(value, str) and (value.lower() in self.names or value.lower() in self.aliases):
            return value.lower()
        return self.wrong(value, path, checker)


def _resolves(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError) as exc:
        return f'syslog server "{host}" does not resolve ({exc.strerror if hasattr(exc, "strerror") else exc})'
    return None


def _check_server(server: Record, path: tuple, checker: Checker) -> None:
    if server.transport != "tls":
        for key in ("ca_file", "cert_file", "key_file"):
            if server[key] is not None:
                checker.report(path + (key,), f'only for transport = "tls" (this server uses {server.transport})')
    if (server.cert_file is None) != (server.key_file is None):
        checker.report(path + ("key_file" if server.key_file is None else "cert_file",),
                       "cert_file and key_file go together")


SERVER = Table({
    "host": Field(Str(r"[A-Za-z0-9.:_-]{1,253}", "a host name or IP address", check=_resolves)),
    "port": Field(Int(1, 65535), OPTIONAL, "default 514 (udp, tcp) or 6514 (tls)"),
    "transport": Field(Choice("udp", "tcp", "tls"), "udp"),
    "facility": Field(NameOrNumber(FACILITIES, "facility"), "local0"),
    "severity": Field(NameOrNumber(SEVERITIES, "severity", SEVERITY_ALIASES), "info",
                      "the least severe level sent (info sends emerg..info)"),
    "queue": Field(Int(10, 1_000_000), 1000, "messages held while the server is slow or down; more are dropped"),
    "ca_file": Field(Path("a CA certificate file (PEM)"), OPTIONAL),
    "cert_file": Field(Path("a client certificate file (PEM)"), OPTIONAL),
    "key_file": Field(Path("a client key file (PEM)"), OPTIONAL),
}, checks=[_check_server])

LOGGING = register_section(Section("logging", Table({
    "level": Field(Choice(*LEVELS), "info"),
    "file": Field(Path("a log file path"), OPTIONAL),
    "levels": Field(MapOf(Choice(*LEVELS), key=Str(r"[A-Za-z0-9_.]+", "a logger name such as pribox.isdn")), Record({}),
                    "per-logger levels, e.g. \"pribox.isdn\" = \"debug\""),
    "server": Field(TableList(SERVER, max_len=8, noun="syslog server"), (), "remote syslog servers"),
}), doc="logging"))

"""Remote syslog: a logging.Handler that formats each record once and offers it to every
server's bounded queue; one sender thread per server drains its queue over UDP, TCP or TLS.

Nothing the box logs from ever waits on the network: a full queue drops the record and counts
it; a server that is down is retried with a growing delay (1 s up to 30 s) while its queue
fills and then drops; a message whose send fails is counted as dropped too.
"""

from __future__ import annotations

import collections
import logging
import os
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from .msgids import msgid_of, severity_of, structured_params
from .rfc5424 import FACILITIES, SD_ID, SEVERITIES, format_message, octet_counted

TRANSPORTS = ("udp", "tcp", "tls")
DEFAULT_PORTS = {"udp": 514, "tcp": 514, "tls": 6514}


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int | None = None
    transport: str = "udp"
    facility: int = 16                  # local0
    severity: int = 6                   # minimum: info and more severe
    queue: int = 1000
    ca_file: str | None = None          # TLS: the CA that signed the server's certificate
    cert_file: str | None = None        # TLS: our client certificate, when the server asks for one
    key_file: str | None = None
    verify_hostname: bool = True

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port or DEFAULT_PORTS[self.transport]

    def describe(self) -> str:
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"{self.transport}://{shown}:{port}"


class SyslogServer:
    """One remote server: its queue, its sender thread, and its counters."""

    def __init__(self, config: ServerConfig, *, connect_timeout: float = 2.0, send_timeout: float = 2.0,
                 retry_min: float = 1.0, retry_max: float = 30.0):
        if config.transport not in TRANSPORTS:
            raise ValueError(f"transport {config.transport!r} is not one of {', '.join(TRANSPORTS)}")
        self.config = config
        self._queue: collections.deque[bytes] = collections.deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.connect_timeout, self.send_timeout = connect_timeout, send_timeout
        self.retry_min, self.retry_max = retry_min, retry_max
        self._retry = retry_min
        self._next_attempt = 0.0
        self.sent = 0
        self.dropped = 0
        self.state = "idle"
        self.last_error: str | None = None

    # -- producers ----------------------------------------------------------------------------

    def submit(self, message: bytes) -> bool:
        if len(self._queue) >= self.config.queue:
            self.dropped += 1
            return False
        self._queue.append(message)
        self._wake.set()
        return True

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- the sender thread --------------------------------------------------------------------

    def start(self) -> None:
        self.state = "connecting"
        self._thread = threading.Thread(target=self._run, name=f"syslog {self.config.describe()}", daemon=True)
        self._thread.start()

    def stop(self, drain_seconds: float = 1.0) -> None:
        """Give the queue up to `drain_seconds` to empty, then stop; what is left counts as dropped."""
        deadline = time.monotonic() + drain_seconds
        while self._queue and self.state == "up" and time.monotonic() < deadline:
            time.sleep(0.01)
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.connect_timeout + self.send_timeout + 1.0)
            self._thread = None
        self.dropped += len(self._queue)
        self._queue.clear()
        self._close()
        self.state = "stopped"

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._queue:
                self._wake.clear()
                if not self._queue:         # a submit between the check and the clear is not lost
                    self._wake.wait(0.5)
                continue
            if self._sock is not None and self.config.transport != "udp" and self._peer_closed():
                self._close()       # reconnect now rather than write into a connection the server closed
            if self._sock is None and not self._connect():
                self._stopping.wait(max(0.0, self._next_attempt - time.monotonic()))
                continue
            message = self._queue.popleft()
            try:
                self._send(message)
            except (OSError, ssl.SSLError) as exc:
                self.dropped += 1
                self._failed(exc)
            else:
                self.sent += 1
                self._retry = self.retry_min

    def _connect(self) -> bool:
        if time.monotonic() < self._next_attempt:
            return False
        host, port = self.config.address
        try:
            if self.config.transport == "udp":
                family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
                sock = socket.socket(family[0], socket.SOCK_DGRAM)
                sock.connect(family[4])     # connected, so an ICMP 'port unreachable' surfaces as an error
            else:
                sock = socket.create_connection((host, port), timeout=self.connect_timeout)
                if self.config.transport == "tls":
                    sock = self._tls_context().wrap_socket(sock, server_hostname=host)
            sock.settimeout(self.send_timeout)
        except (OSError, ssl.SSLError) as exc:
            self._failed(exc)
            return False
        self._sock = sock
        self.state = "up"
        self.last_error = None
        return True

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config.ca_file)
        context.check_hostname = self.config.verify_hostname
        if self.config.cert_file:
            context.load_cert_chain(self.config.cert_file, self.config.key_file)
        return context

    def _peer_closed(self) -> bool:
        """Whether the server closed the connection (servers send us nothing, so readable means
        end of stream or an error)."""
        readable, _, _ = select.select([self._sock], [], [], 0)
        if not readable:
            return False
        self._sock.setblocking(False)
        try:
            return self._sock.recv(1) == b""
        except (BlockingIOError, ssl.SSLWantReadError):
            return False
        except OSError:
            return True
        finally:
            self._sock.settimeout(self.send_timeout)

    def _send(self, message: bytes) -> None:
        if self.config.transport == "udp":
            self._sock.send(message)
        else:
            self._sock.sendall(octet_counted(message))

    def _failed(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.state = "down"
        self._close()
        self._next_attempt = time.monotonic() + self._retry
        self._retry = min(self._retry * 2, self.retry_max)

    def _close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def status(self) -> dict:
        return {"server": self.config.describe(), "facility": FACILITIES[self.config.facility],
                "severity": SEVERITIES[self.config.severity], "state": self.state, "queued": self.queued,
                "queue": self.config.queue, "sent": self.sent, "dropped": self.dropped, "last_error": self.last_error}


class SyslogHandler(logging.Handler):
    """Formats each record once per facility and hands it to the servers whose minimum severity
    it meets.  `emit` only appends to in-memory queues."""

    def __init__(self, servers: list[SyslogServer], *, hostname: str, app_name: str = "pribox",
                 procid: int | None = None):
        super().__init__(logging.DEBUG)
        self.servers = servers
        self.hostname = hostname
        self.app_name = app_name
        self.procid = os.getpid() if procid is None else procid
        self.formatting_errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            severity = severity_of(record)
            msgid = msgid_of(record, text)
            sd = {SD_ID: structured_params(record, text)}
            formatted: dict[int, bytes] = {}
            for server in self.servers:
                if severity > server.config.severity:
                    continue
                facility = server.config.facility
                message = formatted.get(facility)
                if message is None:
                    message = formatted[facility] = format_message(
                        facility=facility, severity=severity, epoch=record.created, hostname=self.hostname,
                        app_name=self.app_name, procid=self.procid, msgid=msgid, sd=sd, message=text)
                server.submit(message)
        except Exception:      # logging must never raise into the box
            self.formatting_errors += 1

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        super().close()


# -- the box's one set of remote servers ---------------------------------------------------------

_active: SyslogHandler | None = None


def current() -> SyslogHandler | None:
    return _active


def apply(servers: list[ServerConfig], *, hostname: str, logger: str = "pribox") -> SyslogHandler | None:
    """Replace the running servers with these (an empty list switches remote syslog off)."""
    global _active
    root = logging.getLogger(logger)
    if _active is not None and _active.hostname == hostname and [s.config for s in _active.servers] == list(servers):
        return _active          # unchanged: keep the queues and counters
    if _active is not None:
        root.removeHandler(_active)
        _active.close()
        _active = None
    if not servers:
        return None
    running = [SyslogServer(config) for config in servers]
    for server in running:
        server.start()
    _active = SyslogHandler(running, hostname=hostname)
    root.addHandler(_active)
    return _active


def server_configs(section) -> list[ServerConfig]:
    """ServerConfig for each validated [[logging.server]] table."""
    from .rfc5424 import facility_number, severity_number
    out = []
    for table in section.server:
        out.append(ServerConfig(host=table.host, port=table.port, transport=table.transport,
                                facility=facility_number(table.facility), severity=severity_number(table.severity),
                                queue=table.queue, ca_file=table.ca_file, cert_file=table.cert_file,
                                key_file=table.key_file))
    return out

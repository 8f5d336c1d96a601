"""systemd's notify protocol: newline-separated KEY=VALUE datagrams to $NOTIFY_SOCKET.

A few lines instead of a dependency; with no $NOTIFY_SOCKET (not started by systemd, or
Type=simple) every call is a no-op."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("pribox.daemon")


class Notifier:
    def __init__(self, address: str | None = None, environ: dict | None = None):
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET") if address is None else address
        self.watchdog_usec = _watchdog_usec(env)
        self._sock: socket.socket | None = None
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def watchdog_interval(self) -> float | None:
        """How often to send WATCHDOG=1: half of WatchdogSec, as sd_watchdog_enabled(3) advises."""
        return self.watchdog_usec / 2e6 if self.watchdog_usec else None

    def notify(self, *assignments: str) -> bool:
        if self._sock is None:
            return False
        target = self.address
        if target.startswith("@"):  # abstract socket namespace
            target = "\0" + target[1:]
        try:
            self._sock.sendto("\n".join(assignments).encode("utf-8"), target)
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        return self.notify("RELOADING=1")

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_usec(env) -> int | None:
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None  # meant for another process of the unit
    return usec if usec > 0 else None

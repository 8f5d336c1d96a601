"""A loopback-only network namespace for a browser and the box it talks to.

`loopback_namespace()` creates one (`ip netns add`, `ip -n NS link set lo up`) and moves the
calling thread into it for the block: sockets the thread opens, threads it starts and processes
it spawns (chromedriver, Chromium) live there, with no route anywhere but 127.0.0.1.  The
thread's own namespace is restored and the namespace deleted however the block ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import socket
import subprocess

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_serial = itertools.count(1)


class NamespaceError(RuntimeError):
    pass


def _setns(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NamespaceError(f"setns into {what}: {os.strerror(err)} (needs CAP_SYS_ADMIN)")


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode} "
                             f"(creating network namespaces needs root or CAP_SYS_ADMIN)")


@contextlib.contextmanager
def loopback_namespace(prefix: str = "pribox-desk"):
    """The calling thread inside a fresh namespace whose only interface is lo, up."""
    name = f"{prefix}-{os.getpid()}-{next(_serial)}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(target, f"namespace {name}")
            try:
                yield name
            finally:
                _setns(own, "the thread's own namespace")
        finally:
            os.close(own)
            os.close(target)
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def interfaces() -> list[str]:
    """The calling thread's network interfaces (inside the namespace: only lo)."""
    return [name for _, name in socket.if_nameindex()]

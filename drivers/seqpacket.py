"""Unix SOCK_SEQPACKET plumbing shared by the emulated wire and the D-channel export.

Everything here is non-blocking: the span's tick polls, so one tick never waits on a peer.
"""

from __future__ import annotations

import errno
import os
import socket
import stat

# Any datagram this large is refused: 160 frames (20 ms) of 32 octets is the most a peer sends.
MAX_DATAGRAM = 65536


class SocketPathError(OSError):
    """A socket path cannot be listened on; the message names the path and why."""


def listen(path: str) -> socket.socket:
    """Listen on `path`, replacing a stale socket file left by a process that died, but never a
    live listener or a file that is not a socket."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None:
        if not stat.S_ISSOCK(mode):
            raise SocketPathError(errno.EEXIST, f"{path}: exists and is not a socket; refusing to replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # nobody listens: stale
        else:
            raise SocketPathError(errno.EADDRINUSE, f"{path}: another process is already listening there")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.bind(path)
        sock.listen(1)
    except OSError as exc:
        sock.close()
        raise SocketPathError(exc.errno, f"{path}: cannot listen: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def accept(listener: socket.socket) -> socket.socket | None:
    try:
        conn, _ = listener.accept()
    except (BlockingIOError, InterruptedError):
        return None
    conn.setblocking(False)
    return conn


def connect(path: str) -> socket.socket | None:
    """Connect to a listener at `path`; None while nobody listens there yet."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


class PeerGone(Exception):
    """The peer closed its end or the connection broke."""


def receive_all(sock: socket.socket) -> list[tuple[bytes, bool]]:
    """Every datagram waiting on `sock` as (data, truncated).  Raises PeerGone on end of file;
    datagrams received before the end are lost with the peer, as on a cut line."""
    out = []
    while True:
        try:
            data, _, flags, _ = sock.recvmsg(MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return out
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise PeerGone(str(exc)) from None
        if not data:
            raise PeerGone("end of file")
        out.append((data, bool(flags & socket.MSG_TRUNC)))


def unlink_socket(path: str) -> None:
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass

"""A D-channel line that can be cut: two SOCK_SEQPACKET socketpairs joined by an asyncio relay.

    line = CuttableLine()
    line.start()                      # inside a running loop
    DChannel(lapd, line.near, ...)    # one end
    LibpriPeer(line.far, "network")   # the other end
    line.cut = True                   # frames are lost both ways, as on a broken wire
    line.cut = False                  # and flow again
    line.drop = lambda direction, packet: ...   # or lose chosen packets

Packets (frame + 2 FCS octets) cross unchanged; `passed` and `lost` count them per direction.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from typing import Callable


class CuttableLine:
    def __init__(self) -> None:
        self.near, self._near_relay = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.far, self._far_relay = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for s in (self._near_relay, self._far_relay):
            s.setblocking(False)
        self.cut = False
        # Optional per-packet loss: drop(direction, packet) -> True loses that packet.
        self.drop: Callable[[str, bytes], bool] | None = None
        self.passed: Counter[str] = Counter()
        self.lost: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._near_relay.fileno(), self._carry, self._near_relay, self._far_relay, "near_to_far")
        self._loop.add_reader(self._far_relay.fileno(), self._carry, self._far_relay, self._near_relay, "far_to_near")

    def _carry(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        for _ in range(64):
            try:
                packet = src.recv(1024)
            except BlockingIOError:
                return
            except OSError:
                self._stop_reading(src)
                return
            if not packet:
                self._stop_reading(src)
                return
            if self.cut or (self.drop is not None and self.drop(direction, packet)):
                self.lost[direction] += 1
                continue
            try:
                dst.send(packet)
                self.passed[direction] += 1
            except OSError:
                self.lost[direction] += 1

    def _stop_reading(self, sock: socket.socket) -> None:
        if self._loop is not None:
            try:
                self._loop.remove_reader(sock.fileno())
            except (ValueError, OSError):
                pass

    def close(self) -> None:
        for s in (self._near_relay, self._far_relay):
            self._stop_reading(s)
            s.close()

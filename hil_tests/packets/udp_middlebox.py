"""A UDP middlebox on the loopback for RTP legs: what one side sends arrives at the other after a
delay plus uniform jitter (so packets reorder), unless dropped (at random or by index), with
optional duplicates.  Paced by the caller's clock (`pump(now)`), so a lockstep test or benchmark
on a virtual clock gets the same impairment every run (seeded).

    box = Middlebox(delay=0.040, jitter=0.020, loss=0.01)
    x = port.open(0, local, box.for_x.getsockname(), rtcp_mux=True)   # x talks to for_x
    y = other.open(0, local, box.for_y.getsockname(), rtcp_mux=True)  # y talks to for_y
    box.attach(x.local, y.local)
    ... box.pump(now) before and after the ports advance ...
"""

from __future__ import annotations

import heapq
import random
import socket


class Middlebox:
    """Two sockets between leg x and leg y: what x sends to `for_x` goes out of `for_y` to y
    after `delay` plus uniform `jitter` seconds, unless dropped (`loss`, or the indices in
    `drop`); rtcp-mux legs, so RTP and RTCP take the same path and delay."""

    def __init__(self, host: str = "127.0.0.1", delay: float = 0.0, jitter: float = 0.0, loss: float = 0.0,
                 seed: int = 1, drop_x_to_y: set[int] | None = None, duplicate_every: int = 0):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.for_x = socket.socket(family, socket.SOCK_DGRAM)
        self.for_y = socket.socket(family, socket.SOCK_DGRAM)
        for s in (self.for_x, self.for_y):
            s.bind((host, 0))
            s.setblocking(False)
        self.delay, self.jitter, self.loss = delay, jitter, loss
        self.rng = random.Random(seed)
        self.drop = drop_x_to_y or set()
        self.duplicate_every = duplicate_every
        self.x_addr = self.y_addr = None
        self.queue: list = []
        self.counter = 0
        self.forwarded = {"x_to_y": 0, "y_to_x": 0}
        # (time, (src host, port), (dst host, port), datagram) of every delivery, when a list:
        # the capture a probe beside each leg would take.
        self.capture: list | None = None
        self.dropped = {"x_to_y": 0, "y_to_x": 0}

    def attach(self, x_addr, y_addr) -> None:
        self.x_addr, self.y_addr = x_addr, y_addr

    def _take(self, sock, direction: str, now: float) -> None:
        index = 0
        while True:
            try:
                data = sock.recv(2048)
            except BlockingIOError:
                return
            n = self.forwarded[direction] + self.dropped[direction]
            if (direction == "x_to_y" and n in self.drop) or self.rng.random() < self.loss:
                self.dropped[direction] += 1
                continue
            self.forwarded[direction] += 1
            due = now + self.delay + self.rng.uniform(0, self.jitter)
            copies = 2 if self.duplicate_every and n % self.duplicate_every == 0 else 1
            for _ in range(copies):
                self.counter += 1
                heapq.heappush(self.queue, (due, self.counter, direction, data))
            index += 1

    def pump(self, now: float) -> None:
        self._take(self.for_x, "x_to_y", now)
        self._take(self.for_y, "y_to_x", now)
        while self.queue and self.queue[0][0] <= now + 1e-9:
            _, _, direction, data = heapq.heappop(self.queue)
            sock, to = (self.for_y, self.y_addr) if direction == "x_to_y" else (self.for_x, self.x_addr)
            sock.sendto(data, to)
            if self.capture is not None:
                self.capture.append((now, sock.getsockname()[:2], tuple(to[:2]), data))

    def close(self) -> None:
        self.for_x.close()
        self.for_y.close()

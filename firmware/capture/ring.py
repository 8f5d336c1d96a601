"""A bounded ring between the producers of captured packets and the writer thread.

A producer (the data plane's tick, the SIP transport, the D-channel) never waits: when the
ring is full the packet is dropped and counted.  One consumer takes packets out in batches.
`collections.deque` appends and pops atomically under the GIL, so no lock is taken on the
producer's path; the length check may let a ring overshoot by one entry per racing producer,
which bounds it all the same.
"""

from __future__ import annotations

import threading
from collections import deque


class PacketRing:
    __slots__ = ("capacity", "_items", "dropped", "high_water", "_drop_lock")

    def __init__(self, capacity: int = 65536):
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"ring capacity must be a positive integer, not {capacity!r}")
        self.capacity = capacity
        self._items: deque = deque()
        self.dropped = 0
        # Taken only on the drop path, so racing producers never lose a count and the
        # common path takes no lock.
        self._drop_lock = threading.Lock()
        self.high_water = 0

    def offer(self, item) -> bool:
        """Put one packet in; False (and counted) when the ring is full."""
        items = self._items
        if len(items) >= self.capacity:
            with self._drop_lock:
                self.dropped += 1
            return False
        items.append(item)
        return True

    def take(self, limit: int) -> list:
        """Up to `limit` packets, oldest first."""
        items = self._items
        out = []
        pop = items.popleft
        for _ in range(min(limit, len(items))):
            out.append(pop())
        if len(out) > self.high_water:
            self.high_water = len(out)
        return out

    def __len__(self) -> int:
        return len(self._items)

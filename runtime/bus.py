"""The one event bus of the box.

Layers publish what happened (a span alarm, a D-channel going up, a call changing state); the
CTI, the recorder, statistics and the console subscribe.  Delivery is synchronous and in order,
in the publisher's thread of control; a subscriber that raises is logged and kept, so one bad
listener never takes the publisher down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("pribox.bus")


@dataclass(frozen=True)
class Event:
    """Base of every event: `time` is the one clock's `now` when it happened."""

    time: float


@dataclass
class _Subscription:
    kind: type
    callback: Callable[[Event], None]
    active: bool = field(default=True)

    def cancel(self) -> None:
        self.active = False


class EventBus:
    def __init__(self) -> None:
        self._subs: list[_Subscription] = []
        self.errors = 0

    def subscribe(self, kind: type, callback: Callable[[Event], None]) -> _Subscription:
        """Deliver every published event that is an instance of `kind` (use Event for all)."""
        sub = _Subscription(kind, callback)
        self._subs.append(sub)
        return sub

    def publish(self, event: Event) -> None:
        for sub in list(self._subs):
            if not sub.active or not isinstance(event, sub.kind):
                continue
            try:
                sub.callback(event)
            except Exception:
                self.errors += 1
                log.exception("subscriber %r failed on %r", sub.callback, event)
        self._subs = [s for s in self._subs if s.active]

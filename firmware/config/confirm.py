"""Arms the one clock for a pending commit-confirmed deadline.

The deadline is persisted in wall-clock seconds (see store.py); the clock is monotonic with an
arbitrary epoch, so the watch converts with a fixed `wall_offset` (wall = clock.now() + offset)
taken once when it is made.  After a restart a new watch re-reads the deadline from disk; one
that passed while the box was down fires at once."""

from __future__ import annotations

import logging
import time
from typing import Callable

from runtime.clock import Clock, TimerHandle
from .store import Commit, ConfigStore

log = logging.getLogger("pribox.config")


class ConfirmWatch:
    def __init__(self, store: ConfigStore, clock: Clock, on_rollback: Callable[[Commit], None],
                 wall_offset: float | None = None):
        self.store = store
        self.clock = clock
        self.on_rollback = on_rollback
        self.wall_offset = time.time() - clock.now() if wall_offset is None else wall_offset
        self._timer: TimerHandle | None = None

    def wall_now(self) -> float:
        return self.clock.now() + self.wall_offset

    def rearm(self) -> float | None:
        """(Re)schedule for the store's current deadline; returns it (wall seconds) or None."""
        self.cancel()
        deadline = self.store.next_deadline()
        if deadline is None:
            return None
        when = max(deadline - self.wall_offset, self.clock.now())
        log.info("commit %s must be confirmed within %.0f s", self.store.running().id, deadline - self.wall_now())
        self._timer = self.clock.call_at(when, lambda: self._fire(deadline))
        return deadline

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self, armed_for: float) -> None:
        self._timer = None
        # max(): converting through the offset may land a hair before the deadline in floats.
        rolled = self.store.expire(max(self.wall_now(), armed_for))
        if rolled is not None:
            log.warning("%s (now commit %d)", rolled.comment, rolled.id)
            self.on_rollback(rolled)
        self.rearm()

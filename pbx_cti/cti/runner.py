"""The thin adapter between the engine and the box: the one clock, the bus.

`CtiRunner` calls the engine with wall-clock `now` (the clock's `now` plus an offset fixed at
start), publishes every decision on the bus (offers for the call model, state changes for the
API and console), and keeps exactly one clock timer armed for the engine's next timer.  It is
synchronous and does no I/O; the event log's writes go to its store's own writer thread.
Decisions carry wall-clock `time` (what the log and the API show), not the clock's epoch.
"""

from __future__ import annotations

import time

from runtime.bus import EventBus
from runtime.clock import Clock, TimerHandle

from .engine import CtiEngine

INPUTS = frozenset({
    "login", "logout", "ready", "not_ready", "reject", "hold", "retrieve", "wrap_up_code",
    "caller_queued", "caller_abandoned", "offer_answered", "offer_failed", "call_ended",
    "app_disconnected", "endpoint_presence", "clear_calls", "force_state", "agent_call_started",
    "agent_call_ended",
})


class CtiRunner:
    def __init__(self, engine: CtiEngine, clock: Clock, bus: EventBus, wall_offset: float | None = None):
        self.engine, self.clock, self.bus = engine, clock, bus
        self.wall_offset = time.time() - clock.now() if wall_offset is None else wall_offset
        self._timer: TimerHandle | None = None
        self._due: float | None = None
        self._publish_and_arm()  # what restore() decided, and its timers

    def wall_now(self) -> float:
        return self.clock.now() + self.wall_offset

    def __call__(self, action: str, *args, **kwargs):
        """runner("ready", "alice") is engine.ready(now, "alice"); CtiError passes to the caller."""
        if action not in INPUTS:
            raise ValueError(f"{action!r} is not an input of the CTI engine (one of {', '.join(sorted(INPUTS))})")
        try:
            return getattr(self.engine, action)(self.wall_now(), *args, **kwargs)
        finally:
            self._publish_and_arm()

    def _publish_and_arm(self) -> None:
        for decision in self.engine.pop_decisions():
            self.bus.publish(decision)
        due = self.engine.get_timer()
        if due == self._due:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._due = None, due
        if due is not None:
            self._timer = self.clock.call_at(due - self.wall_offset, self._fire)

    def _fire(self) -> None:
        due, self._timer, self._due = self._due, None, None
        # max(): wall = clock + offset may round just below the engine's own time.
        self.engine.handle_timer(max(self.wall_now(), due if due is not None else 0.0))
        self._publish_and_arm()

"""A lockstep wire between two sans-I/O Lapd entities on a ManualClock, for tests.

Frames cross instantly; time moves only to the next timer of either side.  `drop` decides per
frame whether the wire loses it (direction "ab" or "ba"), and `tap` records every frame that was
put on the wire, so tests can assert the exact sequence."""

from __future__ import annotations

from typing import Callable

from runtime.clock import ManualClock
from firmware.isdn.lapd import Lapd
from firmware.isdn.lapd_frames import Frame, decode


class Wire:
    def __init__(self, a: Lapd, b: Lapd, clock: ManualClock | None = None):
        self.a, self.b = a, b
        self.clock = clock or ManualClock()
        self.drop: Callable[[str, bytes], bool] = lambda direction, frame: False
        self.tap: list[tuple[str, Frame]] = []
        self.events = {"a": [], "b": []}
        self._timers = {}
        self.cut = False

    @property
    def now(self) -> float:
        return self.clock.now()

    def pump(self) -> None:
        """Carry frames both ways until neither side has anything left to send."""
        moved = True
        while moved:
            moved = False
            for name, src, dst in (("ab", self.a, self.b), ("ba", self.b, self.a)):
                for frame in src.frames_to_send():
                    moved = True
                    self.tap.append((name, decode(frame)))
                    if self.cut or self.drop(name, frame):
                        continue
                    dst.receive_frame(frame, self.now)
        self._collect()

    def _collect(self) -> None:
        for name, side in (("a", self.a), ("b", self.b)):
            while (ev := side.next_event()) is not None:
                self.events[name].append(ev)

    def run_for(self, seconds: float) -> None:
        """Pump, then let timers fire in order until `seconds` have passed."""
        until = self.now + seconds
        self.pump()
        while True:
            due = [t for t in (self.a.get_timer(), self.b.get_timer()) if t is not None]
            when = min(due) if due else None
            if when is None or when > until:
                break
            self.clock.run_until(max(when, self.now))
            for side in (self.a, self.b):
                t = side.get_timer()
                if t is not None and t <= self.now:
                    side.handle_timer(self.now)
            self.pump()
        self.clock.run_until(until)

    def take_events(self, name: str) -> list:
        self._collect()
        out, self.events[name] = self.events[name], []
        return out

    def kinds(self, since: int = 0) -> list[str]:
        return [f"{d}:{f.kind}" for d, f in self.tap[since:]]

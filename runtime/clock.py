"""The one clock of the box.

Every protocol core takes `now` as an argument; the thin adapters around them get it from a
`Clock`.  Production uses the asyncio loop's monotonic time.  Tests use either

* `ManualClock` — no event loop at all: `advance()` moves time and fires due timers in order,
  for lockstep tests of sans-I/O cores and the emulated E1 wire; or
* `virtual_time_loop()` — an asyncio loop whose time jumps straight to the next timer whenever
  nothing is ready, so asyncio code (daemon, console, adapters) runs faster than real time
  while staying deterministic.
"""

from __future__ import annotations

import abc
import asyncio
import heapq
import itertools
import selectors
from typing import Callable


class TimerHandle:
    __slots__ = ("when", "callback", "cancelled", "_inner")

    def __init__(self, when: float, callback: Callable[[], None]):
        self.when = when
        self.callback = callback
        self.cancelled = False
        self._inner = None  # the event loop's own handle, for LoopClock

    def cancel(self) -> None:
        self.cancelled = True
        if self._inner is not None:
            self._inner.cancel()


class Clock(abc.ABC):
    """What everything that needs time depends on."""

    @abc.abstractmethod
    def now(self) -> float:
        """Seconds on the one clock (monotonic; the epoch is arbitrary)."""

    @abc.abstractmethod
    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Run `callback` once the clock reaches `when`."""

    @property
    def real_time(self) -> bool:
        """True when `now()` is CLOCK_MONOTONIC as it runs, so work may be handed to a thread
        that keeps real time by itself (the line thread); False on a virtual clock."""
        return False

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return self.call_at(self.now() + delay, callback)


class ManualClock(Clock):
    """Time moves only when a test says so; timers fire in time order, ties in call order."""

    def __init__(self, start: float = 0.0):
        self._now = start
        self._timers: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle(when, callback)
        heapq.heappush(self._timers, (when, next(self._seq), handle))
        return handle

    def next_timer(self) -> float | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def advance(self, seconds: float) -> None:
        self.run_until(self._now + seconds)

    def run_until(self, until: float) -> None:
        if until < self._now:
            raise ValueError(f"clock cannot go back from {self._now} to {until}")
        while True:
            when = self.next_timer()
            if when is None or when > until:
                break
            _, _, handle = heapq.heappop(self._timers)
            self._now = max(self._now, when)
            handle.callback()
        self._now = until


class LoopClock(Clock):
    """The asyncio loop's time: real monotonic time, or virtual time under virtual_time_loop()."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None):
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop or asyncio.get_running_loop()

    def now(self) -> float:
        return self.loop.time()

    @property
    def real_time(self) -> bool:
        return not isinstance(self.loop, VirtualTimeLoop)

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle(when, callback)
        handle._inner = self.loop.call_at(when, lambda: None if handle.cancelled else callback())
        return handle

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(delay)


class _VirtualSelector(selectors.DefaultSelector):
    """Polls real file descriptors without blocking; when nothing is ready and the loop would
    wait for a timer, it moves virtual time forward to that timer instead of sleeping."""

    def __init__(self, loop_ref: list):
        super().__init__()
        self._loop_ref = loop_ref

    def select(self, timeout=None):
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # nothing scheduled: only real I/O can wake us
            return super().select(None)
        if self._loop_ref[0]._threads_working:
            # Work handed to a worker thread (asyncio.to_thread) finishes in real time: wait for
            # it in real time rather than leap past the timeouts that guard it.
            return super().select(min(timeout, 0.05))
        self._loop_ref[0]._virtual_now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, start: float = 0.0):
        ref: list = [None]
        super().__init__(_VirtualSelector(ref))
        ref[0] = self
        self._virtual_now = start
        self._threads_working = 0

    def run_in_executor(self, executor, func, *args):
        future = super().run_in_executor(executor, func, *args)
        self._threads_working += 1

        def done(_):
            self._threads_working -= 1
        future.add_done_callback(done)
        return future

    def time(self) -> float:
        return self._virtual_now


def virtual_time_loop(start: float = 0.0) -> VirtualTimeLoop:
    return VirtualTimeLoop(start)

"""Contact-center statistics, computed only from the event log (so a restart loses nothing).

Definitions (the trade's, as Asterisk's queue_log reports and Cisco's interval reports use them):
    offered         callers who entered the queue
    answered        callers an agent answered;  abandoned: callers who left before that
    SL              answered within T / answered                      (T: `sl_threshold`, e.g. 20 s)
    SL2             (answered within T + abandoned within T) / (answered + abandoned)
    ASA             sum of answered callers' waits / answered
    AHT             (talk + hold + wrap-up) / handled, handled = answered calls that have ended
    abandon rate    abandoned / (answered + abandoned), both without short abandons
                    (callers who left within `short_abandon` seconds)
    occupancy       (talk + hold + wrap-up) / (ready + reserved + talk + hold + wrap-up)
"Within T" is wait <= T.  Per-call counts go to the interval in which they happened (offered
when the caller entered, answered when answered, ...); durations are split at interval bounds.
An agent's current state counts up to `now`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterable

from .eventlog import K_ABANDON, K_AGENT_STATE, K_CALL_END, K_CONNECT, K_ENTER, K_OFFER, K_OFFER_END, LogRecord

TOTAL = None  # the interval key of whole-period figures

_HANDLING = ("TALKING", "HOLD", "WRAP_UP")
_STAFFED = ("READY", "RESERVED") + _HANDLING
_MISSED = ("ring-no-answer", "rejected", "offer-failed")


@dataclass
class QueueFigures:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    answered_within: int = 0
    abandoned_within: int = 0
    handled: int = 0
    wait_answered: float = 0.0
    max_wait: float = 0.0
    handle_time: float = 0.0

    def service_level(self) -> float | None:
        return self.answered_within / self.answered if self.answered else None

    def service_level2(self) -> float | None:
        n = self.answered + self.abandoned
        return (self.answered_within + self.abandoned_within) / n if n else None

    def asa(self) -> float | None:
        return self.wait_answered / self.answered if self.answered else None

    def aht(self) -> float | None:
        return self.handle_time / self.handled if self.handled else None

    def abandon_rate(self) -> float | None:
        counted = self.abandoned - self.short_abandoned
        n = self.answered + counted
        return counted / n if n else None


@dataclass
class AgentFigures:
    offered: int = 0     # offers rung at the agent
    missed: int = 0      # of which ring-no-answer, rejected or failed
    answered: int = 0
    handled: int = 0
    time: dict[tuple[str, str], float] = field(default_factory=dict)  # (state, reason) -> seconds

    def seconds(self, *states: str) -> float:
        return sum(v for (s, _), v in self.time.items() if s in states)

    def handle_time(self) -> float:
        return self.seconds(*_HANDLING)

    def aht(self) -> float | None:
        return self.handle_time() / self.handled if self.handled else None

    def occupancy(self) -> float | None:
        staffed = self.seconds(*_STAFFED)
        return self.handle_time() / staffed if staffed > 0 else None


@dataclass
class Report:
    queues: dict[tuple[str, float | None], QueueFigures]    # (queue, interval start or TOTAL)
    agents: dict[tuple[str, float | None], AgentFigures]    # (agent, interval start or TOTAL)
    sl_threshold: float
    short_abandon: float
    interval: float | None


def compute(records: Iterable[LogRecord], now: float, sl_threshold: float = 20.0,
            short_abandon: float = 5.0, interval: float | None = None,
            start: float | None = None, end: float | None = None) -> Report:
    """Every figure from the log; `interval` (seconds, e.g. 900) adds per-interval rows;
    `start`/`end` keep what happened in [start, end) (durations are cut at the bounds)."""
    figures = StatsAccumulator(sl_threshold, short_abandon, interval, start, end)
    figures.feed(records)
    return figures.report(now, keep_feeding=False)


class StatsAccumulator:
    """`compute()` in steps, for a log that grows: `feed()` records as they come (in log order),
    `report(now)` whenever figures are wanted.  The live views feed it the day's new records at
    each scrape instead of recomputing the day."""

    def __init__(self, sl_threshold: float = 20.0, short_abandon: float = 5.0, interval: float | None = None,
                 start: float | None = None, end: float | None = None):
        if sl_threshold < 0 or short_abandon < 0:
            raise ValueError("sl_threshold and short_abandon must be >= 0 seconds")
        if interval is not None and interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        self.sl_threshold, self.short_abandon, self.interval = sl_threshold, short_abandon, interval
        self.lo = float("-inf") if start is None else start
        self.hi = float("inf") if end is None else end
        self.queues: dict[tuple, QueueFigures] = {}
        self.agents: dict[tuple, AgentFigures] = {}
        # agent -> (state, reason, since, queue)
        self.current: dict[str, tuple[str, str, float, str]] = {}

    def take_states(self, other: "StatsAccumulator") -> None:
        """Agents' states as `other` last saw them: for a new window (a new day, a new interval)
        that opens after every record `other` was fed."""
        self.current = dict(other.current)

    def _buckets(self, t: float):
        if not self.lo <= t < self.hi:
            return
        yield TOTAL
        if self.interval is not None:
            yield t - t % self.interval

    def _q_rows(self, queue: str, t: float):
        for b in self._buckets(t):
            yield self.queues.setdefault((queue, b), QueueFigures())

    def _a_rows(self, agent: str, t: float):
        for b in self._buckets(t):
            yield self.agents.setdefault((agent, b), AgentFigures())

    def _spread(self, start: float, end: float):
        """(interval key, seconds) pieces of [start, end) inside [lo, hi)."""
        start, end = max(start, self.lo), min(end, self.hi)
        if end < start or not self.lo <= start < self.hi:
            return  # outside the window (a zero-length state inside it still shows, as 0 s)
        yield TOTAL, end - start
        if self.interval is None:
            return
        t = start
        while t < end:
            b = t - t % self.interval
            stop = min(end, b + self.interval)
            yield b, stop - t
            t = stop

    def _close(self, agents: dict, queues: dict, agent: str, end: float, state_ended: bool = True) -> None:
        state, reason, since, queue = self.current[agent]
        # Handle time goes to the queue once its segment has ended (as the engine counts it);
        # the agent's time in its current state counts up to `now`.
        queue = queue if state_ended else ""
        for b, seconds in self._spread(since, end):
            row = agents.setdefault((agent, b), AgentFigures())
            row.time[(state, reason)] = row.time.get((state, reason), 0.0) + seconds
            if state in _HANDLING and queue:
                queues.setdefault((queue, b), QueueFigures()).handle_time += seconds

    def feed(self, records: Iterable[LogRecord]) -> None:
        sl_threshold, short_abandon = self.sl_threshold, self.short_abandon
        current = self.current
        for r in records:
            kind = r.kind
            if kind == K_AGENT_STATE:
                if r.agent in current:
                    self._close(self.agents, self.queues, r.agent, r.time)
                    del current[r.agent]
                state = r.data["state"]
                if state != "LOGGED_OUT":
                    queue = r.queue if state in _HANDLING else ""
                    current[r.agent] = (state, r.data.get("reason", ""), r.time, queue)
                    self.agents.setdefault((r.agent, TOTAL), AgentFigures())
            elif kind == K_ENTER:
                for row in self._q_rows(r.queue, r.time):
                    row.offered += 1
            elif kind == K_OFFER:
                for agent in r.data["agents"]:
                    for row in self._a_rows(agent, r.time):
                        row.offered += 1
            elif kind == K_OFFER_END:
                if r.data["outcome"] in _MISSED:
                    for row in self._a_rows(r.agent, r.time):
                        row.missed += 1
            elif kind == K_CONNECT:
                wait = r.data["wait"]
                for row in self._q_rows(r.queue, r.time):
                    row.answered += 1
                    row.wait_answered += wait
                    row.max_wait = max(row.max_wait, wait)
                    row.answered_within += wait <= sl_threshold
                for row in self._a_rows(r.agent, r.time):
                    row.answered += 1
            elif kind == K_ABANDON:
                wait = r.data["wait"]
                for row in self._q_rows(r.queue, r.time):
                    row.abandoned += 1
                    row.max_wait = max(row.max_wait, wait)
                    row.abandoned_within += wait <= sl_threshold
                    row.short_abandoned += wait < short_abandon
            elif kind == K_CALL_END:
                for row in self._q_rows(r.queue, r.time):
                    row.handled += 1
                for row in self._a_rows(r.agent, r.time):
                    row.handled += 1

    def report(self, now: float, keep_feeding: bool = True) -> Report:
        """The figures as of `now` (agents' current states counted up to it).  With
        `keep_feeding` the report is a copy that later feeds leave as it is."""
        queues, agents = self.queues, self.agents
        if keep_feeding:
            queues = {k: dataclasses.replace(f) for k, f in queues.items()}
            agents = {k: dataclasses.replace(f, time=dict(f.time)) for k, f in agents.items()}
        for agent in list(self.current):
            # A clock behind the log (a test's future dates, a stepped wall clock) counts nothing, never less.
            self._close(agents, queues, agent, max(now, self.current[agent][2]), state_ended=False)
        if not keep_feeding:
            self.current = {}
        return Report(queues, agents, self.sl_threshold, self.short_abandon, self.interval)

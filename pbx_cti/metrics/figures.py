"""What the live views (/metrics, `show queues`, `show agents`) know: the engine's state now,
and today's figures from the event log.

Today's figures are `stats.py`'s computation over the records of the current UTC day (the
day `pribox stats --since today` reports), so the console, the scrape and `pribox stats` agree
by construction.  `TodaysLog` feeds it only what is new at each refresh; a refresh reads the
disk, so it runs in a worker thread.  Reading the engine (`queue_views`,
`agent_views`) happens on the event loop, where the engine lives.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from pbx_cti.cti.engine import CtiEngine
from pbx_cti.cti.eventlog import (K_AGENT_STATE, K_CHECKPOINT, EventStore, LogRecord, SqliteEventStore,
                                  read_agent_states_before, read_records)
from pbx_cti.cti.model import AgentState
from pbx_cti.cti.stats import TOTAL, AgentFigures, QueueFigures, Report, StatsAccumulator

DAY = 86400.0


@dataclass(frozen=True)
class FigureSettings:
    sl_threshold: float = 20.0    # answered within this many seconds is in service
    short_abandon: float = 5.0    # abandons within this are left out of the abandon rate
    interval: float = 900.0       # the reporting interval "this interval" means (the trade's 15 min)


@dataclass(frozen=True)
class DayFigures:
    """Today's figures and this interval's, as of `now`."""

    now: float
    day_start: float
    interval_start: float
    settings: FigureSettings
    today: Report
    this_interval: Report
    records: int                           # records of the day read so far

    def queue_today(self, queue: str) -> QueueFigures:
        return self.today.queues.get((queue, TOTAL)) or QueueFigures()

    def queue_interval(self, queue: str) -> QueueFigures:
        return self.this_interval.queues.get((queue, TOTAL)) or QueueFigures()

    def agent_today(self, agent: str) -> AgentFigures:
        return self.today.agents.get((agent, TOTAL)) or AgentFigures()


def log_records(store: EventStore, *, after_seq: int = 0, since: float | None = None,
                checkpoints: bool = True) -> list[LogRecord]:
    """Every durable record of the engine's store after `after_seq` (and from `since` on).
    Blocking: flushes the store's writer first so the answer includes every input so far."""
    store.flush()
    if isinstance(store, SqliteEventStore):
        # Its own read-only connection: safe from any thread beside the writer.
        return read_records(store.path, after_seq=after_seq, since=since, checkpoints=checkpoints)
    return [r for r in store.records(after_seq)
            if (since is None or r.time >= since) and (checkpoints or r.kind != K_CHECKPOINT)]


def agent_states_before(store: EventStore, when: float) -> list[LogRecord]:
    """Each agent's last state record before `when`. Blocking, like `log_records`."""
    store.flush()
    if isinstance(store, SqliteEventStore):
        return read_agent_states_before(store.path, when)
    last: dict[str, LogRecord] = {}
    for r in store.records():
        if r.kind == K_AGENT_STATE and r.time < when:
            last[r.agent] = r
    return sorted(last.values(), key=lambda r: r.seq)


class TodaysLog:
    """The current UTC day's records, fed as they are read to two `StatsAccumulator`s (the day,
    and the current interval); `refresh(now)` reads only the records new since the last one, so
    a scrape costs what happened since the previous scrape, not the whole day.  Thread-safe: a
    scrape and a console may refresh at once."""

    def __init__(self, store: EventStore, settings: FigureSettings = FigureSettings()):
        self.store, self.settings = store, settings
        self.latest: DayFigures | None = None
        self._lock = threading.Lock()
        self._last_seq = 0
        self._count = 0
        self._day: StatsAccumulator | None = None
        self._interval: StatsAccumulator | None = None

    def _accumulator(self, start: float) -> StatsAccumulator:
        s = self.settings
        return StatsAccumulator(s.sl_threshold, s.short_abandon, start=start)

    def refresh(self, now: float) -> DayFigures:
        """Blocking (reads the log): call it from a worker thread, with `now` read on the loop."""
        s = self.settings
        with self._lock:
            day_start, interval_start = now - now % DAY, now - now % s.interval
            # A new day or interval takes the agents' states from the records read so far, all
            # of which came before it opened (each before the `now` of its refresh); the records
            # read next may begin before it opens: they move states along, and count only from
            # its start on.  The first refresh reads the day from midnight, with each agent's
            # state as the log held it then, so a call that spans midnight counts from 00:00.
            first = self._day is None
            # Read from the start of the day last read (the records since are unread or new).
            since = day_start if first else min(self._day.lo, day_start)
            if first or self._day.lo != day_start:
                day = self._accumulator(day_start)
                if first:
                    day.feed(agent_states_before(self.store, day_start))
                else:
                    day.take_states(self._day)
                self._day, self._count = day, 0
            if first or self._interval.lo != interval_start:
                interval = self._accumulator(interval_start)
                interval.take_states(self._day)
                self._interval = interval
            new = log_records(self.store, after_seq=self._last_seq, since=since, checkpoints=False)
            if new:
                self._day.feed(new)
                self._interval.feed(new)
                self._last_seq = new[-1].seq
                self._count += sum(1 for r in new if r.time >= day_start)
            self.latest = DayFigures(now, day_start, interval_start, s, self._day.report(now),
                                     self._interval.report(now), self._count)
            return self.latest


@dataclass
class QueueView:
    queue: str
    group: str
    strategy: str
    waiting: int
    longest_wait: float
    agents: dict[str, int]                 # state name -> agents of the queue's group logged into it
    today: QueueFigures = field(default_factory=QueueFigures)
    interval: QueueFigures = field(default_factory=QueueFigures)


@dataclass
class AgentView:
    agent: str
    state: str
    reason: str
    since: float | None                    # wall-clock seconds; None if never logged in
    extension: str
    groups: tuple[str, ...]
    caller: str                            # offered, connected or being wrapped up
    queue: str
    calls_today: int


def queue_views(engine: CtiEngine, now: float, figures: DayFigures | None) -> list[QueueView]:
    out = []
    for name, q in sorted(engine.config.queues.items()):
        waiting = [engine.callers[key[-1]] for key in engine.waiting.get(name, [])]
        staff = Counter(engine.agents[a].state.value for a in engine.config.groups_by_name.get(q.group, [])
                        if q.group in engine.agents[a].groups)
        view = QueueView(name, q.group, q.strategy.value, len(waiting),
                         max((now - c.entered for c in waiting), default=0.0),
                         {s.value: staff.get(s.value, 0) for s in AgentState if s is not AgentState.LOGGED_OUT})
        if figures is not None:
            view.today, view.interval = figures.queue_today(name), figures.queue_interval(name)
        out.append(view)
    return out


def agent_views(engine: CtiEngine, figures: DayFigures | None) -> list[AgentView]:
    out = []
    for agent_id, a in sorted(engine.agents.items()):
        out.append(AgentView(agent_id, a.state.value, a.reason, a.since if a.since else None,
                             a.endpoint, tuple(a.groups), a.caller, a.queue,
                             figures.agent_today(agent_id).answered if figures is not None else 0))
    return out

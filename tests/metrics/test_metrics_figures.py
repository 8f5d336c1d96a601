"""Today's figures (figures.py) without a daemon: the day starts at 00:00 UTC, new records are
read incrementally, and a log that cannot be read leaves the live views working and says why."""

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pbx_cti.cti import CtiEngine
from pbx_cti.cti.eventlog import EventLogError, MemoryEventStore, SqliteEventStore
from pbx_cti.cti.stats import compute
from pbx_cti.metrics.collectors import CtiCollector
from pbx_cti.metrics.console_commands import render_agents, render_queues
from pbx_cti.metrics.figures import DAY, FigureSettings, TodaysLog
from tests.cti.cti_world import T0, Driver, center
from tests.metrics.metrics_world import samples, value

MIDNIGHT = T0 - T0 % DAY + DAY       # the next 00:00 UTC after T0


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_today_starts_at_midnight_utc_and_new_records_are_read_as_they_come(kind, tmp_path):
    store = MemoryEventStore() if kind == "memory" else SqliteEventStore.in_state_dir(tmp_path)
    day = Driver(center(), CtiEngine(center(), store), start=MIDNIGHT - 60)
    try:
        day.login("alice", "2001")
        day.ready("alice")
        day.caller_queued("late", "sales")             # yesterday, 23:59
        day.offer_answered("late", "alice")
        day.step(120)                                   # past midnight, still talking
        day.call_ended("late")
        day.ready("alice")
        day.caller_queued("early", "sales")            # today, 00:01
        today = TodaysLog(store, FigureSettings(interval=900))
        figures = today.refresh(day.now)
        assert figures.day_start == MIDNIGHT and figures.interval_start == MIDNIGHT
        sales = figures.queue_today("sales")
        assert (sales.offered, sales.answered) == (1, 0)              # "late" was offered yesterday
        assert figures.agent_today("alice").handled == 1              # ... and ended today
        assert sales.handle_time == 60.0                              # talk from 00:00 on
        day.offer_answered("early", "alice")
        day.step(30)
        day.caller_queued("third", "sales")
        day.caller_abandoned("third")
        read_before = figures.records
        figures = today.refresh(day.now)
        assert figures.records > read_before
        assert figures.records == sum(1 for r in day_records(store))
        sales = figures.queue_today("sales")
        assert (sales.offered, sales.answered, sales.abandoned) == (2, 1, 1)
        assert figures.agent_today("alice").answered == 1
        # Fed in pieces, the figures are those of one computation over the whole log.
        assert_equal_to_one_computation(figures, store, day.now)

        # The next interval: its own counts, the day's go on.
        day.step(900)
        day.call_ended("early")
        day.ready("alice")
        day.caller_queued("fourth", "sales")
        figures = today.refresh(day.now)
        assert figures.interval_start == MIDNIGHT + 900
        assert figures.queue_interval("sales").offered == 1 and figures.queue_today("sales").offered == 3
        assert_equal_to_one_computation(figures, store, day.now)

        # The next day begins with nothing counted, and the agents' states carried over.
        day.step(DAY)
        figures = today.refresh(day.now)
        assert figures.queue_today("sales").offered == 0 and figures.day_start == MIDNIGHT + DAY
        assert_equal_to_one_computation(figures, store, day.now)
    finally:
        store.close()


def day_records(store):
    return [r for r in store.records() if r.time >= MIDNIGHT and r.kind != "CHECKPOINT"]


def assert_equal_to_one_computation(figures, store, now):
    whole = compute(store.records(), now, start=figures.day_start)
    assert figures.today.queues == {k: v for k, v in whole.queues.items()}
    assert figures.today.agents == whole.agents
    interval = compute(store.records(), now, start=figures.interval_start)
    assert figures.this_interval.queues == interval.queues


class UnreadableStore(MemoryEventStore):
    def flush(self) -> None:
        raise EventLogError("cti-events.sqlite: the writer failed: disk I/O error")


def test_an_unreadable_log_leaves_the_live_state_and_says_why():
    store = UnreadableStore()
    day = Driver(center(), CtiEngine(center(), store))
    day.login("bob", "2002")
    day.not_ready("bob", "lunch")
    day.caller_queued("c1", "sales")
    reason = "cti-events.sqlite: the writer failed: disk I/O error"
    queues = render_queues(day.engine, day.now, reason)
    assert queues.splitlines()[0] == f"% Today's figures are not available: {reason}"
    assert queues.splitlines()[2].split()[:2] == ["sales", "1"]   # live: one waiting
    agents = render_agents(day.engine, day.now, reason)
    assert any(line.split()[:3] == ["bob", "NOT_READY", "lunch"] for line in agents.splitlines())

    today = TodaysLog(store)
    registry = CollectorRegistry()
    registry.register(CtiCollector(lambda: day.engine, lambda: day.now, lambda: today.latest))
    found = samples(generate_latest(registry).decode())
    assert value(found, "pribox_queue_waiting", queue="sales") == 1
    assert value(found, "pribox_agent_state", agent="bob", state="NOT_READY", reason="lunch") == 1
    assert not any(name == "pribox_queue_calls" for name, _ in found)   # no figures made up


def test_a_day_that_has_had_nothing_yet_reads_only_what_comes_today():
    store = MemoryEventStore()
    day = Driver(center(), CtiEngine(center(), store), start=MIDNIGHT - 3600)
    day.login("alice", "2001")
    day.ready("alice")
    day.caller_queued("yesterday", "sales")
    day.offer_answered("yesterday", "alice")
    day.call_ended("yesterday")
    day.step(3600 + 5)                              # 00:00:05, nothing yet today
    today = TodaysLog(store)
    figures = today.refresh(day.now)
    assert figures.records == 0 and figures.queue_today("sales").offered == 0
    day.caller_queued("first", "sales")            # alice is READY again after her wrap-up
    figures = today.refresh(day.now)
    assert figures.queue_today("sales").offered == 1
    assert figures.records == len(day_records(store))
    assert_equal_to_one_computation(figures, store, day.now)

"""Statistics from the event log: a worked day whose every figure is computed by hand, the same
figures equal to the engine's live counters, and `pribox stats` as a table and as CSV."""

from __future__ import annotations

import argparse
import csv
import io

import pytest

from tests.cti.cti_world import T0, Driver, center
from pbx_cti.cti import CtiEngine, SqliteEventStore
from pbx_cti.cti import stats_cli
from pbx_cti.cti.stats import TOTAL, compute


def worked_day(store=None) -> Driver:
    """One agent, one queue, 20 s service level, 5 s short abandon, 10 s wrap-up; T0 starts a
    quarter hour.  Waits: answered 5, 12 and 35 s; abandoned after 3 s (short) and 30 s."""
    config = center(wrap_up=10, ring_timeout=60)
    d = Driver(config, CtiEngine(config, store) if store else None)
    d.login("alice", "ext-a")
    d.ready("alice")
    d.caller_queued("c1", "sales")
    d.step(5)
    d.offer_answered("c1", "alice")
    d.step(60)
    d.hold("alice")
    d.step(10)
    d.retrieve("alice")
    d.step(25)
    d.call_ended("c1")                      # t+100, wrap-up to t+110
    d.caller_queued("c2", "sales")
    d.step(12)                              # offered at t+110
    d.offer_answered("c2", "alice")         # t+112
    d.step(38)
    d.caller_queued("c3", "sales")          # t+150
    d.step(3)
    d.caller_abandoned("c3")
    d.step(7)
    d.caller_queued("c4", "sales")          # t+160
    d.step(30)
    d.caller_abandoned("c4")
    d.step(10)
    d.call_ended("c2")                      # t+200, wrap-up to t+210
    d.step(5)
    d.caller_queued("c5", "sales")          # t+205, offered at t+210
    d.step(35)
    d.offer_answered("c5", "alice")         # t+240
    d.step(760)
    d.call_ended("c5")                      # t+1000, in the next quarter hour
    d.step(100)                             # now = t+1100
    return d


def test_every_figure_of_a_worked_day():
    d = worked_day()
    report = compute(d.engine.store.records(), now=d.now, sl_threshold=20, short_abandon=5, interval=900)
    q = report.queues[("sales", TOTAL)]
    assert (q.offered, q.answered, q.abandoned, q.short_abandoned, q.handled) == (5, 3, 2, 1, 3)
    assert q.service_level() == pytest.approx(2 / 3)
    assert q.service_level2() == pytest.approx(3 / 5)
    assert q.asa() == pytest.approx((5 + 12 + 35) / 3)
    assert q.aht() == pytest.approx((105 + 98 + 770) / 3)
    assert q.abandon_rate() == pytest.approx(1 / 4)
    assert q.max_wait == 35

    first, second = report.queues[("sales", T0)], report.queues[("sales", T0 + 900)]
    assert (first.offered, first.answered, first.abandoned, first.handled) == (5, 3, 2, 2)
    assert (second.offered, second.answered, second.abandoned, second.handled) == (0, 0, 0, 1)
    assert second.handle_time == pytest.approx(110) and first.handle_time == pytest.approx(863)

    a = report.agents[("alice", TOTAL)]
    assert a.answered == 3 and a.handled == 3
    assert a.seconds("READY") == pytest.approx(90)
    assert a.seconds("RESERVED") == pytest.approx(37)
    assert a.seconds("TALKING") == pytest.approx(933)
    assert a.seconds("HOLD") == pytest.approx(10)
    assert a.seconds("WRAP_UP") == pytest.approx(30)
    assert a.occupancy() == pytest.approx(973 / 1100)
    late = report.agents[("alice", T0 + 900)]
    assert late.seconds("TALKING") == pytest.approx(100) and late.seconds("READY") == pytest.approx(90)


def test_time_per_not_ready_reason_and_abandon_threshold():
    d = Driver(center())
    d.login("bob", "ext-b")
    d.step(60)
    d.not_ready("bob", "break")
    d.step(300)
    d.not_ready("bob", "lunch")
    d.step(1800)
    report = compute(d.engine.store.records(), now=d.now, short_abandon=0)
    times = report.agents[("bob", TOTAL)].time
    assert times == {("NOT_READY", "login"): 60, ("NOT_READY", "break"): 300, ("NOT_READY", "lunch"): 1800}
    with pytest.raises(ValueError, match="interval must be > 0"):
        compute([], now=0, interval=0)


def test_statistics_from_the_log_equal_the_live_counters():
    d = worked_day()
    report = compute(d.engine.store.records(), now=d.now)
    for name, live in d.engine.queue_counters.items():
        row = report.queues.get((name, TOTAL))
        if row is None:
            assert live.offered == 0
            continue
        assert (row.offered, row.answered, row.abandoned, row.handled) == (
            live.offered, live.answered, live.abandoned, live.handled)
        assert row.wait_answered == pytest.approx(live.wait_answered)
        assert row.handle_time == pytest.approx(live.handle_time)
    for agent, seconds in d.engine.agent_time_at(d.now).items():
        row = report.agents.get((agent, TOTAL))
        assert (row.time if row else {}) == pytest.approx(seconds)


def _cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pribox stats")
    stats_cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_pribox_stats_table_and_csv(tmp_path, capsys):
    store = SqliteEventStore.in_state_dir(tmp_path)
    worked_day(store)
    store.close()
    assert stats_cli.run(_cli("--state-dir", str(tmp_path))) == 0
    out = capsys.readouterr().out
    assert "Queues" in out and "Agents" in out
    sales = next(line for line in out.splitlines() if line.strip().startswith("sales"))
    assert "66.7%" in sales and "60.0%" in sales and "17.3" in sales and "25.0%" in sales

    assert stats_cli.run(_cli("--db", str(tmp_path / "cti-events.sqlite"), "--interval", "15",
                              "--queue", "sales", "--csv")) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["queue"], r["interval"], r["offered"], r["handled"]) for r in rows] == [
        ("sales", "total", "5", "3"), ("sales", "2027-01-15 08:00", "5", "2"), ("sales", "2027-01-15 08:15", "0", "1")]

    assert stats_cli.run(_cli("--state-dir", str(tmp_path), "--agent", "alice", "--csv")) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["agent"], r["answered"], r["talking_s"], r["not_ready_by_reason"]) for r in rows] == [
        ("alice", "3", "933.0", "login=0")]


def test_pribox_stats_explains_a_missing_log_and_bad_arguments(tmp_path, capsys):
    assert stats_cli.run(_cli("--state-dir", str(tmp_path))) == 1
    assert "no CTI event log there" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _cli("--interval", "-5")
    assert "--interval must be more than 0 minutes" in capsys.readouterr().err


def test_offers_an_agent_missed_are_counted():
    d = Driver(center(ring_timeout=10))
    d.login("alice", "ext-a")
    d.ready("alice")
    d.caller_queued("c1", "sales")
    d.step(10)                               # ring-no-answer
    d.ready("alice")
    d.reject("alice")
    d.ready("alice")
    d.offer_answered("c1", "alice")
    row = compute(d.engine.store.records(), now=d.now).agents[("alice", TOTAL)]
    assert (row.offered, row.missed, row.answered) == (3, 2, 1)


def test_a_now_behind_the_log_counts_no_negative_time():
    d = worked_day()
    report = compute(d.engine.store.records(), now=T0 - 86400)
    assert report.agents[("alice", TOTAL)].seconds("READY") == 0


def test_pribox_stats_through_the_pribox_command_line(tmp_path, capsys):
    from firmware import cli
    assert cli.SUBCOMMANDS["stats"][0] == "pbx_cti.cti.stats_cli"
    store = SqliteEventStore.in_state_dir(tmp_path)
    worked_day(store)
    store.close()
    assert cli.main(["stats", "--state-dir", str(tmp_path), "--queue", "sales", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["sl"] == "66.7%" and rows[0]["abandon_rate"] == "25.0%"


def test_a_time_window_cuts_counts_and_durations(tmp_path, capsys):
    d = worked_day()
    late = compute(d.engine.store.records(), now=d.now, start=T0 + 900)
    q, a = late.queues[("sales", TOTAL)], late.agents[("alice", TOTAL)]
    assert (q.offered, q.answered, q.handled) == (0, 0, 1)
    assert a.seconds("TALKING") == pytest.approx(100) and a.seconds("READY") == pytest.approx(90)
    early = compute(d.engine.store.records(), now=d.now, end=T0 + 200)
    q, a = early.queues[("sales", TOTAL)], early.agents[("alice", TOTAL)]
    assert (q.offered, q.answered, q.abandoned, q.handled) == (4, 2, 2, 1)  # c2 ends at T0 + 200: outside
    assert a.seconds("TALKING") == pytest.approx(60 + 25 + 88)

    store = SqliteEventStore.in_state_dir(tmp_path)
    worked_day(store)
    store.close()
    assert stats_cli.run(_cli("--state-dir", str(tmp_path), "--since", "2027-01-15 08:15", "--queue", "sales",
                              "--csv")) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["offered"], r["handled"]) for r in rows] == [("0", "1")]
    with pytest.raises(SystemExit):
        _cli("--since", "yesterday-ish")
    assert "wants \"today\"" in capsys.readouterr().err

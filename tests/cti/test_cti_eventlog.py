"""The CTI event log in SQLite: round trip, appends that never wait for the disk, a kill -9 that
loses at most the last second, and an engine rebuilt from the file after a restart."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.cti.cti_world import T0, Driver, center, logged_in_ready
from pbx_cti.cti import CtiEngine, LogRecord, SqliteEventStore
from pbx_cti.cti.eventlog import DB_FILE, EventLogError, read_records

ROOT = Path(__file__).resolve().parents[2]


def test_round_trip_in_wal_mode(tmp_path):
    store = SqliteEventStore.in_state_dir(tmp_path / "state")
    records = [LogRecord(n, T0 + n, "ENTER", "sales", f"c{n}", "", {"priority": n, "info": {"acct": "12ü"}})
               for n in range(1, 101)]
    for r in records:
        store.append(r)
    store.flush()
    assert list(store.records()) == records
    assert list(store.records(after_seq=98)) == records[98:]
    store.close()
    path = tmp_path / "state" / DB_FILE
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert read_records(path) == records


def test_append_does_not_wait_for_the_disk(tmp_path):
    store = SqliteEventStore(tmp_path / "log.sqlite")
    start = time.perf_counter()
    for n in range(1, 20001):
        store.append(LogRecord(n, T0, "ENTER", "q", f"c{n}", "", {"priority": 0}))
    per_append_us = (time.perf_counter() - start) / 20000 * 1e6
    store.close()
    assert per_append_us < 50, per_append_us  # a queue put, not a transaction
    assert len(read_records(tmp_path / "log.sqlite")) == 20000


def test_a_duplicate_record_is_reported_not_lost_silently(tmp_path):
    store = SqliteEventStore(tmp_path / "log.sqlite")
    store.append(LogRecord(1, T0, "ENTER", "q", "c1", "", {"priority": 0}))
    store.append(LogRecord(1, T0, "ENTER", "q", "c1", "", {"priority": 0}))
    with pytest.raises(EventLogError, match="the writer failed.*UNIQUE"):
        store.flush()
    with pytest.raises(EventLogError):
        store.append(LogRecord(2, T0, "ENTER", "q", "c2", "", {}))


def test_reading_something_that_is_not_a_log_says_so(tmp_path):
    with pytest.raises(EventLogError, match="no CTI event log there"):
        read_records(tmp_path / "missing.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(EventLogError, match="not a readable CTI event log"):
        read_records(junk)


WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from pbx_cti.cti import LogRecord, SqliteEventStore
    store = SqliteEventStore(sys.argv[1])
    n = 0
    while True:
        n += 1
        store.append(LogRecord(n, time.time(), "ENTER", "q", f"c{n}", "", {"priority": 0}))
        if n == 1:
            print("started", flush=True)
        time.sleep(0.0005)
""")


def test_kill_9_loses_at_most_the_last_second(tmp_path):
    path = tmp_path / "log.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(ROOT)], stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"started\n"
    time.sleep(1.5)
    killed_at = time.time()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    records = read_records(path)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))  # no hole
    assert len(records) > 100
    assert records[-1].time >= killed_at - 1.0, killed_at - records[-1].time


def test_an_engine_restarted_on_the_file_is_the_engine_that_stopped(tmp_path):
    store = SqliteEventStore.in_state_dir(tmp_path)
    d = Driver(center(wrap_up=None), CtiEngine(center(wrap_up=None), store, checkpoint_every=7))
    logged_in_ready(d, "alice", "bob", "carol")
    d.not_ready("carol", "lunch")
    d.caller_queued("c1", "sales", info={"account": "1234"})
    d.offer_answered("c1", "alice")
    d.hold("alice")
    d.caller_queued("c2", "sales")               # rings at bob
    d.caller_queued("c3", "support")             # alice's other group; waits
    d.step(4)
    before = d.engine.snapshot()
    store.close()

    reopened = SqliteEventStore.in_state_dir(tmp_path)
    checkpoint = reopened.last_checkpoint()
    assert checkpoint is not None and checkpoint.seq < d.engine.snapshot()["seq"]  # and records after it
    engine = CtiEngine.restore(center(wrap_up=None), reopened, d.now, checkpoint_every=7)
    assert engine.snapshot() == before
    assert engine.agents["carol"].reason == "lunch" and engine.agents["carol"].since == T0 + 3
    assert engine.callers["c1"].info == {"account": "1234"}
    r = Driver(center(wrap_up=None), engine, start=d.now)
    r.step(11)                                    # bob's offer of c2 times out after 15 s
    assert r.state("bob")[1] == "ring-no-answer"
    r.retrieve("alice")
    r.call_ended("c1")
    r.ready("alice")                              # c2 came before c3: the older caller first
    assert [(o.caller, o.agent) for o in r.offers()] == [("c2", "alice")]
    reopened.close()
    assert [r.seq for r in read_records(tmp_path / DB_FILE)] == list(range(1, engine.snapshot()["seq"] + 1))


def test_data_that_is_not_json_is_refused_at_the_door(tmp_path):
    store = SqliteEventStore(tmp_path / "log.sqlite")
    with pytest.raises(EventLogError, match="record 1 \\(ENTER\\) has data that is not JSON"):
        store.append(LogRecord(1, T0, "ENTER", "q", "c1", "", {"info": b"\x00"}))
    engine = CtiEngine(center(), store)
    from pbx_cti.cti import CtiError
    with pytest.raises(CtiError, match="caller 'c1': info must be JSON data"):
        engine.caller_queued(T0, "c1", "sales", info={"raw": object()})
    engine.caller_queued(T0, "c1", "sales", info={"account": "42"})
    store.close()
    assert [r.caller for r in read_records(tmp_path / "log.sqlite")] == ["c1"]


BUSY_CENTER = textwrap.dedent("""
    import random, sys, time
    sys.path.insert(0, sys.argv[2])
    from pbx_cti.cti import AgentConfig, CtiConfig, CtiEngine, QueueConfig, SqliteEventStore, Strategy
    from pbx_cti.cti.decisions import Offer
    config = CtiConfig(agents={f"a{n}": AgentConfig(f"a{n}", {"g": 1 + n % 10}) for n in range(20)},
                       queues={"q": QueueConfig("q", "g", strategy=Strategy.RING_ALL, wrap_up=0)})
    engine = CtiEngine(config, SqliteEventStore(sys.argv[1], flush_interval=0), checkpoint_every=50)
    rng, now, n = random.Random(7), 1.8e9, 0
    for agent in config.agents:
        engine.login(now, agent, "ext-" + agent)
        engine.ready(now, agent)
    print("started", flush=True)
    while True:
        now += 0.01
        n += 1
        engine.caller_queued(now, f"c{n}", "q")
        offers = [d for d in engine.pop_decisions() if isinstance(d, Offer)]
        if offers and rng.random() < 0.7:
            engine.offer_answered(now, offers[0].caller, offers[-1].agent)
        talking = [a.caller for a in engine.agents.values() if a.state.value == "TALKING"]
        if talking and rng.random() < 0.8:
            engine.call_ended(now, rng.choice(talking))
        engine.handle_timer(now)
        engine.pop_decisions()
""")


def test_after_a_kill_9_the_log_holds_whole_operations_only(tmp_path):
    path = tmp_path / "log.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", BUSY_CENTER, str(path), str(ROOT)], stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"started\n"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    from pbx_cti.cti import AgentConfig, CtiConfig, QueueConfig, Strategy
    config = CtiConfig(agents={f"a{n}": AgentConfig(f"a{n}", {"g": 1 + n % 10}) for n in range(20)},
                       queues={"q": QueueConfig("q", "g", strategy=Strategy.RING_ALL, wrap_up=0)})
    store = SqliteEventStore(path)
    engine = CtiEngine.restore(config, store, 1.9e9)
    offered = {c.caller_id: set(c.offer_agents) for c in engine.callers.values() if c.status == "offered"}
    connected = {c.agent: c.caller_id for c in engine.callers.values() if c.status == "connected"}
    for agent in engine.agents.values():
        if agent.state.value == "RESERVED":
            assert agent.agent_id in offered[agent.caller]
        elif agent.state.value == "TALKING":
            assert connected[agent.agent_id] == agent.caller
        else:
            assert agent.agent_id not in connected
    assert all(engine.agents[a].state.value == "RESERVED" for agents in offered.values() for a in agents)
    store.close()

"""The CDR writer and reader: what a record holds, how it is closed, crash recovery, a stalled
disk, and files that are not ours."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

import pytest

from pbx_cti.cdr import (CAUSE_RESTART, SCHEMA_VERSION, CallRecord, CdrError, CdrReader, CdrStore, DisabledCdrStore,
                         Leg, iso_utc, open_store, path_in_state_dir)


class WallClock:
    """A wall clock the test moves by hand."""

    def __init__(self, start: float = 1_796_600_000.0):
        self.value = start

    def __call__(self) -> float:
        return self.value


def seed_call(call_id: str = "call-1") -> CallRecord:
    return CallRecord(
        call_id, direction="in",
        called_number="15881234", called_ton="national",
        calling_number="01012345678", calling_ton="national", calling_presentation="allowed",
        redirecting_number="07012345678", redirecting_ton="national", redirecting_presentation="restricted",
        called_mapped="7000", called_mapped_ton="unknown",
        calling_mapped="01012345678", calling_mapped_ton="national", calling_mapped_presentation="allowed",
        redirecting_mapped="anonymous", redirecting_mapped_ton="unknown", redirecting_mapped_presentation="restricted",
        legs=(Leg("in", "isdn", "carrier", 1, 5),))


def test_a_call_from_setup_to_close_keeps_every_field(tmp_path):
    clock = WallClock()
    with CdrStore.in_state_dir(tmp_path, now=clock) as store:
        store.open(seed_call())
        clock.value += 0.1234
        store.update("call-1", alerting_time=clock.value)
        clock.value += 0.5
        store.update("call-1", answer_time=clock.value, ivr_path=("greeting",))
        store.update("call-1", ivr_path=("greeting", "menu", "all-busy"), digits="1",
                     ivr_data={"choice": "예금 조회", "account": "12-34"},
                     route_entry="center", route_target="ivr:seed",
                     legs=(Leg("in", "isdn", "carrier", 1, 5), Leg("ivr", "ivr")))
        clock.value += 61.25
        store.close("call-1", cause=16, cleared_by="calling")
        assert store.flush()
    call = CdrReader(path_in_state_dir(tmp_path)).call("call-1")
    start = 1_796_600_000.0
    assert call.state == "closed"
    assert (call.called_number, call.called_ton, call.called_mapped, call.called_mapped_ton) == \
        ("15881234", "national", "7000", "unknown")
    assert (call.calling_number, call.calling_presentation) == ("01012345678", "allowed")
    assert (call.redirecting_number, call.redirecting_presentation, call.redirecting_mapped) == \
        ("07012345678", "restricted", "anonymous")
    assert call.legs == (Leg("in", "isdn", "carrier", 1, 5), Leg("ivr", "ivr"))
    assert call.setup_time == start
    assert call.alerting_time == pytest.approx(start + 0.123, abs=1e-6)   # milliseconds kept
    assert call.answer_time == pytest.approx(start + 0.623, abs=1e-6)
    assert call.end_time == pytest.approx(start + 61.873, abs=1e-6)
    assert call.duration == pytest.approx(61.873, abs=1e-6)
    assert call.billable == pytest.approx(61.25, abs=1e-6)
    assert (call.cause, call.cleared_by) == (16, "calling")
    assert call.ivr_path == ("greeting", "menu", "all-busy")
    assert call.digits == "1"
    assert call.ivr_data == {"choice": "예금 조회", "account": "12-34"}
    assert (call.route_entry, call.route_target) == ("center", "ivr:seed")
    assert iso_utc(call.setup_time) == "2026-12-06T23:33:20.000Z"


def test_an_unanswered_call_bills_nothing(tmp_path):
    clock = WallClock()
    with CdrStore.in_state_dir(tmp_path, now=clock) as store:
        store.open(CallRecord("c"))
        clock.value += 20
        store.close("c", cause=19, cleared_by="box")
    call = CdrReader.in_state_dir(tmp_path).call("c")
    assert (call.duration, call.billable, call.answer_time) == (20.0, 0.0, None)


def test_a_change_whose_open_was_lost_still_makes_a_record_and_ids_stay_unique(tmp_path, caplog):
    with CdrStore.in_state_dir(tmp_path) as store:
        store.update("orphan", digits="12")
        store.close("orphan", cause=16, cleared_by="called")
        store.open(CallRecord("dup", called_number="1"))
        store.open(CallRecord("dup", called_number="2"))
        store.close("dup", cause=16, cleared_by="called")
        store.close("dup", cause=31, cleared_by="box")
        store.flush()
        assert store.stats()["rejected"] == 2
    reader = CdrReader.in_state_dir(tmp_path)
    orphan = reader.call("orphan")
    assert (orphan.digits, orphan.state, orphan.cause) == ("12", "closed", 16)
    dup = reader.call("dup")
    assert (dup.called_number, dup.cause) == ("1", 16)      # the first open and close stand
    assert "already has a record" in caplog.text and "already closed" in caplog.text


def test_wrong_fields_are_refused_at_the_call_with_the_field_named(tmp_path):
    with CdrStore.in_state_dir(tmp_path) as store:
        with pytest.raises(CdrError, match="no CDR field named colour"):
            store.update("c", colour="red")
        with pytest.raises(CdrError, match="field duration"):   # derived, not settable
            store.update("c", duration=3)
        with pytest.raises(CdrError, match="cleared_by 'nobody'"):
            store.close("c", cause=16, cleared_by="nobody")
        with pytest.raises(CdrError, match="field digits must be text or a number"):
            store.update("c", digits=["1"])
        # Collected data that JSON cannot hold is kept as text, never refused mid-call.
        store.update("c", ivr_data={"when": object()})
        store.flush()
    assert "object object" in CdrReader.in_state_dir(tmp_path).call("c").ivr_data["when"]


def test_open_calls_are_stamped_and_a_restart_closes_them_as_cut(tmp_path, caplog):
    clock = WallClock()
    store = CdrStore.in_state_dir(tmp_path, now=clock, heartbeat_interval=0.05)
    store.open(CallRecord("up", called_number="15881234"))
    store.update("up", answer_time=clock.value + 2)
    store.open(CallRecord("done"))
    store.close("done", cause=16, cleared_by="calling")
    store.flush()
    clock.value += 30          # the call is still up 30 s later: the heartbeat says so
    deadline = time.monotonic() + 5
    reader = CdrReader.in_state_dir(tmp_path)
    while reader.call("up").last_seen != clock.value and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reader.call("up").last_seen == clock.value
    # The box dies here: its writer thread stops without a word (as a kill would leave it)
    # and the next boot closes the call.
    store._queue.put(None)
    store._writer.join()
    store._writer_lock.close()          # what the kernel does for a process that dies
    caplog.set_level(logging.WARNING, "pribox.cdr")
    restarted = CdrStore.in_state_dir(tmp_path, now=clock)
    restarted.stop()
    assert restarted.recovered == ["up"]
    assert "closed 1 call(s) left open by the last stop" in caplog.text
    up = reader.call("up")
    assert (up.state, up.cause, up.cleared_by) == ("closed", CAUSE_RESTART, "restart")
    assert up.end_time == clock.value
    assert up.duration == 30 and up.billable == 28
    assert reader.call("done").cleared_by == "calling"


def hold_write_lock(path):
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_a_full_queue_drops_counts_and_logs_but_never_blocks(tmp_path, caplog):
    path = path_in_state_dir(tmp_path)
    store = CdrStore(path, queue_size=5, flush_interval=0.05)
    blocker = hold_write_lock(path)           # the disk stalls: nothing can commit
    caplog.set_level(logging.WARNING, "pribox.cdr")
    slowest = 0.0
    results = []
    for i in range(40):
        started = time.perf_counter()
        results.append(store.open(CallRecord(f"c{i:02d}")))
        slowest = max(slowest, time.perf_counter() - started)
    assert slowest < 0.01                      # the caller never waits for the disk
    stats = store.stats()
    assert stats["dropped"] == results.count(False) > 0
    assert stats["queued"] + stats["dropped"] == 40
    assert "CDR queue full" in caplog.text and "dropped" in caplog.text
    blocker.execute("ROLLBACK")
    blocker.close()
    assert store.flush()
    store.stop()
    kept = {c.call_id for c in CdrReader(path).calls(limit=None)}
    assert kept == {f"c{i:02d}" for i, ok in enumerate(results) if ok}
    assert store.stats()["written"] == stats["queued"]


def test_a_write_error_is_retried_and_logged_and_nothing_held_is_lost(tmp_path, caplog):
    path = path_in_state_dir(tmp_path)
    store = CdrStore(path, flush_interval=0.05, busy_timeout=0.05)
    blocker = hold_write_lock(path)
    store.open(CallRecord("during-the-stall"))
    deadline = time.monotonic() + 5
    while store.stats()["write_errors"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "locked" in store.stats()["last_error"]
    assert "cannot write CDRs" in caplog.text
    blocker.execute("ROLLBACK")
    blocker.close()
    assert store.flush()
    store.stop()
    assert store.stats()["last_error"] == ""
    assert CdrReader(path).call("during-the-stall") is not None


def test_the_reader_is_safe_beside_a_running_writer(tmp_path):
    path = path_in_state_dir(tmp_path)
    store = CdrStore(path, flush_interval=0.02)
    done = threading.Event()

    def write():
        i = 0
        while not done.is_set():
            store.open(CallRecord(f"c{i:05d}"))
            store.close(f"c{i:05d}", cause=16, cleared_by="calling")
            i += 1
            time.sleep(0.0005)

    writer = threading.Thread(target=write)
    writer.start()
    reader = CdrReader(path)
    seen = []
    try:
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            if path.exists():
                try:
                    seen.append(reader.count())
                except CdrError as exc:          # only before the first commit
                    assert "no CDRs yet" in str(exc)
    finally:
        done.set()
        writer.join()
        store.stop()
    assert seen == sorted(seen) and seen[-1] > 0
    # Read-only: the reader never writes, even to a file the writer left behind.
    assert all(c.state == "closed" for c in reader.calls(limit=None))


def test_filters_of_the_reader(tmp_path):
    clock = WallClock(1_000_000.0)
    with CdrStore.in_state_dir(tmp_path, now=clock) as store:
        for i, (called, cause) in enumerate([("15881234", 16), ("15885678", 17), ("0212345678", 16)]):
            clock.value = 1_000_000.0 + 60 * i
            store.open(CallRecord(f"c{i}", called_number=called, called_mapped="7000" if i == 0 else ""))
            store.close(f"c{i}", cause=cause, cleared_by="calling")
    reader = CdrReader.in_state_dir(tmp_path)
    ids = lambda calls: [c.call_id for c in calls]
    assert ids(reader.calls()) == ["c2", "c1", "c0"]
    assert ids(reader.calls(oldest_first=True, limit=2)) == ["c0", "c1"]
    assert ids(reader.calls(number="1588")) == ["c1", "c0"]
    assert ids(reader.calls(number="7000")) == ["c0"]           # after mapping too
    assert ids(reader.calls(cause=17)) == ["c1"]
    assert ids(reader.calls(since=1_000_060.0, until=1_000_120.0)) == ["c1"]
    assert ids(reader.calls(state="open")) == []
    assert reader.call("nope") is None


# -- files that are not ours ------------------------------------------------------------------

def test_a_file_that_is_not_sqlite_is_named_in_one_line(tmp_path):
    path = tmp_path / "cdr.sqlite"
    path.write_bytes(b"these are not the records you are looking for\n" * 100)
    for attempt in (lambda: CdrStore(path), lambda: CdrReader(path).calls()):
        with pytest.raises(CdrError) as info:
            attempt()
        assert str(info.value) == f"{path}: not a CDR database (not an SQLite file)"


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "cdr.sqlite"
    with CdrStore(path) as store:
        store.open(CallRecord("kept"))
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    for attempt in (lambda: CdrStore(path), lambda: CdrReader(path).calls()):
        with pytest.raises(CdrError, match=f"{path}: CDR schema version {SCHEMA_VERSION + 1} is newer than "
                                           f"this firmware's {SCHEMA_VERSION}"):
            attempt()
    assert path.read_bytes() == before


def test_some_other_sqlite_database_is_not_taken_over(tmp_path):
    path = tmp_path / "cti-events.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE cti_events (seq INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(CdrError, match="an SQLite database but not a CDR database \\(tables: cti_events\\)"):
        CdrStore(path)


def test_the_box_keeps_going_when_the_store_cannot_open(tmp_path, caplog):
    """open_store logs the one line and hands back a store that writes nothing and counts it."""
    path = tmp_path / "cdr.sqlite"
    path.write_text("garbage")
    store = open_store(path)
    assert isinstance(store, DisabledCdrStore)
    assert caplog.messages == [f"{path}: not a CDR database (not an SQLite file); calls go on without CDRs"]
    assert store.open(CallRecord("c")) is False
    assert store.update("c", digits="1") is False
    assert store.close("c", cause=16, cleared_by="calling") is False
    assert store.flush() and store.stats()["dropped"] == 3
    assert store.stats()["last_error"] == f"{path}: not a CDR database (not an SQLite file)"
    store.stop()
    assert path.read_text() == "garbage"
    good = open_store(tmp_path / "good.sqlite")
    assert isinstance(good, CdrStore)
    good.stop()


def test_a_locked_database_is_reported_plainly(tmp_path):
    path = tmp_path / "cdr.sqlite"
    with CdrStore(path) as store:
        store.open(CallRecord("c"))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(CdrError, match="locked by another process; try again"):
            CdrReader(path, timeout=0.05).calls()
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def test_an_unversioned_empty_file_is_migrated_to_the_current_schema(tmp_path):
    path = tmp_path / "cdr.sqlite"
    path.write_bytes(b"")                     # e.g. touched by an installer: SQLite's empty database
    with CdrStore(path) as store:
        store.open(CallRecord("c"))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_one_writer_per_file(tmp_path):
    path = tmp_path / "cdr.sqlite"
    first = CdrStore(path)
    first.open(CallRecord("up"))
    first.flush()
    with pytest.raises(CdrError, match=f"{path}: another process \\(pid {os.getpid()}\\) is writing these CDRs"):
        CdrStore(path)
    assert CdrReader(path).call("up").state == "open"     # the second writer closed nothing
    first.stop()
    CdrStore(path).stop()


def test_the_loop_keeps_its_pace_while_the_disk_is_stalled(tmp_path):
    """A PBX recording 300 calls on an asyncio loop while no commit can land: the loop's 1 ms
    ticker is never held up by the store."""
    import asyncio

    path = path_in_state_dir(tmp_path)
    store = CdrStore(path, flush_interval=0.05, busy_timeout=0.05)
    blocker = hold_write_lock(path)

    async def box():
        lags = []

        async def ticker():
            loop = asyncio.get_running_loop()
            while True:
                before = loop.time()
                await asyncio.sleep(0.001)
                lags.append(loop.time() - before - 0.001)

        tick = asyncio.create_task(ticker())
        for i in range(300):
            store.open(CallRecord(f"c{i}", called_number="15881234"))
            store.update(f"c{i}", digits="1", ivr_path=("greeting", "menu"))
            store.close(f"c{i}", cause=16, cleared_by="calling")
            await asyncio.sleep(0)
        await asyncio.sleep(0.3)
        tick.cancel()
        return lags

    try:
        lags = asyncio.run(box())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.stats()["write_errors"] > 0                 # the disk really was stalled
    assert max(lags) < 0.05                                    # a shared machine's noise, not the disk
    assert store.flush()
    store.stop()
    assert CdrReader(path).count() == 300

"""A disk that refuses for a while (full) is not the end of the CTI event log: the writer holds
what it could not commit, the engine's appends never raise, and everything is written, in order,
once space comes back.  The disk is a 1 MiB tmpfs this test mounts (the suite runs as root)."""

import subprocess
import time

import pytest

from hil_tests.bench.box_faults import _fill, _mount_small_tmpfs
from pbx_cti.cti import LogRecord, SqliteEventStore
from pbx_cti.cti.eventlog import EventLogError, read_records


@pytest.fixture
def small_disk(tmp_path):
    where = tmp_path / "disk"
    where.mkdir()
    _mount_small_tmpfs(where, 1024)
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_records_refused_by_a_full_disk_are_held_and_written_when_space_returns(small_disk):
    store = SqliteEventStore(small_disk / "events.sqlite", flush_interval=0.05)
    store.append(LogRecord(1, time.time(), "ENTER", "q", "c1"))
    store.flush()
    filler = _fill(small_disk)
    for seq in range(2, 302):
        store.append(LogRecord(seq, time.time(), "ENTER", "q", f"c{seq}", "", {"pad": "x" * 200}))
    time.sleep(0.5)
    assert store.held > 0
    with pytest.raises(EventLogError, match=r"record\(s\) held, not yet written"):
        store.flush()
    store.append(LogRecord(302, time.time(), "CONNECT", "q", "c2", "alice"))   # appends still never raise
    filler.unlink()
    store.flush()
    assert store.held == 0
    store.close()
    assert [r.seq for r in read_records(small_disk / "events.sqlite")] == list(range(1, 303))


def test_closing_while_the_disk_still_refuses_says_how_many_records_are_lost(small_disk):
    store = SqliteEventStore(small_disk / "events.sqlite", flush_interval=0.05)
    store.append(LogRecord(1, time.time(), "ENTER", "q", "c1"))
    store.flush()
    _fill(small_disk)
    for seq in range(2, 202):
        store.append(LogRecord(seq, time.time(), "ENTER", "q", f"c{seq}", "", {"pad": "x" * 200}))
    time.sleep(0.3)
    with pytest.raises(EventLogError, match=r"closed with \d+ record\(s\) the disk refused"):
        store.close()

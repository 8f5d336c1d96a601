"""CDR benchmark: what recording calls costs the caller (the asyncio loop), and what a kill -9
takes away.

    caller_p99_us / sync_commit_p99_us
        Time the caller spends in one change (open, update or close of a call), 99th
        percentile: ours only queues it for the writer thread; the reference writes the same
        change with one commit per change on the caller's thread (WAL, synchronous=NORMAL),
        what a store without a writer thread would cost the loop.  In WAL with NORMAL a commit
        does not wait for the disk, so the difference shows in the worst case (`*_max_us`: a
        checkpoint's fsync lands on whoever commits), and grows with a slow disk.
    changes_per_s / sync_changes_per_s
        Changes made durable per second of wall time, ours (batched commits) and the reference.
    kill9_lost_ms, kill9_lost_changes
        A child process writes calls at about 200 a second and is killed with SIGKILL: how long
        before the kill the oldest change that did not survive was accepted (goal: at most
        1000 ms), and how many changes that was.

The last line printed is one JSON object.  --quick shrinks everything to a smoke run.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from pbx_cti.cdr import CallRecord, CdrReader, CdrStore  # noqa: E402

CHILD = r"""
import sys, time
from pbx_cti.cdr import CallRecord, CdrStore
store = CdrStore(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    call_id = f"call-{i:06d}"
    store.open(CallRecord(call_id, called_number="15881234", calling_number="01012345678"))
    store.close(call_id, cause=16, cleared_by="calling")
    print(i, repr(time.time()), flush=True)
    i += 1
    time.sleep(0.005)
"""


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def changes_of(calls: int):
    for i in range(calls):
        call_id = f"c{i:06d}"
        yield "open", call_id, CallRecord(call_id, called_number="15881234", calling_number="01012345678")
        yield "update", call_id, {"called_mapped": "7000", "route_target": "ivr:seed"}
        yield "update", call_id, {"ivr_path": ("greeting", "menu"), "digits": "1", "answer_time": time.time()}
        yield "close", call_id, {"cause": 16, "cleared_by": "calling"}


def ours(directory: Path, calls: int) -> tuple[float, float, float]:
    store = CdrStore(directory / "ours.sqlite")
    spent = []
    started = time.perf_counter()
    for kind, call_id, data in changes_of(calls):
        t0 = time.perf_counter()
        if kind == "open":
            store.open(data)
        elif kind == "update":
            store.update(call_id, **data)
        else:
            store.close(call_id, **data)
        spent.append(time.perf_counter() - t0)
    store.flush(60)
    elapsed = time.perf_counter() - started
    store.stop()
    assert store.stats()["dropped"] == 0 and CdrReader(directory / "ours.sqlite").count() == calls
    return p99(spent) * 1e6, max(spent) * 1e6, len(spent) / elapsed


def reference(directory: Path, calls: int) -> tuple[float, float, float]:
    """One commit per change on the caller's thread, in the same schema."""
    seed = CdrStore(directory / "sync.sqlite")
    seed.stop()
    conn = sqlite3.connect(directory / "sync.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    spent = []
    started = time.perf_counter()
    for kind, call_id, data in changes_of(calls):
        t0 = time.perf_counter()
        if kind == "open":
            conn.execute("INSERT INTO calls (call_id, called_number, calling_number, setup_ms) VALUES (?, ?, ?, ?)",
                         (call_id, data.called_number, data.calling_number, int(time.time() * 1000)))
        elif kind == "update":
            values = {k: (json.dumps(list(v)) if isinstance(v, tuple) else v) for k, v in data.items()}
            if "answer_time" in values:
                values["answer_ms"] = int(values.pop("answer_time") * 1000)
            conn.execute(f"UPDATE calls SET {', '.join(k + ' = ?' for k in values)} WHERE call_id = ?",
                         (*values.values(), call_id))
        else:
            conn.execute("UPDATE calls SET state = 'closed', cause = ?, cleared_by = ?, end_ms = ? WHERE call_id = ?",
                         (data["cause"], data["cleared_by"], int(time.time() * 1000), call_id))
        spent.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    conn.close()
    return p99(spent) * 1e6, max(spent) * 1e6, len(spent) / elapsed


def kill9(directory: Path, seconds: float) -> tuple[float, int]:
    db = directory / "killed.sqlite"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    reported: list[tuple[int, float]] = []
    ready = threading.Event()

    def read():
        for line in child.stdout:
            if line.strip() == "ready":
                ready.set()
            else:
                index, stamp = line.split()
                reported.append((int(index), float(stamp)))

    reader = threading.Thread(target=read)
    reader.start()
    ready.wait(30)
    time.sleep(seconds)
    killed_at = time.time()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    reader.join()
    kept = {c.call_id: c for c in CdrReader(db).calls(limit=None)}
    lost, changes = [], 0
    for i, at in reported:
        call = kept.get(f"call-{i:06d}")
        if call is None or call.state != "closed":
            lost.append(at)
            changes += 2 if call is None else 1      # open and close, or the close
    return (killed_at - min(lost)) * 1000 if lost else 0.0, changes


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    calls = 200 if quick else 5000
    with tempfile.TemporaryDirectory(prefix="pribox-bench-cdr-") as scratch:
        directory = Path(scratch)
        caller_p99, caller_max, rate = ours(directory, calls)
        sync_p99, sync_max, sync_rate = reference(directory, calls)
        lost_ms, lost_changes = kill9(directory, 0.5 if quick else 3.0)
    figures = {"calls": calls, "caller_p99_us": round(caller_p99, 1), "sync_commit_p99_us": round(sync_p99, 1),
               "caller_max_us": round(caller_max), "sync_commit_max_us": round(sync_max),
               "changes_per_s": round(rate), "sync_changes_per_s": round(sync_rate),
               "kill9_lost_ms": round(lost_ms), "kill9_lost_changes": lost_changes}
    print(f"caller p99 {caller_p99:.1f} us, max {caller_max:.0f} us per change (one commit per change: "
          f"{sync_p99:.1f} us, max {sync_max:.0f} us); "
          f"{rate:.0f} changes/s durable ({sync_rate:.0f}); kill -9 lost {lost_changes} changes, "
          f"the oldest {lost_ms:.0f} ms before the kill")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

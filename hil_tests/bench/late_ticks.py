"""Where a load run's late line-thread ticks come from, on a virtual machine: a sampler reads the
line thread's late-tick count, the kernel's steal time (/proc/stat, in 10 ms steps) and the
thread's own run-queue wait (/proc/self/task/<tid>/schedstat, ns) every few milliseconds, and
each new late tick is put in one of three classes (the same as bench/capture.py's):

    waited_in_guest   the thread was runnable in this kernel but something here held the CPU
                      (another thread of its priority or above, an interrupt): the guest's own
    beside_steal      no wait in the guest, and the hypervisor's steal grew around it: the host's
    neither           neither seen: a timer that fired late, or steal under /proc/stat's 10 ms

    attribution = LateTickAttribution(pacer.thread); attribution.start()
    ... the run ...
    figures = attribution.stop()      # {"waited_in_guest": .., "beside_steal": .., "neither": ..}

The raw late-tick figure stays the thread's own count; this only says where each came from.
The sampler is a Python thread at normal priority and never holds a lock the line thread needs
(the stats read copies them under the thread's priority-inheriting lock).
"""

from __future__ import annotations

import bisect
import os
import threading
import time

STEAL_WINDOW_S = 0.030       # either side of a late tick: three of /proc/stat's 10 ms steps
WAITED_NS = 1_000_000        # run-queue wait beside a late tick that counts as its cause
SAMPLE_PERIOD_S = 0.005


def cpu_steal_s() -> float:
    """Time the hypervisor ran something else on this machine's CPUs (summed); 0 where untold."""
    try:
        with open("/proc/stat") as handle:
            fields = handle.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def realtime_thread_ids() -> list[int]:
    """This process's threads in SCHED_FIFO or SCHED_RR (the box's line thread), from /proc."""
    found = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if len(fields) > 38 and fields[38] in ("1", "2"):     # stat's field 41, policy: 1 FIFO, 2 RR
            found.append(int(task))
    return found


def runqueue_wait_ns(tid: int | None) -> int:
    if tid is None:
        return 0
    try:
        with open(f"/proc/self/task/{tid}/schedstat") as handle:
            return int(handle.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def attribute(samples: list[tuple[float, int, float, int]], thread_found: bool) -> dict[str, int]:
    """Classify the late ticks in `samples` ((monotonic s, late ticks, steal s, wait ns) in time
    order) as waited_in_guest, beside_steal or neither."""
    times = [s[0] for s in samples]
    out = {"waited_in_guest": 0, "beside_steal": 0, "neither": 0}
    for i in range(1, len(samples)):
        new_late = samples[i][1] - samples[i - 1][1]
        if new_late <= 0:
            continue
        if thread_found and samples[i][3] - samples[i - 1][3] >= WAITED_NS:
            out["waited_in_guest"] += new_late
            continue
        at = samples[i][0]
        first = bisect.bisect_left(times, at - STEAL_WINDOW_S)
        last = bisect.bisect_right(times, at + STEAL_WINDOW_S) - 1
        out["beside_steal" if samples[last][2] > samples[first][2] else "neither"] += new_late
    return out


class LateTickAttribution:
    def __init__(self, thread, period: float = SAMPLE_PERIOD_S):
        self.thread, self.period = thread, period
        self.samples: list[tuple[float, int, float, int]] = []
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        ids = realtime_thread_ids()
        self.tid = ids[0] if len(ids) == 1 else None

    def _sample(self) -> None:
        self.samples.append((time.monotonic(), int(self.thread.stats()["late_ticks"]), cpu_steal_s(),
                             runqueue_wait_ns(self.tid)))

    def start(self) -> None:
        self.samples = []
        self._stop.clear()
        self._sample()
        self._worker = threading.Thread(target=self._run, name="late-tick-sampler", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self._sample()

    def stop(self) -> dict:
        self._stop.set()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        self._sample()
        samples = self.samples
        span = samples[-1][0] - samples[0][0] if len(samples) > 1 else 0.0
        late_at = [round(samples[i][0] - samples[0][0], 3) for i in range(1, len(samples))
                   for _ in range(samples[i][1] - samples[i - 1][1])]
        return {**attribute(samples, self.tid is not None), "thread_found": self.tid is not None,
                # when each late tick was seen (s into the run; monotonic start beside it, so
                # another recorder's times on this machine can be set against them)
                "late_at_s": late_at, "started_monotonic": round(samples[0][0], 3) if samples else None,
                "cpu_steal_ms": round((samples[-1][2] - samples[0][2]) * 1000) if samples else 0,
                "samples": len(samples),
                "sample_interval_ms": round(span / max(1, len(samples) - 1) * 1000, 2)}

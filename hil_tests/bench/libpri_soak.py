"""The real-time soak with libpri as the carrier (libpri keeps wall-clock timers, so this runs
only in real time and is never part of the default bench run):

    python -m hil_tests.bench soak --real-time --minutes 60      # make soak-libpri

The box on its embedded default in this process (span 1 toward the carrier), libpri on the
carrier's span 2 (the scenario runner's `LibpriTrunk`), calls at a steady rate for `minutes`,
each held for an exponential time (mean 20 s) and pressing menu key 1.  The embedded default
logs no agent in, so each call takes the IVR's menu and its all-busy path and is cleared by
the box or by the carrier when its holding time ends.  Before the first call and after the
last, the same counts as the other runs: channels, calls, timers, tasks, fds, threads and
resident memory.

As in the day's soak, memory is judged from a warm-up (the first tenth of the calls, at least
60) to the end, after `malloc_trim`, with the untrimmed figure, malloc's bytes in use and
Python's blocks beside it; the counts get `leaks.SETTLE_S` to come back after the last call,
and a timer left is named.  The simulator runs in the box's process, so every 10 s it lets go
of the calls that have ended (`Trunk.forget_finished`): what grows with the calls is then the
box's.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from . import leaks
from .load import _box_counts

RSS_BOUND_KIB = 24 * 1024
FORGET_EVERY_S = 10.0


async def _main(minutes: float, rate: float, holding_mean: float, progress) -> dict:
    from hil_tests.scenarios.bench import Simulator, embedded_default, freeze_heap, running_daemon
    from hil_tests.scenarios.load import LoadPlan, place_load
    from runtime.clock import LoopClock

    clock = LoopClock()
    calls = max(1, int(rate * minutes * 60))
    warm_calls = min(calls, max(60, calls // 10))

    def plan(n: int, seed: int) -> LoadPlan:
        return LoadPlan(calls=n, rate=rate, spans=(1,), holding_mean=holding_mean,
                        holding_max=4 * holding_mean, dtmf="1", seed=seed)

    with tempfile.TemporaryDirectory(prefix="pribox-hil-libpri-") as wire_dir:
        config = os.path.join(wire_dir, "pribox.toml")
        Path(config).write_text(embedded_default(wire_dir, "libpri"))
        async with running_daemon(config, clock, state_dir=os.path.join(wire_dir, "state")) as daemon:
            sim = Simulator(daemon, clock, "libpri", {1: 2}, {}, {1: 1})
            await sim.attach()
            freeze_heap()
            trunks = list(sim.carrier.values()) + list(sim.pbx.values())
            forgetting = asyncio.ensure_future(_forget_finished(trunks))
            try:
                await asyncio.sleep(2.0)
                before = await leaks.settled(lambda: leaks.process_counts() | _box_counts(daemon))
                timers_before = leaks.pending_timers()
                started = time.monotonic()
                ticker = asyncio.ensure_future(_report(progress, daemon, started))
                try:
                    warm = await place_load(plan(warm_calls, 11), clock, sim.carrier)
                    for trunk in trunks:
                        trunk.forget_finished()
                    warm_heap = leaks.heap_counts()
                    load = await place_load(plan(calls - warm_calls, 12), clock, sim.carrier) if calls > warm_calls else {}
                finally:
                    ticker.cancel()
                for trunk in trunks:
                    trunk.forget_finished()
                after, settle_s = await leaks.settle(before, lambda: leaks.process_counts() | _box_counts(daemon))
                timers_after = leaks.pending_timers()
                after |= leaks.heap_counts()
                spans = daemon.ctx.peer("spans")
                thread = spans.pacer.stats()
            finally:
                forgetting.cancel()
                sim.close()
    report = leaks.compare(before, after, rss_bound_kib=RSS_BOUND_KIB, rss_baseline_kib=warm_heap["rss_trimmed_kib"],
                           rss_key="rss_trimmed_kib")
    report["rss_untrimmed_growth_kib"] = after["rss_kib"] - before["rss_kib"]
    for key in ("malloc_in_use_kib", "python_blocks"):
        if key in warm_heap and key in after:
            report[f"{key.removesuffix('_kib')}_growth_since_warm_up" + ("_kib" if key.endswith("_kib") else "")] = \
                after[key] - warm_heap[key]
    report["warm_up"] = {"calls": warm_calls, **warm_heap}
    placed = warm.get("placed", 0) + load.get("placed", 0)
    answered = warm.get("answered", 0) + load.get("answered", 0)
    causes: dict = {}
    for part in (warm, load):
        for cause, n in (part.get("causes") or {}).items():
            causes[cause] = causes.get(cause, 0) + n
    return {"engine": "libpri", "minutes": minutes, "calls": calls, "placed": placed, "answered": answered,
            "completion_ratio": round(answered / placed, 5) if placed else 0.0,
            "causes": causes, "post_dial_delay_ms": load.get("post_dial_delay_ms") or warm.get("post_dial_delay_ms"),
            "failures": (warm.get("failures", []) + load.get("failures", []))[:10],
            "late_ticks": int(thread["late_ticks"]), "line_thread_max_late_ms": round(thread["max_late_ns"] / 1e6, 3),
            "settle_s": round(settle_s, 1), "timers_left": leaks.timers_left(timers_before, timers_after),
            "leaks": report, "leaked": report["leaked"], "wall_s": round(time.monotonic() - started, 1)}


async def _forget_finished(trunks) -> None:
    while True:
        await asyncio.sleep(FORGET_EVERY_S)
        for trunk in trunks:
            trunk.forget_finished()


async def _report(progress, daemon, started: float) -> None:
    while progress is not None:
        await asyncio.sleep(60.0)
        progress(f"{(time.monotonic() - started) / 60:.0f} min: {len(daemon.ctx.peer('pbx').core.active)} calls held, "
                 f"rss {leaks.process_counts()['rss_kib'] // 1024} MiB")


def run(minutes: float = 60.0, rate: float = 1.0, holding_mean: float = 20.0, progress=None) -> dict:
    return asyncio.run(_main(minutes, rate, holding_mean, progress))

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


async def _main(minutes: float, rate: float, holding_mean: float, progress) -> dict:
    from hil_tests.scenarios.bench import Simulator, embedded_default, freeze_heap, running_daemon
    from hil_tests.scenarios.load import LoadPlan, place_load
    from runtime.clock import LoopClock

    clock = LoopClock()
    with tempfile.TemporaryDirectory(prefix="pribox-hil-libpri-") as wire_dir:
        config = os.path.join(wire_dir, "pribox.toml")
        Path(config).write_text(embedded_default(wire_dir, "libpri"))
        async with running_daemon(config, clock, state_dir=os.path.join(wire_dir, "state")) as daemon:
            sim = Simulator(daemon, clock, "libpri", {1: 2}, {}, {1: 1})
            await sim.attach()
            freeze_heap()
            try:
                await asyncio.sleep(2.0)
                before = await leaks.settled(lambda: leaks.process_counts() | _box_counts(daemon))
                calls = max(1, int(rate * minutes * 60))
                plan = LoadPlan(calls=calls, rate=rate, spans=(1,), holding_mean=holding_mean,
                                holding_max=4 * holding_mean, dtmf="1", seed=11)
                started = time.monotonic()
                ticker = asyncio.ensure_future(_report(progress, daemon, started))
                try:
                    load = await place_load(plan, clock, sim.carrier)
                finally:
                    ticker.cancel()
                await asyncio.sleep(3.0)
                after = await leaks.settled(lambda: leaks.process_counts() | _box_counts(daemon))
                spans = daemon.ctx.peer("spans")
                thread = spans.pacer.stats()
            finally:
                sim.close()
    report = leaks.compare(before, after, rss_bound_kib=RSS_BOUND_KIB)
    answered = load.get("answered", 0)
    return {"engine": "libpri", "minutes": minutes, "calls": load.get("calls"), "placed": load.get("placed"),
            "answered": answered, "completion_ratio": round(answered / load["placed"], 5) if load.get("placed") else 0.0,
            "causes": load.get("causes"), "post_dial_delay_ms": load.get("post_dial_delay_ms"),
            "failures": load.get("failures", [])[:10], "late_ticks": int(thread["late_ticks"]),
            "leaks": report, "leaked": report["leaked"], "wall_s": round(time.monotonic() - started, 1)}


async def _report(progress, daemon, started: float) -> None:
    while progress is not None:
        await asyncio.sleep(60.0)
        progress(f"{(time.monotonic() - started) / 60:.0f} min: {len(daemon.ctx.peer('pbx').core.active)} calls held, "
                 f"rss {leaks.process_counts()['rss_kib'] // 1024} MiB")


def run(minutes: float = 60.0, rate: float = 1.0, holding_mean: float = 20.0, progress=None) -> dict:
    return asyncio.run(_main(minutes, rate, holding_mean, progress))

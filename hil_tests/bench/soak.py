"""Soak: 24 hours of a center's traffic on the virtual clock, with the before/after leak counts.

Everything runs in this process on one ManualClock (the lockstep rig of bench/cti.py and the
contact-center tests): the carrier's PRI (far-end span 11, our network-side stack as the
switch, since libpri runs only in real time) joined to the box's span 1; the box's switching
core (`Pbx`) with the load's IVR flow (greeting and menu, one key, a queue that waits), the CTI
engine on its SQLite event log, the distributor, the CDR store in SQLite; the center's PRI from
the box's span 2 to the center's PBX (far-end span 12), one phone per agent's extension.  The
spans tick in 20 ms blocks and the ISDN stacks are served every 20 ms: a day of line costs a
few minutes of CPU.

The day: callers arrive as a Poisson stream whose rate follows a center's hours (`DAY_PROFILE`,
quiet at night, peaks mid-morning and mid-afternoon) at `busy_hour_calls` in the busiest hour;
talk times are exponential (`talk_mean`, capped at 4x); 30 agents with all three skills and a
wrap-up of 10 s.  Every call must complete (the box clears the caller with cause 16 after the
agent hung up), and after the day, with every call over:

    channels, calls (ISDN stacks, switching core, CTI), timers (the clock's pending timers),
    fds, threads                         nothing more than before the first call
    resident memory                      grown by at most RSS_BOUND_KIB since warm-up (the
                                         moment a tenth of the day's calls, at least 50, had
                                         completed); the growth since the first call is
                                         reported beside it

    result = run_soak(SoakSettings(hours=24))      # result["leaked"], result["completion_ratio"]

The real-time hour with libpri as the carrier is `run_libpri_hour` (`python -m hil_tests.bench
soak --real-time`, `make soak-libpri`): real time only, so never in the default bench run.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import leaks
from .far_end import CALLED, CenterPhones, MenuCaller, percentiles_ms
from .load import FLOW_TEXT, box_config, extension, prompt_directory

# Share of the busiest hour's arrival rate in each hour of the day (00:00 .. 23:00).
DAY_PROFILE = (0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.15, 0.55, 0.90, 1.00, 0.95,
               0.65, 0.80, 0.95, 0.90, 0.75, 0.50, 0.25, 0.12, 0.08, 0.05, 0.04, 0.03)
PERIOD = 0.02                  # the spans' tick and the ISDN stacks' service on the virtual clock
WRAP_UP_S = 10
# Resident memory may grow this much from warm-up to the end (the allocator's arenas settling,
# SQLite's page caches filling): over the ~2,400 calls after warm-up that is under 7 kB a call,
# while a call's structures and buffers left behind cost far more (its rendered prompts alone
# ~160 kB), so a leak of even a small part of each call crosses it.
RSS_BOUND_KIB = 16 * 1024
SAMPLE_EVERY_S = 600.0         # virtual seconds between samples of the day's series


@dataclass
class SoakSettings:
    hours: float = 24.0
    busy_hour_calls: int = 300      # arrivals in the busiest hour
    talk_mean: float = 180.0        # s, exponential
    agents: int = 30
    seed: int = 7
    start_hour: int = 0             # the hour of the day the run starts at (a short run: 10)


def arrivals(settings: SoakSettings, rng: random.Random) -> list[float]:
    """Arrival times (virtual s from the start) over `hours`, hour by hour of DAY_PROFILE."""
    times, t, end = [], 0.0, settings.hours * 3600.0
    top = settings.busy_hour_calls / 3600.0
    while True:
        t += rng.expovariate(top)
        if t >= end:
            return times
        if rng.random() < DAY_PROFILE[(settings.start_hour + int(t // 3600)) % 24]:
            times.append(t)


def _soak_config(work: Path, agents: int) -> str:
    flow = work / "load.toml"
    flow.write_text(FLOW_TEXT)
    text = box_config(str(work / "wires"), 1, prompt_directory(str(work)), str(flow))
    # box_config's agents are 30 per carrier span; the soak's center has `agents`.
    kept, skip = [], False
    for block in text.split("\n\n"):
        if block.startswith("[[cti.agent]]"):
            continue
        kept.append(block)
    text = "\n\n".join(kept).replace("wrap_up = 1\n", f"wrap_up = {WRAP_UP_S}\n")
    skills = ("deposit_inquiry", "account_transfer", "incident_report")
    for n in range(agents):
        levels = ", ".join(f"{s} = {9 if k == n % 3 else 5}" for k, s in enumerate(skills))
        text += f'\n[[cti.agent]]\nid = "a{n + 1:03d}"\nskills = {{ {levels} }}\n'
    return text


def run_soak(settings: SoakSettings, progress=None) -> dict:
    """One day (or `hours`) of traffic on the virtual clock; the figures and the leak report."""
    from drivers.lockstep import LockstepLine
    from firmware.config.loader import load_text
    from firmware.isdn.binding import IsdnSpan
    from firmware.isdn.events import CallAudioReport
    from firmware.isdn.stack import PriStack
    from hil_tests.carrier import TONE_DBM0
    from pbx_cti.acd.distributor import CallDistributor
    from pbx_cti.api.config_section import cti_config
    from pbx_cti.cdr.reader import CdrReader
    from pbx_cti.cdr.schema import records_path
    from pbx_cti.cdr.store import open_store
    from pbx_cti.cti.engine import CtiEngine
    from pbx_cti.cti.eventlog import SqliteEventStore
    from pbx_cti.cti.runner import CtiRunner
    from pbx_cti.pbx.core import Pbx, PbxSpanHandler
    from pbx_cti.pbx.service import build_plan
    from runtime.bus import EventBus
    from runtime.clock import ManualClock

    rng = random.Random(settings.seed)
    with tempfile.TemporaryDirectory(prefix="pribox-hil-soak-") as work_dir:
        work = Path(work_dir)
        config = load_text(_soak_config(work, settings.agents), "soak.toml")
        clock, bus = ManualClock(), EventBus()
        heard: list[CallAudioReport] = []
        bus.subscribe(CallAudioReport, heard.append)
        carrier_line = LockstepLine(clock=clock, bus=bus, period=PERIOD, nt_config={"id": 11}, te_config={"id": 1}).open()
        center_line = LockstepLine(clock=clock, bus=bus, period=PERIOD, nt_config={"id": 2}, te_config={"id": 12}).open()
        plan = build_plan(config, work_dir)
        pbx = Pbx(lambda: plan, clock, bus)
        pbx.cdr = open_store(records_path(work_dir))
        box = IsdnSpan(carrier_line.te, PriStack("user"), clock=clock, bus=bus, poll=PERIOD)
        box_center = IsdnSpan(center_line.nt, PriStack("network"), clock=clock, bus=bus, poll=PERIOD)
        box.handler = PbxSpanHandler(box, pbx)
        box_center.handler = PbxSpanHandler(box_center, pbx)
        net = IsdnSpan(carrier_line.nt, PriStack("network"), clock=clock, bus=bus, poll=PERIOD)
        carrier = MenuCaller(net, digits="", tone_seconds=0.0, hangup_after_audio=False)
        phones_span = IsdnSpan(center_line.te, PriStack("user"), clock=clock, bus=bus, poll=PERIOD)
        phones = phones_span.handler = CenterPhones(phones_span, rng, settings.talk_mean)
        stacks = [box, box_center, net, phones_span]
        for isdn in stacks:
            isdn.start()
        store = SqliteEventStore.in_state_dir(str(work))
        engine = CtiEngine(cti_config(config.cti), store)
        runner = CtiRunner(engine, clock, bus)
        distributor = CallDistributor(pbx, runner, bus, clock)

        def counts() -> dict[str, int]:
            c = leaks.isdn_counts(stacks)
            c["calls"] += leaks.switching_counts(pbx, engine)
            c["timers"] = sum(1 for _, _, handle in clock._timers if not handle.cancelled)
            return leaks.process_counts() | c

        times = arrivals(settings, rng)
        warm_after = max(50, len(times) // 10)      # completed calls before the memory baseline
        warm: dict = {}
        placed: list = []
        blocked = 0
        # [virtual hour, calls held, agents talking, rss MiB, cpu s, rss after malloc_trim MiB,
        #  malloc in use MiB, Python's allocated blocks]
        series: list[list[float]] = []
        try:
            carrier_line.run_until(lambda: all(s.in_service for s in stacks), 5.0, step=PERIOD)
            for n, agent in enumerate(sorted(engine.agents)):
                runner("login", agent, extension(n))
                runner("ready", agent)
            carrier_line.run(1.0)
            before = counts()
            start, cpu0, wall0 = clock.now(), time.process_time(), time.perf_counter()

            def place() -> None:
                nonlocal blocked
                if net.stack.channels.idle_count() == 0:
                    blocked += 1
                    return
                call = carrier.place_call(called=CALLED, calling=f"02{len(placed):08d}", forwarded_from=None,
                                          digits=rng.choice("123"))
                placed.append((call, clock.now()))

            for at in times:
                clock.call_at(start + at, place)
            end = start + settings.hours * 3600.0
            next_sample = start
            while clock.now() < end or any(not call.done for call, _ in placed):
                if clock.now() >= next_sample:
                    held = sum(1 for call, _ in placed if not call.done)
                    rss_now = leaks.process_counts()["rss_kib"]
                    heap = leaks.heap_counts()
                    series.append([round((clock.now() - start) / 3600.0, 3), held, len(phones._timers),
                                   round(rss_now / 1024, 1), round(time.process_time() - cpu0, 1),
                                   round(heap.get("rss_trimmed_kib", rss_now) / 1024, 1),
                                   round(heap.get("malloc_in_use_kib", 0) / 1024, 1), heap["python_blocks"]])
                    if progress is not None:
                        progress(series[-1])
                    next_sample += SAMPLE_EVERY_S
                carrier_line.run(1.0)
                if not warm and sum(1 for call, _ in placed if call.done) >= warm_after:
                    warm.update(rss_kib=leaks.process_counts()["rss_kib"], hour=round((clock.now() - start) / 3600, 2),
                                calls_done=warm_after, **leaks.heap_counts())
                if clock.now() > end + 3600.0:
                    break                   # a call still up an hour after the day: counted below
            carrier_line.run(WRAP_UP_S + 2.0)   # the last wrap-up ends, the last records go
            store.flush()
            pbx.cdr.flush()
            after = counts() | leaks.heap_counts()
            cpu_s, wall_s, virtual_s = time.process_time() - cpu0, time.perf_counter() - wall0, clock.now() - start
        finally:
            distributor.close()
            for isdn in stacks:
                isdn.stop()
            carrier_line.close()
            center_line.close()
            store.close()
            cdr_stats = pbx.cdr.stats()
            pbx.cdr.stop()
        agents_in_records = sum(1 for record in CdrReader(records_path(work_dir)).calls(limit=None) if record.agent)

    judged = "rss_trimmed_kib" if "rss_trimmed_kib" in after and "rss_trimmed_kib" in warm else "rss_kib"
    report = leaks.compare(before | {"rss_trimmed_kib": before["rss_kib"]}, after, rss_bound_kib=RSS_BOUND_KIB,
                           rss_baseline_kib=warm.get(judged), rss_key=judged)
    report["rss_untrimmed_growth_since_warm_up_kib"] = after["rss_kib"] - warm["rss_kib"] if warm else None
    for key in ("malloc_in_use_kib", "python_blocks"):
        if key in after and key in warm:
            report[f"{key.removesuffix('_kib')}_growth_since_warm_up" + ("_kib" if key.endswith("_kib") else "")] = \
                after[key] - warm[key]
    report["warm_up"] = warm or "not reached (fewer calls than the warm-up needs): judged from the first call"
    completed = sum(1 for call, _ in placed if call.done and call.answered_at is not None and call.cause_received == 16)
    causes: dict[str, int] = {}
    for call, _ in placed:
        key = str(call.cause_received) if call.done else "not cleared"
        causes[key] = causes.get(key, 0) + 1
    agents_heard = sum(1 for r in heard if r.span_id == 12 and r.tone_level_dbm0 is not None
                       and abs(r.tone_level_dbm0 - TONE_DBM0) <= 1.5)
    return {
        "hours": settings.hours, "virtual_s": round(virtual_s, 1), "wall_s": round(wall_s, 1),
        "cpu_s": round(cpu_s, 1), "speedup": round(virtual_s / wall_s, 1) if wall_s else None,
        "offered": len(times), "blocked": blocked, "placed": len(placed), "completed": completed,
        "completion_ratio": round(completed / len(placed), 5) if placed else 0.0,
        "answered_by_agents": phones.answered, "agents_heard_caller": agents_heard,
        "records_naming_agent": agents_in_records, "causes": causes,
        "cdr_store": {k: cdr_stats.get(k) for k in ("dropped", "rejected", "write_errors")},
        "held_max": max((s[1] for s in series), default=0),
        "setup_to_connect_ms": percentiles_ms([call.answered_at - at for call, at in placed if call.answered_at]),
        "leaks": report, "leaked": report["leaked"],
        "settings": asdict(settings), "series": series,
    }


def run_libpri_hour(minutes: float = 60.0, rate: float = 1.0, progress=None) -> dict:
    """A real-time soak with libpri as the carrier: the scenario runner's [load] on the box in
    this process for `minutes`, with the same before/after counts taken from /proc and the
    box's tables."""
    from .libpri_soak import run as run_libpri

    return run_libpri(minutes=minutes, rate=rate, progress=progress)


def main_json(settings: SoakSettings) -> str:
    return json.dumps({k: v for k, v in run_soak(settings).items() if k != "series"})

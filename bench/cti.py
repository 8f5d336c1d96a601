"""Benchmark: the CTI engine's routing under load — 100 agents, 20 skill groups (one queue
each), 500 callers kept waiting while every agent is busy, the event log in SQLite.

Steady state: every agent talks; each step one call ends (no wrap-up), the agent becomes READY
and the engine picks the best waiting caller across the agent's three groups (priority, then
longest waiting, skill tiers on half the queues) and offers it; the agent answers; a new caller
joins a random queue so 500 keep waiting.  Virtual time moves 20 ms per step and the engine's
timers (tier relaxations, position announcements every 30 s) run as they fall due.

    route_decision_p99_ms   CPU time (this thread's) of the engine call that ended a call and
                            made the next offer (goal <= 1 ms); p50 and max beside it.  The
                            machine is shared, so wall time, given beside it as
                            route_decision_wall_*, also holds other processes' turns and the
                            log writer thread's share of the GIL
    enqueue_p99_ms          wall time of queueing a caller when no agent is free
    cpu_ms_per_call         process CPU (the SQLite writer thread included) per call handled:
                            queued, offered, answered, ended, every record logged
The WebSocket figures (events_per_s, event_latency_ms_p99) belong to the API and are
measured by bench/cti_api.py.  The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/cti.py must not shadow packages

from pbx_cti.cti import AgentConfig, CtiConfig, CtiEngine, QueueConfig, SqliteEventStore  # noqa: E402
from pbx_cti.cti.decisions import Offer  # noqa: E402

AGENTS, GROUPS, WAITING = 100, 20, 500
T0 = 1_800_000_000.0


def build_config(rng: random.Random) -> CtiConfig:
    groups = [f"g{n:02d}" for n in range(GROUPS)]
    agents = {}
    for n in range(AGENTS):
        skills = {g: rng.randint(1, 10) for g in rng.sample(groups, 3)}
        agents[f"agent{n:03d}"] = AgentConfig(f"agent{n:03d}", skills)
    for n, g in enumerate(groups):  # every group staffed
        agents[f"agent{n:03d}"].skills[g] = 10
    queues = {g: QueueConfig(g, g, wrap_up=0, ring_timeout=20, announce_every=30,
                             tiers=((0.0, 5), (20.0, 1)) if n % 2 else ((0.0, 1),))
              for n, g in enumerate(groups)}
    return CtiConfig(agents=agents, queues=queues, groups=tuple(groups))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def run(calls: int, seed: int) -> dict:
    rng = random.Random(seed)
    config = build_config(rng)
    queues = list(config.queues)
    with tempfile.TemporaryDirectory() as state_dir:
        store = SqliteEventStore.in_state_dir(state_dir)
        engine = CtiEngine(config, store)
        now = T0
        serial = 0

        def enqueue() -> float:
            nonlocal serial
            serial += 1
            start = time.perf_counter()
            engine.caller_queued(now, f"c{serial}", rng.choice(queues), rng.choice((0, 0, 0, 1)))
            return time.perf_counter() - start

        def answer_offers() -> None:
            for d in engine.pop_decisions():
                if isinstance(d, Offer):
                    engine.offer_answered(now, d.caller, d.agent)

        for agent in config.agents:
            engine.login(now, agent, f"ext-{agent}")
        for _ in range(WAITING + AGENTS):
            enqueue()
        for agent in config.agents:
            engine.ready(now, agent)
            answer_offers()
        engine.pop_decisions()
        talking = [a.caller for a in engine.agents.values() if a.caller]
        assert len(talking) == AGENTS and sum(len(w) for w in engine.waiting.values()) == WAITING

        route_s: list[float] = []
        route_cpu_s: list[float] = []
        enqueue_s: list[float] = []
        cpu_start = time.process_time()
        for _ in range(calls):
            now += 0.02
            timer = engine.get_timer()
            if timer is not None and timer <= now:
                engine.handle_timer(now)
                answer_offers()
            ending = talking.pop(rng.randrange(len(talking)))
            start, start_cpu = time.perf_counter(), time.thread_time()
            engine.call_ended(now, ending)
            route_cpu_s.append(time.thread_time() - start_cpu)
            route_s.append(time.perf_counter() - start)
            offers = [d for d in engine.pop_decisions() if isinstance(d, Offer)]
            assert len(offers) == 1, offers
            engine.offer_answered(now, offers[0].caller, offers[0].agent)
            engine.pop_decisions()
            talking.append(offers[0].caller)
            enqueue_s.append(enqueue())
            engine.pop_decisions()
        store.flush()
        cpu_s = time.process_time() - cpu_start
        records = engine.snapshot()["seq"]
        store.close()
    return {
        "agents": AGENTS, "skill_groups": GROUPS, "queued_callers": WAITING, "calls": calls,
        "route_decision_p50_ms": round(percentile(route_cpu_s, 50) * 1e3, 4),
        "route_decision_p99_ms": round(percentile(route_cpu_s, 99) * 1e3, 4),
        "route_decision_max_ms": round(max(route_cpu_s) * 1e3, 4),
        "route_decision_wall_p99_ms": round(percentile(route_s, 99) * 1e3, 4),
        "route_decision_wall_max_ms": round(max(route_s) * 1e3, 4),
        "route_decision_goal_ms": 1.0,
        "enqueue_p99_ms": round(percentile(enqueue_s, 99) * 1e3, 4),
        "cpu_ms_per_call": round(cpu_s * 1e3 / calls, 4),
        "log_records": records,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls handled in the measurement")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a smoke run (2,000 calls)")
    args = parser.parse_args(argv)
    result = run(2_000 if args.quick else args.calls, args.seed)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

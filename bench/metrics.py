"""Benchmark: what a Prometheus scrape of /metrics costs the box on a busy day — 100 agents,
20 skill groups (bench/cti.py's center), a day's event log in SQLite and a CDR file.

    log_records              records of the day in the log (every call: queued, offered,
                             answered, ended, and the agents' state changes)
    first_scrape_ms          the first scrape after a start: the whole day read from the log and
                             computed (worker thread), the CDR totals counted, the text rendered
    scrape_ms_p50 / p99      later scrapes, each after `calls_between` more calls: only the new
                             records are read and fed to the running day and interval figures
    render_ms_p50            of which rendering the registry on the loop (engine, queues, agents)
    cdr_calls / cdr_count_ms the closed-calls-by-cause count over the CDR file
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/metrics.py must not shadow packages

from prometheus_client import generate_latest  # noqa: E402

from bench.cti import build_config, percentile  # noqa: E402
from pbx_cti.cdr.record import CallRecord  # noqa: E402
from pbx_cti.cdr.schema import records_path  # noqa: E402
from pbx_cti.cdr.store import CdrStore  # noqa: E402
from pbx_cti.cti import CtiEngine, SqliteEventStore  # noqa: E402
from pbx_cti.cti.decisions import Offer  # noqa: E402
from pbx_cti.cti.runner import CtiRunner  # noqa: E402
from pbx_cti.metrics.figures import DAY  # noqa: E402
from pbx_cti.metrics.wiring import BoxFigures, closed_calls_by_cause  # noqa: E402
from runtime.bus import EventBus  # noqa: E402
from runtime.clock import ManualClock  # noqa: E402

T0 = 1_800_000_000.0
MORNING = T0 - T0 % DAY + 8 * 3600  # 08:00 UTC of T0's day


def fill_cdrs(state_dir: str, count: int) -> Path:
    """`count` closed calls in a CDR file made by the real store (its schema), filled in bulk."""
    path = records_path(state_dir)
    store = CdrStore(path)
    store.open(CallRecord("schema"))
    store.close("schema", cause=16, cleared_by="calling")
    store.stop()
    rng = random.Random(7)
    causes = (16, 16, 16, 16, 17, 19, 31, 34, 41)
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany("INSERT INTO calls (call_id, state, setup_ms, end_ms, cause) VALUES (?, 'closed', ?, ?, ?)",
                         [(f"c{n}", n * 1000, n * 1000 + 60_000, rng.choice(causes)) for n in range(count)])
    conn.close()
    return path


def run(calls: int, scrapes: int, calls_between: int, cdr_calls: int, seed: int) -> dict:
    rng = random.Random(seed)
    config = build_config(rng)
    queues = list(config.queues)
    with tempfile.TemporaryDirectory() as state_dir:
        store = SqliteEventStore.in_state_dir(state_dir)
        engine = CtiEngine(config, store)
        clock = ManualClock(0.0)
        runner = CtiRunner(engine, clock, EventBus(), wall_offset=MORNING)
        serial = 0
        talking: list[str] = []

        def answer_offers() -> None:
            for d in engine.pop_decisions():
                if isinstance(d, Offer):
                    engine.offer_answered(runner.wall_now(), d.caller, d.agent)
                    talking.append(d.caller)

        def handle(count: int) -> None:
            """`count` calls, one every 2 s: a caller queues, is answered, and a call ends."""
            nonlocal serial
            for _ in range(count):
                clock.advance(2.0)
                serial += 1
                engine.caller_queued(runner.wall_now(), f"c{serial}", rng.choice(queues))
                answer_offers()
                if len(talking) > 60:
                    engine.call_ended(runner.wall_now(), talking.pop(rng.randrange(len(talking))))
                    answer_offers()

        for agent in config.agents:
            engine.login(runner.wall_now(), agent, f"ext-{agent}")
            engine.ready(runner.wall_now(), agent)
        engine.pop_decisions()
        handle(calls)
        store.flush()
        cdr_path = fill_cdrs(state_dir, cdr_calls)
        figures = BoxFigures(runner, {}, cdr_path=cdr_path)

        async def scrape() -> tuple[float, float]:
            start = time.perf_counter()
            await figures.before_scrape()
            render_start = time.perf_counter()
            body = generate_latest(figures.registry)
            end = time.perf_counter()
            assert b"pribox_queue_calls" in body
            return end - start, end - render_start

        first, _ = asyncio.run(scrape())
        records = figures.today.latest.records
        later, renders = [], []
        for _ in range(scrapes):
            handle(calls_between)
            total, render = asyncio.run(scrape())
            later.append(total)
            renders.append(render)
        start = time.perf_counter()
        closed = closed_calls_by_cause(cdr_path)
        cdr_ms = (time.perf_counter() - start) * 1e3
        store.close()
    return {
        "agents": len(config.agents), "queues": len(queues), "calls": calls + scrapes * calls_between,
        "log_records": records, "first_scrape_ms": round(first * 1e3, 2),
        "scrape_ms_p50": round(percentile(later, 50) * 1e3, 2), "scrape_ms_p99": round(percentile(later, 99) * 1e3, 2),
        "render_ms_p50": round(percentile(renders, 50) * 1e3, 2), "calls_between": calls_between,
        "cdr_calls": sum(closed.values()), "cdr_count_ms": round(cdr_ms, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000, help="calls of the day before the first scrape")
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--calls-between", type=int, default=10, help="calls between two scrapes (15 s at 1 call per 1.5 s)")
    parser.add_argument("--cdr-calls", type=int, default=200_000, help="closed calls in the CDR file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a smoke run (1,000 calls, 20,000 CDRs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.cdr_calls, args.scrapes = 1_000, 20_000, 5
    print(json.dumps(run(args.calls, args.scrapes, args.calls_between, args.cdr_calls, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

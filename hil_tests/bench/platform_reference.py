"""The platform's own late ticks, measured beside each load run: a line thread with no port (the
box's C code, period and real-time priority, and no work) in a process of its own.  What it
sees late is the machine's — the hypervisor waking a halted vCPU late, a host that ran
something else — not the box's, so a late tick of the box's with one of the reference's close
by in time is put down to the platform (`late_ticks_beside_reference`).  The raw late-tick
figure stays the box thread's own count.

    python -m hil_tests.bench.platform_reference [--period 0.002]
        ... runs until its standard input closes; the last line is one JSON object:
        {"late_ticks": .., "ticks": .., "max_late_ms": .., "realtime": .., "late_at_monotonic": [..]}

`late_at_monotonic` is CLOCK_MONOTONIC (seconds), the clock every process on the machine shares,
so the box's late ticks (hil_tests/bench/late_ticks.py) can be set against these.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys

from dsp.line_port import LineThread

from .late_ticks import LateTickAttribution

# A box's late tick and the reference's count as the same event within this (the samplers'
# 5 ms steps on each side, and a stall that spans several ticks).
COINCIDENCE_S = 0.030


def run(period: float) -> dict:
    thread = LineThread(period)
    thread.start(realtime_priority=True)
    attribution = LateTickAttribution(thread)
    attribution.start()
    try:
        sys.stdin.read()             # until the bench closes our input
    finally:
        figures = attribution.stop()
        stats = thread.stats()
        thread.stop()
    start = figures["started_monotonic"] or 0.0
    return {"late_ticks": stats["late_ticks"], "ticks": stats["ticks"],
            "max_late_ms": round(stats["max_late_ns"] / 1e6, 3), "realtime": bool(stats["realtime_priority"]),
            "cpu_steal_ms": figures["cpu_steal_ms"],
            "late_at_monotonic": [round(start + t, 3) for t in figures["late_at_s"]]}


def coincident(box_late_at: list[float], reference_late_at: list[float], within: float = COINCIDENCE_S) -> int:
    """How many of the box's late ticks (monotonic s) had one of the reference's within `within`."""
    return sum(1 for t in box_late_at if any(abs(t - r) <= within for r in reference_late_at))


class PlatformReference:
    """The reference process around a load run: `await start()`, the run, `await stop()` -> figures."""

    def __init__(self, period: float):
        self.period = period
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hil_tests.bench.platform_reference", "--period", str(self.period),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    async def stop(self) -> dict:
        process, self._process = self._process, None
        if process is None:
            return {}
        process.stdin.close()
        try:
            out, err = await asyncio.wait_for(process.communicate(), 30.0)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            return {"error": "the platform reference did not stop within 30 s"}
        lines = out.decode().strip().splitlines()
        if process.returncode != 0 or not lines:
            return {"error": f"the platform reference failed (exit {process.returncode}): {err.decode()[-500:]}"}
        return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hil_tests.bench.platform_reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--period", type=float, default=0.002, help="the tick, s (default 0.002, the box's line thread)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.period)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

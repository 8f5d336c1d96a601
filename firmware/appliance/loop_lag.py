"""How late the daemon's event loop runs: a probe that asks to wake every PERIOD and records how
much later than asked it woke.  The line runs in its own thread and does not feel this; the
D-channel's service path, the console and the APIs do, so a field engineer sees it in
`show services` and the health check."""

from __future__ import annotations

import asyncio
from collections import deque

import numpy as np

PERIOD = 0.05
WINDOW = 1200          # samples: the last minute at PERIOD
UNHEALTHY_P99_MS = 250.0


class LoopLagMonitor:
    def __init__(self, period: float = PERIOD, window: int = WINDOW):
        self.period = period
        self.samples: deque[float] = deque(maxlen=window)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._probe(), name="loop-lag")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + self.period
            await asyncio.sleep(self.period)
            self.samples.append(max(loop.time() - asked, 0.0))

    def figures(self) -> dict[str, float]:
        """p50, p99 and max lag in ms over the window (zeros before the first sample)."""
        if not self.samples:
            return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "samples": 0}
        lag = np.fromiter(self.samples, float) * 1e3
        return {"p50_ms": round(float(np.percentile(lag, 50)), 2), "p99_ms": round(float(np.percentile(lag, 99)), 2),
                "max_ms": round(float(lag.max()), 2), "samples": len(lag)}

    def describe(self) -> str:
        f = self.figures()
        return (f"event loop lag over the last {f['samples'] * self.period:.0f} s: p50 {f['p50_ms']:.1f} ms, "
                f"p99 {f['p99_ms']:.1f} ms, max {f['max_ms']:.1f} ms")

    @property
    def healthy(self) -> bool:
        return self.figures()["p99_ms"] <= UNHEALTHY_P99_MS

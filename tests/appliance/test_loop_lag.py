"""The daemon measures its own event-loop lag, so a blocked control plane shows at the console."""

import asyncio
import time

from firmware.appliance.loop_lag import LoopLagMonitor


def test_a_blocked_loop_shows_in_the_lag_figures():
    async def scenario():
        monitor = LoopLagMonitor(period=0.01)
        monitor.start()
        await asyncio.sleep(0.2)
        quiet = monitor.figures()
        time.sleep(0.15)                 # the control plane blocked
        await asyncio.sleep(0.05)
        monitor.stop()
        return quiet, monitor.figures(), monitor.describe()

    quiet, after, text = asyncio.run(scenario())
    assert quiet["samples"] >= 10 and quiet["max_ms"] < 100
    assert 140 <= after["max_ms"] < 400
    assert text.startswith("event loop lag over the last") and "max" in text

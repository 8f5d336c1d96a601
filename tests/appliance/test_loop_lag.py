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


def test_the_health_check_reads_the_loop_lag():
    from firmware.appliance.boot_health import loop_check
    assert loop_check({}).ok
    good = loop_check({"event_loop_lag": {"p50_ms": 0.5, "p99_ms": 3.0, "max_ms": 9.0, "samples": 600}})
    assert good.ok and "p99 3.0 ms" in good.detail
    bad = loop_check({"event_loop_lag": {"p50_ms": 40.0, "p99_ms": 400.0, "max_ms": 900.0, "samples": 600}})
    assert not bad.ok and "p99 over 250 ms" in bad.detail

import asyncio

import pytest

from runtime.bus import Event, EventBus
from runtime.clock import LoopClock, ManualClock, virtual_time_loop


def test_manual_clock_fires_timers_in_time_order_then_call_order():
    clock = ManualClock()
    fired = []
    clock.call_at(2.0, lambda: fired.append(("b", clock.now())))
    clock.call_at(1.0, lambda: fired.append(("a", clock.now())))
    clock.call_at(2.0, lambda: fired.append(("c", clock.now())))
    cancelled = clock.call_at(1.5, lambda: fired.append(("x", clock.now())))
    cancelled.cancel()
    clock.advance(1.9)
    assert fired == [("a", 1.0)]
    clock.advance(0.1)
    assert fired == [("a", 1.0), ("b", 2.0), ("c", 2.0)]
    assert clock.now() == pytest.approx(2.0)


def test_manual_clock_timer_scheduled_by_a_timer_runs_in_the_same_advance():
    clock = ManualClock()
    fired = []
    clock.call_at(1.0, lambda: clock.call_later(0.5, lambda: fired.append(clock.now())))
    clock.advance(10)
    assert fired == [1.5]


def test_manual_clock_refuses_to_go_back():
    clock = ManualClock(5.0)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.run_until(4.0)


def test_virtual_time_loop_runs_an_hour_of_sleeps_instantly():
    loop = virtual_time_loop()
    clock = LoopClock(loop)

    async def main():
        start = clock.now()
        await asyncio.sleep(3600)
        return clock.now() - start

    try:
        assert loop.run_until_complete(main()) == pytest.approx(3600)
    finally:
        loop.close()


class Ping(Event):
    pass


def test_bus_delivers_by_type_and_survives_a_failing_subscriber():
    bus = EventBus()
    got = []
    bus.subscribe(Event, lambda e: got.append(("all", e)))
    bus.subscribe(Ping, lambda e: 1 / 0)
    sub = bus.subscribe(Ping, lambda e: got.append(("ping", e)))
    bus.publish(Ping(1.0))
    bus.publish(Event(2.0))
    sub.cancel()
    bus.publish(Ping(3.0))
    assert [(k, e.time) for k, e in got] == [("all", 1.0), ("ping", 1.0), ("all", 2.0), ("all", 3.0)]
    assert bus.errors == 2

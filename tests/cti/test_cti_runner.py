"""CtiRunner on the one clock: decisions reach the bus, the engine's timers run on the clock
(ring-no-answer, wrap-up), and a subscriber may act on an offer from inside the publish."""

import pytest

from tests.cti.cti_world import T0, center
from runtime.bus import EventBus
from runtime.clock import ManualClock
from pbx_cti.cti import AgentState, CtiEngine, InvalidTransition
from pbx_cti.cti.decisions import AgentStateChanged, Decision, Offer, WithdrawOffer
from pbx_cti.cti.runner import CtiRunner


def make(**queue_options):
    clock, bus = ManualClock(100.0), EventBus()
    seen: list[Decision] = []
    bus.subscribe(Decision, seen.append)
    runner = CtiRunner(CtiEngine(center(**queue_options)), clock, bus, wall_offset=T0 - 100.0)
    return clock, bus, runner, seen


def test_ring_no_answer_and_wrap_up_run_on_the_clock():
    clock, bus, run, seen = make(ring_timeout=15, wrap_up=5)
    run("login", "alice", "ext-a")
    run("ready", "alice")
    run("caller_queued", "c1", "sales")
    offer = [d for d in seen if isinstance(d, Offer)][0]
    assert offer.time == T0 and offer.endpoint == "ext-a"
    clock.advance(14.9)
    assert not any(isinstance(d, WithdrawOffer) for d in seen)
    clock.advance(0.1)
    assert [(w.reason, w.time) for w in seen if isinstance(w, WithdrawOffer)] == [("ring-no-answer", T0 + 15)]
    run("ready", "alice")
    run("offer_answered", "c1", "alice")
    run("call_ended", "c1")
    clock.advance(5)
    assert seen[-1] == AgentStateChanged(T0 + 20, "alice", AgentState.WRAP_UP, AgentState.READY, "")
    assert clock.next_timer() is None
    with pytest.raises(InvalidTransition):
        run("ready", "alice")
    with pytest.raises(ValueError, match="not an input"):
        run("_emit", "x")


def test_a_subscriber_answering_inside_the_publish():
    clock, bus, run, seen = make(wrap_up=0)
    bus.subscribe(Offer, lambda offer: run("offer_answered", offer.caller, offer.agent))
    run("login", "bob", "ext-b")
    run("ready", "bob")
    run("caller_queued", "c1", "sales")
    run("caller_queued", "c2", "sales")
    assert run.engine.agents["bob"].state is AgentState.TALKING
    run("call_ended", "c1")
    assert run.engine.agents["bob"].caller == "c2"
    clock.advance(3600)
    assert bus.errors == 0 and run.engine.agents["bob"].state is AgentState.TALKING

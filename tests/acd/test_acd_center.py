"""The contact-center rig (center_rig.py) on examples a supervisor would recognise: a caller
picks a queue with a key and reaches an agent over the second PRI; a busy extension, one that
never answers, a caller who gives up while the agent's phone rings, an agent application that
goes away mid-call, and a CTI reload in the middle of a conversation.  Each ends with every
CDR closed and the statistics from the event log equal to the engine's counters."""

from __future__ import annotations

import pytest

from pbx_cti.cdr.record import CLOSED
from pbx_cti.cti.model import AgentState
from pbx_cti.cti.stats import TOTAL, compute
from tests.acd.center_rig import EXTENSIONS, Center, PhoneScript

S = AgentState


@pytest.fixture
def rig(tmp_path):
    center = Center(tmp_path)
    yield center
    center.close()


def work(rig, *agents):
    for agent in agents:
        rig.runner("login", agent, EXTENSIONS[agent])
        rig.runner("ready", agent)


def state(rig, agent):
    a = rig.engine.agents[agent]
    return a.state, a.reason


def settled(rig):
    """Every call over: nothing left anywhere, every CDR closed, statistics equal the counters."""
    assert not rig.live_calls() and not rig.pbx.by_call and not rig.pbx.active and not rig.pbx.outbound
    assert all(not isdn.stack.calls for isdn in rig.stacks)
    assert all(isdn.counters["faults"] == 0 for isdn in rig.stacks)
    assert not rig.engine.callers
    rows = rig.cdr_rows()
    assert {r.call_id for r in rows} == set(rig.started) and all(r.state == CLOSED for r in rows)
    report = compute(rig.event_records(), now=rig.wall_now())
    for name, live in rig.engine.queue_counters.items():
        row = report.queues.get((name, TOTAL))
        logged = (row.offered, row.answered, row.abandoned, row.handled) if row else (0, 0, 0, 0)
        assert logged == (live.offered, live.answered, live.abandoned, live.handled)
    return {r.call_id: r for r in rows}


def test_key_2_reaches_lee_on_the_second_pri_and_the_cdr_names_queue_and_agent(rig):
    work(rig, "lee")
    call = rig.place_call("2")
    rig.run(3.0)
    assert state(rig, "lee") == (S.TALKING, "")
    assert list(rig.core_connected().values()) == ["lee"]
    assert rig.calls.hold("lee") and state(rig, "lee")[0] is S.HOLD
    assert rig.calls.retrieve("lee") and state(rig, "lee")[0] is S.TALKING
    rig.calls.hang_up("lee")
    rig.run(1.0)
    assert call.done and call.cause_received == 16
    assert state(rig, "lee")[0] is S.WRAP_UP
    [row] = settled(rig).values()
    assert (row.queue, row.agent, row.cause) == ("account_transfer", "lee", 16)
    assert rig.engine.queue_counters["account_transfer"].handled == 1


def test_a_busy_extension_sets_the_agent_not_ready_and_the_caller_goes_to_the_next(rig):
    rig.phones.scripts[EXTENSIONS["kim"]] = PhoneScript("busy")
    work(rig, "kim")
    rig.run(0.5)
    work(rig, "park")          # deposit_inquiry: kim (8) and park (4); kim has idled longer
    rig.place_call("1")
    rig.run(3.0)
    assert state(rig, "kim") == (S.NOT_READY, "offer-failed")
    assert state(rig, "park")[0] is S.TALKING
    rig.phones.hang_up(EXTENSIONS["park"])
    rig.run(1.0)
    [row] = settled(rig).values()
    assert row.agent == "park" and row.cleared_by == "called"


def test_ring_no_answer_returns_the_caller_and_sets_the_agent_not_ready(rig):
    rig.phones.scripts[EXTENSIONS["lee"]] = PhoneScript("ring")
    work(rig, "lee")
    call = rig.place_call("2")
    rig.run(1.0)
    assert state(rig, "lee")[0] is S.RESERVED and rig.core_offers()
    rig.run(15.5)                              # the queue's ring timeout is 15 s
    assert state(rig, "lee") == (S.NOT_READY, "ring-no-answer")
    assert not rig.core_offers() and not call.done
    caller = next(iter(rig.engine.callers.values()))
    assert caller.status == "waiting" and rig.engine.position(caller.caller_id) == 1
    rig.carrier.hangup(call)
    rig.run(1.0)
    settled(rig)
    assert rig.engine.queue_counters["account_transfer"].abandoned == 1


def test_a_caller_who_hangs_up_while_the_agent_rings_frees_the_agent(rig):
    rig.phones.scripts[EXTENSIONS["park"]] = PhoneScript("answer", after=5.0)
    work(rig, "park")
    call = rig.place_call("3")
    rig.run(1.5)
    assert state(rig, "park")[0] is S.RESERVED
    rig.carrier.hangup(call)
    rig.run(1.0)
    assert state(rig, "park")[0] is S.READY
    assert not rig.pbx_side.stack.calls, "the extension still rings"
    [row] = settled(rig).values()
    assert row.queue == "incident_report" and not row.agent


def test_the_agent_application_going_away_keeps_the_call_and_then_not_ready(rig):
    work(rig, "kim")
    rig.place_call("1")
    rig.run(3.0)
    assert rig.runner("app_disconnected", "kim")
    assert state(rig, "kim")[0] is S.TALKING and rig.core_connected()
    rig.phones.hang_up(EXTENSIONS["kim"])
    rig.run(1.0)
    assert state(rig, "kim") == (S.NOT_READY, "app-disconnected")
    settled(rig)


def test_a_cti_reload_mid_call_keeps_the_conversation_and_the_queue(rig):
    work(rig, "lee")
    rig.phones.scripts[EXTENSIONS["lee"]] = PhoneScript("answer", after=0.5)
    talking = rig.place_call("2")
    waiting = rig.place_call("2")
    rig.run(3.0)
    assert state(rig, "lee")[0] is S.TALKING and len(rig.engine.callers) == 2
    rig.restart_cti()
    assert state(rig, "lee")[0] is S.TALKING and len(rig.engine.callers) == 2
    rig.calls.hang_up("lee")
    rig.run(12.0)                              # wrap-up 10 s, then lee takes the waiting caller
    assert talking.done and not waiting.done and state(rig, "lee")[0] is S.TALKING
    rig.restart_cti()
    rig.carrier.hangup(waiting)
    rig.run(1.0)
    rows = settled(rig)
    assert [r.agent for r in sorted(rows.values(), key=lambda r: r.setup_time)] == ["lee", "lee"]
    assert rig.engine.queue_counters["account_transfer"].handled == 2



def test_a_caller_who_hangs_up_in_the_instant_of_the_setup_is_closed_without_a_fault(rig):
    call = rig.place_call("1")
    rig.carrier.hangup(call)
    rig.run(1.0)
    assert call.done
    settled(rig)


def test_a_caller_who_leaves_while_the_cti_reloads_frees_the_agent_for_the_next_caller_at_once(rig):
    """The reload's start closes the callers the core no longer carries; the agent that frees
    is offered the next caller, and that offer must ring (the distributor is listening)."""
    rig.phones.scripts[EXTENSIONS["lee"]] = PhoneScript("answer", after=5.0)
    work(rig, "lee")
    first = rig.place_call("2")
    rig.run(1.5)
    second = rig.place_call("2")
    rig.run(1.5)
    assert state(rig, "lee")[0] is S.RESERVED and len(rig.engine.callers) == 2
    rig.stop_cti()
    rig.carrier.hangup(first)                  # while the CTI is down: the core alone sees it
    rig.run(0.5)
    rig.start_cti()
    assert state(rig, "lee")[0] is S.RESERVED and len(rig.engine.callers) == 1
    assert rig.core_offers() == {rig.engine.agents["lee"].caller: {"lee"}}, "the offer never rang"
    rig.run(6.0)
    assert state(rig, "lee")[0] is S.TALKING
    rig.carrier.hangup(second)
    rig.run(1.0)
    settled(rig)
    assert rig.engine.queue_counters["account_transfer"].abandoned == 1


def test_an_offer_the_core_dropped_while_the_cti_reloaded_rings_again(rig):
    """lee's phone answers while no CTI listens: the core cannot connect it and clears that
    leg.  The engine restored from the log still has lee offered the caller: the offer rings
    again, rather than lee sitting RESERVED until ring-no-answer."""
    rig.phones.scripts[EXTENSIONS["lee"]] = PhoneScript("answer", after=1.0)
    work(rig, "lee")
    call = rig.place_call("2")
    rig.run(1.2)
    assert state(rig, "lee")[0] is S.RESERVED
    rig.stop_cti()
    rig.run(2.0)                               # the phone answered; the core cleared the leg
    assert not rig.core_offers()
    rig.start_cti()
    assert rig.core_offers() == {rig.engine.agents["lee"].caller: {"lee"}}
    rig.run(1.5)
    assert state(rig, "lee")[0] is S.TALKING and rig.core_connected()
    rig.carrier.hangup(call)
    rig.run(1.0)
    settled(rig)


def test_a_moment_with_no_free_channel_toward_the_agents_takes_no_agent_out_of_service(rig):
    """The bench's stuck calls: when the box's own trunk toward the agents has no free channel
    (calls just ended still releasing, a D-channel re-establishing), the offer is the box's
    congestion, not the agent's failure.  Failing it set the agent NOT_READY and the caller,
    offered on at once to the next ready agent, failed there too: every ready agent left
    service for good and callers waited with no agent talking."""
    work(rig, "kim", "park")                  # both answer deposit_inquiry
    channels = rig.box_center.stack.channels
    for ts in channels.timeslots:
        channels.set_out_of_service(ts, True)
    call = rig.place_call("1")
    rig.run(3.0)
    assert not rig.engine_in_state(S.NOT_READY)
    assert set(rig.engine_in_state(S.RESERVED)) == {"kim"} and not rig.core_offers()
    for ts in channels.timeslots:
        channels.set_out_of_service(ts, False)
    rig.run(2.0)
    assert state(rig, "kim") == (S.TALKING, "") and state(rig, "park") == (S.READY, "")
    rig.phones.hang_up(EXTENSIONS["kim"])
    rig.run(1.0)
    assert call.done and call.cause_received == 16
    [row] = settled(rig).values()
    assert row.agent == "kim"


def test_an_offer_waiting_for_a_free_channel_still_ends_at_the_ring_timeout(rig):
    work(rig, "lee")
    channels = rig.box_center.stack.channels
    for ts in channels.timeslots:
        channels.set_out_of_service(ts, True)
    call = rig.place_call("2")
    rig.run(16.5)                              # the queue's ring timeout is 15 s
    assert state(rig, "lee") == (S.NOT_READY, "ring-no-answer")
    assert not rig.distributor._ring_again and not call.done
    rig.carrier.hangup(call)
    rig.run(1.0)
    settled(rig)

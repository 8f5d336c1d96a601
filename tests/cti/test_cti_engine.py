"""The CTI engine: agent states, routing strategies, fairness across groups, and the paths by
which a call could get stuck (ring-no-answer, hang-up while offered, not ready while offered,
the agent application going away)."""

from __future__ import annotations

import pytest

from tests.cti.cti_world import T0, Driver, center, logged_in_ready
from pbx_cti.cti import (AgentConfig, AgentState, ConfigurationError, CtiConfig, CtiEngine, CtiError,
                         InvalidTransition, QueueConfig, Strategy, UnknownAgent)
from pbx_cti.cti.decisions import Announce, PendingStateChange

S = AgentState


def test_login_lands_in_not_ready_and_every_transition_is_a_timestamped_event():
    d = Driver(center())
    d.login("alice", "ext-1")
    d.step(2)
    d.ready("alice")
    d.step(3)
    d.not_ready("alice", "break")
    changes = d.transitions("alice")
    assert [(c.previous, c.state, c.reason, c.time) for c in changes] == [
        (S.LOGGED_OUT, S.NOT_READY, "login", T0),
        (S.NOT_READY, S.READY, "", T0 + 2),
        (S.READY, S.NOT_READY, "break", T0 + 5),
    ]
    records = [r for r in d.engine.store.records() if r.agent == "alice"]
    assert [(r.data["state"], r.time) for r in records] == [("NOT_READY", T0), ("READY", T0 + 2), ("NOT_READY", T0 + 5)]
    assert records[0].data["endpoint"] == "ext-1"


@pytest.mark.parametrize("action, args, state, words", [
    ("ready", (), "LOGGED_OUT", "cannot go ready"),
    ("logout", (), "LOGGED_OUT", "cannot log out"),
    ("hold", (), "LOGGED_OUT", "cannot hold"),
    ("reject", (), "LOGGED_OUT", "cannot reject"),
    ("not_ready", ("break",), "LOGGED_OUT", "cannot go not ready"),
])
def test_invalid_transitions_name_agent_state_and_action(action, args, state, words):
    d = Driver(center())
    with pytest.raises(InvalidTransition) as err:
        getattr(d, action)("bob", *args)
    assert "'bob'" in str(err.value) and state in str(err.value) and words in str(err.value)
    assert err.value.agent == "bob" and err.value.state is S.LOGGED_OUT
    assert list(d.engine.store.records()) == []  # nothing changed


def test_requests_that_are_not_allowed_change_nothing():
    d = Driver(center())
    logged_in_ready(d, "alice")
    with pytest.raises(InvalidTransition, match="'alice' in state READY cannot go ready"):
        d.ready("alice")
    with pytest.raises(InvalidTransition, match="already logged in"):
        d.login("alice", "ext-9")
    with pytest.raises(CtiError, match="unknown not-ready reason 'nap'"):
        d.not_ready("alice", "nap")
    with pytest.raises(CtiError, match="reserved for the system"):
        d.not_ready("alice", "ring-no-answer")
    with pytest.raises(UnknownAgent, match="unknown agent 'zed'"):
        d.ready("zed")
    with pytest.raises(CtiError, match="in use by agent 'alice'"):
        d.login("bob", "ext-alice")
    with pytest.raises(CtiError, match="no skill in group"):
        d.login("bob", "ext-bob", ["support"])
    with pytest.raises(CtiError, match="unknown queue 'nowhere'"):
        d.caller_queued("c1", "nowhere")
    assert d.state("alice") == (S.READY, "")


def test_talking_hold_wrap_up_timed_then_ready():
    d = Driver(center(wrap_up=30))
    logged_in_ready(d, "alice")
    d.caller_queued("c1", "sales")
    assert d.state("alice")[0] is S.RESERVED
    assert d.offer_answered("c1", "alice")
    d.hold("alice")
    with pytest.raises(InvalidTransition, match="cannot hold"):
        d.hold("alice")
    d.retrieve("alice")
    d.wrap_up_code("alice", "sale")
    d.step(60)
    assert d.call_ended("c1")
    assert d.state("alice") == (S.WRAP_UP, "")
    assert d.engine.get_timer() == d.now + 30
    d.step(29.9)
    assert d.state("alice")[0] is S.WRAP_UP
    d.step(0.2)
    assert d.state("alice")[0] is S.READY
    d.caller_queued("c2", "sales")
    d.offer_answered("c2", "alice")
    with pytest.raises(CtiError, match="unknown wrap-up code 'maybe'"):
        d.wrap_up_code("alice", "maybe")


def test_wrap_up_until_ready_waits_for_the_agent():
    d = Driver(center(wrap_up=None))
    logged_in_ready(d, "alice")
    d.caller_queued("c1", "sales")
    d.offer_answered("c1", "alice")
    d.call_ended("c1")
    d.step(3600)
    assert d.state("alice")[0] is S.WRAP_UP
    d.ready("alice")
    assert d.state("alice")[0] is S.READY


def test_longest_idle_is_the_default():
    d = Driver(center())
    logged_in_ready(d, "bob", "alice", "carol")
    d.caller_queued("c1", "sales")
    d.caller_queued("c2", "sales")
    assert [(o.caller, o.agent, o.endpoint) for o in d.offers()] == [("c1", "bob", "ext-bob"),
                                                                    ("c2", "alice", "ext-alice")]


def test_an_offer_withdrawn_because_the_caller_left_keeps_the_agents_idle_time():
    d = Driver(center())
    logged_in_ready(d, "bob", "alice")
    d.caller_queued("c1", "sales")
    assert d.offers()[-1].agent == "bob"
    assert d.caller_abandoned("c1")
    assert d.withdrawals()[-1].reason == "abandoned"
    assert d.state("bob") == (S.READY, "")
    d.caller_queued("c2", "sales")
    assert d.offers()[-1].agent == "bob"


def test_fewest_calls():
    d = Driver(center(Strategy.FEWEST_CALLS, wrap_up=0))
    logged_in_ready(d, "alice", "bob")
    d.caller_queued("c1", "sales")
    d.offer_answered("c1", "alice")
    d.call_ended("c1")  # alice is READY again, the most recently idle
    d.step(1)
    d.caller_queued("c2", "sales")
    assert d.offers()[-1].agent == "bob"
    d.offer_answered("c2", "bob")
    d.call_ended("c2")
    d.caller_queued("c3", "sales")
    d.offer_answered("c3", "alice")
    d.call_ended("c3")
    d.caller_queued("c4", "sales")
    assert d.offers()[-1].agent == "bob"  # 1 call against alice's 2, though alice idles longer


def test_round_robin_rotates_in_agent_order():
    d = Driver(center(Strategy.ROUND_ROBIN, wrap_up=0))
    logged_in_ready(d, "carol", "bob", "alice")
    picked = []
    for n in range(5):
        d.caller_queued(f"c{n}", "sales")
        picked.append(d.offers()[-1].agent)
        d.offer_answered(f"c{n}", picked[-1])
        d.call_ended(f"c{n}")
    assert picked == ["alice", "bob", "carol", "alice", "bob"]


def test_ring_all_rings_everyone_and_the_first_answer_wins():
    d = Driver(center(Strategy.RING_ALL))
    logged_in_ready(d, "alice", "bob", "carol")
    d.caller_queued("c1", "sales")
    offers = d.offers()
    assert sorted(o.agent for o in offers) == ["alice", "bob", "carol"]
    assert len({o.offer_id for o in offers}) == 1
    d.step(2)
    assert d.offer_answered("c1", "carol")
    assert not d.offer_answered("c1", "bob")  # the race lost: stale, ignored
    assert sorted((w.agent, w.reason) for w in d.withdrawals()) == [("alice", "answered-elsewhere"),
                                                                     ("bob", "answered-elsewhere")]
    assert [d.state(a)[0] for a in ("alice", "bob", "carol")] == [S.READY, S.READY, S.TALKING]


def test_skill_tiers_relax_as_the_caller_waits_and_the_caller_keeps_its_place():
    d = Driver(center(Strategy.SKILL_TIERS, tiers=((0, 8), (10, 5), (30, 1))))
    logged_in_ready(d, "carol", "bob")          # sales levels 3 and 6
    d.caller_queued("c1", "sales")
    d.step(5)
    d.caller_queued("c2", "sales")
    assert d.offers() == []
    d.step(4.9)
    assert d.offers() == []
    d.step(0.1)                                  # c1 waited 10 s: level 5 may take it
    assert [(o.caller, o.agent) for o in d.offers()] == [("c1", "bob")]
    d.offer_answered("c1", "bob")
    d.step(20)                                   # c2 has waited 25 s: carol (level 3) not yet
    assert len(d.offers()) == 1
    d.step(5)                                    # c2 at 30 s: level 1
    assert [(o.caller, o.agent) for o in d.offers()][-1] == ("c2", "carol")


def test_skill_tiers_prefer_the_highest_level():
    d = Driver(center(Strategy.SKILL_TIERS))
    logged_in_ready(d, "carol", "bob", "alice")
    d.caller_queued("c1", "sales")
    assert d.offers()[-1].agent == "alice"


def test_an_agent_in_several_groups_takes_priority_first_then_the_oldest_caller():
    d = Driver(center())
    d.login("alice", "ext-a")
    d.caller_queued("s1", "sales")
    d.step(1)
    d.caller_queued("p1", "support")
    d.step(1)
    d.caller_queued("s2", "sales", priority=5)
    d.ready("alice")
    assert d.offers()[-1].caller == "s2"       # priority first
    d.offer_answered("s2", "alice")
    d.call_ended("s2")
    d.ready("alice")
    assert d.offers()[-1].caller == "s1"       # then the oldest across both groups
    d.offer_answered("s1", "alice")
    d.call_ended("s1")
    d.ready("alice")
    assert d.offers()[-1].caller == "p1"


def test_ring_no_answer_returns_the_caller_to_the_head_and_the_agent_to_not_ready():
    d = Driver(center(ring_timeout=15))
    logged_in_ready(d, "alice")
    d.caller_queued("c1", "sales")
    d.step(1)
    d.caller_queued("c2", "sales")
    d.step(14)
    assert d.state("alice") == (S.NOT_READY, "ring-no-answer")
    assert d.withdrawals()[-1].reason == "ring-no-answer"
    assert d.engine.position("c1") == 1 and d.engine.position("c2") == 2
    d.login("bob", "ext-b")
    d.ready("bob")
    assert d.offers()[-1].caller == "c1"


def test_the_call_model_reporting_a_failed_endpoint_requeues_the_caller():
    d = Driver(center())
    logged_in_ready(d, "alice", "bob")
    d.caller_queued("c1", "sales")
    assert d.offer_failed("c1", "alice")
    assert d.state("alice") == (S.NOT_READY, "offer-failed")
    assert d.offers()[-1].agent == "bob"
    assert not d.offer_failed("c1", "alice")


def test_reject_and_not_ready_while_offered_pass_the_caller_on():
    d = Driver(center())
    logged_in_ready(d, "alice", "bob", "carol")
    d.caller_queued("c1", "sales")
    d.reject("alice")
    assert d.state("alice") == (S.NOT_READY, "offer-rejected")
    assert d.offers()[-1].agent == "bob"
    d.not_ready("bob", "lunch")
    assert d.state("bob") == (S.NOT_READY, "lunch")
    assert d.offers()[-1].agent == "carol"
    d.logout("carol")
    assert d.state("carol")[0] is S.LOGGED_OUT
    assert d.engine.callers["c1"].status == "waiting"
    assert [w.agent for w in d.withdrawals()] == ["alice", "bob", "carol"]


def test_app_disconnect_makes_the_agent_not_ready_and_keeps_a_talking_call():
    d = Driver(center())
    logged_in_ready(d, "alice", "bob")
    d.caller_queued("c1", "sales")
    d.offer_answered("c1", "alice")
    d.caller_queued("c2", "sales")           # rings at bob
    assert d.app_disconnected("alice")
    assert d.state("alice")[0] is S.TALKING
    assert any(isinstance(x, PendingStateChange) and x.reason == "app-disconnected" for x in d.decisions)
    assert d.app_disconnected("bob")
    assert d.state("bob") == (S.NOT_READY, "app-disconnected")
    assert d.engine.callers["c2"].status == "waiting"
    d.step(40)
    d.call_ended("c1")
    assert d.state("alice") == (S.NOT_READY, "app-disconnected")  # no wrap-up, no new call
    assert d.engine.callers["c2"].status == "waiting"
    assert not d.app_disconnected("alice")
    assert not d.app_disconnected("nobody")


def test_not_ready_during_a_call_is_taken_when_the_call_ends():
    d = Driver(center(wrap_up=10))
    logged_in_ready(d, "alice")
    d.caller_queued("c1", "sales")
    d.offer_answered("c1", "alice")
    d.not_ready("alice", "lunch")
    assert d.state("alice")[0] is S.TALKING
    d.call_ended("c1")
    assert d.state("alice") == (S.NOT_READY, "lunch")


def test_device_presence():
    d = Driver(center())
    logged_in_ready(d, "alice", "bob")
    d.caller_queued("c1", "sales")
    assert d.endpoint_presence("ext-alice", False)
    assert d.state("alice") == (S.NOT_READY, "device-unavailable")
    assert d.offers()[-1].agent == "bob"
    with pytest.raises(InvalidTransition, match="endpoint 'ext-alice' is unavailable"):
        d.ready("alice")
    assert d.endpoint_presence("ext-alice", True)
    assert not d.endpoint_presence("ext-alice", True)
    d.ready("alice")
    assert d.state("alice")[0] is S.READY


def test_position_and_estimated_wait_announcements():
    d = Driver(center(announce_every=30, default_handle_time=100, ring_timeout=60))
    d.login("alice", "ext-a")
    d.login("bob", "ext-b")
    d.caller_queued("c1", "sales")
    d.caller_queued("c2", "sales")
    first = [x for x in d.decisions if isinstance(x, Announce)]
    assert [(a.caller, a.position, a.estimated_wait) for a in first] == [("c1", 1, None), ("c2", 2, None)]
    d.ready("alice")                             # c1 is offered; c2 is now first
    d.step(30)
    later = [x for x in d.decisions if isinstance(x, Announce)][2:]
    assert [(a.caller, a.position, a.estimated_wait) for a in later] == [("c2", 1, 100.0)]


def test_hang_up_while_waiting_and_unknown_callers():
    d = Driver(center())
    d.caller_queued("c1", "sales")
    d.step(3)
    assert d.caller_abandoned("c1")
    assert not d.caller_abandoned("c1")
    assert not d.call_ended("c1")
    abandon = [r for r in d.engine.store.records() if r.kind == "ABANDON"]
    assert abandon[0].data["wait"] == 3
    d.caller_queued("c2", "sales")
    with pytest.raises(CtiError, match="already in queue 'sales'"):
        d.caller_queued("c2", "support")


def test_clear_calls_closes_every_call_in_the_log():
    d = Driver(center())
    logged_in_ready(d, "alice", "bob")
    d.caller_queued("c1", "sales")
    d.offer_answered("c1", "alice")
    d.caller_queued("c2", "sales")
    d.caller_queued("c3", "sales")
    d.engine.clear_calls(d.now, "daemon-stop")
    assert d.engine.callers == {}
    kinds = [(r.kind, r.caller) for r in d.engine.store.records() if r.kind in ("CALL_END", "ABANDON")]
    assert sorted(kinds) == [("ABANDON", "c2"), ("ABANDON", "c3"), ("CALL_END", "c1")]
    assert d.state("bob") == (S.READY, "")


def test_restore_rebuilds_the_same_engine_and_its_timers():
    d = Driver(center(wrap_up=20, tiers=((0, 7), (60, 1))))
    logged_in_ready(d, "alice", "bob", "carol")
    d.not_ready("carol", "training")
    d.caller_queued("c1", "sales")               # alice (level 9)
    d.offer_answered("c1", "alice")
    d.caller_queued("c2", "sales")               # waits for a level-7 agent
    d.caller_queued("c3", "support")
    d.step(5)
    d.call_ended("c1")                           # alice wraps up 20 s, then takes c2
    restored = CtiEngine.restore(d.config, d.engine.store, d.now)
    assert restored.snapshot() == d.engine.snapshot()
    assert restored.get_timer() == d.engine.get_timer()
    r = Driver(d.config, restored, start=d.now)
    r.step(20)
    assert [(o.caller, o.agent) for o in r.offers()] == [("c2", "alice")]


def test_configuration_errors_name_what_is_wrong():
    with pytest.raises(ConfigurationError, match="agent 'a': skill level for 'g' must be an integer 1..10"):
        CtiConfig(agents={"a": AgentConfig("a", {"g": 11})}, queues={})
    with pytest.raises(ConfigurationError, match="queue 'q': skill group 'nope' is not declared"):
        CtiConfig(agents={"a": AgentConfig("a", {"g": 1})}, queues={"q": QueueConfig("q", "nope")},
                  groups=("g",))
    with pytest.raises(ConfigurationError, match="tier times must increase"):
        CtiConfig(agents={}, groups=("g",), queues={"q": QueueConfig("q", "g", tiers=((0, 5), (0, 1)))})
    with pytest.raises(ConfigurationError, match="ring_timeout"):
        CtiConfig(agents={}, groups=("g",), queues={"q": QueueConfig("q", "g", ring_timeout=0)})
    with pytest.raises(ConfigurationError, match="reserved for the system"):
        CtiConfig(agents={}, queues={}, not_ready_reasons=("login",))


def test_restore_after_an_agent_left_the_configuration_strands_no_caller():
    d = Driver(center(ring_timeout=60))
    logged_in_ready(d, "alice", "bob")
    d.caller_queued("c1", "sales")              # rings at alice
    d.caller_queued("c2", "sales")              # rings at bob
    d.offer_answered("c2", "bob")
    smaller = center(ring_timeout=60)
    del smaller.agents["alice"], smaller.agents["bob"]
    smaller = CtiConfig(agents=smaller.agents, queues=smaller.queues, groups=("sales", "support"))
    engine = CtiEngine.restore(smaller, d.engine.store, d.now)
    assert engine.callers["c1"].status == "waiting" and engine.position("c1") == 1
    assert engine.call_ended(d.now, "c2")
    r = Driver(smaller, engine, start=d.now)
    logged_in_ready(r, "carol")
    assert [(o.caller, o.agent) for o in r.offers()] == [("c1", "carol")]

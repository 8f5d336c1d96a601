"""The engine's side of an agent's own calls (outbound, or a colleague's consultation it is
called into) and of a supervisor forcing a state: what the agent is while on such a call, where
it goes after, what the event log says, and that a restart from the log is the same engine."""

from __future__ import annotations

import pytest

from pbx_cti.cti import CtiEngine
from pbx_cti.cti.eventlog import K_AGENT_STATE, K_PENDING
from pbx_cti.cti.model import AgentState, CtiError, InvalidTransition
from tests.cti.cti_world import Driver, center, logged_in_ready

S = AgentState


def test_an_own_call_is_talking_with_its_kind_and_offers_nothing_meanwhile():
    d = Driver(center())
    logged_in_ready(d, "bob")
    d.agent_call_started("bob", "mc-1", "outbound")
    assert d.state("bob") == (S.TALKING, "outbound") and d.engine.own_calls() == {"bob": "mc-1"}
    d.caller_queued("c1", "sales")
    assert not d.offers()                                 # bob is busy: the caller waits
    d.hold("bob")
    assert d.state("bob") == (S.HOLD, "outbound")
    d.retrieve("bob")
    assert d.agent_call_ended("bob", "other") is False    # a stale end changes nothing
    assert d.agent_call_ended("bob", "mc-1") is True
    assert [(o.caller, o.agent) for o in d.offers()] == [("c1", "bob")]     # READY again, at once offered


def test_after_an_own_call_the_agent_is_back_as_it_was_or_takes_what_it_asked_for():
    d = Driver(center())
    d.login("alice", "2001")
    d.not_ready("alice", "lunch")
    d.agent_call_started("alice", "mc-1", "outbound")
    d.agent_call_ended("alice", "mc-1")
    assert d.state("alice") == (S.NOT_READY, "lunch")
    d.agent_call_started("alice", "mc-2", "consult")
    d.not_ready("alice", "training")                      # during the call: pending
    assert d.state("alice") == (S.TALKING, "consult") and d.engine.agents["alice"].pending == "training"
    d.agent_call_ended("alice", "mc-2")
    assert d.state("alice") == (S.NOT_READY, "training")


def test_own_calls_are_refused_in_a_call_and_logged_out():
    d = Driver(center())
    with pytest.raises(InvalidTransition, match=r"LOGGED_OUT cannot take a call of its own \(outbound\)"):
        d.agent_call_started("alice", "mc-1", "outbound")
    logged_in_ready(d, "alice")
    d.caller_queued("c1", "sales")
    with pytest.raises(InvalidTransition, match="RESERVED cannot take a call of its own"):
        d.agent_call_started("alice", "mc-1", "consult")
    d.offer_answered("c1", "alice")
    with pytest.raises(InvalidTransition, match="TALKING cannot take a call of its own"):
        d.agent_call_started("alice", "mc-1", "outbound")


def test_forced_states_name_the_supervisor_in_the_log_and_are_checked_like_the_agents_own():
    d = Driver(center())
    d.login("carol", "2003")
    d.force_state("carol", "READY", "", "sup")
    d.force_state("carol", "NOT_READY", "break", "sup")
    with pytest.raises(CtiError, match="unknown not-ready reason 'nap'"):
        d.force_state("carol", "NOT_READY", "nap", "sup")
    with pytest.raises(CtiError, match="may force READY, NOT_READY or LOGGED_OUT, not 'TALKING'"):
        d.force_state("carol", "TALKING", "", "sup")
    with pytest.raises(CtiError, match="names the supervisor"):
        d.force_state("carol", "READY", "", "")
    d.ready("carol")
    d.caller_queued("c1", "support")
    d.offer_answered("c1", "carol")
    d.force_state("carol", "NOT_READY", "training", "boss")
    d.call_ended("c1")
    d.force_state("carol", "LOGGED_OUT", "", "sup")
    records = list(d.engine.store.records())
    forced = [(r.kind, r.data.get("state"), r.data["reason"], r.data["forced_by"]) for r in records
              if "forced_by" in r.data]
    assert forced == [(K_AGENT_STATE, "READY", "", "sup"), (K_AGENT_STATE, "NOT_READY", "break", "sup"),
                      (K_PENDING, None, "training", "boss"), (K_AGENT_STATE, "LOGGED_OUT", "logout", "sup")]
    # The agent's own request right after a forced one is not marked.
    assert "forced_by" not in [r for r in records if r.kind == K_AGENT_STATE and r.data["state"] == "READY"][-1].data


def test_a_restart_from_the_log_is_the_same_engine_with_own_calls_and_forced_states():
    d = Driver(center())
    logged_in_ready(d, "alice", "bob")
    d.force_state("alice", "NOT_READY", "break", "sup")
    d.agent_call_started("alice", "mc-1", "outbound")
    d.hold("alice")
    d.agent_call_started("bob", "call-9", "consult")
    d.not_ready("bob", "lunch")
    restored = CtiEngine.restore(d.config, d.engine.store, d.now)
    assert restored.snapshot() == d.engine.snapshot()
    d.engine.checkpoint(d.now)
    from_checkpoint = CtiEngine.restore(d.config, d.engine.store, d.now)
    assert from_checkpoint.snapshot() == d.engine.snapshot()
    r = Driver(d.config, from_checkpoint, start=d.now)
    r.agent_call_ended("alice", "mc-1")
    r.agent_call_ended("bob", "call-9")
    assert r.state("alice") == (S.NOT_READY, "break") and r.state("bob") == (S.NOT_READY, "lunch")


def test_clearing_calls_at_a_stop_ends_own_calls_too():
    d = Driver(center())
    logged_in_ready(d, "alice")
    d.agent_call_started("alice", "mc-1", "outbound")
    d.clear_calls()
    assert d.state("alice") == (S.READY, "") and not d.engine.own_calls()

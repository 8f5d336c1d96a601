"""Property-based tests of the CTI engine over random interleavings of callers arriving and
hanging up, agent requests, answers, ring-no-answer, failed endpoints, application
disconnects, device presence and engine restarts rebuilt from the log.

After every step:
  * an agent is in at most one call (offered or connected), and its state says so;
  * a caller is offered to at most one agent at a time (ring-all: one offer, answered once);
  * no caller waits while a READY eligible agent exists (so never the 1 s the brief allows);
  * a request the engine refuses changes nothing;
  * a restarted engine equals the one that stopped, and statistics recomputed from the log
    equal the live counters.
At the end every agent is made available and every caller is driven to its end: each one
that entered a queue is then answered or abandoned, exactly once.

The suite runs a modest number of examples; the long run is

    PRIBOX_LONG=1 nice -n 10 .venv/bin/python -m pytest -q tests/cti/test_cti_properties.py

(10,000 examples; PRIBOX_LONG=N runs N).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, event, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.cti.cti_world import T0
from pbx_cti.cti import (AgentConfig, AgentState, CtiConfig, CtiEngine, CtiError, MemoryEventStore,
                         QueueConfig, Strategy)
from pbx_cti.cti.decisions import Offer, WithdrawOffer
from pbx_cti.cti.eventlog import K_ABANDON, K_CONNECT, K_ENTER
from pbx_cti.cti.stats import TOTAL, compute

S = AgentState
AGENTS = ("a1", "a2", "a3", "a4", "a5")
REASONS = ("break", "lunch")
SKILLS = {"a1": {"g1": 9, "g2": 3}, "a2": {"g1": 5}, "a3": {"g2": 7, "g3": 2},
          "a4": {"g1": 2, "g3": 8}, "a5": {"g2": 4, "g3": 5}}

_long = os.environ.get("PRIBOX_LONG", "")
EXAMPLES = (10_000 if _long in ("1", "yes", "true") else int(_long)) if _long else 300


class CtiMachine(RuleBasedStateMachine):
    @initialize(strategies=st.lists(st.sampled_from(list(Strategy)), min_size=3, max_size=3),
                wrap_ups=st.lists(st.sampled_from([0.0, 5.0, None]), min_size=3, max_size=3),
                at_work=st.sets(st.sampled_from(AGENTS)),
                early_callers=st.lists(st.sampled_from(["q1", "q2", "q3"]), min_size=1, max_size=4),
                checkpoint_every=st.sampled_from([0, 5, 40]))
    def build(self, strategies, wrap_ups, at_work, early_callers, checkpoint_every):
        tiers = ((0.0, 6), (4.0, 3), (9.0, 1))  # every queue ends fully relaxed: nobody is stranded
        self.config = CtiConfig(
            agents={a: AgentConfig(a, dict(SKILLS[a])) for a in AGENTS},
            queues={f"q{n}": QueueConfig(f"q{n}", f"g{n}", strategy=strategies[n - 1], ring_timeout=6.0,
                                         wrap_up=wrap_ups[n - 1], tiers=tiers, announce_every=5.0)
                    for n in (1, 2, 3)},
            not_ready_reasons=REASONS)
        self.store = MemoryEventStore()
        self.checkpoint_every = checkpoint_every  # 0: restarts replay the whole log
        self.engine = CtiEngine(self.config, self.store, checkpoint_every)
        self.now = T0
        self.next_caller = 0
        self.offers = 0
        self.steps = 0
        self.ringing: dict[str, dict[str, int]] = {}  # caller -> {agent: offer id}, as the adapter sees it
        for agent in sorted(at_work):
            self.comes_to_work(agent)
        for queue in early_callers:
            self.caller_arrives(queue, 0)

    # -------------------------------------------------------------- helpers
    def absorb(self) -> None:
        for d in self.engine.pop_decisions():
            if isinstance(d, Offer):
                self.offers += 1
                offers = self.ringing.setdefault(d.caller, {})
                assert not offers or set(offers.values()) == {d.offer_id}, "two offers of one caller"
                assert d.agent not in offers
                offers[d.agent] = d.offer_id
                for other, rung in self.ringing.items():
                    assert other == d.caller or d.agent not in rung, f"{d.agent} rung for two callers"
            elif isinstance(d, WithdrawOffer):
                offers = self.ringing.get(d.caller, {})
                assert offers.get(d.agent) == d.offer_id, f"withdrew an offer that was not ringing: {d}"
                del offers[d.agent]
                if not offers:
                    self.ringing.pop(d.caller, None)

    def request(self, action: str, *args) -> None:
        before = self.engine.snapshot()
        try:
            getattr(self.engine, action)(self.now, *args)
        except CtiError:
            assert self.engine.snapshot() == before, f"refused {action}{args} but state changed"
            assert self.engine.pop_decisions() == []
        self.absorb()

    def fact(self, action: str, *args) -> None:
        getattr(self.engine, action)(self.now, *args)
        self.absorb()

    def callers(self, *statuses: str) -> list[str]:
        return sorted(c for c, caller in self.engine.callers.items() if caller.status in statuses)

    def answered_offer(self, caller: str, agent: str) -> None:
        assert self.engine.offer_answered(self.now, caller, agent)
        offers = self.ringing[caller]
        del offers[agent]
        if not offers:
            del self.ringing[caller]
        self.absorb()
        assert caller not in self.ringing, "a ring-all offer survived its answer"

    # -------------------------------------------------------------- callers
    @rule(queue=st.sampled_from(["q1", "q2", "q3"]), priority=st.integers(0, 2))
    def caller_arrives(self, queue, priority):
        self.next_caller += 1
        self.fact("caller_queued", f"c{self.next_caller}", queue, priority, {"n": self.next_caller})

    @precondition(lambda self: self.engine.callers)
    @rule(data=st.data())
    def caller_hangs_up(self, data):
        caller = data.draw(st.sampled_from(sorted(self.engine.callers)))
        connected = self.engine.callers[caller].status == "connected"
        assert self.engine.caller_abandoned(self.now, caller)
        self.absorb()
        assert caller not in self.ringing and caller not in self.engine.callers
        if connected:
            self.ringing.pop(caller, None)

    @precondition(lambda self: self.ringing)
    @rule(data=st.data())
    def agent_answers(self, data):
        caller = data.draw(st.sampled_from(sorted(self.ringing)))
        self.answered_offer(caller, data.draw(st.sampled_from(sorted(self.ringing[caller]))))

    @precondition(lambda self: self.ringing)
    @rule(data=st.data(), reason=st.sampled_from(["offer-failed", "ring-no-answer"]))
    def endpoint_fails(self, data, reason):
        caller = data.draw(st.sampled_from(sorted(self.ringing)))
        agent = data.draw(st.sampled_from(sorted(self.ringing[caller])))
        assert self.engine.offer_failed(self.now, caller, agent, reason)
        self.absorb()
        assert self.engine.agents[agent].state is S.NOT_READY

    @precondition(lambda self: any(c.status == "connected" for c in self.engine.callers.values()))
    @rule(data=st.data())
    def call_ends(self, data):
        self.fact("call_ended", data.draw(st.sampled_from(self.callers("connected"))))

    @rule(caller=st.sampled_from(["c1", "c2", "nobody"]), agent=st.sampled_from(AGENTS))
    def stale_facts_change_nothing(self, caller, agent):
        if caller in self.ringing and agent in self.ringing[caller]:
            return
        before = self.engine.snapshot()
        assert not self.engine.offer_answered(self.now, caller, agent)
        assert not self.engine.offer_failed(self.now, caller, agent)
        assert self.engine.snapshot() == before

    # -------------------------------------------------------------- agents
    @rule(agent=st.sampled_from(AGENTS), all_groups=st.booleans())
    def login(self, agent, all_groups):
        groups = None if all_groups else sorted(SKILLS[agent])[:1]
        self.request("login", agent, f"ext-{agent}", groups)

    @rule(agent=st.sampled_from(AGENTS))
    def logout(self, agent):
        self.request("logout", agent)

    @rule(agent=st.sampled_from(AGENTS))
    def ready(self, agent):
        self.request("ready", agent)

    @rule(agent=st.sampled_from(AGENTS), reason=st.sampled_from(REASONS + ("bogus",)))
    def not_ready(self, agent, reason):
        self.request("not_ready", agent, reason)

    @rule(agent=st.sampled_from(AGENTS))
    def comes_to_work(self, agent):
        if self.engine.agents[agent].state is S.LOGGED_OUT:
            self.request("login", agent, f"ext-{agent}")
        self.request("ready", agent)

    @rule(data=st.data(), action=st.sampled_from(["reject", "hold", "retrieve"]))
    def call_control(self, data, action):
        busy = [a for a, agent in self.engine.agents.items() if agent.state in (S.RESERVED, S.TALKING, S.HOLD)]
        self.request(action, data.draw(st.sampled_from(busy or list(AGENTS))))

    @rule(agent=st.sampled_from(AGENTS))
    def app_disconnects(self, agent):
        self.fact("app_disconnected", agent)

    @rule(agent=st.sampled_from(AGENTS), available=st.booleans())
    def device_presence(self, agent, available):
        self.fact("endpoint_presence", f"ext-{agent}", available)

    # -------------------------------------------------------------- time and restarts
    @rule(seconds=st.sampled_from([0.1, 0.5, 1.0, 2.0, 4.0, 7.0, 12.0]))
    def time_passes(self, seconds):
        target = self.now + seconds
        while True:
            when = self.engine.get_timer()
            if when is None or when > target:
                break
            self.now = max(self.now, when)
            self.engine.handle_timer(self.now)
            self.absorb()
            self.no_idle_eligible_agent_beside_a_waiting_caller()
        self.now = target
        self.statistics_match()

    @rule(clear=st.booleans(), checkpoint=st.booleans())
    def engine_restarts(self, clear, checkpoint):
        if checkpoint:
            self.engine.checkpoint(self.now)
        before = self.engine.snapshot()
        self.engine = CtiEngine.restore(self.config, self.store, self.now, checkpoint_every=self.checkpoint_every)
        assert self.engine.snapshot() == before
        assert self.engine.pop_decisions() == []  # nothing was left routable
        self.statistics_match()
        if clear:
            self.engine.clear_calls(self.now, "restart")
            self.absorb()
            assert not self.engine.callers and not self.ringing

    # -------------------------------------------------------------- invariants
    @invariant()
    def one_call_per_agent_and_states_agree(self):
        self.steps += 1
        engine = self.engine
        held: dict[str, list[str]] = {}
        for caller in engine.callers.values():
            for agent in caller.offer_agents:
                held.setdefault(agent, []).append(caller.caller_id)
            if caller.status == "connected":
                held.setdefault(caller.agent, []).append(caller.caller_id)
            if caller.status == "offered":
                assert caller.offer_agents
                if self.config.queues[caller.queue].strategy is not Strategy.RING_ALL:
                    assert len(caller.offer_agents) == 1
                assert self.ringing.get(caller.caller_id, {}).keys() == set(caller.offer_agents)
            else:
                assert caller.caller_id not in self.ringing
        for agent in engine.agents.values():
            calls = held.get(agent.agent_id, [])
            assert len(calls) <= 1, f"{agent.agent_id} is in {calls}"
            if agent.state in (S.RESERVED, S.TALKING, S.HOLD):
                assert calls == [agent.caller]
            else:
                assert not calls
        for queue, keys in engine.waiting.items():
            assert keys == sorted(keys)
            assert [k[-1] for k in keys] == sorted((c for c in self.callers("waiting")
                                                   if engine.callers[c].queue == queue),
                                                  key=lambda c: engine.callers[c].key)

    @invariant()
    def no_idle_eligible_agent_beside_a_waiting_caller(self):
        engine = self.engine
        ready = [a for a in engine.agents.values() if a.state is S.READY]
        for caller_id in self.callers("waiting"):
            caller = engine.callers[caller_id]
            idle = [a.agent_id for a in ready if engine.eligible(a, caller, self.now)]
            assert not idle, f"{caller_id} waits {self.now - caller.entered:.1f} s while {idle} are idle"

    def statistics_match(self):
        report = compute(self.store.records(), now=self.now)
        for name, live in self.engine.queue_counters.items():
            row = report.queues.get((name, TOTAL))
            got = (0, 0, 0, 0) if row is None else (row.offered, row.answered, row.abandoned, row.handled)
            assert got == (live.offered, live.answered, live.abandoned, live.handled)
            if row is not None:
                assert abs(row.wait_answered - live.wait_answered) < 1e-6
                assert abs(row.handle_time - live.handle_time) < 1e-6
        for agent, seconds in self.engine.agent_time_at(self.now).items():
            row = report.agents.get((agent, TOTAL))
            logged = row.time if row else {}
            assert logged.keys() == seconds.keys()
            assert all(abs(logged[k] - seconds[k]) < 1e-6 for k in seconds)
            assert (row.answered if row else 0) == self.engine.agent_answered[agent]

    def teardown(self):
        if not hasattr(self, "engine"):
            return
        # Everyone comes to work; every call is taken and finished.  No caller may be stranded.
        for _ in range(400):
            if not self.engine.callers:
                break
            for agent in self.engine.agents.values():
                if len(agent.groups) < len(SKILLS[agent.agent_id]) and agent.state in (S.NOT_READY, S.READY, S.WRAP_UP):
                    self.engine.logout(self.now, agent.agent_id)  # back with every group
                if agent.state is S.LOGGED_OUT:
                    self.engine.login(self.now, agent.agent_id, f"ext-{agent.agent_id}")
                self.engine.endpoint_presence(self.now, f"ext-{agent.agent_id}", True)
                if agent.state in (S.NOT_READY, S.WRAP_UP):
                    self.engine.ready(self.now, agent.agent_id)
                self.absorb()
                if agent.state is S.RESERVED:
                    self.answered_offer(agent.caller, agent.agent_id)
                elif agent.state in (S.TALKING, S.HOLD):
                    self.fact("call_ended", agent.caller)
            self.time_passes(1.0)
        assert not self.engine.callers, f"stranded: {self.engine.snapshot()['callers']}"
        ends: dict[str, list[str]] = {}
        entered = set()
        for record in self.store.records():
            if record.kind == K_ENTER:
                entered.add(record.caller)
            elif record.kind in (K_CONNECT, K_ABANDON):
                ends.setdefault(record.caller, []).append(record.kind)
        assert set(ends) == entered and all(len(v) == 1 for v in ends.values())
        event(f"steps: {self.steps // 10 * 10}+, callers: {len(entered)}, offers: {self.offers}")
        self.statistics_match()


TestCti = CtiMachine.TestCase
TestCti.settings = settings(max_examples=EXAMPLES, stateful_step_count=50, deadline=None,
                            suppress_health_check=[HealthCheck.too_slow], print_blob=True)

"""Property-based tests of agents' own calls on the whole contact center: everything the center
machine of test_acd_properties.py does (callers, agents' requests, phones, application
disconnects, CTI reloads, time), plus outgoing calls (make-call), consultations of an agent, a
queue, an extension or a number, completed, cancelled, refused or conferenced, hang-ups of any
party at any moment, and agents' devices vanishing and coming back under the hold policy.

Checked after every step and every 0.1 s of line while time passes:
  * an agent is on at most one call in the core (rung, its call's agent leg, consulted, a call
    placed for it, rung again after its device went);
  * what the core has an agent doing, the engine knows: an extension rung for an offer or a
    queued consultation is RESERVED for that call; an agent's leg bridged to the caller, a
    consulted agent answered, an agent's own call are TALKING or HOLD for it;
  * the other way round within 1 s: an agent the engine has RESERVED, TALKING or HOLD for a call
    is on it in the core;
  * no caller (nor a queued consultation) waits more than 1 s while a READY eligible agent exists;
  * no span records a stack fault.
At each reload and at the end, statistics recomputed from the event log equal the live counters;
at the end every call has a CLOSED CDR row and nothing is left in the core, the stacks, the
engine (callers, own calls) or the distributor (consultations, parked callers).

The suite runs a modest number of examples; `PRIBOX_LONG=N` runs N (as test_acd_properties.py).
"""

from __future__ import annotations

from hypothesis import event, settings, strategies as st
from hypothesis.stateful import rule

from pbx_cti.acd.distributor import CallActionError, LostPolicy, core_call_id
from pbx_cti.cti.model import AgentState, CtiError
from tests.acd.center_rig import AGENTS, EXTENSIONS
from tests.acd.test_acd_agent_calls import OUT_CONFIG, OUTSIDE
from tests.acd import test_acd_properties as center_properties
from tests.acd.test_acd_properties import EXAMPLES, GRACE, PAUSES, QUEUES, CenterMachine

S = AgentState
TARGETS = tuple(f"agent:{a}" for a in AGENTS) + tuple(f"queue:{q}" for q in QUEUES) + \
    ("extension:2009", "number:" + OUTSIDE)
HANDLING = {S.TALKING, S.HOLD}


class OwnCallsMachine(CenterMachine):
    CONFIG = OUT_CONFIG
    POLICY = LostPolicy(device_lost="hold", app_lost="requeue", hold_seconds=2.0)

    def act(self, method: str, *args) -> None:
        try:
            getattr(self.rig.calls, method)(*args)
        except (CallActionError, CtiError):
            pass

    @rule(agent=st.sampled_from(AGENTS), pause=PAUSES)
    def make_call(self, agent, pause):
        self.act("make_call", agent, OUTSIDE)
        self.run(pause)

    def busy(self, agent: str | None, *states: AgentState) -> str | None:
        """An agent in one of `states` if there is one (so consultations happen often), else `agent`."""
        return next((a.agent_id for a in self.engine.agents.values() if a.state in states), agent)

    @rule(agent=st.sampled_from(AGENTS), whom=st.sampled_from(TARGETS), pause=PAUSES)
    def consult(self, agent, whom, pause):
        self.act("consult", self.busy(agent, S.TALKING), whom)
        self.run(pause)

    @rule(key=st.sampled_from(["1", "2", "3"]), whom=st.sampled_from(TARGETS), pause=PAUSES)
    def a_caller_reaches_an_agent_who_consults(self, key, whom, pause):
        """The common path made likely: somebody talks to a caller (one dials in if nobody
        does), and consults."""
        if self.busy(None, S.TALKING) is None:
            self.rig.place_call(key)
            self.run(3.0)
        talking = self.busy(None, S.TALKING)
        if talking is not None:
            self.act("consult", talking, whom)
        self.run(pause)

    @rule(agent=st.sampled_from(AGENTS), step=st.sampled_from(["consult_complete", "consult_cancel", "conference",
                                                               "hang_up", "retrieve", "reject"]), pause=PAUSES)
    def consult_step(self, agent, step, pause):
        consulting = [a for a, *_ in self.rig.distributor.consulting.values()]
        self.act(step, consulting[0] if consulting and step != "reject" else agent)
        self.run(pause)

    @rule(pause=PAUSES)
    def outside_party_hangs_up(self, pause):
        far = [c for c in self.rig.live_calls() if not c.outgoing]
        if far:
            self.rig.carrier.hangup(far[0], 16)
        self.run(pause)

    @rule(agent=st.sampled_from(AGENTS), back=st.booleans(), pause=PAUSES)
    def device(self, agent, back, pause):
        if back:
            self.rig.distributor.device_back(EXTENSIONS[agent])
        else:
            self.rig.distributor.device_gone(EXTENSIONS[agent], "property test")
        self.run(pause)

    @rule(agent=st.sampled_from(AGENTS), pause=PAUSES)
    def application_lost(self, agent, pause):
        self.rig.runner("app_disconnected", agent)
        self.rig.distributor.app_lost(agent)
        self.run(pause)

    def check(self) -> None:
        rig, engine, now = self.rig, self.engine, self.rig.clock.now()
        assert all(isdn.counters["faults"] == 0 for isdn in rig.stacks), "an ISDN stack fault"
        for call_id in rig.pbx.by_call:        # what the run got to (pytest --hypothesis-show-statistics)
            state = rig.pbx.consult_state(call_id)
            if state is not None:
                event(f"consultation {state}")
        if rig.distributor.parked:
            event("a caller parked")
        on: dict[str, list[tuple[str, str]]] = {}
        for call_id in list(rig.pbx.by_call):
            for agent, how in rig.pbx.agents_on(call_id).items():
                on.setdefault(agent, []).append((call_id, how))
        assert all(len(calls) == 1 for calls in on.values()), f"an agent on two calls in the core: {on}"
        soft = set()
        for agent, [(call_id, how)] in on.items():
            a = engine.agents[agent]
            mine = core_call_id(a.caller) == call_id if a.caller else False
            if how == "rung":
                assert a.state is S.RESERVED and a.caller == call_id, \
                    f"the core rings {agent} for {call_id}; the engine has {a.state} {a.caller!r}"
            elif how == "consult-ringing":
                if not (mine and a.state in (HANDLING | {S.RESERVED})):
                    soft.add(("consult rings, engine elsewhere", agent, call_id, a.state))
            elif how in ("agent", "consult", "own"):
                if not (mine and a.state in HANDLING):
                    soft.add(("on the call in the core, not in the engine", agent, call_id, how, a.state))
        for a in engine.agents.values():
            if a.state in HANDLING | {S.RESERVED} and a.caller:
                call_id = core_call_id(a.caller)
                if a.caller.startswith("cb-") or (a.state is S.HOLD and call_id in rig.distributor.parked):
                    continue
                if all(c != call_id for c, _ in on.get(a.agent_id, [])):
                    soft.add(("in a call in the engine, not in the core", a.agent_id, a.caller, a.state))
        ready = [a for a in engine.agents.values() if a.state is S.READY]
        for caller in engine.callers.values():
            if caller.status == "waiting":
                idle = sorted(a.agent_id for a in ready if engine.eligible(a, caller, rig.wall_now()))
                if idle:
                    soft.add(("waits while an eligible agent is idle", caller.caller_id, tuple(idle)))
        self.since = {k: self.since.get(k, now) for k in soft}
        late = {k: round(now - t, 3) for k, t in self.since.items() if now - t > GRACE + 1e-6}
        assert not late, f"for more than {GRACE} s: {late}"

    def teardown(self):
        if not hasattr(self, "rig"):
            return
        engine, d = self.engine, self.rig.distributor       # kept: the rig closes in the end
        for agent in AGENTS:           # a device gone in the run comes back
            d.device_back(EXTENSIONS[agent])
        # A make-call whose SETUP to the agent's phone is still on the wire when everyone hangs
        # up rings and is answered after: the agents' calls are hung up until none is left.
        for _ in range(3):
            for call in self.rig.live_calls():
                self.rig.carrier.hangup(call, 16)
            for extension in EXTENSIONS.values():
                self.rig.phones.hang_up(extension)
            self.run(2.0)
        super().teardown()
        assert not engine.own_calls(), f"own calls left: {engine.own_calls()}"
        assert not d.own and not d.consulting and not d.parked, (d.own, d.consulting, d.parked)


TestOwnCallsProperty = OwnCallsMachine.TestCase
TestOwnCallsProperty.settings = settings(center_properties.TestCenterProperty.settings, max_examples=EXAMPLES)

"""Property-based tests of the whole contact center (tests/acd/center_rig.py: the carrier's
PRI, the real switching core and IVR, the CTI engine and its runner restored from SQLite, the
distributor, CDRs in SQLite, the agents' phones behind a second PRI) over random interleavings
of callers dialling in and hanging up at any moment, agents' requests, phones answering late,
never or busy, agents hanging up at the phone, agent applications disconnecting, CTI restarts
(a reload of [cti], the core carrying on alone for a moment) and time passing.

Checked after every step, and every 0.1 s of line while time passes:
  * an agent is in at most one call, in the core (rung or bridged) and in the engine;
  * a caller rings at most one agent at a time, except in a ring-all queue;
  * what the core rings or has bridged, the engine has that agent RESERVED / TALKING for that
    caller (hard), and the other way round within 1 s (the time to clear a leg on the line);
  * no caller waits more than 1 s in a queue while a READY eligible agent exists;
  * a call the core has queued is a caller of the engine;
  * no span records a stack fault (an exception escaping the box's or the phones' handlers).
A reload starts the 1 s grace afresh: differences that arose while no CTI listened are caught
up when it starts.
At each restart and at the end, statistics recomputed from the event log (stats.py) equal the
engine's live counters.  At the end (every caller and phone hangs up, time runs out): every call
has a CLOSED CDR row and none is open, and no call is left in the core, the stacks or the engine.

The suite runs a modest number of examples.  The long run is `make cti-soak`: 10,000 runs as 20
processes of 500 (hypothesis keeps what every run chose, so one process grows about 1 MB a run).
One process of N runs:

    PRIBOX_LONG=N nice -n 10 .venv/bin/python -m pytest -q tests/acd -k property

(PRIBOX_LONG=1 means 10,000.)
"""

from __future__ import annotations

import os
import shutil
import tempfile

from hypothesis import HealthCheck, event, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pbx_cti.acd.distributor import CallActionError
from pbx_cti.cti.model import AgentState, CtiError, Strategy
from pbx_cti.cti.stats import TOTAL, compute
from pbx_cti.cdr.record import CLOSED
from tests.acd.center_rig import AGENTS, EXTENSIONS, QUEUE_OF_KEY, Center, PhoneScript, center_config

S = AgentState
QUEUES = tuple(QUEUE_OF_KEY.values())
REASONS = ("break", "lunch", "training")
GRACE = 1.0          # seconds a difference between core and engine may last (a leg clearing)
SLICE = 0.1          # the invariants' look while time passes
# After each action some time passes (often none: actions in the same instant race too).
PAUSES = st.sampled_from([0.0, 0.0, 0.05, 0.3, 1.0, 2.0])

_long = os.environ.get("PRIBOX_LONG", "")
EXAMPLES = (10_000 if _long in ("1", "yes", "true") else int(_long)) if _long else 30


class CenterMachine(RuleBasedStateMachine):
    CONFIG = None        # the box's configuration (None: the embedded default); subclasses may add to it
    POLICY = None        # pbx_cti.acd LostPolicy (None: the default)

    @initialize(strategies=st.lists(st.sampled_from(list(Strategy)), min_size=3, max_size=3),
                wrap_ups=st.lists(st.sampled_from([0.0, 1.5, None]), min_size=3, max_size=3),
                at_work=st.sets(st.sampled_from(AGENTS), min_size=1),
                announce=st.sampled_from([0.0, 2.0]),
                early_keys=st.lists(st.sampled_from(["1", "2", "3"]), min_size=1, max_size=4))
    def build(self, strategies, wrap_ups, at_work, announce, early_keys):
        self.dir = tempfile.mkdtemp(prefix="acd-props-")
        per_queue = {q: {"strategy": strategies[i], "wrap_up": wrap_ups[i], "ring_timeout": 3.0,
                         "announce_every": announce} for i, q in enumerate(QUEUES)}
        self.rig = Center(self.dir, center_config(**per_queue), config=self.CONFIG, policy=self.POLICY)
        self.since: dict[tuple, float] = {}     # a soft difference -> when it was first seen
        self.steps = 0
        for agent in sorted(at_work):
            self.request("login", agent, EXTENSIONS[agent])
            self.request("ready", agent)
        for key in early_keys:
            self.rig.place_call(key)

    # -------------------------------------------------------------- helpers
    @property
    def engine(self):
        return self.rig.engine

    def request(self, action: str, *args) -> None:
        """An agent's request through the runner, as the API makes it; refusals are fine."""
        try:
            self.rig.runner(action, *args)
        except CtiError:
            pass

    def run(self, seconds: float) -> None:
        end = self.rig.clock.now() + seconds
        while self.rig.clock.now() < end - 1e-9:
            self.rig.clock.run_until(min(end, self.rig.clock.now() + SLICE))
            self.check()

    def ring_all(self, call_id: str) -> bool:
        caller = self.engine.callers.get(call_id)
        queue = caller.queue if caller else self.rig.pbx.by_call[call_id].call.data.get("queue")
        return self.engine.config.queues[queue].strategy is Strategy.RING_ALL

    # -------------------------------------------------------------- callers
    @rule(key=st.sampled_from(["1", "2", "3", "1", "2", "3", "", "9"]), pause=PAUSES)
    def caller_dials(self, key, pause):
        self.rig.place_call(key)
        self.run(pause)

    @rule(data=st.data(), pause=PAUSES)
    def caller_hangs_up(self, data, pause):
        live = self.rig.live_calls()
        if live:
            self.rig.carrier.hangup(data.draw(st.sampled_from(live)), 16)
        self.run(pause)

    # -------------------------------------------------------------- agents
    @rule(agent=st.sampled_from(AGENTS), all_groups=st.booleans(), pause=PAUSES)
    def login(self, agent, all_groups, pause):
        skills = sorted(self.engine.config.agents[agent].skills)
        self.request("login", agent, EXTENSIONS[agent], None if all_groups else skills[:1])
        self.run(pause)

    @rule(agent=st.sampled_from(AGENTS), pause=PAUSES)
    def comes_to_work(self, agent, pause):
        if self.engine.agents[agent].state is S.LOGGED_OUT:
            self.request("login", agent, EXTENSIONS[agent])
        self.request("ready", agent)
        self.run(pause)

    @rule(agent=st.sampled_from(AGENTS), pause=PAUSES)
    def ready(self, agent, pause):
        self.request("ready", agent)
        self.run(pause)

    @rule(agent=st.sampled_from(AGENTS), reason=st.sampled_from(REASONS), pause=PAUSES)
    def not_ready(self, agent, reason, pause):
        self.request("not_ready", agent, reason)
        self.run(pause)

    @rule(agent=st.sampled_from(AGENTS), pause=PAUSES)
    def logout(self, agent, pause):
        self.request("logout", agent)
        self.run(pause)

    @rule(agent=st.sampled_from(AGENTS), action=st.sampled_from(["hold", "retrieve", "hang_up", "reject"]),
          pause=PAUSES)
    def call_action(self, agent, action, pause):
        try:
            getattr(self.rig.calls, action)(agent)
        except (CallActionError, CtiError):
            pass
        self.run(pause)

    @rule(agent=st.sampled_from(AGENTS), pause=PAUSES)
    def app_disconnects(self, agent, pause):
        self.rig.runner("app_disconnected", agent)
        self.run(pause)

    # -------------------------------------------------------------- phones
    @rule(agent=st.sampled_from(AGENTS),
          kind=st.sampled_from(["answer", "answer", "answer", "ring", "busy"]),
          after=st.sampled_from([0.2, 0.5, 1.0, 2.0, 2.95, 3.0, 4.0]),
          hang_up_after=st.sampled_from([None, None, 0.5, 2.0, 5.0]), pause=PAUSES)
    def phone_script(self, agent, kind, after, hang_up_after, pause):
        self.rig.phones.scripts[EXTENSIONS[agent]] = PhoneScript(kind, after, hang_up_after)
        self.run(pause)

    @rule(agent=st.sampled_from(AGENTS), pause=PAUSES)
    def phone_hangs_up(self, agent, pause):
        self.rig.phones.hang_up(EXTENSIONS[agent])
        self.run(pause)

    # -------------------------------------------------------------- the box
    @rule(gap=st.sampled_from([0.0, 0.0, 0.05, 0.3, 1.5]))
    def cti_restarts(self, gap):
        """A reload of [cti]: the core carries its calls on alone for `gap` seconds (the new
        engine reading the log); what happened meanwhile is caught up at the start."""
        self.rig.stop_cti()
        self.rig.clock.run_until(self.rig.clock.now() + gap)
        self.rig.start_cti()
        self.rig.restarts += 1
        self.since = {}          # the grace for differences starts again with the new engine
        self.statistics_match()

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.0, 3.0, 6.0]))
    def time_passes(self, seconds):
        self.run(seconds)

    @rule(seconds=st.sampled_from([0.01, 0.05, 0.1, 0.2, 0.3, 0.7]))
    def a_moment_passes(self, seconds):
        """Short enough to land between a SETUP and its answer, a DISCONNECT and its RELEASE."""
        self.run(seconds)

    # -------------------------------------------------------------- invariants
    @invariant()
    def consistent(self):
        self.steps += 1
        self.check()

    def check(self) -> None:
        rig, engine, now = self.rig, self.engine, self.rig.clock.now()
        offers, connected = rig.core_offers(), rig.core_connected()
        reserved = rig.engine_in_state(S.RESERVED)
        talking = rig.engine_in_state(S.TALKING, S.HOLD)
        # No handler of the box or the phones raised (the span logs those as stack faults).
        assert all(isdn.counters["faults"] == 0 for isdn in rig.stacks), "an ISDN stack fault"
        # An agent is in at most one call, in the core and in the engine.
        seen: dict[str, list[str]] = {}
        for call_id, agents in offers.items():
            for agent in agents:
                seen.setdefault(agent, []).append(call_id)
        for call_id, agent in connected.items():
            seen.setdefault(agent, []).append(call_id)
        assert all(len(calls) == 1 for calls in seen.values()), f"an agent in two calls in the core: {seen}"
        assert len(set(talking.values())) == len(talking), f"one caller talks to two agents: {talking}"
        # A caller rings at most one agent at a time (ring-all aside), and never once connected.
        for call_id, agents in offers.items():
            assert call_id not in connected, f"{call_id} rings {agents} while bridged to {connected[call_id]}"
            assert len(agents) <= 1 or self.ring_all(call_id), f"{call_id} rings {sorted(agents)}"
        for caller in engine.callers.values():
            assert len(caller.offer_agents) <= 1 or self.ring_all(caller.caller_id), \
                f"the engine offers {caller.caller_id} to {caller.offer_agents}"
        # What the core rings or bridges, the engine knows.
        for call_id, agents in offers.items():
            for agent in agents:
                assert reserved.get(agent) == call_id, \
                    f"the core rings {agent} for {call_id}; the engine has {engine.agents[agent].state}"
        for call_id, agent in connected.items():
            assert talking.get(agent) == call_id, \
                f"the core bridges {call_id} to {agent}; the engine has {engine.agents[agent].state}"
        # A caller the core has queued is in the engine.
        for call_id, active in rig.pbx.by_call.items():
            if active.call.data.get("queue"):
                assert call_id in engine.callers, f"{call_id} queued in the core, unknown to the engine"
        # Differences allowed for a moment: the engine's side first, the line follows.
        soft = set()
        for agent, call_id in reserved.items():
            if agent not in offers.get(call_id, ()):
                soft.add(("reserved, not rung", agent, call_id))
        for agent, call_id in talking.items():
            if connected.get(call_id) != agent:
                soft.add(("talking, not bridged", agent, call_id))
        for call_id in engine.callers:
            if call_id not in rig.pbx.by_call:
                soft.add(("a caller the core no longer has", call_id))
        ready = [a for a in engine.agents.values() if a.state is S.READY]
        for caller in engine.callers.values():
            if caller.status == "waiting":
                idle = sorted(a.agent_id for a in ready if engine.eligible(a, caller, rig.wall_now()))
                if idle:
                    soft.add(("waits while an eligible agent is idle", caller.caller_id, tuple(idle)))
        self.since = {k: self.since.get(k, now) for k in soft}
        late = {k: round(now - t, 3) for k, t in self.since.items() if now - t > GRACE + 1e-6}
        assert not late, f"for more than {GRACE} s: {late}"

    def statistics_match(self) -> None:
        rig = self.rig
        report = compute(rig.event_records(), now=rig.wall_now())
        for name, live in self.engine.queue_counters.items():
            row = report.queues.get((name, TOTAL))
            got = (0, 0, 0, 0) if row is None else (row.offered, row.answered, row.abandoned, row.handled)
            assert got == (live.offered, live.answered, live.abandoned, live.handled), \
                f"queue {name}: log {got}, live {live}"
            if row is not None:
                assert abs(row.wait_answered - live.wait_answered) < 1e-6
                assert abs(row.handle_time - live.handle_time) < 1e-6

    # -------------------------------------------------------------- the end
    def teardown(self):
        if not hasattr(self, "rig"):
            return
        rig = self.rig
        try:
            for call in rig.live_calls():
                rig.carrier.hangup(call, 16)
            for extension in EXTENSIONS.values():
                rig.phones.hang_up(extension)
            self.run(3.0)
            assert not rig.live_calls(), "a caller's call never cleared"
            assert not rig.pbx.active and not rig.pbx.outbound and not rig.pbx.by_call and not rig.pbx.overlap
            for isdn in rig.stacks:
                assert not isdn.stack.calls, f"span {isdn.span_id} still has calls {list(isdn.stack.calls)}"
            assert not self.engine.callers, f"stuck in the engine: {self.engine.snapshot()['callers']}"
            assert not rig.engine_in_state(S.RESERVED, S.TALKING, S.HOLD)
            rows = {row.call_id: row for row in rig.cdr_rows()}
            assert set(rows) == set(rig.started), "a call without a CDR row (or a row without a call)"
            assert all(row.state == CLOSED for row in rows.values()), \
                f"open CDRs: {[c for c, r in rows.items() if r.state != CLOSED]}"
            self.statistics_match()
            answered = sum(c.answered for c in self.engine.queue_counters.values())
            event(f"calls: {bucket(len(rows))}")
            event(f"answered: {bucket(answered)}")
            event(f"restarts: {bucket(rig.restarts)}")
            event(f"steps: {bucket(self.steps // 4)} x4, seconds {bucket(int(rig.clock.now()) // 5)} x5")
        finally:
            rig.close()
            shutil.rmtree(self.dir, ignore_errors=True)


def bucket(n: int) -> str:
    return next(label for top, label in ((0, "0"), (2, "1-2"), (5, "3-5"), (10, "6-10")) if n <= top) \
        if n <= 10 else "more than 10"


TestCenterProperty = CenterMachine.TestCase
TestCenterProperty.settings = settings(max_examples=EXAMPLES, stateful_step_count=40, deadline=None,
                               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                               print_blob=True)

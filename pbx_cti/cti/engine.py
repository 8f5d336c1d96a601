"""The CTI engine: agents, skill groups, queues and routing, as a sans-I/O state machine.

Inputs are method calls that carry `now` (wall-clock seconds: the one clock's `now` plus the
daemon's fixed wall offset).  Outputs are decisions (`pop_decisions()`) and the next timer
(`get_timer()` / `handle_timer(now)`).  No sockets, threads or clocks in here.

Event sourcing: every change of run-time state is written as a `LogRecord` and applied by
`_apply()`, the only code that mutates state.  `CtiEngine.restore()` replays the log through
the same `_apply()`, so an engine rebuilt after a restart is the engine that stopped.

Two kinds of input:
* agent requests (login, ready, not_ready, reject, hold, ...) raise `CtiError` subclasses when
  they are not allowed, naming agent, state and action; nothing changes then;
* facts from the call model (caller queued/abandoned, offer answered/failed, call ended, device
  presence, agent application gone) are never refused for being late: a stale one (e.g. an
  answer racing the caller's hang-up) returns False and changes nothing.

Fair order across groups: whenever an agent becomes READY it is offered the best waiting
caller among every queue served by every group it is logged into, "best" being highest
priority first, then longest waiting (time entered the queue), then arrival order.  A caller
whose offer ends unanswered keeps its original place, so it is again ahead of everyone who
arrived after it.  When a caller arrives (or a tier relaxes), the queue's strategy picks among
the READY eligible agents.  After every input no waiting caller has a READY eligible agent.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import itertools
import json
import logging
from dataclasses import dataclass, field

from .decisions import Announce, AgentStateChanged, Decision, Offer, PendingStateChange, WithdrawOffer
from .eventlog import (K_ABANDON, K_AGENT_STATE, K_CALL_END, K_CHECKPOINT, K_CONNECT, K_ENDPOINT, K_ENTER,
                       K_OFFER, K_OFFER_END, K_PENDING, K_WRAP_CODE, EventStore, LogRecord, MemoryEventStore)
from .model import (REASON_APP_DISCONNECTED, REASON_DEVICE_UNAVAILABLE, REASON_LOGIN, REASON_OFFER_FAILED,
                    REASON_OFFER_REJECTED, REASON_RING_NO_ANSWER, SYSTEM_REASONS, AgentState, CtiConfig,
                    CtiError, InvalidTransition, Strategy, UnknownAgent, UnknownCaller)

log = logging.getLogger("pribox.cti")

S = AgentState
_HANDLING = (S.TALKING, S.HOLD, S.WRAP_UP)

WAITING, OFFERED, CONNECTED = "waiting", "offered", "connected"


@dataclass
class Agent:
    agent_id: str
    skills: dict[str, int]
    state: AgentState = S.LOGGED_OUT
    reason: str = ""
    since: float = 0.0
    endpoint: str = ""
    groups: tuple[str, ...] = ()
    caller: str = ""          # offered, connected, or just wrapped up
    queue: str = ""           # that caller's queue
    idle_since: float = 0.0   # when it last became READY (longest idle)
    calls: int = 0            # answered since login (fewest calls)
    wrap_until: float | None = None
    pending: str = ""         # NOT_READY reason to take once the call ends
    # A call of the agent's own, not from a queue (an outbound call, a consultation it was
    # called into): [state, reason] it goes back to when that call ends.
    resume: list | None = None


@dataclass
class Caller:
    caller_id: str
    queue: str
    priority: int
    entered: float
    order: int                # arrival order, the last tie-break of a queue's order
    info: dict
    status: str = WAITING
    offer_id: int = 0
    offer_agents: list[str] = field(default_factory=list)
    offer_deadline: float = 0.0
    agent: str = ""
    connected_at: float = 0.0
    tier_timer_at: float | None = None

    @property
    def key(self) -> tuple:
        return (-self.priority, self.entered, self.order, self.caller_id)


@dataclass
class QueueCounters:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    handled: int = 0
    wait_answered: float = 0.0   # sum of waits of answered callers
    handle_time: float = 0.0     # closed talk + hold + wrap-up attributed to the queue


def _operation(method):
    """An input of the engine: its records reach the store together, as one transaction, so
    a crash never leaves half an operation in the log (an offer without its agent reserved)."""

    @functools.wraps(method)
    def run(self, now, *args, **kwargs):
        self._depth += 1
        try:
            return method(self, now, *args, **kwargs)
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._commit(now)
    return run


class CtiEngine:
    def __init__(self, config: CtiConfig, store: EventStore | None = None, checkpoint_every: int = 10_000):
        self.config = config
        # A checkpoint record every so many records bounds what a restart replays.
        self.checkpoint_every = checkpoint_every
        self._since_checkpoint = 0
        self._depth = 0
        self._unwritten: list[LogRecord] = []
        self.store = store if store is not None else MemoryEventStore()
        self.agents = {a: Agent(a, dict(cfg.skills)) for a, cfg in config.agents.items()}
        self.callers: dict[str, Caller] = {}
        self.waiting: dict[str, list[tuple]] = {q: [] for q in config.queues}   # sorted Caller.key
        self.ready_in_group: dict[str, dict[str, None]] = {g: {} for g in config.groups}  # READY agents per group
        self.queues_of_group: dict[str, list[str]] = {g: [] for g in config.groups}
        for name, q in config.queues.items():
            self.queues_of_group[q.group].append(name)
        self.endpoint_down: set[str] = set()
        self.endpoint_agent: dict[str, str] = {}
        self.rr_last: dict[str, str] = {}
        self.queue_counters = {q: QueueCounters() for q in config.queues}
        self.agent_answered: dict[str, int] = {a: 0 for a in config.agents}
        self.agent_time: dict[str, dict[tuple[str, str], float]] = {a: {} for a in config.agents}
        self._seq = 0
        self._offer_ids = 0
        self._arrivals = 0
        self._decisions: list[Decision] = []
        self._timers: list[tuple] = []
        self._timer_seq = itertools.count()
        self._dirty_callers: set[str] = set()
        self._dirty_agents: set[str] = set()
        self._replaying = False
        self._forced: tuple[str, str] | None = None   # (agent, supervisor) while a force_state runs

    # ------------------------------------------------------------------ restart
    @classmethod
    def restore(cls, config: CtiConfig, store: EventStore, now: float, **kwargs) -> "CtiEngine":
        """Rebuild run-time state from the log (from its last checkpoint on), re-arm timers, and
        route what can be routed."""
        engine = cls(config, store, **kwargs)
        engine._replaying = True
        checkpoint = store.last_checkpoint()
        if checkpoint is not None:
            engine._load_state(checkpoint)
        for record in store.records(after_seq=checkpoint.seq if checkpoint else 0):
            engine._apply(record)
        engine._replaying = False
        for caller in engine.callers.values():
            if caller.status == OFFERED and not caller.offer_agents:
                # Every agent it rang has left the configuration: back to its place.
                caller.status = WAITING
                bisect.insort(engine.waiting[caller.queue], caller.key)
            if caller.status == OFFERED:
                engine._push_timer(caller.offer_deadline, "offer", caller.caller_id, caller.offer_id)
            if caller.status != CONNECTED:
                engine._schedule_announce(caller, now)
            if caller.status == WAITING:
                engine._dirty_callers.add(caller.caller_id)
        for agent in engine.agents.values():
            if agent.state is S.WRAP_UP and agent.wrap_until is not None:
                engine._push_timer(agent.wrap_until, "wrap", agent.agent_id, agent.wrap_until)
            if agent.state is S.READY:
                engine._dirty_agents.add(agent.agent_id)
        engine._dispatch(now)
        engine._commit(now)
        return engine

    # ------------------------------------------------------------------ outputs
    def pop_decisions(self) -> list[Decision]:
        out, self._decisions = self._decisions, []
        return out

    def get_timer(self) -> float | None:
        while self._timers and not self._timer_valid(self._timers[0]):
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    @_operation
    def handle_timer(self, now: float) -> None:
        while True:
            when = self.get_timer()
            if when is None or when > now:
                break
            _, _, kind, key, token = heapq.heappop(self._timers)
            if kind == "offer":
                caller = self.callers[key]
                for agent_id in list(caller.offer_agents):
                    self._end_offer(now, caller, agent_id, REASON_RING_NO_ANSWER, S.NOT_READY,
                                    REASON_RING_NO_ANSWER)
            elif kind == "wrap":
                self._set_state(now, self.agents[key], S.READY)
            elif kind == "tier":
                self.callers[key].tier_timer_at = None
                self._dirty_callers.add(key)
            elif kind == "announce":
                # Kept running while the caller rings at an agent, so a caller that comes back
                # to the queue hears its place again in time.
                caller = self.callers[key]
                if caller.status == WAITING:
                    self._announce(now, caller)
                self._schedule_announce(caller, now)
        self._dispatch(now)

    # ------------------------------------------------------------------ agent requests
    @_operation
    def login(self, now: float, agent_id: str, endpoint: str, groups: list[str] | None = None) -> None:
        agent = self._agent(agent_id)
        if agent.state is not S.LOGGED_OUT:
            raise InvalidTransition(agent_id, agent.state, "log in", "already logged in")
        if not endpoint:
            raise CtiError(f"agent {agent_id!r}: login needs an endpoint")
        holder = self.endpoint_agent.get(endpoint)
        if holder is not None and holder != agent_id:
            raise CtiError(f"agent {agent_id!r}: endpoint {endpoint!r} is in use by agent {holder!r}")
        chosen = list(agent.skills) if groups is None else list(groups)
        unknown = [g for g in chosen if g not in agent.skills]
        if unknown:
            raise CtiError(f"agent {agent_id!r} has no skill in group(s) {', '.join(map(repr, unknown))}")
        self._set_state(now, agent, S.NOT_READY, REASON_LOGIN,
                        extra={"endpoint": endpoint, "groups": sorted(set(chosen))})
        self._dispatch(now)

    @_operation
    def logout(self, now: float, agent_id: str) -> None:
        agent = self._agent(agent_id)
        if agent.state in (S.LOGGED_OUT, S.TALKING, S.HOLD):
            raise InvalidTransition(agent_id, agent.state, "log out",
                                    "not logged in" if agent.state is S.LOGGED_OUT else "a call is in progress")
        if agent.state is S.RESERVED:
            self._end_offer(now, self.callers[agent.caller], agent_id, "withdrawn", S.LOGGED_OUT, "logout")
        else:
            self._set_state(now, agent, S.LOGGED_OUT, "logout")
        self._dispatch(now)

    @_operation
    def ready(self, now: float, agent_id: str) -> None:
        agent = self._agent(agent_id)
        if agent.state not in (S.NOT_READY, S.WRAP_UP):
            raise InvalidTransition(agent_id, agent.state, "go ready")
        if agent.endpoint in self.endpoint_down:
            raise InvalidTransition(agent_id, agent.state, "go ready", f"endpoint {agent.endpoint!r} is unavailable")
        self._set_state(now, agent, S.READY)
        self._dispatch(now)

    @_operation
    def not_ready(self, now: float, agent_id: str, reason: str) -> None:
        agent = self._agent(agent_id)
        self._check_reason(agent_id, reason)
        if agent.state is S.LOGGED_OUT:
            raise InvalidTransition(agent_id, agent.state, "go not ready", "not logged in")
        if agent.state is S.NOT_READY and agent.reason == reason:
            raise InvalidTransition(agent_id, agent.state, "go not ready", f"already not ready with {reason!r}")
        self._to_not_ready(now, agent, reason, "withdrawn")
        self._dispatch(now)

    @_operation
    def reject(self, now: float, agent_id: str) -> None:
        agent = self._agent(agent_id)
        if agent.state is not S.RESERVED:
            raise InvalidTransition(agent_id, agent.state, "reject", "no call is offered")
        self._end_offer(now, self.callers[agent.caller], agent_id, "rejected", S.NOT_READY, REASON_OFFER_REJECTED)
        self._dispatch(now)

    @_operation
    def hold(self, now: float, agent_id: str) -> None:
        agent = self._agent(agent_id)
        if agent.state is not S.TALKING:
            raise InvalidTransition(agent_id, agent.state, "hold", "no call is talking")
        # A call of the agent's own keeps its kind (outbound, consult) as the reason.
        self._set_state(now, agent, S.HOLD, agent.reason if agent.resume is not None else "")

    @_operation
    def retrieve(self, now: float, agent_id: str) -> None:
        agent = self._agent(agent_id)
        if agent.state is not S.HOLD:
            raise InvalidTransition(agent_id, agent.state, "retrieve", "no call is on hold")
        # A call of the agent's own keeps its kind (outbound, consult) as the reason.
        self._set_state(now, agent, S.TALKING, agent.reason if agent.resume is not None else "")

    @_operation
    def wrap_up_code(self, now: float, agent_id: str, code: str, note: str = "") -> None:
        agent = self._agent(agent_id)
        if agent.state not in _HANDLING:
            raise InvalidTransition(agent_id, agent.state, "set a wrap-up code", "no call is being handled")
        if not code or (self.config.wrap_up_codes and code not in self.config.wrap_up_codes):
            raise CtiError(f"agent {agent_id!r}: unknown wrap-up code {code!r}")
        # The agent's note goes into the log beside the code (only when there is one).
        extra = {"note": note} if note else {}
        self._emit(now, K_WRAP_CODE, agent.queue, agent.caller, agent_id, code=code, **extra)

    # ------------------------------------------------------------------ facts from the call model
    @_operation
    def caller_queued(self, now: float, caller_id: str, queue: str, priority: int = 0,
                      info: dict | None = None) -> None:
        if queue not in self.config.queues:
            raise CtiError(f"caller {caller_id!r}: unknown queue {queue!r}")
        if caller_id in self.callers:
            raise CtiError(f"caller {caller_id!r} is already in queue {self.callers[caller_id].queue!r}")
        try:
            json.dumps(info or {})
        except (TypeError, ValueError) as exc:
            raise CtiError(f"caller {caller_id!r}: info must be JSON data (it is logged): {exc}") from None
        if not isinstance(priority, int):
            raise CtiError(f"caller {caller_id!r}: priority must be an integer, got {priority!r}")
        self._emit(now, K_ENTER, queue, caller_id, priority=priority, info=dict(info or {}))
        caller = self.callers[caller_id]
        self._dirty_callers.add(caller_id)
        self._dispatch(now)
        if caller.status == WAITING and self.config.queues[queue].announce_every > 0:
            self._announce(now, caller)
            self._schedule_announce(caller, now)

    @_operation
    def caller_abandoned(self, now: float, caller_id: str, reason: str = "hangup") -> bool:
        """The caller left before an agent answered (a connected caller's hang-up ends the call)."""
        caller = self.callers.get(caller_id)
        if caller is None:
            return False
        if caller.status == CONNECTED:
            return self.call_ended(now, caller_id)
        offered = list(caller.offer_agents)
        self._emit(now, K_ABANDON, caller.queue, caller_id, wait=now - caller.entered, reason=reason)
        for agent_id in offered:
            self._end_offer(now, caller, agent_id, "abandoned", S.READY, "")
        self._dispatch(now)
        return True

    @_operation
    def offer_answered(self, now: float, caller_id: str, agent_id: str) -> bool:
        caller = self.callers.get(caller_id)
        if caller is None or caller.status != OFFERED or agent_id not in caller.offer_agents:
            return False
        others = [a for a in caller.offer_agents if a != agent_id]
        self._emit(now, K_CONNECT, caller.queue, caller_id, agent_id, wait=now - caller.entered)
        for other in others:
            self._end_offer(now, caller, other, "answered-elsewhere", S.READY, "")
        self._set_state(now, self.agents[agent_id], S.TALKING, caller=caller_id)
        self._dispatch(now)
        return True

    @_operation
    def offer_failed(self, now: float, caller_id: str, agent_id: str,
                     reason: str = REASON_OFFER_FAILED) -> bool:
        """The endpoint could not be rung or gave up (busy, unreachable, its own no-answer)."""
        caller = self.callers.get(caller_id)
        if caller is None or caller.status != OFFERED or agent_id not in caller.offer_agents:
            return False
        if reason not in (REASON_OFFER_FAILED, REASON_RING_NO_ANSWER):
            reason = REASON_OFFER_FAILED
        self._end_offer(now, caller, agent_id, reason, S.NOT_READY, reason)
        self._dispatch(now)
        return True

    @_operation
    def call_ended(self, now: float, caller_id: str) -> bool:
        caller = self.callers.get(caller_id)
        if caller is None:
            return False
        if caller.status != CONNECTED:
            return self.caller_abandoned(now, caller_id)
        agent = self.agents.get(caller.agent)
        self._emit(now, K_CALL_END, caller.queue, caller_id, caller.agent, talk=now - caller.connected_at)
        wrap = self.config.queues[caller.queue].wrap_up
        if agent is None or agent.caller != caller_id:
            pass  # the agent left the configuration (or the call) before a restart
        elif agent.pending:
            self._set_state(now, agent, S.NOT_READY, agent.pending)
        elif wrap == 0:
            self._set_state(now, agent, S.READY)
        else:
            until = None if wrap is None else now + wrap
            self._set_state(now, agent, S.WRAP_UP, caller=caller_id, queue=caller.queue,
                            extra={"wrap_until": until})
        self._dispatch(now)
        return True

    @_operation
    def app_disconnected(self, now: float, agent_id: str) -> bool:
        """The agent's application went away: the agent is not ready; a call in progress is kept."""
        agent = self.agents.get(agent_id)
        if agent is None or agent.state is S.LOGGED_OUT:
            return False
        if agent.state is S.NOT_READY and agent.reason == REASON_APP_DISCONNECTED:
            return False
        self._to_not_ready(now, agent, REASON_APP_DISCONNECTED, "withdrawn")
        self._dispatch(now)
        return True

    @_operation
    def endpoint_presence(self, now: float, endpoint: str, available: bool) -> bool:
        if available == (endpoint not in self.endpoint_down):
            return False
        self._emit(now, K_ENDPOINT, endpoint=endpoint, available=available)
        agent_id = self.endpoint_agent.get(endpoint)
        if not available and agent_id is not None:
            agent = self.agents[agent_id]
            if not (agent.state is S.NOT_READY and agent.reason == REASON_DEVICE_UNAVAILABLE):
                self._to_not_ready(now, agent, REASON_DEVICE_UNAVAILABLE, REASON_OFFER_FAILED)
        self._dispatch(now)
        return True

    @_operation
    def force_state(self, now: float, agent_id: str, state: str, reason: str, by: str) -> None:
        """A supervisor sets the agent READY, NOT_READY (with a reason) or LOGGED_OUT; the state
        record (or the pending record, during a call) names the supervisor as `forced_by`."""
        self._agent(agent_id)
        if not by:
            raise CtiError(f"agent {agent_id!r}: a forced state names the supervisor who forced it")
        self._forced = (agent_id, by)
        try:
            if state == S.READY.value:
                self.ready(now, agent_id)
            elif state == S.NOT_READY.value:
                self.not_ready(now, agent_id, reason)
            elif state == S.LOGGED_OUT.value:
                self.logout(now, agent_id)
            else:
                raise CtiError(f"agent {agent_id!r}: a supervisor may force READY, NOT_READY or LOGGED_OUT, "
                               f"not {state!r}")
        finally:
            self._forced = None

    @_operation
    def agent_call_started(self, now: float, agent_id: str, call_id: str, kind: str) -> None:
        """The agent is busy with a call of its own (`kind`: "outbound" for a call it places,
        "consult" for a colleague's consultation it is called into): TALKING with `kind` as
        the reason, no queue; `agent_call_ended` puts it back where it was."""
        agent = self._agent(agent_id)
        if agent.state not in (S.READY, S.NOT_READY):
            raise InvalidTransition(agent_id, agent.state, f"take a call of its own ({kind})",
                                    "only a READY or NOT_READY agent can")
        if not call_id:
            raise CtiError(f"agent {agent_id!r}: a call of its own ({kind}) needs the call's id")
        resume = [agent.state.value, agent.reason]
        self._set_state(now, agent, S.TALKING, kind, caller=call_id, extra={"resume": resume})
        self._dispatch(now)

    @_operation
    def agent_call_ended(self, now: float, agent_id: str, call_id: str) -> bool:
        """The agent's own call is over: back to the state it had before (or NOT_READY with the
        reason it asked for meanwhile).  A stale or unknown call changes nothing (False)."""
        agent = self.agents.get(agent_id)
        if agent is None or agent.resume is None or agent.caller != call_id or agent.state not in (S.TALKING, S.HOLD):
            return False
        state, reason = agent.resume
        if agent.pending:
            self._set_state(now, agent, S.NOT_READY, agent.pending)
        elif state == S.READY.value and agent.endpoint not in self.endpoint_down:
            self._set_state(now, agent, S.READY)
        else:
            self._set_state(now, agent, S.NOT_READY,
                            reason if state == S.NOT_READY.value else REASON_DEVICE_UNAVAILABLE)
        self._dispatch(now)
        return True

    def own_calls(self) -> dict[str, str]:
        """agent -> the id of the call of its own (outbound or consulted) it is busy with."""
        return {a.agent_id: a.caller for a in self.agents.values() if a.resume is not None and a.caller}

    @_operation
    def clear_calls(self, now: float, reason: str = "daemon-stop") -> None:
        """The box stops (or starts after a crash) and every call toward the carrier is gone:
        close each in the log, callers as abandoned, connected calls as ended."""
        for caller_id in sorted(self.callers, key=lambda c: self.callers[c].order):
            caller = self.callers.get(caller_id)
            if caller is None:
                continue
            if caller.status == CONNECTED:
                self.call_ended(now, caller_id)
            else:
                self.caller_abandoned(now, caller_id, reason)
        for agent_id, call_id in self.own_calls().items():
            self.agent_call_ended(now, agent_id, call_id)

    # ------------------------------------------------------------------ queries
    def position(self, caller_id: str) -> int:
        caller = self.callers.get(caller_id)
        if caller is None:
            raise UnknownCaller(caller_id)
        if caller.status != WAITING:
            return 0
        return bisect.bisect_left(self.waiting[caller.queue], caller.key) + 1

    def estimated_wait(self, queue: str, position: int) -> float | None:
        q = self.config.queues[queue]
        staffed = sum(1 for a in self.config.groups_by_name[q.group]
                      if self.agents[a].state not in (S.LOGGED_OUT, S.NOT_READY) and q.group in self.agents[a].groups)
        if staffed == 0:
            return None
        counters = self.queue_counters[queue]
        aht = counters.handle_time / counters.handled if counters.handled else q.default_handle_time
        return aht * -(-position // staffed)

    def eligible(self, agent: Agent, caller: Caller, now: float) -> bool:
        q = self.config.queues[caller.queue]
        return q.group in agent.groups and agent.skills[q.group] >= q.min_level(now - caller.entered)

    def snapshot(self) -> dict:
        """Run-time state as plain data (tests compare a live engine with one restored from its log)."""
        return {
            "agents": {a.agent_id: (a.state.value, a.reason, a.since, a.endpoint, a.groups, a.caller, a.queue,
                                    a.idle_since, a.calls, a.wrap_until, a.pending, a.resume)
                       for a in self.agents.values()},
            "callers": {c.caller_id: (c.queue, c.priority, c.entered, c.status, c.offer_id, tuple(c.offer_agents),
                                      c.offer_deadline, c.agent, c.connected_at)
                        for c in self.callers.values()},
            "waiting": {q: [k[-1] for k in keys] for q, keys in self.waiting.items()},
            "endpoint_down": sorted(self.endpoint_down),
            "rr_last": dict(self.rr_last),
            "queue_counters": {q: vars(c).copy() for q, c in self.queue_counters.items()},
            "agent_answered": dict(self.agent_answered),
            "agent_time": {a: dict(t) for a, t in self.agent_time.items()},
            "seq": self._seq,
        }

    def agent_time_at(self, now: float) -> dict[str, dict[tuple[str, str], float]]:
        """Each agent's seconds per (state, reason), the current state counted up to `now`."""
        out = {a: dict(t) for a, t in self.agent_time.items()}
        for agent in self.agents.values():
            if agent.state is not S.LOGGED_OUT:
                key = (agent.state.value, agent.reason)
                out[agent.agent_id][key] = out[agent.agent_id].get(key, 0.0) + now - agent.since
        return out

    # ------------------------------------------------------------------ routing
    def _dispatch(self, now: float) -> None:
        while self._dirty_callers or self._dirty_agents:
            if self._dirty_callers:
                callers = sorted((self.callers[c] for c in self._dirty_callers
                                  if c in self.callers and self.callers[c].status == WAITING),
                                 key=lambda c: c.key)
                self._dirty_callers.clear()
                for caller in callers:
                    if caller.status == WAITING:
                        self._route_caller(now, caller)
                continue
            agent_id = min(self._dirty_agents, key=lambda a: (self.agents[a].idle_since, a))
            self._dirty_agents.discard(agent_id)
            agent = self.agents[agent_id]
            while agent.state is S.READY:
                caller = self._best_caller_for(now, agent)
                if caller is None:
                    break
                self._route_caller(now, caller)

    def _best_caller_for(self, now: float, agent: Agent) -> Caller | None:
        best: Caller | None = None
        for group in agent.groups:
            level = agent.skills[group]
            for queue_name in self.queues_of_group[group]:
                q = self.config.queues[queue_name]
                for key in self.waiting[queue_name]:
                    if best is not None and key >= best.key:
                        break
                    caller = self.callers[key[-1]]
                    if level >= q.min_level(now - caller.entered):
                        best = caller
                        break
        return best

    def _route_caller(self, now: float, caller: Caller) -> None:
        q = self.config.queues[caller.queue]
        waited = now - caller.entered
        min_level = q.min_level(waited)
        candidates = [self.agents[a] for a in self.ready_in_group[q.group]
                      if self.agents[a].skills[q.group] >= min_level]
        if not candidates:
            relax_after = q.next_relaxation(waited)
            if relax_after is not None and caller.tier_timer_at is None:
                caller.tier_timer_at = caller.entered + relax_after
                self._push_timer(caller.tier_timer_at, "tier", caller.caller_id, caller.tier_timer_at)
            return
        strategy = q.strategy
        if strategy is Strategy.RING_ALL:
            chosen = sorted(a.agent_id for a in candidates)
        elif strategy is Strategy.FEWEST_CALLS:
            chosen = [min(candidates, key=lambda a: (a.calls, a.idle_since, a.agent_id)).agent_id]
        elif strategy is Strategy.SKILL_TIERS:
            chosen = [min(candidates, key=lambda a: (-a.skills[q.group], a.idle_since, a.agent_id)).agent_id]
        elif strategy is Strategy.ROUND_ROBIN:
            members = self.config.groups_by_name[q.group]
            last = self.rr_last.get(caller.queue)
            start = members.index(last) + 1 if last in members else 0
            names = {a.agent_id for a in candidates}
            chosen = next([members[(start + i) % len(members)]] for i in range(len(members))
                          if members[(start + i) % len(members)] in names)
        else:
            chosen = [min(candidates, key=lambda a: (a.idle_since, a.agent_id)).agent_id]
        self._offer(now, caller, chosen)

    def _offer(self, now: float, caller: Caller, agent_ids: list[str]) -> None:
        q = self.config.queues[caller.queue]
        offer_id = self._offer_ids + 1
        deadline = now + q.ring_timeout
        self._emit(now, K_OFFER, caller.queue, caller.caller_id, agents=agent_ids, offer=offer_id, deadline=deadline)
        for agent_id in agent_ids:
            agent = self.agents[agent_id]
            self._set_state(now, agent, S.RESERVED, caller=caller.caller_id, queue=caller.queue,
                            extra={"idle_since": agent.idle_since})
            self._decisions.append(Offer(now, caller.caller_id, caller.queue, agent_id, agent.endpoint, offer_id,
                                         q.ring_timeout, dict(caller.info)))
        self._push_timer(deadline, "offer", caller.caller_id, offer_id)

    def _end_offer(self, now: float, caller: Caller, agent_id: str, outcome: str,
                   next_state: AgentState, reason: str) -> None:
        """Take one agent off a caller's offer; the caller goes back to its place when no agent
        is left ringing (unless it is gone or connected)."""
        agent = self.agents[agent_id]
        self._emit(now, K_OFFER_END, caller.queue, caller.caller_id, agent_id, outcome=outcome, offer=caller.offer_id)
        self._decisions.append(WithdrawOffer(now, caller.caller_id, agent_id, agent.endpoint, caller.offer_id,
                                             outcome))
        extra = {"idle_since": agent.idle_since} if next_state is S.READY else None
        self._set_state(now, agent, next_state, reason, extra=extra)
        if caller.caller_id in self.callers and caller.status == WAITING:
            self._dirty_callers.add(caller.caller_id)

    def _to_not_ready(self, now: float, agent: Agent, reason: str, offer_outcome: str) -> None:
        if agent.state in (S.TALKING, S.HOLD):
            forced = {"forced_by": self._forced[1]} if self._forced and self._forced[0] == agent.agent_id else {}
            self._emit(now, K_PENDING, agent.queue, agent.caller, agent.agent_id, reason=reason, **forced)
            self._decisions.append(PendingStateChange(now, agent.agent_id, reason))
        elif agent.state is S.RESERVED:
            self._end_offer(now, self.callers[agent.caller], agent.agent_id, offer_outcome, S.NOT_READY, reason)
        else:
            self._set_state(now, agent, S.NOT_READY, reason)

    def _set_state(self, now: float, agent: Agent, state: AgentState, reason: str = "", caller: str = "",
                   queue: str = "", extra: dict | None = None) -> None:
        previous = agent.state
        if state in (S.RESERVED, S.TALKING, S.HOLD, S.WRAP_UP):
            # Every handling record names its call and queue, so statistics need no context.
            caller = caller or agent.caller
            queue = queue or (self.callers[caller].queue if caller in self.callers else agent.queue)
        data = {"state": state.value, "reason": reason, **(extra or {})}
        if self._forced is not None and self._forced[0] == agent.agent_id:
            data["forced_by"] = self._forced[1]
        self._emit(now, K_AGENT_STATE, queue, caller, agent.agent_id, **data)
        self._decisions.append(AgentStateChanged(now, agent.agent_id, previous, state, reason, caller))

    # ------------------------------------------------------------------ announcements and timers
    def _announce(self, now: float, caller: Caller) -> None:
        position = self.position(caller.caller_id)
        self._decisions.append(Announce(now, caller.caller_id, caller.queue, position,
                                        self.estimated_wait(caller.queue, position)))

    def _schedule_announce(self, caller: Caller, now: float) -> None:
        every = self.config.queues[caller.queue].announce_every
        if every > 0:
            self._push_timer(now + every, "announce", caller.caller_id, now + every)

    def _push_timer(self, when: float, kind: str, key: str, token) -> None:
        heapq.heappush(self._timers, (when, next(self._timer_seq), kind, key, token))

    def _timer_valid(self, entry: tuple) -> bool:
        when, _, kind, key, token = entry
        if kind == "wrap":
            agent = self.agents[key]
            return agent.state is S.WRAP_UP and agent.wrap_until == token
        caller = self.callers.get(key)
        if caller is None:
            return False
        if kind == "offer":
            return caller.status == OFFERED and caller.offer_id == token
        if kind == "tier":
            return caller.status == WAITING and caller.tier_timer_at == token
        return caller.status != CONNECTED  # announce

    # ------------------------------------------------------------------ the log
    def _emit(self, now: float, kind: str, queue: str = "", caller: str = "", agent: str = "", **data) -> None:
        self._seq += 1
        record = LogRecord(self._seq, now, kind, queue, caller, agent, data)
        self._apply(record)
        self._unwritten.append(record)

    def _commit(self, now: float) -> None:
        if not self._unwritten:
            return
        records, self._unwritten = self._unwritten, []
        self._since_checkpoint += len(records)
        if self.checkpoint_every and self._since_checkpoint >= self.checkpoint_every:
            self._since_checkpoint = 0
            self._seq += 1
            records.append(self._checkpoint_record(now))
        self.store.append_many(records)

    def checkpoint(self, now: float) -> None:
        """Write the whole run-time state as one record; a restart replays only what follows."""
        self._commit(now)
        self._since_checkpoint = 0
        self._seq += 1
        self.store.append_many([self._checkpoint_record(now)])

    def _checkpoint_record(self, now: float) -> LogRecord:
        return LogRecord(self._seq, now, K_CHECKPOINT, data=self._state_data())

    def _state_data(self) -> dict:
        """Fresh containers throughout: the record must not change with the live state."""
        return {
            "agents": {a.agent_id: {"state": a.state.value, "reason": a.reason, "since": a.since,
                                    "endpoint": a.endpoint, "groups": list(a.groups), "caller": a.caller,
                                    "queue": a.queue, "idle_since": a.idle_since, "calls": a.calls,
                                    "wrap_until": a.wrap_until, "pending": a.pending, "resume": a.resume}
                       for a in self.agents.values()},
            "callers": [{"caller": c.caller_id, "queue": c.queue, "priority": c.priority, "entered": c.entered,
                         "order": c.order, "info": dict(c.info), "status": c.status, "offer_id": c.offer_id,
                         "offer_agents": list(c.offer_agents), "offer_deadline": c.offer_deadline, "agent": c.agent,
                         "connected_at": c.connected_at} for c in self.callers.values()],
            "endpoint_down": sorted(self.endpoint_down),
            "rr_last": dict(self.rr_last),
            "queue_counters": {q: dict(vars(c)) for q, c in self.queue_counters.items()},
            "agent_answered": dict(self.agent_answered),
            "agent_time": {a: [[s, r, v] for (s, r), v in t.items()] for a, t in self.agent_time.items() if t},
            "offer_ids": self._offer_ids,
            "arrivals": self._arrivals,
        }

    def _load_state(self, record: LogRecord) -> None:
        d = record.data
        self._seq = record.seq
        self._offer_ids, self._arrivals = d["offer_ids"], d["arrivals"]
        self.endpoint_down = set(d["endpoint_down"])
        self.rr_last = dict(d["rr_last"])
        for agent_id, saved in d["agents"].items():
            agent = self.agents.get(agent_id)
            if agent is None:
                continue
            for name, value in saved.items():
                setattr(agent, name, value)
            agent.state = S(saved["state"])
            agent.groups = tuple(g for g in saved["groups"] if g in agent.skills)
            self.endpoint_agent[agent.endpoint] = agent_id
            if agent.state is S.READY:
                for group in agent.groups:
                    self.ready_in_group[group][agent_id] = None
        for saved in d["callers"]:
            if saved["queue"] not in self.config.queues:
                continue
            caller = Caller(saved["caller"], saved["queue"], saved["priority"], saved["entered"], saved["order"],
                            saved["info"], saved["status"], saved["offer_id"],
                            [a for a in saved["offer_agents"] if a in self.agents], saved["offer_deadline"],
                            saved["agent"], saved["connected_at"])
            self.callers[caller.caller_id] = caller
            if caller.status == WAITING:
                bisect.insort(self.waiting[caller.queue], caller.key)
        for queue, counters in d["queue_counters"].items():
            if queue in self.queue_counters:
                self.queue_counters[queue] = QueueCounters(**counters)
        for agent_id, count in d["agent_answered"].items():
            if agent_id in self.agent_answered:
                self.agent_answered[agent_id] = count
        for agent_id, rows in d["agent_time"].items():
            if agent_id in self.agent_time:
                self.agent_time[agent_id] = {(s, r): v for s, r, v in rows}

    def _apply(self, r: LogRecord) -> None:
        """The only place run-time state changes; replay at restart goes through here too."""
        self._seq = max(self._seq, r.seq)
        d = r.data
        kind = r.kind
        if kind == K_AGENT_STATE:
            agent = self.agents.get(r.agent)
            if agent is None:
                log.warning("event log record %d: agent %r is no longer configured; skipped", r.seq, r.agent)
                return
            self._apply_agent_state(agent, r)
        elif kind == K_ENTER:
            if r.queue not in self.config.queues:
                log.warning("event log record %d: queue %r is no longer configured; caller %r dropped",
                            r.seq, r.queue, r.caller)
                return
            self._arrivals += 1
            caller = Caller(r.caller, r.queue, d["priority"], r.time, self._arrivals, d.get("info", {}))
            self.callers[r.caller] = caller
            bisect.insort(self.waiting[r.queue], caller.key)
            self.queue_counters[r.queue].offered += 1
        elif kind == K_OFFER:
            caller = self.callers.get(r.caller)
            if caller is None:
                return
            self._offer_ids = max(self._offer_ids, d["offer"])
            if caller.status == WAITING:
                self._unqueue(caller)
            caller.status, caller.offer_id = OFFERED, d["offer"]
            caller.offer_agents = [a for a in d["agents"] if a in self.agents]
            caller.offer_deadline = d["deadline"]
            caller.tier_timer_at = None
            self.rr_last[r.queue] = d["agents"][-1]
        elif kind == K_OFFER_END:
            caller = self.callers.get(r.caller)
            if caller is not None and caller.status == OFFERED and r.agent in caller.offer_agents:
                caller.offer_agents.remove(r.agent)
                if not caller.offer_agents:
                    caller.status = WAITING
                    bisect.insort(self.waiting[caller.queue], caller.key)
        elif kind == K_CONNECT:
            caller = self.callers.get(r.caller)
            if caller is None:
                return
            if caller.status == WAITING:
                self._unqueue(caller)
            caller.status, caller.agent, caller.connected_at = CONNECTED, r.agent, r.time
            caller.offer_agents = []
            counters = self.queue_counters[r.queue]
            counters.answered += 1
            counters.wait_answered += d["wait"]
            if r.agent in self.agents:
                self.agents[r.agent].calls += 1
                self.agent_answered[r.agent] += 1
        elif kind == K_ABANDON:
            caller = self.callers.pop(r.caller, None)
            if caller is None:
                return
            if caller.status == WAITING:
                self._unqueue(caller)
            self.queue_counters[r.queue].abandoned += 1
        elif kind == K_CALL_END:
            if self.callers.pop(r.caller, None) is not None:
                self.queue_counters[r.queue].handled += 1
        elif kind == K_PENDING:
            if r.agent in self.agents:
                self.agents[r.agent].pending = d["reason"]
        elif kind == K_ENDPOINT:
            if d["available"]:
                self.endpoint_down.discard(d["endpoint"])
            else:
                self.endpoint_down.add(d["endpoint"])

    def _apply_agent_state(self, agent: Agent, r: LogRecord) -> None:
        d = r.data
        state = S(d["state"])
        previous = agent.state
        if previous is not S.LOGGED_OUT:
            key = (previous.value, agent.reason)
            times = self.agent_time[agent.agent_id]
            times[key] = times.get(key, 0.0) + r.time - agent.since
            if previous in _HANDLING and agent.queue in self.queue_counters:
                self.queue_counters[agent.queue].handle_time += r.time - agent.since
        if previous is S.READY:
            for group in agent.groups:
                self.ready_in_group[group].pop(agent.agent_id, None)
        if previous is S.LOGGED_OUT:
            agent.endpoint = d.get("endpoint", "")
            agent.groups = tuple(g for g in d.get("groups", ()) if g in agent.skills)
            agent.calls = 0
            self.endpoint_agent[agent.endpoint] = agent.agent_id
        agent.state, agent.reason, agent.since = state, d.get("reason", ""), r.time
        if state in (S.RESERVED, S.TALKING, S.HOLD, S.WRAP_UP):
            agent.caller = r.caller or agent.caller
            agent.queue = r.queue or agent.queue
        else:
            agent.caller = agent.queue = ""
        if state not in (S.TALKING, S.HOLD):
            agent.pending = ""
            agent.resume = None
        elif "resume" in d:
            agent.resume = list(d["resume"])
        agent.wrap_until = d.get("wrap_until") if state is S.WRAP_UP else None
        if state is S.READY:
            agent.idle_since = d.get("idle_since", r.time)
            for group in agent.groups:
                self.ready_in_group[group][agent.agent_id] = None
            if not self._replaying:
                self._dirty_agents.add(agent.agent_id)
        elif state is S.RESERVED:
            agent.idle_since = d.get("idle_since", agent.idle_since)
        if state is S.WRAP_UP and agent.wrap_until is not None and not self._replaying:
            self._push_timer(agent.wrap_until, "wrap", agent.agent_id, agent.wrap_until)
        if state is S.LOGGED_OUT:
            self.endpoint_agent.pop(agent.endpoint, None)
            agent.endpoint, agent.groups = "", ()

    def _unqueue(self, caller: Caller) -> None:
        keys = self.waiting[caller.queue]
        index = bisect.bisect_left(keys, caller.key)
        if index < len(keys) and keys[index] == caller.key:
            del keys[index]

    # ------------------------------------------------------------------ helpers
    def _agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)
        return agent

    def _check_reason(self, agent_id: str, reason: str) -> None:
        if not reason:
            raise CtiError(f"agent {agent_id!r}: not ready needs a reason code")
        if reason in SYSTEM_REASONS:
            raise CtiError(f"agent {agent_id!r}: reason {reason!r} is reserved for the system")
        if self.config.not_ready_reasons and reason not in self.config.not_ready_reasons:
            raise CtiError(f"agent {agent_id!r}: unknown not-ready reason {reason!r} "
                           f"(configured: {', '.join(self.config.not_ready_reasons)})")

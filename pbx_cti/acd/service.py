"""The daemon's `cti` service: the CTI engine restored from its event log, its runner on the
box's clock and bus, and the distributor that queues the PBX's callers and rings agents.

The engine lives as long as the service: a reload of [cti] stops it (the log is flushed and
closed) and starts it again from the log, so agents' states, reasons and since-times survive.
Calls do not survive a restart of the daemon: at start every caller the log still holds that the
switching core no longer carries is closed in the log (abandoned, or its conversation ended); at
a shutdown the calls still queued or talking are closed the same way, and the ISDN service
clears them toward the carrier.  A reload keeps them: the core carries the calls on, and the
engine rebuilt from the log knows their places and agents.

Other services (the agent API) reach the running CTI through `center_for(ctx)`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref

from firmware.appliance.services import BOX_SERVICES, Health, Service, ServiceContext, StopReason
from pbx_cti.api.config_section import cti_config
from pbx_cti.cti.decisions import Offer
from pbx_cti.cti.engine import CtiEngine
from pbx_cti.cti.eventlog import MemoryEventStore, SqliteEventStore
from pbx_cti.cti.model import AgentState
from pbx_cti.cti.runner import CtiRunner
from pbx_cti.pbx.service import core_for
from runtime.bus import EventBus
from runtime.clock import Clock, TimerHandle

from .distributor import CONSULT_PREFIX, CallDistributor, LostPolicy, core_call_id

log = logging.getLogger("pribox.cti")

_RUNNING: "weakref.WeakKeyDictionary[EventBus, CtiService]" = weakref.WeakKeyDictionary()


def _running(service):
    """A peer service that has started (its store open), or None."""
    return service if service is not None and getattr(service, "store", None) is not None else None


def center_for(ctx: ServiceContext) -> "CtiService | None":
    """The daemon's running CTI service, or None."""
    service = _RUNNING.get(ctx.bus)
    return service if service is not None and service.runner is not None else None


class OwnedClock(Clock):
    """The box's clock, remembering the timers armed through it so a stop cancels them all."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self.handles: set[TimerHandle] = set()

    def now(self) -> float:
        return self.clock.now()

    def call_at(self, when: float, callback) -> TimerHandle:
        handle = self.clock.call_at(when, callback)
        now = self.clock.now()
        self.handles = {h for h in self.handles if not h.cancelled and h.when >= now} | {handle}
        return handle

    @property
    def real_time(self) -> bool:
        return self.clock.real_time

    def cancel_all(self) -> None:
        for handle in self.handles:
            handle.cancel()
        self.handles.clear()


def _restore(config, state_dir: str | None, now: float):
    """Blocking reads of the log: run in a worker thread."""
    store = SqliteEventStore.in_state_dir(state_dir) if state_dir else MemoryEventStore()
    try:
        return store, CtiEngine.restore(config, store, now)
    except BaseException:
        store.close()
        raise


def put_to_work(engine: CtiEngine, core, clock: Clock, bus: EventBus, wall_offset: float,
                recordings=None, policy: LostPolicy | None = None) -> tuple[CtiRunner, CallDistributor]:
    """A restored engine on the core: its runner and the distributor.  The distributor listens
    before the runner publishes anything, so an offer the engine makes at once (the agent of a
    caller closed here, a tier relaxed while the log was read) rings.  The core outlives a
    reload of [cti] with its calls; after a daemon restart it has none; either way the callers
    it no longer carries are closed."""
    distributor = CallDistributor(core, None, bus, clock, recordings=recordings, policy=policy)
    runner = distributor.runner = CtiRunner(engine, clock, bus, wall_offset)
    # An agent's own call (outbound, or a consultation it was called into) lives on while the
    # core carries it; one the core lost meanwhile is over for the agent.
    for agent_id, call_id in sorted(engine.own_calls().items()):
        if agent_id not in core.agents_on(call_id):
            runner("agent_call_ended", agent_id, call_id)
        else:
            distributor.own.setdefault(call_id, set()).add(agent_id)
    for caller_id in sorted(engine.callers, key=lambda c: engine.callers[c].order):
        caller = engine.callers.get(caller_id)
        if caller is None:
            continue
        if caller.info.get("callback") and caller.status == "waiting":
            continue       # a booked callback outlives the call that asked for it, and restarts
        if core.call(core_call_id(caller_id)) is None:
            runner("caller_abandoned", caller_id, "daemon-restart")
    distributor.queued.update({c: engine.callers[c].queue for c in engine.callers})
    # A caller parked for an agent whose device vanished waits on for the rest of its time (the
    # agent HOLD since it was parked, its leg gone or ringing again).
    for agent in engine.agents.values():
        caller = engine.callers.get(agent.caller)
        if agent.state is AgentState.HOLD and caller is not None and caller.agent == agent.agent_id and \
                caller.status == "connected" and core.call(agent.caller) is not None and \
                core.agents_on(agent.caller).get(agent.agent_id, "reconnect") == "reconnect":
            distributor.keep_parked(agent.agent_id, agent.caller,
                                    distributor.policy.hold_seconds - (runner.wall_now() - agent.since))
    # Consultations in progress carry on: the agent may still complete, cancel or conference.
    for call_id, (agent, party, dialled) in core.consultations().items():
        if agent:
            distributor.consulting[call_id] = (agent, f"agent:{party}" if party else f"extension:{dialled}", party)
    for caller_id, caller in engine.callers.items():
        if caller_id.startswith(CONSULT_PREFIX) and caller.info.get("consulted_by"):
            distributor.consulting[core_call_id(caller_id)] = (caller.info["consulted_by"], f"queue:{caller.queue}",
                                                               None)
    # An offer the core dropped while no CTI listened (the extension answered or gave up then)
    # rings again: the engine still counts on it until its ring timeout.
    for caller in list(engine.callers.values()):
        call_id = core_call_id(caller.caller_id)
        carried, ringing = core.call(call_id) is not None, core.ringing(call_id)
        if caller.caller_id.startswith(CONSULT_PREFIX):
            # Its leg is the call's consultation: answered while no CTI listened, it connects now.
            on = core.agents_on(call_id)
            ringing = {a for a, how in on.items() if how == "consult-ringing"}
            for agent_id in list(caller.offer_agents):
                if on.get(agent_id) == "consult":
                    runner("offer_answered", caller.caller_id, agent_id)
            if caller.caller_id not in engine.callers or core_call_id(caller.caller_id) not in distributor.consulting:
                continue
        for agent_id in list(caller.offer_agents):
            if carried and agent_id not in ringing:
                distributor._offer(Offer(runner.wall_now(), caller.caller_id, caller.queue, agent_id,
                                         engine.agents[agent_id].endpoint, caller.offer_id,
                                         engine.config.queues[caller.queue].ring_timeout, dict(caller.info)))
    return runner, distributor


class CtiService(Service):
    name = "cti"

    def __init__(self, config):
        self.config = config
        self.runner: CtiRunner | None = None
        self.distributor: CallDistributor | None = None
        self.store = None
        self.clock: OwnedClock | None = None
        self.bus: EventBus | None = None

    async def start(self, ctx: ServiceContext) -> None:
        cti = await asyncio.to_thread(cti_config, self.config.cti)
        self.clock = OwnedClock(ctx.clock)
        wall_offset = time.time() - ctx.clock.now()
        self.store, engine = await asyncio.to_thread(_restore, cti, ctx.state_dir, ctx.clock.now() + wall_offset)
        self.runner, self.distributor = put_to_work(engine, core_for(ctx), self.clock, ctx.bus, wall_offset,
                                                    recordings=lambda: _running(ctx.peer("recording")),
                                                    policy=LostPolicy.from_section(self.config.cti))
        self.bus = ctx.bus
        _RUNNING[ctx.bus] = self
        logged_in = sum(1 for s in engine.agents.values() if s.state is not AgentState.LOGGED_OUT)
        log.info("cti: %d agents, %d queues; %d agent(s) logged in from the log",
                 len(engine.agents), len(engine.config.queues), logged_in)

    async def stop(self, reason: StopReason) -> None:
        if self.bus is not None and _RUNNING.get(self.bus) is self:
            del _RUNNING[self.bus]
        if self.distributor is not None:
            self.distributor.close()
        if self.runner is not None and reason is StopReason.SHUTDOWN:
            # The ISDN service clears every call toward the carrier: each is closed in the log
            # now (booked callbacks still waiting stay booked).  On a reload the core keeps its
            # calls and the next engine, rebuilt from the same log, keeps their places in the
            # queues and their agents.
            engine = self.runner.engine
            for caller_id in sorted(engine.callers, key=lambda c: engine.callers[c].order):
                caller = engine.callers.get(caller_id)
                if caller is not None and not (caller.info.get("callback") and caller.status == "waiting"):
                    self.runner("caller_abandoned", caller_id, "daemon-stop")
        if self.clock is not None:
            self.clock.cancel_all()
        self.runner = None
        if self.store is not None:
            store, self.store = self.store, None
            await asyncio.to_thread(store.close)

    def health(self) -> Health:
        if self.runner is None:
            return Health(False, "not started")
        engine = self.runner.engine
        ready = sum(1 for a in engine.agents.values() if a.state is AgentState.READY)
        logged_in = sum(1 for a in engine.agents.values() if a.state is not AgentState.LOGGED_OUT)
        waiting = sum(len(w) for w in engine.waiting.values())
        return Health(True, f"{logged_in} agent(s) logged in, {ready} ready, {waiting} caller(s) waiting")


def _factory(config):
    cti = config.cti
    if cti is None or not cti.agent:
        return None
    return CtiService(config)


BOX_SERVICES.add("cti", _factory, sections=("cti",))

"""The contact center between the switching core and the CTI engine.

The core (`pbx_cti/pbx/core.py`) asks us to queue a caller when its IVR reaches a skill group,
and tells us when an agent's extension answered or gave up and when the caller is gone; the
engine (`pbx_cti/cti/engine.py`, through its runner) decides whom to ring, when to stop and
what the caller hears about its place.  This module turns one into the other:

    IVR route node -> route() -> engine.caller_queued -> Offer -> core.offer (the extension rings)
    extension answers -> agent_answered() -> engine.offer_answered -> the core bridges the two
    extension busy / no answer -> agent_failed() -> engine.offer_failed -> the next agent
    engine's ring timeout / answered elsewhere -> WithdrawOffer -> core.withdraw
    caller hangs up / conversation over -> call_gone() -> engine.call_ended (or abandoned)

An agent's endpoint is opaque to the engine: here, digits are an extension, which the core
rings on its registered SIP phone or else on the PBX's extension trunk (pbx_cti/pbx/endpoints.py).
The phone's presence (`ExtensionPresence`) is the engine's `endpoint_presence`.

An agent's requests about its call (hold, hang up, transfer, digits) come from the API through
`AgentCalls`, which checks them against the engine and carries them out on the core.
"""

from __future__ import annotations

import logging

from firmware.isdn.q931.causes import Cause
from pbx_cti.cti.decisions import Announce, Offer, WithdrawOffer
from pbx_cti.pbx.core import NoFreeChannel
from pbx_cti.pbx.presence import ExtensionPresence
from pbx_cti.cti.model import REASON_OFFER_FAILED, REASON_RING_NO_ANSWER, AgentState, CtiError
from runtime.bus import EventBus
from runtime.clock import Clock

from .music import hold_music

log = logging.getLogger("pribox.acd")

# An offer the box could not ring because its own trunk toward the agents had no free channel
# (calls just ended still releasing, or the D-channel re-establishing) rings again this often
# while it stands; the queue's ring timeout still ends it.
RING_AGAIN_S = 0.25
CALLBACK_PREFIX = "cb-"          # the engine's caller id of a callback request: cb-<the call that asked>


class RouteRefused(str):
    """Why a caller was not queued; `no_agents` when nobody of the group is logged in (the IVR
    may take another exit then: waiting would be pointless)."""

    def __new__(cls, reason: str, no_agents: bool = False):
        refused = super().__new__(cls, reason)
        refused.no_agents = no_agents
        return refused

# Announcement prompts, when the prompt directory has them: position_1 .. position_9 ("you are
# caller number n"), position_more; then wait_1 .. wait_5 (about n minutes), wait_more.
MAX_POSITION_PROMPT = 9
MAX_WAIT_MINUTES_PROMPT = 5


class CallDistributor:
    """The core's `ContactCenter`: one per running CTI, attached to the core while it runs."""

    def __init__(self, pbx, runner, bus: EventBus, clock: Clock, recordings=None):
        self.pbx, self.runner, self.bus, self.clock = pbx, runner, bus, clock
        # () -> the running `recording` service or None (it may start, stop and restart apart from us)
        self.recordings = recordings or (lambda: None)
        self._subscriptions = [bus.subscribe(Offer, self._offer), bus.subscribe(WithdrawOffer, self._withdraw),
                               bus.subscribe(Announce, self._announce),
                               bus.subscribe(ExtensionPresence, self._presence)]
        self.queued: dict[str, str] = {}        # call id -> queue, while the engine has the caller
        self._ring_again: dict[tuple[str, str], object] = {}   # (caller, agent) -> timer of a congested offer
        pbx.center = self
        self.calls = AgentCalls(self)

    def close(self) -> None:
        for sub in self._subscriptions:
            sub.cancel()
        for timer in self._ring_again.values():
            timer.cancel()
        self._ring_again.clear()
        if self.pbx.center is self:
            self.pbx.center = None

    @property
    def engine(self):
        return self.runner.engine

    # -- the core's ContactCenter ----------------------------------------------------------------
    def route(self, call, action) -> str | None:
        queue = self.queue_for(action.skill)
        if queue is None:
            return f"no queue is answered by skill group {action.skill!r}"
        staffed, ready = self._agents_for(queue)
        if not staffed:
            return RouteRefused(f"no agent of queue {queue!r} is logged in", no_agents=True)
        if not ready and not action.wait:
            return RouteRefused(f"every agent of queue {queue!r} is busy")
        info = {"calling": call.numbers.get("calling", ""), "called": call.numbers_in.get("called", ""),
                "dialled": call.numbers.get("called", ""), "redirecting": call.numbers.get("redirecting", ""),
                **{k: v for k, v in call.data.items() if isinstance(v, (str, int, float))}}
        call.data["queue"] = queue
        self.queued[call.id] = queue
        self.pbx.play_to_caller(call.id, self._music(call.id), loops=0)
        try:
            self.runner("caller_queued", call.id, queue, int(action.priority), info)
        except CtiError as exc:
            call.data.pop("queue", None)
            self.queued.pop(call.id, None)
            self.pbx.stop_caller_audio(call.id)
            return str(exc)
        log.info("call %s queued in %s (priority %d)", call.id, queue, action.priority)
        return None

    def agent_answered(self, call, agent: str) -> bool:
        accepted = bool(self.runner("offer_answered", call.id, agent))
        if accepted and call.id.startswith(CALLBACK_PREFIX):
            call.data["queue"] = self.engine.agents[agent].queue      # a conversation now: it ends in the log
        return accepted

    def request_callback(self, call, action) -> None:
        """Book the caller's callback in the skill group's queue: an agent is offered it like a
        caller, its extension rings first, and the box dials the customer once it answers."""
        queue = self.queue_for(action.skill)
        number = "".join(ch for ch in action.number if ch.isdigit())
        if queue is None or not number:
            log.error("call %s: callback not booked: %s", call.id,
                      f"no queue is answered by skill group {action.skill!r}" if queue is None else "no number")
            return
        info = {"callback": number, "trunk": call.trunk or "", "requested_by": call.id,
                "present": call.numbers_in.get("called", ""),      # the number the customer knows us by
                **{k: v for k, v in action.data.items() if isinstance(v, (str, int, float))}}
        try:
            # One step below the same call live: a booked callback waits behind callers on the line.
            self.runner("caller_queued", CALLBACK_PREFIX + call.id, queue, int(action.priority) - 1, info)
        except CtiError as exc:
            log.error("call %s: callback not booked: %s", call.id, exc)
            return
        log.info("call %s: callback to %s booked in %s", call.id, number, queue)

    def agent_connected(self, call, agent: str) -> None:
        self.record(call.id, on_demand=False)

    def record(self, call_id: str, on_demand: bool) -> bool:
        """Start (or resume) the call's recording: by the policy, or because the agent asked."""
        service = self.recordings()
        media = self.pbx.agent_leg_media(call_id)
        call = self.pbx.call(call_id)
        if service is None or media is None or call is None:
            return False
        try:
            recorder = service.recorder_for(call_id, media[0], media[1], agent=call.data.get("agent"),
                                            queue=call.data.get("queue"), caller=call.numbers.get("calling") or None,
                                            on_demand=on_demand)
        except Exception:        # a recording must never cost the call
            log.exception("call %s: recording not started", call_id)
            return False
        return recorder is not None

    def stop_recording(self, call_id: str) -> bool:
        service = self.recordings()
        return service is not None and service.pause(call_id)

    def agent_failed(self, call, agent: str, cause: int) -> None:
        reason = REASON_RING_NO_ANSWER if cause in (Cause.NO_ANSWER, Cause.NO_USER_RESPONDING) else REASON_OFFER_FAILED
        log.info("call %s: agent %s's extension gave up (cause %d)", call.id, agent, cause)
        self.runner("offer_failed", call.id, agent, reason)

    def call_gone(self, call) -> None:
        self.queued.pop(call.id, None)
        service = self.recordings()
        if service is not None:
            service.stop_call(call.id)
        self.runner("call_ended", call.id)

    # -- the engine's decisions ------------------------------------------------------------------
    def _offer(self, offer: Offer) -> None:
        reason = self._ring(offer)
        if isinstance(reason, NoFreeChannel):
            # The box's own congestion is not the agent's failure: failing the offer would set
            # the agent NOT_READY, and the caller, offered on to the next ready agent, would
            # fail there too in the same instant -- one moment of a full trunk would take every
            # ready agent out of service for good.  The offer stands and rings again shortly.
            log.info("call %s: agent %s not rung yet: %s", offer.caller, offer.agent, reason)
            key = (offer.caller, offer.agent)
            self._ring_again[key] = self.clock.call_later(RING_AGAIN_S, lambda: self._offer_again(offer))
            return
        if reason is not None:
            log.warning("call %s: cannot ring agent %s at %r: %s", offer.caller, offer.agent, offer.endpoint, reason)
            # Not from inside the runner's publishing: the engine hears of it straight after.
            self.clock.call_later(0, lambda: self.runner("offer_failed", offer.caller, offer.agent,
                                                         REASON_OFFER_FAILED))

    def _offer_again(self, offer: Offer) -> None:
        self._ring_again.pop((offer.caller, offer.agent), None)
        caller = self.engine.callers.get(offer.caller)
        if caller is None or caller.offer_id != offer.offer_id or offer.agent not in caller.offer_agents:
            return              # withdrawn meanwhile (the caller left, or the ring timeout ended it)
        self._offer(offer)

    def _ring(self, offer: Offer) -> str | None:
        endpoint = offer.endpoint
        if not endpoint.isdigit():
            return f"endpoint {endpoint!r} is not an extension (digits)"
        number = offer.info.get("callback")
        if number:
            return self.pbx.call_back(offer.caller, offer.agent, endpoint, number, offer.info.get("trunk") or None,
                                      offer.info.get("present") or "")
        return self.pbx.offer(offer.caller, offer.agent, endpoint)

    def _presence(self, event: ExtensionPresence) -> None:
        """An agent's phone registered or went away (the device-presence hook): the engine
        makes its agent NOT_READY device-unavailable, and offers nothing to it meanwhile."""
        self.clock.call_later(0, lambda: self.runner("endpoint_presence", event.extension, event.available))

    def _withdraw(self, withdraw: WithdrawOffer) -> None:
        waiting = self._ring_again.pop((withdraw.caller, withdraw.agent), None)
        if waiting is not None:
            waiting.cancel()
        cause = Cause.NON_SELECTED_USER_CLEARING if withdraw.reason == "answered-elsewhere" else Cause.NORMAL_CLEARING
        if withdraw.caller.startswith(CALLBACK_PREFIX):
            self.pbx.hang_up(withdraw.caller, cause)       # the agent's extension rang for a callback
        else:
            self.pbx.withdraw(withdraw.caller, withdraw.agent, cause)

    def _announce(self, announce: Announce) -> None:
        prompts = self._position_prompts(announce)
        if not prompts:
            return
        self.pbx.stop_caller_audio(announce.caller)
        for samples in prompts:
            self.pbx.play_to_caller(announce.caller, samples)
        self.pbx.play_to_caller(announce.caller, self._music(announce.caller), loops=0)

    def _position_prompts(self, announce: Announce) -> list:
        position = (f"position_{announce.position}" if announce.position <= MAX_POSITION_PROMPT
                    else "position_more")
        names = [position]
        if announce.estimated_wait is not None:
            minutes = max(1, round(announce.estimated_wait / 60))
            names.append(f"wait_{minutes}" if minutes <= MAX_WAIT_MINUTES_PROMPT else "wait_more")
        found = [self.pbx.prompt(announce.caller, name) for name in names]
        return [samples for samples in found if samples is not None]

    def _music(self, call_id: str):
        own = self.pbx.prompt(call_id, "hold_music")
        return own if own is not None else hold_music()

    # -- queries --------------------------------------------------------------------------------
    def queue_for(self, skill: str) -> str | None:
        """The queue a route node's skill names: a queue of that name, else the first queue
        (by name) answered by that skill group."""
        queues = self.engine.config.queues
        if skill in queues:
            return skill
        matching = sorted(name for name, q in queues.items() if q.group == skill)
        return matching[0] if matching else None

    def _agents_for(self, queue: str) -> tuple[int, int]:
        """(agents logged in to the queue's group, of them READY now)."""
        group = self.engine.config.queues[queue].group
        staffed = ready = 0
        for agent in self.engine.agents.values():
            if agent.state is AgentState.LOGGED_OUT or group not in agent.groups:
                continue
            staffed += 1
            ready += agent.state is AgentState.READY
        return staffed, ready


class CallActionError(Exception):
    """An agent's call request that cannot be carried out now: `status` is the HTTP answer."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


class AgentCalls:
    """What an agent (or a supervisor on its behalf) may do with the agent's call."""

    def __init__(self, distributor: CallDistributor):
        self.d = distributor

    def _call_of(self, agent: str, *states: AgentState) -> str:
        engine = self.d.engine
        state = engine.agents.get(agent)
        if state is None:
            raise CallActionError(404, f"no agent {agent!r}")
        if state.state not in states or not state.caller:
            raise CallActionError(409, f"agent {agent!r} is {state.state.value}: "
                                       f"no call it can do that to (needs {', '.join(s.value for s in states)})")
        return state.caller

    def hang_up(self, agent: str) -> str:
        call_id = self._call_of(agent, AgentState.TALKING, AgentState.HOLD)
        if not self.d.pbx.hang_up(call_id, Cause.NORMAL_CLEARING):
            raise CallActionError(409, f"call {call_id} is already over")
        return call_id

    def hold(self, agent: str) -> str:
        call_id = self._call_of(agent, AgentState.TALKING)
        if not self.d.pbx.hold(call_id, self.d._music(call_id)):
            raise CallActionError(409, f"call {call_id} is not connected to agent {agent!r}'s extension")
        self.d.runner("hold", agent)
        return call_id

    def retrieve(self, agent: str) -> str:
        call_id = self._call_of(agent, AgentState.HOLD)
        if not self.d.pbx.retrieve(call_id):
            raise CallActionError(409, f"call {call_id} is not on hold")
        self.d.runner("retrieve", agent)
        return call_id

    def send_dtmf(self, agent: str, digits: str) -> str:
        if not digits or any(d not in "0123456789*#ABCD" for d in digits) or len(digits) > 32:
            raise CallActionError(400, f"digits must be 1..32 of 0-9 * # A-D, got {digits!r}")
        call_id = self._call_of(agent, AgentState.TALKING)
        if not self.d.pbx.send_digits(call_id, digits):
            raise CallActionError(409, f"call {call_id} is over")
        return call_id

    def reject(self, agent: str) -> None:
        self.d.runner("reject", agent)

    def caller_number(self, call_id: str) -> str:
        call = self.d.pbx.call(call_id)
        return call.numbers.get("calling", "") if call is not None else ""

    TRANSFER_KINDS = ("extension", "number", "queue")

    def transfer(self, agent: str, target: str) -> str:
        """Blind transfer of the agent's call to "extension:2003", "number:0212345678" or
        "queue:deposit_inquiry"; the agent's leg is cleared and the agent goes to wrap-up."""
        kind, _, where = (target or "").partition(":")
        if kind not in self.TRANSFER_KINDS or not where:
            raise CallActionError(400, f"target must be one of {', '.join(k + ':...' for k in self.TRANSFER_KINDS)}, "
                                       f"got {target!r}")
        if kind in ("extension", "number") and not where.lstrip("+").isdigit():
            raise CallActionError(400, f"target {target!r}: a {kind} is digits")
        call_id = self._call_of(agent, AgentState.TALKING, AgentState.HOLD)
        d = self.d
        if kind == "queue":
            if where not in d.engine.config.queues:
                raise CallActionError(404, f"no queue {where!r} (queues: {', '.join(sorted(d.engine.config.queues))})")
            call = d.pbx.call(call_id)
            if call is None or not d.pbx.requeue(call_id):
                raise CallActionError(409, f"call {call_id} is over")
            d.runner("call_ended", call_id)
            call.data["queue"] = where
            d.queued[call_id] = where
            d.pbx.play_to_caller(call_id, d._music(call_id), loops=0)
            d.runner("caller_queued", call_id, where, 0, {"calling": call.numbers.get("calling", ""),
                                                           "transferred_by": agent})
            return call_id
        reason = d.pbx.transfer(call_id, kind, where)
        if reason is not None:
            raise CallActionError(409, f"transfer to {target}: {reason}")
        d.runner("call_ended", call_id)
        return call_id

    SUPERVISION = ("monitor", "whisper", "barge")

    def supervise(self, agent: str, mode: str, extension: str) -> str:
        """Ring the supervisor's extension into the agent's call (or change how it listens)."""
        if mode not in self.SUPERVISION:
            raise CallActionError(404, f"no supervision mode {mode!r}; one of {', '.join(self.SUPERVISION)}")
        if not extension or not extension.isdigit():
            raise CallActionError(400, f"field 'extension' (the supervisor's phone, digits) is required, "
                                       f"got {extension!r}")
        call_id = self._call_of(agent, AgentState.TALKING, AgentState.HOLD)
        reason = self.d.pbx.supervise(call_id, extension, mode)
        if reason is not None:
            raise CallActionError(409, f"{mode} on agent {agent!r}'s call: {reason}")
        return call_id

    def start_recording(self, agent: str) -> str:
        call_id = self._call_of(agent, AgentState.TALKING, AgentState.HOLD)
        if self.d.recordings() is None:
            raise CallActionError(503, "recording is off on this box ([recording] enabled = false)")
        if not self.d.record(call_id, on_demand=True):
            raise CallActionError(409, f"call {call_id} cannot be recorded now (not connected, or the disk is full)")
        return call_id

    def stop_recording(self, agent: str) -> str:
        call_id = self._call_of(agent, AgentState.TALKING, AgentState.HOLD)
        if not self.d.stop_recording(call_id):
            raise CallActionError(409, f"call {call_id} is not being recorded")
        return call_id

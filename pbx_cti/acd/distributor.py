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

An agent's requests about its call (hold, hang up, transfer, digits, consultation, conference,
an outgoing call) come from the API through `AgentCalls`, which checks them against the engine
and carries them out on the core.  An agent's device that vanishes (a SIP phone unregistered, a
browser gone) is reported with `device_gone(endpoint)`; `LostPolicy` says what happens to the
caller it was talking to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from firmware.isdn.q931.causes import Cause
from pbx_cti.cti.decisions import Announce, CallProgress, Offer, WithdrawOffer
from pbx_cti.cti.model import (REASON_APP_DISCONNECTED, REASON_DEVICE_UNAVAILABLE, REASON_OFFER_FAILED,
                               REASON_RING_NO_ANSWER, AgentState, CtiError)
from pbx_cti.pbx.core import NoFreeChannel
from pbx_cti.pbx.model import CallEnded
from pbx_cti.pbx.presence import ExtensionPresence
from runtime.bus import EventBus
from runtime.clock import Clock

from .music import hold_music

log = logging.getLogger("pribox.acd")

# An offer the box could not ring because its own trunk toward the agents had no free channel
# (calls just ended still releasing, or the D-channel re-establishing) rings again this often
# while it stands; the queue's ring timeout still ends it.
RING_AGAIN_S = 0.25
CALLBACK_PREFIX = "cb-"          # the engine's caller id of a callback request: cb-<the call that asked>
CONSULT_PREFIX = "cx-"           # the engine's caller id of a consultation queued: cx-<the call consulting>


def core_call_id(caller_id: str) -> str:
    """The core's call behind an engine caller id (a queued consultation is its call's)."""
    return caller_id[len(CONSULT_PREFIX):] if caller_id.startswith(CONSULT_PREFIX) else caller_id


class RouteRefused(str):
    """Why a caller was not queued; `no_agents` when nobody of the group is logged in (the IVR
    may take another exit then: waiting would be pointless)."""

    def __new__(cls, reason: str, no_agents: bool = False):
        refused = super().__new__(cls, reason)
        refused.no_agents = no_agents
        return refused

OUTBOUND, CONSULT = "outbound", "consult"     # the reasons of an agent busy with a call of its own


@dataclass(frozen=True)
class LostPolicy:
    """What happens to a caller whose agent vanished mid-call ([cti] device_lost, app_lost):
    "hold" keeps the caller on hold (music) for the agent for `hold_seconds`, ringing the agent's
    extension again if its device comes back, then queues it again at the head of its queue;
    "requeue" does that at once; "keep" (the application only: the phone still talks) leaves
    the call alone.  The agent goes NOT_READY with the system reason either way."""

    device_lost: str = "hold"
    app_lost: str = "keep"
    hold_seconds: float = 30.0

    @classmethod
    def from_section(cls, section) -> "LostPolicy":
        def get(key, default):
            value = section.get(key) if hasattr(section, "get") else getattr(section, key, None)
            return default if value is None else value
        return cls(get("device_lost", cls.device_lost), get("app_lost", cls.app_lost),
                   float(get("device_lost_hold", cls.hold_seconds)))


# Announcement prompts, when the prompt directory has them: position_1 .. position_9 ("you are
# caller number n"), position_more; then wait_1 .. wait_5 (about n minutes), wait_more.
MAX_POSITION_PROMPT = 9
MAX_WAIT_MINUTES_PROMPT = 5


class CallDistributor:
    """The core's `ContactCenter`: one per running CTI, attached to the core while it runs."""

    def __init__(self, pbx, runner, bus: EventBus, clock: Clock, recordings=None, policy: LostPolicy | None = None):
        self.pbx, self.runner, self.bus, self.clock = pbx, runner, bus, clock
        self.policy = policy or LostPolicy()
        self.own: dict[str, set[str]] = {}          # call id -> agents busy with it as a call of their own
        self.consulting: dict[str, tuple] = {}      # call id -> (agent, target, party agent or None)
        self.parked: dict[str, tuple] = {}          # call id -> (agent, timer): its agent's device went
        # () -> the running `recording` service or None (it may start, stop and restart apart from us)
        self.recordings = recordings or (lambda: None)
        self._subscriptions = [bus.subscribe(Offer, self._offer), bus.subscribe(WithdrawOffer, self._withdraw),
                               bus.subscribe(Announce, self._announce), bus.subscribe(CallEnded, self._call_ended),
                               bus.subscribe(ExtensionPresence, self._presence)]
        self.queued: dict[str, str] = {}        # call id -> queue, while the engine has the caller
        self._ring_again: dict[tuple[str, str], object] = {}   # (caller, agent) -> timer of a congested offer
        pbx.center = self
        self.calls = AgentCalls(self)

    def close(self) -> None:
        for sub in self._subscriptions:
            sub.cancel()
        for _, timer in self.parked.values():
            timer.cancel()
        self.parked.clear()
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
        if agent in self.own.get(call.id, ()):
            return True              # the agent's own outgoing call: its extension answered
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
        if offer.caller.startswith(CONSULT_PREFIX):
            call_id = core_call_id(offer.caller)
            consulting = self.consulting.get(call_id)
            if consulting is None:
                return "the consultation is over"
            me = self.engine.agents[consulting[0]].endpoint
            return self.pbx.consult(call_id, "extension", endpoint, self._music(call_id), offer.agent,
                                    present=me if me.isdigit() else "")
        number = offer.info.get("callback")
        if number:
            return self.pbx.call_back(offer.caller, offer.agent, endpoint, number, offer.info.get("trunk") or None,
                                      offer.info.get("present") or "")
        return self.pbx.offer(offer.caller, offer.agent, endpoint)

    def _presence(self, event: ExtensionPresence) -> None:
        """An agent's phone registered or went away (the device-presence hook): gone, it is
        `device_gone` (NOT_READY device-unavailable, nothing offered, its caller kept per policy);
        back, `device_back`."""
        if event.available:
            self.clock.call_later(0, lambda: self.device_back(event.extension))
        else:
            self.clock.call_later(0, lambda: self.device_gone(event.extension, "its phone's registration ended"))

    def agent_leg_lost(self, call, agent: str, cause: int) -> bool:
        """The core: the agent's answered leg failed with `cause` (its device vanished mid-call,
        not a hang-up).  The caller is kept per `[cti] device_lost` (held for the agent, then
        queued again at the head, or queued again at once); True when it is."""
        if self._queue_call_of(agent) != call.id:
            return False
        log.warning("call %s: agent %s's device failed mid-call (cause %d): %s", call.id, agent, cause,
                    self.policy.device_lost)
        self._lost_mid_call(agent, call.id, self.policy.device_lost, REASON_DEVICE_UNAVAILABLE)
        return call.id in self.parked or call.id in self.queued

    def _withdraw(self, withdraw: WithdrawOffer) -> None:
        waiting = self._ring_again.pop((withdraw.caller, withdraw.agent), None)
        if waiting is not None:
            waiting.cancel()
        cause = Cause.NON_SELECTED_USER_CLEARING if withdraw.reason == "answered-elsewhere" else Cause.NORMAL_CLEARING
        if withdraw.caller.startswith(CALLBACK_PREFIX):
            self.pbx.hang_up(withdraw.caller, cause)       # the agent's extension rang for a callback
        elif withdraw.caller.startswith(CONSULT_PREFIX):
            call_id = core_call_id(withdraw.caller)
            if self.pbx.consult_party(call_id) == withdraw.agent and self.pbx.consult_state(call_id) == "ringing":
                self.pbx.consult_cancel(call_id, retrieve=False)
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

    # -- agents' own calls, consultations, vanished devices --------------------------------------
    def progress(self, agent: str, call_id: str, what: str, party: str = "", detail: str = "") -> None:
        """Tell the agent's application what happened to its call beyond its state."""
        self.bus.publish(CallProgress(self.runner.wall_now(), agent, call_id, what, party, detail))

    def own_call(self, agent: str, call_id: str, kind: str) -> None:
        self.runner("agent_call_started", agent, call_id, kind)
        self.own.setdefault(call_id, set()).add(agent)

    def end_own_call(self, agent: str, call_id: str) -> None:
        agents = self.own.get(call_id)
        if agents is not None:
            agents.discard(agent)
            if not agents:
                del self.own[call_id]
        self.runner("agent_call_ended", agent, call_id)

    def _call_ended(self, event: CallEnded) -> None:
        call_id = event.call_id
        for agent in sorted(self.own.get(call_id, ())):
            self.end_own_call(agent, call_id)
        consulting = self.consulting.pop(call_id, None)
        if consulting is not None:
            self.progress(consulting[0], call_id, "call-ended")
        if CONSULT_PREFIX + call_id in self.engine.callers:
            self.runner("call_ended", CONSULT_PREFIX + call_id)
        parked = self.parked.pop(call_id, None)
        if parked is not None:
            parked[1].cancel()

    def call_changed(self, call, what: str, party_agent: str | None, cause: int | None) -> None:
        """The core: a leg an agent's request placed rang, answered, refused or left."""
        call_id = call.id
        if what == "reconnected":
            parked = self.parked.pop(call_id, None)
            if parked is not None:
                parked[1].cancel()
                self.runner("retrieve", parked[0])
                self.progress(parked[0], call_id, "reconnected")
            return
        if what == "reconnect-failed":
            parked = self.parked.get(call_id)
            if parked is not None:
                self.progress(parked[0], call_id, "reconnect-failed", detail=f"cause {cause}")
            return
        consulting = self.consulting.get(call_id)
        if consulting is None:
            return
        agent, target, party = consulting
        detail = f"cause {cause}" if cause is not None else ""
        if target.startswith("queue:") and what != "caller-left":
            self._queue_consult_changed(agent, call_id, target, what, party_agent, cause, detail)
            return
        if what in ("consult-refused", "consult-left"):
            self.consulting.pop(call_id, None)
            if party is not None:
                self.end_own_call(party, call_id)
        elif what == "caller-left":
            # The agent talks on with the consulted party; the engine keeps the call the agent's
            # until it ends (then wrap-up, as after any call of the queue).
            self.consulting.pop(call_id, None)
        self.progress(agent, call_id, what, target, detail)

    def _queue_consult_changed(self, agent: str, call_id: str, target: str, what: str, party: str | None,
                               cause: int | None, detail: str) -> None:
        """A consultation queued in a skill group: the engine picks the colleague as for any
        caller; an answer connects it, a refusal or no answer goes to the next one."""
        cx = CONSULT_PREFIX + call_id
        if what == "consult-connected":
            if party is None or not self.runner("offer_answered", cx, party):
                self.pbx.consult_cancel(call_id, retrieve=False)     # withdrawn meanwhile
                return
        elif what == "consult-refused":
            if party is not None:
                reason = REASON_RING_NO_ANSWER if cause in (Cause.NO_ANSWER, Cause.NO_USER_RESPONDING) \
                    else REASON_OFFER_FAILED
                self.runner("offer_failed", cx, party, reason)
            if cx in self.engine.callers:
                self.progress(agent, call_id, what, target, f"{party}: {detail}; still queued")
                return
        elif what == "consult-left":
            self.consulting.pop(call_id, None)
            self.runner("call_ended", cx)
        self.progress(agent, call_id, what, target + (f" ({party})" if party else ""), detail)

    def device_gone(self, endpoint: str, why: str = "") -> None:
        """THE call for an agent's device that vanished (a SIP phone unregistered or unreachable,
        a browser softphone gone): the agent goes NOT_READY `device-unavailable` (at once, or when
        its call ends), and a caller it was talking to is held for it or queued again, per
        `[cti] device_lost`.  Idempotent; `device_back(endpoint)` when it returns."""
        engine = self.engine
        agent = engine.endpoint_agent.get(endpoint)
        call_id = self._queue_call_of(agent) if agent is not None else None
        log.warning("agent device %s gone%s%s", endpoint, f" ({why})" if why else "",
                    f"; agent {agent}'s call {call_id}: {self.policy.device_lost}" if call_id else "")
        self.runner("endpoint_presence", endpoint, False)
        if call_id is not None:
            self._lost_mid_call(agent, call_id, self.policy.device_lost, REASON_DEVICE_UNAVAILABLE)

    def device_back(self, endpoint: str) -> None:
        """The agent's device is there again: the agent may go ready; a caller parked for it is
        rung through to it again."""
        self.runner("endpoint_presence", endpoint, True)
        agent = self.engine.endpoint_agent.get(endpoint)
        for call_id, (parked_agent, _) in list(self.parked.items()):
            if parked_agent == agent:
                reason = self.pbx.reconnect(call_id, agent, endpoint)
                if reason is not None:
                    log.warning("call %s: cannot ring agent %s again: %s", call_id, agent, reason)

    def app_lost(self, agent: str) -> None:
        """The agent's application went away (after the engine's app-disconnected): a caller it
        was talking to is handled per `[cti] app_lost`."""
        call_id = self._queue_call_of(agent)
        if call_id is not None and self.policy.app_lost != "keep":
            self._lost_mid_call(agent, call_id, self.policy.app_lost, REASON_APP_DISCONNECTED)

    def _queue_call_of(self, agent: str) -> str | None:
        state = self.engine.agents.get(agent)
        if state is None or state.state not in (AgentState.TALKING, AgentState.HOLD):
            return None
        caller = self.engine.callers.get(state.caller)
        if caller is None or caller.agent != agent or self.pbx.call(state.caller) is None:
            return None
        return state.caller

    def _lost_mid_call(self, agent: str, call_id: str, policy: str, reason: str) -> None:
        if call_id in self.parked:
            return
        if self.consulting.get(call_id, ("",))[0] == agent:     # its consultation ends with it
            self.calls._end_consult(agent, call_id, retrieve=False)
        if policy == "hold" and self.pbx.park(call_id, self._music(call_id)):
            if self.engine.agents[agent].state is AgentState.TALKING:
                self.runner("hold", agent)
            self.keep_parked(agent, call_id, self.policy.hold_seconds)
            self.progress(agent, call_id, "parked", detail=f"{reason}: the caller waits on hold "
                                                           f"{self.policy.hold_seconds:g} s for the agent")
        elif policy in ("hold", "requeue"):
            self._requeue_at_head(agent, call_id, reason)

    def keep_parked(self, agent: str, call_id: str, seconds: float) -> None:
        """The caller waits `seconds` more for its agent's device (also after a CTI reload)."""
        timer = self.clock.call_later(max(0.0, seconds), lambda: self._park_expired(call_id))
        self.parked[call_id] = (agent, timer)

    def _park_expired(self, call_id: str) -> None:
        parked = self.parked.pop(call_id, None)
        if parked is not None and self.pbx.call(call_id) is not None:
            self._requeue_at_head(parked[0], call_id, "the agent did not come back")

    def _requeue_at_head(self, agent: str, call_id: str, why: str) -> None:
        """The caller goes back to its queue ahead of everyone waiting there; its agent is done
        with it (NOT_READY with the reason it was given, since the call ended for it)."""
        caller = self.engine.callers.get(call_id)
        call = self.pbx.call(call_id)
        self.pbx.unpark(call_id)
        if caller is None or call is None or not self.pbx.requeue(call_id):
            return
        queue, info = caller.queue, dict(caller.info)
        self.runner("call_ended", call_id)
        waiting = [self.engine.callers[key[-1]].priority for key in self.engine.waiting.get(queue, [])]
        head = max([caller.priority, *waiting]) + 1 if waiting else caller.priority
        call.data["queue"] = queue
        self.queued[call_id] = queue
        self.pbx.play_to_caller(call_id, self._music(call_id), loops=0)
        self.runner("caller_queued", call_id, queue, head, {**info, "requeued_from": agent})
        self.progress(agent, call_id, "requeued", detail=f"{why}: the caller is back at the head of {queue}")
        log.info("call %s: back at the head of %s (%s)", call_id, queue, why)

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
        return core_call_id(state.caller)

    def hang_up(self, agent: str) -> str:
        """Hang up the agent's call.  In a conference the agent drops out and the caller and the
        consulted party talk on; while consulting, the consultation ends (the caller stays on
        hold, as a desk phone's hang-up ends its active call); else the call ends."""
        call_id = self._call_of(agent, AgentState.TALKING, AgentState.HOLD)
        consulting = self.d.consulting.get(call_id, ("",))[0] == agent
        phase = (self.d.pbx.consult_state(call_id) or "queued") if consulting else None
        if phase == "conference":
            return self._complete(agent, call_id, "left-conference")
        if phase is not None:
            self._end_consult(agent, call_id, retrieve=False)
            return call_id
        if not self.d.pbx.hang_up(call_id, Cause.NORMAL_CLEARING):
            raise CallActionError(409, f"call {call_id} is already over")
        return call_id

    def hold(self, agent: str) -> str:
        call_id = self._call_of(agent, AgentState.TALKING)
        if not self.d.pbx.hold_party(call_id, self.d._music(call_id)):
            raise CallActionError(409, f"call {call_id} is not connected to agent {agent!r}'s extension")
        self.d.runner("hold", agent)
        return call_id

    def retrieve(self, agent: str) -> str:
        call_id = self._call_of(agent, AgentState.HOLD)
        if self.d.consulting.get(call_id, ("",))[0] == agent:
            self._end_consult(agent, call_id, retrieve=True)      # back to the caller (cancel)
            return call_id
        if not self.d.pbx.retrieve_party(call_id):
            raise CallActionError(409, f"call {call_id} is not on hold")
        self.d.runner("retrieve", agent)
        return call_id

    def send_dtmf(self, agent: str, digits: str) -> str:
        if not digits or any(d not in "0123456789*#ABCD" for d in digits) or len(digits) > 32:
            raise CallActionError(400, f"digits must be 1..32 of 0-9 * # A-D, got {digits!r}")
        call_id = self._call_of(agent, AgentState.TALKING)
        if not self.d.pbx.digits_to_party(call_id, digits):
            raise CallActionError(409, f"call {call_id} is over")
        return call_id

    def reject(self, agent: str) -> None:
        """Refuse the call offered, or a colleague's consultation ringing at the agent."""
        state = self.d.engine.agents.get(agent)
        if state is not None and state.resume is not None and state.reason == CONSULT:
            consulting = self.d.consulting.get(state.caller)
            ringing = self.d.pbx.consult_state(state.caller) == "ringing"
            if consulting is not None and consulting[2] == agent and ringing:
                self._end_consult(consulting[0], state.caller, retrieve=False, what="consult-refused")
                return
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
        if call_id in d.consulting:
            raise CallActionError(409, f"call {call_id}: a consultation is in progress: complete or cancel it "
                                       f"(a blind transfer would leave the consulted party behind)")
        call = d.pbx.call(call_id)
        if call is not None and call.route.get("kind") == "make-call":
            raise CallActionError(409, f"call {call_id} is the agent's own outgoing call: it cannot be transferred")
        if kind == "queue":
            if where not in d.engine.config.queues:
                raise CallActionError(404, f"no queue {where!r} (queues: {', '.join(sorted(d.engine.config.queues))})")
            if call is None or not d.pbx.requeue(call_id):
                raise CallActionError(409, f"call {call_id} is over")
            self._done_with(agent, call_id)
            call.data["queue"] = where
            d.queued[call_id] = where
            d.pbx.play_to_caller(call_id, d._music(call_id), loops=0)
            d.runner("caller_queued", call_id, where, 0, {"calling": call.numbers.get("calling", ""),
                                                           "transferred_by": agent})
            return call_id
        reason = d.pbx.transfer(call_id, kind, where)
        if reason is not None:
            raise CallActionError(409, f"transfer to {target}: {reason}")
        self._done_with(agent, call_id)
        return call_id

    def _done_with(self, agent: str, call_id: str) -> None:
        """The agent's part in the call is over (it went elsewhere): wrap-up after a caller of a
        queue (or a queued consultation), back to its state after a call of its own."""
        d = self.d
        if agent in d.own.get(call_id, ()):
            d.end_own_call(agent, call_id)
        else:
            d.runner("call_ended", d.engine.agents[agent].caller or call_id)

    # -- consultation, conference, outgoing calls ------------------------------------------------
    CONSULT_KINDS = ("agent", "queue", "extension", "number")

    def consult(self, agent: str, target: str) -> str:
        """Put the caller on hold (music) and ring `target`: "agent:kim" (a logged-in agent not
        in a call, at its extension), "queue:deposit_inquiry" (queued in that queue like a
        caller: the engine offers it to the group's next agent), "extension:2003" or
        "number:0212345678"."""
        kind, _, where = (target or "").partition(":")
        if kind not in self.CONSULT_KINDS or not where:
            raise CallActionError(400, f"target must be one of {', '.join(k + ':...' for k in self.CONSULT_KINDS)}, "
                                       f"got {target!r}")
        call_id = self._call_of(agent, AgentState.TALKING, AgentState.HOLD)
        d = self.d
        if call_id in d.consulting:
            raise CallActionError(409, f"call {call_id}: a consultation is already in progress "
                                       f"(complete, cancel or conference it first)")
        party = None
        if kind == "queue":
            return self._consult_queue(agent, call_id, where, target)
        if kind == "agent":
            other = d.engine.agents.get(where)
            if other is None:
                raise CallActionError(404, f"no agent {where!r}")
            if where == agent:
                raise CallActionError(400, "an agent cannot consult itself")
            if other.state not in (AgentState.READY, AgentState.NOT_READY) or not other.endpoint.isdigit():
                raise CallActionError(409, f"agent {where!r} is {other.state.value}: only a READY or NOT_READY "
                                           f"agent at an extension can be consulted")
            party, kind, where = where, "extension", other.endpoint
        elif not where.lstrip("+").isdigit():
            raise CallActionError(400, f"target {target!r}: a {kind} is digits")
        me = d.engine.agents[agent].endpoint
        reason = d.pbx.consult(call_id, kind, where, d._music(call_id), party, present=me if me.isdigit() else "")
        if reason is not None:
            raise CallActionError(409, f"consult {target}: {reason}")
        d.consulting[call_id] = (agent, target, party)
        if d.engine.agents[agent].state is AgentState.TALKING:
            d.runner("hold", agent)
        if party is not None:
            try:
                d.own_call(party, call_id, CONSULT)
            except CtiError as exc:       # it changed state in this instant: the leg still rings
                log.info("call %s: consulted agent %s: %s", call_id, party, exc)
        d.progress(agent, call_id, "consult-started", target)
        return call_id

    def _consult_queue(self, agent: str, call_id: str, queue: str, target: str) -> str:
        d = self.d
        if queue not in d.engine.config.queues:
            raise CallActionError(404, f"no queue {queue!r} (queues: {', '.join(sorted(d.engine.config.queues))})")
        call = d.pbx.call(call_id)
        if call is None:
            raise CallActionError(409, f"call {call_id} is over")
        held = d.engine.agents[agent].state is AgentState.HOLD
        if not held and not d.pbx.hold_party(call_id, d._music(call_id)):
            raise CallActionError(409, f"call {call_id} is not connected to agent {agent!r}'s extension")
        info = {"calling": call.numbers.get("calling", ""), "consulted_by": agent, "consult_of": call_id,
                **{k: v for k, v in call.data.items() if isinstance(v, (str, int, float)) and k != "agent"}}
        d.consulting[call_id] = (agent, target, None)
        try:
            d.runner("caller_queued", CONSULT_PREFIX + call_id, queue, 0, info)
        except CtiError as exc:
            d.consulting.pop(call_id, None)
            if not held:
                d.pbx.retrieve_party(call_id)
            raise CallActionError(409, f"consult {target}: {exc}") from None
        if not held:
            d.runner("hold", agent)
        d.progress(agent, call_id, "consult-started", target)
        return call_id

    def consult_complete(self, agent: str) -> str:
        call_id = self._consulting(agent)
        return self._complete(agent, call_id, "consult-completed")

    def consult_cancel(self, agent: str) -> str:
        call_id = self._consulting(agent)
        self._end_consult(agent, call_id, retrieve=True)
        return call_id

    def conference(self, agent: str) -> str:
        call_id = self._consulting(agent)
        reason = self.d.pbx.conference(call_id)
        if reason is not None:
            raise CallActionError(409, f"conference on call {call_id}: {reason}")
        if self.d.engine.agents[agent].state is AgentState.HOLD:
            self.d.runner("retrieve", agent)
        self.d.progress(agent, call_id, "conference", self.d.consulting[call_id][1])
        return call_id

    def _consulting(self, agent: str) -> str:
        call_id = self._call_of(agent, AgentState.TALKING, AgentState.HOLD)
        if self.d.consulting.get(call_id, ("",))[0] != agent:
            raise CallActionError(409, f"agent {agent!r} is not consulting anyone on call {call_id} "
                                       f"(start with phase \"start\" and a target)")
        return call_id

    def _complete(self, agent: str, call_id: str, what: str) -> str:
        d = self.d
        reason = d.pbx.consult_complete(call_id)
        if reason is not None:
            raise CallActionError(409, f"complete on call {call_id}: {reason}")
        _, target, party = d.consulting.pop(call_id)
        self._done_with(agent, call_id)             # wrap-up (or back to its state after its own call)
        d.progress(agent, call_id, what, target)
        return call_id

    def _end_consult(self, agent: str, call_id: str, retrieve: bool, what: str = "consult-cancelled") -> None:
        d = self.d
        _, target, party = d.consulting.pop(call_id)
        if CONSULT_PREFIX + call_id in d.engine.callers:       # a queued consultation: it leaves the queue
            d.runner("caller_abandoned", CONSULT_PREFIX + call_id, "consult-cancelled")
        if retrieve:
            if not d.pbx.consult_cancel(call_id):          # nobody rang yet (queued): just take the caller back
                d.pbx.retrieve_party(call_id)
            if d.engine.agents[agent].state is AgentState.HOLD:
                d.runner("retrieve", agent)
        else:
            d.pbx.consult_cancel(call_id, retrieve=False)      # the caller stays on hold
        if party is not None:
            d.end_own_call(party, call_id)
        d.progress(agent, call_id, what, target)

    def make_call(self, agent: str, number: str) -> str:
        """The agent's outgoing call: its extension rings first; answered, the box dials
        `number` on the dial plan's route.  The agent is TALKING (reason "outbound") from the
        request until the call ends, then back in the state it had."""
        digits = (number or "").lstrip("+")
        if not digits.isdigit() or len(digits) > 32:
            raise CallActionError(400, f"field 'number' must be 1..32 digits (a leading + allowed), got {number!r}")
        d = self.d
        state = d.engine.agents.get(agent)
        if state is None:
            raise CallActionError(404, f"no agent {agent!r}")
        if state.state not in (AgentState.READY, AgentState.NOT_READY):
            raise CallActionError(409, f"agent {agent!r} is {state.state.value}: a call is made from READY or "
                                       f"NOT_READY")
        if not state.endpoint.isdigit():
            raise CallActionError(409, f"agent {agent!r}'s endpoint {state.endpoint!r} is not an extension")
        reason, call_id = d.pbx.make_call(agent, state.endpoint, digits)
        if reason is not None:
            raise CallActionError(409, f"make-call to {number}: {reason}")
        d.own_call(agent, call_id, OUTBOUND)
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

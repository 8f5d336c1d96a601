"""The switching core: a span's incoming call through the gateway's number mapping, the dial
plan and the IVR (or an announcement, a rejection, an extension or a trunk), with one `Call` per
call in the model and its events on the bus.

`Pbx` holds the calls of every span; `PbxSpanHandler` is the `CallHandler` an `[[isdn]]` entry
with `handler = "pbx"` gets.  A call keeps the `PbxPlan` it started with, so a new dial plan,
mapping or flow applies to new calls while the ones in progress finish on theirs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from dsp.prompts import PromptStore
from dsp.dtmf import DtmfGenerator
from dsp.tones import ToneGenerator
from firmware.gateway.numbers import Number
from firmware.gateway.plan import GatewayError, GatewayPlan
from firmware.gateway.trunks import TrunkHunter
from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.events import (Alerting, Answered, Disconnected, IncomingCall, InfoDigits, Progress,
                                       Released)
from firmware.isdn.q931.ies import Layer1, TransferCapability
from firmware.isdn.q931.link import CallStateError
from firmware.sip.events import PRESENTATION_ALLOWED as SIP_ALLOWED, PRESENTATION_RESTRICTED as SIP_RESTRICTED, \
    Party as SipParty
from pbx_cti.cdr.fields import number_fields
from pbx_cti.cdr.record import CallRecord, Leg as CdrLeg
from pbx_cti.ivr.actions import RouteToSkill, Transfer
from pbx_cti.ivr.session import IvrSession
from pbx_cti.notify.service import notify_from_ivr
from runtime.bus import EventBus
from runtime.clock import Clock, TimerHandle

from . import endpoints
from .dialplan import DialPlan, Route
from .endpoints import SIP_TRUNK, SPANS, Destination
from .ivr_runner import IvrRunner
from .media import IsdnLegMedia, bridge
from .model import Call, CallAnswered, CallEnded, CallRouted, CallStarted, CallUpdated, Leg, LegState, new_call_id

log = logging.getLogger("pribox.pbx")

# An agent's leg ending with these is the agent hanging up; any other cause (41 temporary failure,
# 27 destination out of order, 102 no media...) is its device failing, which the center's policy covers.
_AGENT_HUNG_UP = frozenset({Cause.NORMAL_CLEARING, Cause.NORMAL_UNSPECIFIED})

_VOICE = (TransferCapability.SPEECH, TransferCapability.AUDIO_3K1)
_LAWS = {Layer1.ALAW: "alaw", Layer1.ULAW: "ulaw"}
ANNOUNCEMENT_CAUSE = Cause.NORMAL_CLEARING
# Overlap receiving: with no Sending complete and no dial-plan entry that the digits so far
# settle, the box waits this long after each digit for the next before routing what it has.
INTERDIGIT_SECONDS = 4.0
# Who cleared, in the CDR's words: the caller is the calling party of an incoming call.
_CLEARED_BY = {"caller": "calling", "called": "called", "box": "box", "network": "network"}


class NoFreeChannel(str):
    """Why a leg was not placed when the trunk group had no free channel at that moment (every
    channel busy or releasing, or its spans' D-channels out of service): the box's own
    congestion, not a fault of the number dialled."""


@dataclass
class PbxPlan:
    """Everything a call is switched by, built once per configuration."""
    gateway: GatewayPlan
    dialplan: DialPlan
    flows: dict
    prompts: PromptStore
    ring_seconds: float = 0.0
    record_dir: Path | None = None
    source: str = ""
    extension_trunk: str | None = None          # where agents' extensions are: the center's PBX
    hunters: dict = field(default_factory=dict)  # trunk group -> TrunkHunter (remembers its last span)

    def hunter(self, group) -> TrunkHunter:
        hunter = self.hunters.get(group.name)
        if hunter is None:
            hunter = self.hunters[group.name] = TrunkHunter(group)
        return hunter


@dataclass
class _Active:
    call: Call
    isdn: object
    q931_id: int
    plan: PbxPlan
    leg: Leg
    runner: IvrRunner | None = None
    timer: TimerHandle | None = None
    announcement: int | None = None
    cause_sent: int | None = None
    out: "_Outbound | None" = None          # the leg the caller is (or will be) bridged to
    offers: dict = field(default_factory=dict)  # agent -> _Outbound ringing for the contact center
    held: bool = False                      # the agent put the caller on hold
    supervisor: "_Outbound | None" = None   # a supervisor listening in (or more)
    # A call the box places itself (a callback): (agent, number to call, its trunk group).  Its
    # first leg is the agent's extension; the customer is dialled once the agent answers.
    originated: tuple | None = None
    # The caller's numbers after the inbound mapping (gateway Numbers by role), for the legs placed.
    parties: dict = field(default_factory=dict)
    redirect_reason: int | None = None      # why the caller was forwarded (Q.931 code), for Diversion
    consult: "_Outbound | None" = None      # a party the agent consults while the caller waits on hold
    conference: bool = False                # caller, agent and that party all hear each other


@dataclass
class _Outbound:
    """The leg the box placed for a call: out on a trunk group, bridged to the caller on answer.
    An offer (`agent` set) rings an agent's extension for the contact center and is bridged
    only once the CTI has accepted its answer."""
    active: _Active
    isdn: object
    q931_id: int
    leg: Leg
    bridged: bool = False
    from_ivr: bool = False
    agent: str | None = None
    supervision: str | None = None   # a supervisor's leg: "monitor", "whisper" or "barge"
    where: str = ""                  # its trunk group, SIP trunk or SIP phone (for the CDR)
    ringback: bool = False           # the box plays the caller ringback for it (the far end plays none)
    # A leg an agent's request placed beside the call ("an agent's own calls" below): "consult" (the
    # party consulted), "reconnect" (the agent's device, back after it vanished).
    role: str | None = None


class ContactCenter(Protocol):
    """What the switching core tells the contact center (pbx_cti/acd), when one runs."""

    def route(self, call: Call, action: RouteToSkill) -> str | None:
        """Queue the call for the skill group; None when queued, else why not (the IVR's busy path)."""

    def agent_answered(self, call: Call, agent: str) -> bool:
        """The agent's extension answered the offer; False: too late, the core clears that leg."""

    def agent_connected(self, call: Call, agent: str) -> None:
        """The caller and the agent hear each other now (recording starts here)."""

    def agent_failed(self, call: Call, agent: str, cause: int) -> None:
        """The offer's leg ended before an answer (busy, unreachable, the far end gave up)."""

    def call_gone(self, call: Call) -> None:
        """The caller's side has ended: abandoned in the queue or a finished conversation."""

    def agent_leg_lost(self, call: Call, agent: str, cause: int) -> bool:
        """The agent's answered leg failed (its device vanished, not a hang-up): True when the
        contact center keeps the caller (held for the agent or queued again), so it is not cleared."""

    def request_callback(self, call: Call, action) -> None:
        """The IVR's caller asks to be called back (an IVR `callback` node)."""

    def device_gone(self, endpoint: str, why: str = "") -> None:
        """An agent's device (a SIP phone, a browser softphone) has vanished: the endpoint it
        logged in at.  The contact center sets the agent NOT_READY and holds or re-queues its
        caller by policy; `device_back(endpoint)` when it returns."""

    # Optional: call_changed(call, what, party_agent, cause) hears what happened to the legs an
    # agent's requests placed ("consult-ringing", "consult-connected", "consult-refused",
    # "consult-left", "caller-left", "reconnected", "reconnect-failed").


class Pbx:
    def __init__(self, plan_source: Callable[[], PbxPlan], clock: Clock, bus: EventBus):
        self.plan_source = plan_source
        self.clock = clock
        self.bus = bus
        self.active: dict[tuple[int, int], _Active] = {}   # (span, Q.931 call id) -> call
        self.outbound: dict[tuple[int, int], _Outbound] = {}  # (span, Q.931 id of the leg we placed) -> it
        self.by_call: dict[str, _Active] = {}              # call id -> call, for the contact center
        self.spans: dict[int, object] = {}                 # span id -> IsdnSpan, as handlers attach
        self.sip = None          # the box's SIP legs (sip_legs.SipLegs), when the sip service runs
        self.overlap: dict[tuple[int, int], list] = {}     # (span, Q.931 id) -> [event, digits, timer]
        self.center: ContactCenter | None = None          # the CTI's distributor, when it runs
        self.cdr = None              # a pbx_cti.cdr store: each call's record, written off the loop

    def calls(self) -> list[Call]:
        return [a.call for a in self.active.values()]

    def cleared_locally(self, span_id: int, q931_id: int, cause: int) -> None:
        active = self.active.get((span_id, q931_id))
        if active is not None and active.call.cleared_by is None:
            active.call.cleared_by = "box"
            active.cause_sent = cause

    def describe_call(self, span_id: int, q931_id: int) -> list[str]:
        """Lines for `show calls`: the call's mapping, route and where it is in the IVR."""
        active = self.active.get((span_id, q931_id))
        if active is None:
            return []
        call = active.call
        route = call.route
        lines = [f"PBX call  : {call.id}, called {call.numbers_in.get('called') or '-'} -> "
                 f"{call.numbers.get('called') or '-'}, route {route.get('kind')} {route.get('target')}"]
        if call.ivr_node is not None:
            lines.append(f"IVR       : node {call.ivr_node} ({' > '.join(call.ivr_path)}), "
                         f"digits {call.digits or '(none)'}")
        if call.data.get("queue"):
            agent = call.data.get("agent")
            state = ("on hold by " if active.held else "talking with ") + agent if agent else \
                ("ringing " + ", ".join(sorted(active.offers)) if active.offers else "waiting")
            lines.append(f"Queue     : {call.data['queue']}, {state}"
                         + (f"; supervisor {active.supervisor.supervision}" if active.supervisor else ""))
        return lines

    # -- events from a span --------------------------------------------------------------------
    def attach_span(self, isdn) -> None:
        self.spans[isdn.span_id] = isdn
        if getattr(isdn, "kind", "isdn") == "sip":
            self.sip = isdn

    def on_event(self, isdn, event) -> None:
        key = (isdn.span_id, getattr(event, "call_id", None))
        out = self.outbound.get(key)
        if out is not None:
            if out.role is not None:
                self._placed_event(out, event)
            elif out.supervision is not None:
                self._supervisor_event(out, event)
            elif out.agent is not None and out is not out.active.out:
                self._offer_event(out, event)
            else:
                self._outbound_event(out, event)
            return
        if isinstance(event, IncomingCall):
            self._incoming(isdn, event)
        elif isinstance(event, InfoDigits) and key in self.overlap:
            self._more_digits(isdn, event)
        elif isinstance(event, Released) and key in self.overlap:
            _, _, timer = self.overlap.pop(key)
            if timer is not None:
                timer.cancel()
        elif key in self.active and self.active[key].originated is not None and \
                isinstance(event, (Answered, Released)):
            self._originated_event(self.active[key], event)
        elif isinstance(event, Answered) and key in self.active:
            pass        # our own CONNECT acknowledged
        elif isinstance(event, Disconnected) and key in self.active:
            active = self.active[key]
            active.call.cleared_by = active.call.cleared_by or "caller"
        elif isinstance(event, Released) and key in self.active and self._conference_outlives(key):
            pass                     # the caller left a conference: the agent and the party talk on
        elif isinstance(event, Released) and key in self.active:
            self._released(self.active.pop(key), event.cause)

    def close_span(self, isdn) -> None:
        for key in [k for k in self.active if k[0] == isdn.span_id]:
            active = self.active.pop(key)
            self._released(active, active.cause_sent or Cause.TEMPORARY_FAILURE)
        # Legs the box placed there are gone too: their calls hear it as the far end's release.
        for key in [k for k in self.outbound if k[0] == isdn.span_id]:
            if key in self.outbound:
                self.on_event(isdn, Released(self.clock.now(), key[1], Cause.TEMPORARY_FAILURE))
        if self.sip is isdn:        # the sip service stopped: a new one attaches its own legs
            self.sip = None
            self.spans.pop(isdn.span_id, None)

    # -- an incoming call -----------------------------------------------------------------------
    def _incoming(self, isdn, ev: IncomingCall) -> None:
        plan = self.plan_source()
        if ev.bearer.capability not in _VOICE:
            isdn.disconnect(ev.call_id, Cause.BEARER_CAPABILITY_NOT_AVAILABLE)
            return
        if not ev.sending_complete and not plan.dialplan.settled(ev.called):
            # Overlap receiving: take the rest of the number before mapping and routing it, so
            # a call is never routed on a prefix of what the caller dialled.
            isdn.setup_ack(ev.call_id)
            key = (isdn.span_id, ev.call_id)
            self.overlap[key] = [ev, ev.called, self.clock.call_later(INTERDIGIT_SECONDS,
                                                                        lambda: self._digits_done(isdn, key))]
            return
        self._accept(isdn, ev, ev.called, plan)

    def _more_digits(self, isdn, event: InfoDigits) -> None:
        key = (isdn.span_id, event.call_id)
        pending = self.overlap[key]
        pending[1] += event.digits
        if pending[2] is not None:
            pending[2].cancel()
        if event.sending_complete or self.plan_source().dialplan.settled(pending[1]):
            pending[2] = None
            self._digits_done(isdn, key)
        else:
            pending[2] = self.clock.call_later(INTERDIGIT_SECONDS, lambda: self._digits_done(isdn, key))

    def _digits_done(self, isdn, key) -> None:
        pending = self.overlap.pop(key, None)
        if pending is None:
            return
        ev, digits, _ = pending
        try:
            isdn.proceed(ev.call_id)          # no more digits wanted (stops T302)
        except CallStateError:
            return
        self._accept(isdn, ev, digits, self.plan_source(), proceeded=True)

    def _accept(self, isdn, ev: IncomingCall, called_digits: str, plan: PbxPlan, *, proceeded: bool = False) -> None:
        called = Number(called_digits, *(_ton_npi(ev.called_number)))
        calling = _party(ev.calling)
        redirecting = _party(ev.redirecting)
        numbers_in = {"called": _describe(called), "calling": _describe(calling), "redirecting": _describe(redirecting)}
        if not called_digits:
            isdn.try_disconnect(ev.call_id, Cause.INVALID_NUMBER_FORMAT)
            return
        sip = getattr(isdn, "kind", "isdn") == "sip"     # a SIP agent's calls (sip_legs.py)
        trunk = plan.gateway.sip_trunk(isdn.trunk_name(ev.call_id) or "") if sip else \
            plan.gateway.trunk_of_span(isdn.span_id)
        mapped_called, numbers = called, dict(numbers_in)
        mapped_numbers = {"called": called, "calling": calling, "redirecting": redirecting}
        if trunk is not None:
            try:
                mapping = plan.gateway.translate(trunk.name, "in", called, calling, redirecting).mapping
            except GatewayError as exc:
                log.error("span %d: number mapping failed: %s", isdn.span_id, exc)
                mapping = None
            if mapping is not None:
                if mapping.rejected is not None:
                    isdn.disconnect(ev.call_id, Cause.CALL_REJECTED)
                    return
                for role, m in mapping.numbers.items():
                    numbers[role] = _describe(m.after)
                    mapped_numbers[role] = m.after
                mapped_called = mapping.numbers["called"].after
        call = Call(new_call_id("sip" if sip else f"s{isdn.span_id}"), "in", trunk.name if trunk else None,
                    None if sip else isdn.span_id, ev.timeslot, numbers_in, numbers, setup_at=time.time())
        leg = Leg(f"{call.id}/in", isdn.endpoint(ev.call_id) if sip else f"isdn span {isdn.span_id} TS {ev.timeslot}",
                  "in", span=None if sip else isdn.span_id, timeslot=ev.timeslot, kind="sip" if sip else "isdn")
        call.legs.append(leg)
        active = _Active(call, isdn, ev.call_id, plan, leg, parties=mapped_numbers,
                         redirect_reason=getattr(ev.redirecting, "reason", None))
        self.active[(isdn.span_id, ev.call_id)] = active
        self.by_call[call.id] = active
        self.bus.publish(CallStarted(self.clock.now(), call.id, call.summary()))
        route = plan.dialplan.route(mapped_called.digits, time.time())
        call.route = route.as_dict()
        self._record(lambda cdr: cdr.open(CallRecord(
            call.id, "in", setup_time=call.setup_at,
            legs=(CdrLeg("in", leg.kind, call.trunk or "", leg.span, ev.timeslot),),
            route_entry=route.pattern if route.entry >= 0 else "(no entry)",
            route_target=f"{route.kind}:{route.target}" + (" (after hours)" if route.after_hours else ""),
            **number_fields(called=called, calling=calling, redirecting=redirecting),
            **number_fields(called=mapped_numbers["called"], calling=mapped_numbers["calling"],
                            redirecting=mapped_numbers["redirecting"], mapped=True))))
        self.bus.publish(CallRouted(self.clock.now(), call.id, call.route))
        leg.media = isdn.leg_media(ev.call_id) if sip else \
            IsdnLegMedia(isdn.bearer, ev.timeslot, _LAWS.get(ev.bearer.layer1))
        if not proceeded:
            try:
                isdn.proceed(ev.call_id)
            except CallStateError:
                # The caller's DISCONNECT came in the same tick as its SETUP: the Released that
                # follows closes the call and its record.
                log.info("call %s: the caller cleared before it was routed", call.id)
                return
        leg.state = LegState.PROCEEDING
        self._follow(active, route)

    def _follow(self, active: _Active, route: Route) -> None:
        kind, target = route.kind, route.target
        if kind == "reject":
            self._clear(active, int(target))
        elif kind == "announcement":
            self._announce(active, target)
        elif kind == "ivr":
            flow = active.plan.flows.get(target)
            if flow is None:
                log.error("call %s: dial plan names IVR flow %r, which is not loaded", active.call.id, target)
                self._clear(active, Cause.UNALLOCATED_NUMBER)
                return
            self._ivr(active, flow)
        elif kind == "extension":
            self._dial_out(active, endpoints.extension(self.sip, active.plan, target))
        else:   # trunk: the number as mapped goes out on the named group (of spans, or a SIP trunk)
            self._dial_out(active, endpoints.trunk(self.sip, active.plan, target, active.call.numbers.get("called") or ""))

    def _ivr(self, active: _Active, flow) -> None:
        isdn, call = active.isdn, active.call
        ring = active.plan.ring_seconds
        if ring > 0:
            isdn.alert(active.q931_id, inband=True)
            call.alerting_at = time.time()
            self._record(lambda cdr: cdr.update(call.id, alerting_time=call.alerting_at))
            active.leg.state = LegState.ALERTING
            active.leg.media.play_source(ToneGenerator("KR", "ringback"))
            active.timer = self.clock.call_later(ring, lambda: self._answer_and_run(active, flow))
        else:
            self._answer_and_run(active, flow)

    def _answer_and_run(self, active: _Active, flow) -> None:
        if (active.isdn.span_id, active.q931_id) not in self.active:
            return
        try:
            active.isdn.answer(active.q931_id)
        except CallStateError as exc:
            log.info("call %s not answered: %s", active.call.id, exc)
            return
        call = active.call
        call.answered_at = time.time()
        active.leg.state = LegState.ANSWERED
        self._record(lambda cdr: cdr.update(call.id, answer_time=call.answered_at))
        self.bus.publish(CallAnswered(self.clock.now(), call.id))
        data = {"call_id": call.id, "called": call.numbers.get("called", ""), "calling": call.numbers.get("calling", ""),
                "redirecting": call.numbers.get("redirecting", ""), "trunk": call.trunk or ""}
        session = IvrSession(flow, data, self.clock.now(), call_id=call.id, trace=self.bus.publish)
        active.runner = IvrRunner(session, active.leg.media, active.plan.prompts, self.clock,
                                  on_route=lambda action: self._route_to_skill(active, action),
                                  on_transfer=lambda action: self._transfer(active, action),
                                  on_hangup=lambda cause: self._clear(active, cause),
                                  on_progress=lambda fields: self._progress(active, fields),
                                  on_notify=lambda action: notify_from_ivr(self.bus, action),
                                  on_callback=lambda action: self._request_callback(active, action),
                                  record_dir=active.plan.record_dir)
        active.runner.start()

    def _request_callback(self, active: _Active, action) -> None:
        if self.center is None:
            log.error("call %s: callback to %s not booked: the CTI is not running", active.call.id, action.number)
            return
        self.center.request_callback(active.call, action)

    def _announce(self, active: _Active, prompt: str) -> None:
        """Early media: the caller hears the announcement before any answer (progress indicator
        8), then the call is cleared — a carrier bills nothing for it."""
        isdn, call = active.isdn, active.call
        isdn.progress(active.q931_id, 8)
        store = active.plan.prompts
        if prompt not in store:
            log.error("call %s: announcement %r is not in the prompt directory", call.id, prompt)
            self._clear(active, ANNOUNCEMENT_CAUSE)
            return
        media = active.leg.media
        item = media.play(store[prompt].samples)
        seconds = store[prompt].duration + 0.3
        active.timer = self.clock.call_later(seconds, lambda: self._clear(active, ANNOUNCEMENT_CAUSE))
        active.announcement = item

    def _route_to_skill(self, active: _Active, action: RouteToSkill) -> None:
        active.call.data.update({"skill": action.skill, **dict(action.data)})
        self.bus.publish(CallUpdated(self.clock.now(), active.call.id, {"skill": action.skill, "data": dict(action.data)}))
        reason = "the CTI is not running: no agent can take the call"
        if self.center is not None:
            reason = self.center.route(active.call, action)
        if reason is None:
            queue = active.call.data.get("queue", "")
            self._record(lambda cdr: cdr.update(active.call.id, queue=queue))
            active.runner.handed_off()
        else:
            # No CTI at all: nobody can take the call, the same as nobody logged in.
            active.runner.route_failed(reason, getattr(reason, "no_agents", self.center is None))

    def _transfer(self, active: _Active, action: Transfer) -> None:
        reason = self._dial_out(active, self._where(active, action.kind, action.target.lstrip("+")), from_ivr=True)
        if reason is not None:
            active.runner.transfer_failed(reason, Cause.NO_CIRCUIT_AVAILABLE)

    # -- the leg the box places ----------------------------------------------------------------
    def _where(self, active: _Active, kind: str, number: str) -> Destination | str:
        """An extension (wherever it lives), or a number out on the caller's own trunk."""
        if kind == "extension":
            return endpoints.extension(self.sip, active.plan, number)
        return endpoints.trunk(self.sip, active.plan, active.call.trunk, number)

    def ring_extension(self, call_id: str, extension: str) -> str | None:
        """Place a leg of the call to `extension` (its registered SIP contacts, else the
        extension trunk) and bridge it to the caller when answered, as a dial-plan route to
        the extension does.  None when it rings, else why not (the caller stays as it was)."""
        active = self.by_call.get(call_id)
        if active is None:
            return "the call has ended"
        if active.out is not None:
            return "the call already has a leg placed"
        return self._dial_out(active, endpoints.extension(self.sip, active.plan, extension), from_ivr=True)

    def _dial_out(self, active: _Active, destination: Destination | str, *, from_ivr: bool = False,
                  agent: str | None = None, supervision: str | None = None) -> str | None:
        """Place the call's outgoing leg where `destination` says (endpoints.py: a SIP phone, a
        SIP trunk or a trunk group of spans); None when it is on its way, else why not (the
        caller is then cleared with cause 34, unless the IVR or the contact center handles the
        failure)."""
        from_ivr = from_ivr or agent is not None or supervision is not None
        call = active.call
        leg_id = f"{call.id}/out" if agent is None else f"{call.id}/agent/{agent}"
        placed = destination if isinstance(destination, str) else \
            self._place(active.plan, destination, active.parties.get("calling") or _number(call.numbers.get("calling")),
                        active.parties.get("redirecting"), getattr(active.leg.media, "law", None), leg_id,
                        active.redirect_reason)
        if isinstance(placed, str):
            what = "out" if isinstance(destination, str) else f"{destination.number} ({destination.describe()})"
            log.warning("call %s: cannot dial %s: %s", call.id, what, placed)
            if not from_ivr:
                self._clear(active, Cause.NO_CIRCUIT_AVAILABLE)
            return placed
        carrier, leg_call_id, leg, number = placed
        call.legs.append(leg)
        out = _Outbound(active, carrier, leg_call_id, leg, from_ivr=from_ivr, agent=agent, supervision=supervision,
                        where=destination.group or destination.phone or "")
        if supervision is not None:
            active.supervisor = out
        elif agent is None:
            active.out = out
        else:
            active.offers[agent] = out
        self.outbound[(carrier.span_id, leg_call_id)] = out
        if agent is not None or supervision is not None:
            return None          # an offer or a supervisor: the call's route changes when it is answered
        where = {"dialled": number, "out_span": leg.span, "out_timeslot": leg.timeslot}
        if leg.kind == "sip":
            where = {"dialled": number, "out_sip": destination.phone or destination.group}
        call.route = {**call.route, **where}
        group = destination.group or destination.phone or ""
        self._record(lambda cdr: cdr.update(call.id, legs=tuple(
            CdrLeg(l.direction, l.kind, call.trunk if l.direction == "in" else group, l.span, l.timeslot)
            for l in call.legs)))
        self.bus.publish(CallUpdated(self.clock.now(), call.id, where))
        return None

    def _place(self, plan: PbxPlan, destination: Destination, calling: Number | None, redirecting: Number | None,
               law: str | None, leg_id: str, redirect_reason: int | None = None) -> tuple | str:
        """Set up one leg: (its carrier, the carrier's call id, the `Leg` with its media, the
        number dialled), or why it cannot be placed.  Toward a trunk the gateway's outbound
        mapping of that trunk applies (the same module as inbound, for spans and SIP alike)."""
        number = destination.number
        mapped = None
        if destination.mapped_out:
            try:
                mapping = plan.gateway.translate(destination.group, "out", Number(number), calling, redirecting).mapping
            except GatewayError as exc:
                return str(exc)
            if mapping.rejected is not None:
                return f"the outbound mapping of {destination.group} rejects the {mapping.rejected.role} number"
            if mapping.profile is not None:
                mapped = {role: m.after for role, m in mapping.numbers.items()}
                number = mapped["called"].digits
                calling = mapped.get("calling", calling)
                redirecting = mapped.get("redirecting", redirecting)
        if destination.kind != SPANS:
            sip = self.sip
            if sip is None:
                return "the sip service is not running"
            try:
                call_id = sip.place(number, trunk=destination.group if destination.kind == SIP_TRUNK else None,
                                    phone=destination.phone, calling=_sip_party(calling),
                                    redirecting=_sip_party(redirecting, redirect_reason), law=law)
            except CallStateError as exc:
                return str(exc)
            leg = Leg(leg_id, sip.endpoint(call_id), "out", kind="sip")
            leg.media = sip.leg_media(call_id)
            return sip, call_id, leg, number
        try:
            group = plan.gateway.trunk(destination.group)
        except GatewayError as exc:
            return str(exc)
        if not group.takes("out"):
            return f'trunk group "{group.name}" takes no outgoing calls'
        tables = {span: isdn.stack.channels for span, isdn in self.spans.items()
                  if span in group.spans and isdn.in_service}
        picked = plan.hunter(group).pick(tables)
        if picked is None:
            return NoFreeChannel(f'no free channel on trunk group "{group.name}"')
        span, timeslot = picked
        out_isdn = self.spans[span]
        ton = calling.type_of_number if mapped is not None and calling is not None else ie.TypeOfNumber.NATIONAL
        digits = calling.digits.lstrip("+") if calling is not None and not calling.anonymous else ""
        try:
            q931_id = out_isdn.setup(number, calling=ie.CallingNumber(digits, ton, ie.NumberingPlan.ISDN)
                                     if digits else None,
                                     redirecting=_redirecting_ie(redirecting, redirect_reason),
                                     timeslot=timeslot, exclusive=True, law=law)
        except (CallStateError, ValueError) as exc:
            return str(exc)
        leg = Leg(leg_id, f"isdn span {span} TS {timeslot}", "out", span=span, timeslot=timeslot)
        leg.media = IsdnLegMedia(out_isdn.bearer, timeslot, law)
        return out_isdn, q931_id, leg, number

    def _bridge(self, active: _Active) -> None:
        out = active.out
        if out is None or out.bridged or active.leg.media is None:
            return
        # IVR prompts or music on hold give way to the far end; two RTP legs of one codec are
        # relayed untouched, and carried through the media plane again whenever a recorder,
        # a supervisor or hold needs the audio (media.py decides, as each starts and stops).
        bridge(active.leg.media, out.leg.media)
        out.bridged = True

    def _offer_event(self, out: _Outbound, event) -> None:
        """An agent's extension, rung for the contact center, answered or gave up."""
        active, call, agent = out.active, out.active.call, out.agent
        if isinstance(event, Answered):
            ringing = active.offers.pop(agent, None) is out
            if not ringing or self.center is None or not self.center.agent_answered(call, agent):
                out.isdn.try_disconnect(out.q931_id, Cause.NON_SELECTED_USER_CLEARING)   # answered too late
                return
            out.leg.state = LegState.ANSWERED
            active.out = out
            call.data["agent"] = agent
            self._bridge(active)
            self._record(lambda cdr: cdr.update(call.id, agent=agent, legs=tuple(
                CdrLeg(l.direction, l.kind, call.trunk if l.direction == "in" else out.where,
                       l.span, l.timeslot) for l in call.legs if l is active.leg or l is out.leg)))
            where = {"out_span": out.leg.span, "out_timeslot": out.leg.timeslot} if out.leg.kind == "isdn" \
                else {"out_sip": out.where}
            self.bus.publish(CallUpdated(self.clock.now(), call.id, {"agent": agent, **where}))
            if self.center is not None:
                self.center.agent_connected(call, agent)
        elif isinstance(event, Released):
            self.outbound.pop((out.isdn.span_id, out.q931_id), None)
            out.leg.state = LegState.ENDED
            out.leg.media.close()
            if active.offers.get(agent) is out:     # not withdrawn by us: the extension gave up
                del active.offers[agent]
                if self.center is not None:
                    self.center.agent_failed(call, agent, event.cause)

    # -- what the contact center asks of a call -------------------------------------------------
    def offer(self, call_id: str, agent: str, extension: str) -> str | None:
        """Ring `agent`'s extension on the extension trunk for the call; None when it rings,
        else why it cannot (the caller stays where it is)."""
        active = self.by_call.get(call_id)
        if active is None:
            return "the caller has gone"
        if agent in active.offers:
            return None
        return self._dial_out(active, endpoints.extension(self.sip, active.plan, extension), agent=agent)

    def withdraw(self, call_id: str, agent: str, cause: int = Cause.NORMAL_CLEARING) -> None:
        """Stop ringing `agent` for the call (idempotent)."""
        active = self.by_call.get(call_id)
        out = active.offers.pop(agent, None) if active is not None else None
        if out is not None:
            out.isdn.try_disconnect(out.q931_id, cause)

    def play_to_caller(self, call_id: str, samples, *, loops: int = 1) -> int | None:
        """Queue audio for a caller who is not bridged (music on hold loops with loops=0)."""
        active = self.by_call.get(call_id)
        if active is None or active.leg.media is None or (active.out is not None and active.out.bridged
                                                           and not active.held):
            return None
        return active.leg.media.play(samples, loops=loops)

    def stop_caller_audio(self, call_id: str) -> None:
        active = self.by_call.get(call_id)
        if active is not None and active.leg.media is not None:
            active.leg.media.stop()

    def hold(self, call_id: str, music) -> bool:
        """The agent holds the caller: the two stop hearing each other, the caller hears music."""
        active = self.by_call.get(call_id)
        if active is None or active.out is None or not active.out.bridged or active.held:
            return False
        active.leg.media.stop_hearing(active.out.leg.media)
        active.out.leg.media.stop_hearing(active.leg.media)
        active.held = True
        active.leg.media.play(music, loops=0)
        return True

    def retrieve(self, call_id: str) -> bool:
        active = self.by_call.get(call_id)
        if active is None or active.out is None or not active.held:
            return False
        active.held = False
        active.leg.media.stop()
        active.leg.media.hear(active.out.leg.media)
        active.out.leg.media.hear(active.leg.media)
        return True

    def send_digits(self, call_id: str, digits: str, toward: str = "caller") -> bool:
        """In-band DTMF the agent sends (to the caller, e.g. to an IVR the caller is in)."""
        active = self.by_call.get(call_id)
        if active is None or active.leg.media is None:
            return False
        generator = DtmfGenerator(level_dbm0=-10.0, on_ms=80, off_ms=80)
        generator.put(digits)
        active.leg.media.play(generator.generate(len(digits) * 160 * 8))
        return True

    def hang_up(self, call_id: str, cause: int = Cause.NORMAL_CLEARING) -> bool:
        active = self.by_call.get(call_id)
        if active is None:
            return False
        self._clear(active, cause)
        return True

    def transfer(self, call_id: str, kind: str, target: str) -> str | None:
        """Blind transfer of a connected call away from its agent: to an `extension` (on the
        extension trunk) or a `number` (out on the caller's trunk group).  The new leg is placed
        first; only then is the agent's leg cleared, so a transfer that cannot be placed leaves
        the call as it was.  None when on its way, else why not."""
        active = self.by_call.get(call_id)
        if active is None:
            return "the call has ended"
        agent_leg = active.out
        active.out = None
        reason = self._dial_out(active, self._where(active, kind, target.lstrip("+")), from_ivr=True)
        if reason is not None:
            active.out = agent_leg
            return reason
        if agent_leg is not None:
            self._drop_leg(active, agent_leg)
        active.held = False
        active.call.data.pop("agent", None)
        active.leg.media.stop()
        active.leg.media.play_source(ToneGenerator("KR", "ringback"))    # until the far end's own
        return None

    def requeue(self, call_id: str) -> bool:
        """The agent's leg goes and the caller waits again (a transfer to a queue): True when
        the caller is still there to be queued."""
        active = self.by_call.get(call_id)
        if active is None:
            return False
        if active.out is not None:
            self._drop_leg(active, active.out)
        active.held = False
        active.call.data.pop("agent", None)
        return True

    def _drop_leg(self, active: _Active, out: _Outbound) -> None:
        """Clear one leg the box placed for the call, and unhear it, without touching the caller."""
        self.outbound.pop((out.isdn.span_id, out.q931_id), None)
        if out.bridged:
            active.leg.media.stop_hearing(out.leg.media)
        if active.out is out:
            active.out = None
        if active.supervisor is out:
            active.supervisor = None
        out.isdn.try_disconnect(out.q931_id, Cause.NORMAL_CLEARING)
        out.leg.state = LegState.ENDED
        out.leg.media.close()

    def supervise(self, call_id: str, extension: str, mode: str) -> str | None:
        """Ring a supervisor's extension into the agent's call: `monitor` (hears both), `whisper`
        (the agent hears the supervisor too) or `barge` (both do).  None when it rings."""
        active = self.by_call.get(call_id)
        if active is None or active.out is None or not active.out.bridged:
            return "the call is not connected to an agent"
        if active.supervisor is not None:
            if active.supervisor.bridged:           # already listening: change the mode in place
                self._supervise_mode(active, mode)
                return None
            return "a supervisor's extension is already ringing for this call"
        return self._dial_out(active, endpoints.extension(self.sip, active.plan, extension), supervision=mode)

    def _supervise_mode(self, active: _Active, mode: str) -> None:
        sup, caller, agent = active.supervisor, active.leg.media, active.out.leg.media
        sup.supervision = mode
        for media in (caller, agent):
            media.stop_hearing(sup.leg.media)
        if mode in ("whisper", "barge"):
            agent.hear(sup.leg.media)
        if mode == "barge":
            caller.hear(sup.leg.media)

    def _supervisor_event(self, out: _Outbound, event) -> None:
        active = out.active
        if isinstance(event, Answered):
            if active.supervisor is not out or active.out is None or not active.out.bridged:
                out.isdn.try_disconnect(out.q931_id, Cause.NORMAL_CLEARING)
                return
            out.leg.state = LegState.ANSWERED
            out.leg.media.hear(active.leg.media)
            out.leg.media.hear(active.out.leg.media)
            out.bridged = True
            self._supervise_mode(active, out.supervision)
            self.bus.publish(CallUpdated(self.clock.now(), active.call.id, {"supervision": out.supervision}))
        elif isinstance(event, Released):
            self.outbound.pop((out.isdn.span_id, out.q931_id), None)
            if active.supervisor is out:
                active.supervisor = None
                for media in (active.leg.media, active.out.leg.media if active.out else None):
                    if media is not None:
                        media.stop_hearing(out.leg.media)
            out.leg.state = LegState.ENDED
            out.leg.media.close()

    def call_back(self, call_id: str, agent: str, extension: str, number: str, trunk_group: str | None,
                  present: str = "") -> str | None:
        """A callback the box places: ring `agent`'s extension first; once the agent answers,
        dial `number` out on `trunk_group` and bridge the two.  None when the extension rings."""
        plan = self.plan_source()
        if call_id in self.by_call:
            return None
        destination = endpoints.extension(self.sip, plan, extension)
        if isinstance(destination, str):
            return destination
        placed = self._place(plan, destination, _number(number), None, None, f"{call_id}/agent/{agent}")
        if isinstance(placed, str):
            return placed
        isdn, q931_id, leg, _ = placed
        span, timeslot = leg.span, leg.timeslot
        # Toward the customer the box presents the number the customer called (the center's).
        numbers = {"called": number, "calling": present or extension, "redirecting": ""}
        call = Call(call_id, "out", trunk_group, span, timeslot, dict(numbers), numbers, setup_at=time.time())
        call.route = {"kind": "callback", "target": number, "agent": agent}
        call.legs.append(leg)
        active = _Active(call, isdn, q931_id, plan, leg, originated=(agent, number, trunk_group),
                         parties={"calling": _number(numbers["calling"])})
        self.active[(isdn.span_id, q931_id)] = active
        self.by_call[call_id] = active
        self.bus.publish(CallStarted(self.clock.now(), call_id, call.summary()))
        self._record(lambda cdr: cdr.open(CallRecord(
            call_id, "out", setup_time=call.setup_at,
            legs=(CdrLeg("out", leg.kind, destination.group or destination.phone or "", span, timeslot),),
            route_entry="callback", route_target=f"callback:{number}",
            **number_fields(called=Number(number), calling=Number(numbers["calling"])))))
        return None

    def _originated_event(self, active: _Active, event) -> None:
        """The agent's leg of a callback: answered, the customer is dialled; gone, the call ends."""
        call = active.call
        agent, number, trunk_group = active.originated
        if isinstance(event, Answered):
            accepted = self.center is not None and self.center.agent_answered(call, agent)
            if not accepted:
                self._clear(active, Cause.NON_SELECTED_USER_CLEARING)
                return
            active.leg.state = LegState.ANSWERED
            call.data["agent"] = agent
            active.leg.media.play_source(ToneGenerator("KR", "ringback"))   # the agent hears the customer's phone ring
            self._record(lambda cdr: cdr.update(call.id, agent=agent, queue=call.data.get("queue", "")))
            reason = self._dial_out(active, endpoints.trunk(self.sip, active.plan, trunk_group, number), from_ivr=True)
            if reason is not None:
                log.warning("callback %s: cannot dial %s: %s", call.id, number, reason)
                self._clear(active, Cause.NO_CIRCUIT_AVAILABLE)
        else:      # Released
            self.active.pop((active.isdn.span_id, active.q931_id), None)
            unanswered = active.leg.state is not LegState.ANSWERED
            self._released(active, event.cause)
            if unanswered and self.center is not None:     # the engine offers the callback again
                self.center.agent_failed(call, agent, event.cause)

    # -- an agent's own calls: make-call, consultation, conference, a device that came back ------
    # Kept apart from the paths above: these place legs with a `role`, which `_placed_event`
    # follows, and change the call's media only through the functions here.

    def make_call(self, agent: str, extension: str, number: str) -> tuple[str | None, str]:
        """An agent's outgoing call: its extension rings first (as a phone the agent picks up);
        once it answers, `number` is dialled on the dial plan's route for it (a `trunk:` target,
        or an `extension:` one on the extension trunk).  (None, call id) when the extension
        rings, else (why not, "")."""
        plan = self.plan_source()
        route = plan.dialplan.route(number, time.time())
        if route.kind == "trunk":
            group, dial = route.target, number
        elif route.kind == "extension":
            group, dial = plan.extension_trunk, route.target
        else:
            return (f"the dial plan routes {number} to {route.kind}:{route.target}, not out of the box "
                    f'(a [[dialplan]] entry with a "trunk:" target places it)'), ""
        call_id = new_call_id("mc")
        reason = self.call_back(call_id, agent, extension, dial, group)
        if reason is not None:
            return reason, ""
        active = self.by_call[call_id]
        active.call.route = {"kind": "make-call", "target": dial, "agent": agent, "entry": route.pattern}
        self._record(lambda cdr: cdr.update(call_id, agent=agent, route_entry=route.pattern or "(no entry)",
                                            route_target=f"make-call:{route.kind}:{route.target}"))
        return None, call_id

    def _parties(self, active: _Active):
        """(the customer's media, the agent's media) of a connected call: an incoming caller and
        its agent's leg, or for a call the box placed for an agent the other way round."""
        if active.out is None or not active.out.bridged:
            return None
        if active.originated is not None:
            return active.out.leg.media, active.leg.media
        return active.leg.media, active.out.leg.media

    def hold_party(self, call_id: str, music) -> bool:
        """Hold whichever call the agent has: the customer hears music, the agent nothing."""
        active = self.by_call.get(call_id)
        if active is None or active.originated is None:
            return self.hold(call_id, music)
        parties = self._parties(active)
        if parties is None or active.held:
            return False
        customer, agent = parties
        customer.stop_hearing(agent)
        agent.stop_hearing(customer)
        active.held = True
        customer.play(music, loops=0)
        return True

    def retrieve_party(self, call_id: str) -> bool:
        active = self.by_call.get(call_id)
        if active is None or active.originated is None:
            return self.retrieve(call_id)
        parties = self._parties(active)
        if parties is None or not active.held or active.consult is not None:
            return False
        customer, agent = parties
        active.held = False
        customer.stop()
        customer.hear(agent)
        agent.hear(customer)
        return True

    def digits_to_party(self, call_id: str, digits: str) -> bool:
        """In-band DTMF toward the customer (the caller, or the party an agent's call reached)."""
        active = self.by_call.get(call_id)
        if active is None or active.originated is None:
            return self.send_digits(call_id, digits)
        parties = self._parties(active)
        if parties is None:
            return False
        generator = DtmfGenerator(level_dbm0=-10.0, on_ms=80, off_ms=80)
        generator.put(digits)
        parties[0].play(generator.generate(len(digits) * 160 * 8))
        return True

    def consult(self, call_id: str, kind: str, target: str, music, party_agent: str | None = None,
                present: str = "") -> str | None:
        """The agent consults someone while the caller holds (music): `kind` "extension" (on the
        extension trunk) or "number" (out on the caller's trunk group).  The agent hears the
        consulted leg at once (its ringback, then the party).  None when it rings, else why not
        (nothing changed)."""
        active = self.by_call.get(call_id)
        if active is None:
            return "the call has ended"
        if active.originated is not None:
            return "a consultation is made from a caller's call, not from a call the box placed"
        if active.out is None or not active.out.bridged:
            return "the call is not connected to the agent"
        if active.consult is not None:
            return "a consultation is already in progress: complete, cancel or conference it first"
        out = self._place_leg(active, self._where(active, kind, target.lstrip("+")), "consult", party_agent, present)
        if isinstance(out, str):
            return out
        active.consult = out
        if not active.held:
            self.hold(call_id, music)
        out.leg.media.hear(active.out.leg.media)
        active.out.leg.media.hear(out.leg.media)
        return None

    def consult_state(self, call_id: str) -> str | None:
        """None (no consultation), "ringing", "connected" or "conference"."""
        active = self.by_call.get(call_id)
        if active is None or active.consult is None:
            return None
        return "conference" if active.conference else ("connected" if active.consult.bridged else "ringing")

    def agents_on(self, call_id: str) -> dict[str, str]:
        """agent -> how it is on the call now: "rung" (an offer), "agent" (its leg is the call's
        agent side), "consult-ringing" / "consult" (consulted), "own" (a call placed for it),
        "reconnect" (its extension rung again after its device vanished)."""
        active = self.by_call.get(call_id)
        if active is None:
            return {}
        on = {agent: "rung" for agent in active.offers}
        if active.out is not None and active.out.agent is not None:
            on[active.out.agent] = "agent"
        if active.originated is not None:
            on[active.originated[0]] = "own"
        if active.consult is not None and active.consult.agent is not None:
            on[active.consult.agent] = "consult" if active.consult.bridged else "consult-ringing"
        for out in self.outbound.values():
            if out.active is active and out.role == "reconnect" and out.agent is not None:
                on[out.agent] = "reconnect"
        return on

    def consultations(self) -> dict[str, tuple]:
        """call id -> (the call's agent, the consulted party's agent or None, the number rung)
        for every call with a consultation in progress (a CTI restarted mid-consultation)."""
        return {cid: (a.call.data.get("agent"), a.consult.agent, a.consult.leg.id.rsplit("/", 1)[-1])
                for cid, a in self.by_call.items() if a.consult is not None}

    def consult_party(self, call_id: str) -> str | None:
        """The agent whose extension the call's consultation rings or reached (None: no agent)."""
        active = self.by_call.get(call_id)
        return active.consult.agent if active is not None and active.consult is not None else None

    def consult_cancel(self, call_id: str, retrieve: bool = True) -> bool:
        """The consulted party goes; the agent is back with the caller (retrieved from hold), or
        with `retrieve=False` the caller stays on hold."""
        active = self.by_call.get(call_id)
        if active is None or active.consult is None:
            return False
        self._drop_consult(active, active.consult)
        if retrieve and active.held:
            self.retrieve(call_id)
        return True

    def _answered_consultation(self, call_id: str):
        """(the call, its consulted party, None) when a consulted party has answered; else
        (None, None, why not)."""
        active = self.by_call.get(call_id)
        if active is None:
            return None, None, "the call has ended"
        party = active.consult
        if party is None or not party.bridged:
            return None, None, ("no consulted party has answered yet" if party is not None
                                else "no consultation is in progress")
        return active, party, None

    def consult_complete(self, call_id: str) -> str | None:
        """The agent leaves: the caller and the consulted party talk (a consultative transfer, or
        the agent dropping out of a conference).  None when done, else why not."""
        active, party, why = self._answered_consultation(call_id)
        if why is not None:
            return why
        agent_leg = active.out
        if agent_leg is not None:
            party.leg.media.stop_hearing(agent_leg.leg.media)
            agent_leg.leg.media.stop_hearing(party.leg.media)
            self._drop_leg(active, agent_leg)
        active.consult, active.conference, active.held = None, False, False
        party.role = None
        active.out = party
        active.leg.media.stop()
        active.leg.media.hear(party.leg.media)
        party.leg.media.hear(active.leg.media)
        if party.agent is not None:
            active.call.data["agent"] = party.agent
        else:
            active.call.data.pop("agent", None)
        self._record(lambda cdr: cdr.update(active.call.id, agent=party.agent or ""))
        self.bus.publish(CallUpdated(self.clock.now(), active.call.id, {"agent": party.agent or "",
                                                                         "transferred_to": party.leg.endpoint}))
        return None

    def conference(self, call_id: str) -> str | None:
        """Caller, agent and the consulted party in one conference on the media plane: each hears
        the other two.  None when done, else why not."""
        active, party, why = self._answered_consultation(call_id)
        if why is not None:
            return why
        if active.conference:
            return "the call is already a conference"
        if active.out is None or not active.out.bridged:
            return "the agent is not on the call"
        caller, agent = active.leg.media, active.out.leg.media
        active.held = False
        caller.stop()                       # the music on hold gives way
        caller.hear(agent)
        agent.hear(caller)
        caller.hear(party.leg.media)
        party.leg.media.hear(caller)
        active.conference = True
        self.bus.publish(CallUpdated(self.clock.now(), active.call.id, {"conference": True}))
        return None

    def park(self, call_id: str, music) -> bool:
        """The agent's device has gone: its leg is cleared and the caller waits with music for
        it to come back (`reconnect`) or to be queued again."""
        active = self.by_call.get(call_id)
        if active is None or active.originated is not None:
            return False
        if active.consult is not None:
            self._drop_consult(active, active.consult)
        if active.out is not None:
            self._drop_leg(active, active.out)
        active.held = False
        active.leg.media.stop()
        active.leg.media.play(music, loops=0)
        return True

    def reconnect(self, call_id: str, agent: str, extension: str) -> str | None:
        """Ring a parked call's agent at its extension again; answered, the two are bridged."""
        active = self.by_call.get(call_id)
        if active is None:
            return "the caller has gone"
        if active.out is not None:
            return "the call is connected already"
        out = self._place_leg(active, endpoints.extension(self.sip, active.plan, extension), "reconnect", agent)
        return out if isinstance(out, str) else None

    def unpark(self, call_id: str) -> None:
        """Stop ringing a parked call's agent again (the caller is queued again instead)."""
        for key, out in list(self.outbound.items()):
            if out.role == "reconnect" and out.active.call.id == call_id:
                del self.outbound[key]
                out.isdn.try_disconnect(out.q931_id, Cause.NORMAL_CLEARING)
                out.leg.state = LegState.ENDED
                out.leg.media.close()

    def _place_leg(self, active: _Active, destination: Destination | str, role: str,
                   agent: str | None = None, present: str = ""):
        """A leg beside the call where `destination` says (endpoints.py), followed by
        `_placed_event`: the _Outbound, or why it cannot be placed."""
        if isinstance(destination, str):
            return destination
        call = active.call
        calling = _number(present) if present else (active.parties.get("calling") or _number(call.numbers.get("calling")))
        placed = self._place(active.plan, destination, calling, None, getattr(active.leg.media, "law", None),
                             f"{call.id}/{role}/{agent or destination.number}")
        if isinstance(placed, str):
            return placed
        carrier, leg_call_id, leg, _ = placed
        call.legs.append(leg)
        out = _Outbound(active, carrier, leg_call_id, leg, from_ivr=True, agent=agent, role=role,
                        where=destination.group or destination.phone or "")
        self.outbound[(carrier.span_id, leg_call_id)] = out
        return out

    def _drop_consult(self, active: _Active, party: _Outbound) -> None:
        for media in (active.leg.media, active.out.leg.media if active.out is not None else None):
            if media is not None:
                media.stop_hearing(party.leg.media)
                party.leg.media.stop_hearing(media)
        self.outbound.pop((party.isdn.span_id, party.q931_id), None)
        party.isdn.try_disconnect(party.q931_id, Cause.NORMAL_CLEARING)
        party.leg.state = LegState.ENDED
        party.leg.media.close()
        if active.consult is party:
            active.consult = None
            active.conference = False

    def _placed_event(self, out: _Outbound, event) -> None:
        active, call = out.active, out.active.call
        current = (active.isdn.span_id, active.q931_id) in self.active
        if isinstance(event, Alerting) and out.role == "consult":
            self._tell_center(call, "consult-ringing", out)
        elif isinstance(event, Answered):
            if not current or (out.role == "consult" and active.consult is not out) or \
                    (out.role == "reconnect" and active.out is not None):
                out.isdn.try_disconnect(out.q931_id, Cause.NORMAL_CLEARING)
                return
            out.leg.state = LegState.ANSWERED
            if out.role == "consult":
                out.bridged = True
                self._tell_center(call, "consult-connected", out)
            else:                           # the agent's device is back and answered: talk again
                out.role = None
                active.out = out
                self._bridge(active)
                self._tell_center(call, "reconnected", out)
        elif isinstance(event, Released):
            self.outbound.pop((out.isdn.span_id, out.q931_id), None)
            answered = out.leg.state is LegState.ANSWERED
            if out.role == "consult" and active.consult is out:
                conference = active.conference
                self._drop_consult(active, out)
                if conference:               # the party left: the caller and the agent talk on
                    self.bus.publish(CallUpdated(self.clock.now(), call.id, {"conference": False}))
                self._tell_center(call, "consult-left" if answered else "consult-refused", out, event.cause)
            else:
                out.leg.state = LegState.ENDED
                out.leg.media.close()
                if out.role == "reconnect" and current:
                    self._tell_center(call, "reconnect-failed", out, event.cause)

    def _conference_outlives(self, key) -> bool:
        """The caller's side of a conference has gone: the agent's leg takes the caller's place
        in the call, so the agent and the consulted party talk on (the call ends with them)."""
        active = self.active.get(key)
        if active is None or not active.conference or active.out is None or active.consult is None:
            return False
        agent_leg, party = active.out, active.consult
        caller_media = active.leg.media
        for media in (agent_leg.leg.media, party.leg.media):
            media.stop_hearing(caller_media)
        active.leg.state = LegState.ENDED
        caller_media.close()
        del self.active[key]
        self.outbound.pop((agent_leg.isdn.span_id, agent_leg.q931_id), None)
        active.isdn, active.q931_id, active.leg = agent_leg.isdn, agent_leg.q931_id, agent_leg.leg
        self.active[(agent_leg.isdn.span_id, agent_leg.q931_id)] = active
        party.role = None
        active.out, active.consult, active.conference, active.held = party, None, False, False
        active.call.cleared_by = None
        self.bus.publish(CallUpdated(self.clock.now(), active.call.id, {"conference": False, "caller_left": True}))
        self._tell_center(active.call, "caller-left", party)
        return True

    def _tell_center(self, call: Call, what: str, out: _Outbound, cause: int | None = None) -> None:
        changed = getattr(self.center, "call_changed", None)
        if changed is not None:
            changed(call, what, out.agent, cause)

    def call(self, call_id: str) -> Call | None:
        """The call the box carries under this id, or None once it has ended."""
        active = self.by_call.get(call_id)
        return active.call if active is not None else None

    def ringing(self, call_id: str) -> frozenset[str]:
        """The agents whose extensions ring for the call now."""
        active = self.by_call.get(call_id)
        return frozenset(active.offers) if active is not None else frozenset()

    def prompt(self, call_id: str, name: str):
        """The samples of prompt `name` in the plan the call started with, or None."""
        active = self.by_call.get(call_id)
        if active is None or name not in active.plan.prompts:
            return None
        return active.plan.prompts[name].samples

    def agent_leg_media(self, call_id: str):
        """(caller's media, agent's media) of a connected call, for recording and supervision."""
        active = self.by_call.get(call_id)
        if active is None or active.out is None or not active.out.bridged:
            return None
        return active.leg.media, active.out.leg.media

    def _outbound_event(self, out: _Outbound, event) -> None:
        active, caller = out.active, out.active.isdn
        call = active.call
        if isinstance(event, (Alerting, Progress)):
            inband = getattr(event, "inband", False) or getattr(event, "description", None) == 8
            if call.answered_at is None and caller is not None and active.originated is None \
                    and (active.isdn.span_id, active.q931_id) in self.active:
                try:
                    caller.alert(active.q931_id, inband=True) if isinstance(event, Alerting) else \
                        caller.progress(active.q931_id, 8)
                except CallStateError:
                    pass
            if inband:
                self._bridge(active)              # the caller hears the far end's ringback
            elif isinstance(event, Alerting) and not out.bridged and not out.ringback and \
                    active.originated is None and active.leg.media is not None:
                # A plain ALERTING or 180 (a phone ringing, no media of its own): we told the
                # caller in-band information follows, so the box plays the ringback itself until
                # the far end answers (the bridge stops it).
                out.ringback = True
                active.leg.media.stop()
                active.leg.media.play_source(ToneGenerator("KR", "ringback"))
        elif isinstance(event, Answered):
            out.leg.state = LegState.ANSWERED
            if call.answered_at is None:
                try:
                    if active.originated is None:
                        caller.answer(active.q931_id)
                except CallStateError:
                    return
                call.answered_at = time.time()
                self._record(lambda cdr: cdr.update(call.id, answer_time=call.answered_at))
                self.bus.publish(CallAnswered(self.clock.now(), call.id))
            self._bridge(active)
            if out.from_ivr and active.runner is not None:
                active.runner.handed_off()
        elif isinstance(event, Disconnected):
            call.cleared_by = call.cleared_by or "called"
        elif isinstance(event, Released):
            self.outbound.pop((out.isdn.span_id, out.q931_id), None)
            out.leg.state = LegState.ENDED
            out.leg.media.close()
            active.out = None
            if out.ringback and not out.bridged and active.leg.media is not None:
                active.leg.media.stop()        # our ringback ends with the leg it was for
            if (active.isdn.span_id, active.q931_id) in self.active:
                if out.from_ivr and active.runner is not None and not active.runner.done and not out.bridged:
                    active.runner.transfer_failed(f"the far end cleared with cause {event.cause}", event.cause)
                elif out.agent is not None and out.bridged and event.cause not in _AGENT_HUNG_UP \
                        and self.center is not None and self.center.agent_leg_lost(call, out.agent, event.cause):
                    pass         # the agent's device failed: the contact center keeps the caller (its policy)
                else:
                    active.cause_sent = event.cause
                    caller.try_disconnect(active.q931_id, event.cause)

    def _progress(self, active: _Active, fields: dict) -> None:
        call = active.call
        if "ivr_node" in fields:
            call.ivr_node = fields["ivr_node"]
            call.ivr_path = fields["ivr_path"]
            call.digits = fields["digits"]
            call.data.update({k: v for k, v in fields["data"].items() if isinstance(v, (str, int, float))})
            self._record(lambda cdr: cdr.update(call.id, ivr_path=tuple(call.ivr_path), digits=call.digits,
                                                ivr_data=dict(call.data)))
        self.bus.publish(CallUpdated(self.clock.now(), call.id, fields))

    def clear(self, active: _Active, cause: int) -> None:
        self._clear(active, cause)

    def _clear(self, active: _Active, cause: int) -> None:
        if active.timer is not None:
            active.timer.cancel()
            active.timer = None
        active.cause_sent = cause
        active.call.cleared_by = active.call.cleared_by or "box"
        if not active.isdn.try_disconnect(active.q931_id, cause):
            log.info("call %s: already clearing", active.call.id)

    def _released(self, active: _Active, cause: int) -> None:
        if active.timer is not None:
            active.timer.cancel()
        self.by_call.pop(active.call.id, None)
        # The caller went: its outgoing leg and any offer still ringing go too.
        for out in [active.out, *active.offers.values(), active.supervisor, active.consult]:
            if out is None:
                continue
            self.outbound.pop((out.isdn.span_id, out.q931_id), None)
            out.isdn.try_disconnect(out.q931_id, Cause.NORMAL_CLEARING)
            out.leg.state = LegState.ENDED
            out.leg.media.close()
        active.out, active.offers, active.supervisor, active.consult = None, {}, None, None
        if active.runner is not None:
            if active.call.cleared_by == "caller":
                active.runner.caller_hung_up()
            else:
                active.runner.stop()
        call = active.call
        call.ended_at = time.time()
        call.cause = active.cause_sent if active.cause_sent is not None else cause
        call.cleared_by = call.cleared_by or "network"
        active.leg.state = LegState.ENDED
        if active.leg.media is not None:
            active.leg.media.close()
        # Every RTP leg the call had (an agent's phone that hung up first included), as it ended.
        media = media_figures((leg.direction, leg) for leg in call.legs)
        self._record(lambda cdr: cdr.close(call.id, cause=call.cause, end_time=call.ended_at,
                                           cleared_by=_CLEARED_BY.get(call.cleared_by, "network"),
                                           **({"media": media} if media else {})))
        if self.center is not None and call.data.get("queue"):
            self.center.call_gone(call)
        self.bus.publish(CallEnded(self.clock.now(), call.id, call.summary()))

    def _record(self, write) -> None:
        """Hand a change to the CDR store (it queues; its thread writes)."""
        if self.cdr is None:
            return
        try:
            write(self.cdr)
        except Exception:        # a record must never cost the call
            log.exception("CDR write refused")


def media_figures(legs) -> tuple[dict, ...]:
    """The figures of every RTP leg among (role, Leg), for the call's record: what each showed
    as it closed, or now for one still open."""
    out = []
    for role, leg in legs:
        figures = getattr(leg.media, "figures", None)
        got = figures() if figures is not None else None
        if got is not None:
            out.append({"role": role, **got})
    return tuple(out)


class PbxSpanHandler:
    """The CallHandler of one span, for the `Pbx` all spans share."""

    def __init__(self, isdn, pbx: Pbx):
        self.isdn = isdn
        self.pbx = pbx
        pbx.attach_span(isdn)

    def on_event(self, event) -> None:
        self.pbx.on_event(self.isdn, event)

    def close(self) -> None:
        self.pbx.close_span(self.isdn)

    def describe_call(self, q931_id: int) -> list[str]:
        return self.pbx.describe_call(self.isdn.span_id, q931_id)

    def cleared_locally(self, q931_id: int, cause: int) -> None:
        self.pbx.cleared_locally(self.isdn.span_id, q931_id, cause)


def _ton_npi(ie) -> tuple[int, int]:
    if ie is None:
        return Number("").type_of_number, Number("").numbering_plan
    return ie.type_of_number, ie.numbering_plan


def _party(ie) -> Number | None:
    if ie is None:
        return None
    return Number(ie.digits, ie.type_of_number, ie.numbering_plan, ie.presentation)


def _number(digits: str | None) -> Number | None:
    return Number(digits) if digits else None


def _sip_party(number: Number | None, reason: int | None = None):
    """A gateway Number as the SIP user agent's Party ('+' marks an international number)."""
    if number is None or (not number.digits and not number.anonymous):
        return None
    digits, ton = number.digits, number.type_of_number
    if digits.startswith("+"):
        digits, ton = digits[1:], ie.TypeOfNumber.INTERNATIONAL
    return SipParty(digits, ton, number.numbering_plan,
                    SIP_RESTRICTED if number.anonymous or number.presentation == SIP_RESTRICTED else SIP_ALLOWED,
                    reason=reason)


def _redirecting_ie(number: Number | None, reason: int | None = None):
    if number is None or not number.digits:
        return None
    return ie.RedirectingNumber(number.digits.lstrip("+"), number.type_of_number, number.numbering_plan,
                                reason=ie.RedirectReason.UNKNOWN if reason is None else reason)


def _describe(number: Number | None) -> str:
    if number is None:
        return ""
    return "anonymous" if number.anonymous else number.digits

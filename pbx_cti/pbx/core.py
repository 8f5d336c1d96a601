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
from typing import Callable

from dsp.prompts import PromptStore
from dsp.tones import ToneGenerator
from firmware.gateway.numbers import Number
from firmware.gateway.plan import GatewayError, GatewayPlan
from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.events import Answered, Disconnected, IncomingCall, Released
from firmware.isdn.q931.ies import Layer1, TransferCapability
from firmware.isdn.q931.link import CallStateError
from pbx_cti.cdr.fields import number_fields
from pbx_cti.cdr.record import CallRecord, Leg as CdrLeg
from pbx_cti.ivr.actions import RouteToSkill, Transfer
from pbx_cti.ivr.session import IvrSession
from runtime.bus import EventBus
from runtime.clock import Clock, TimerHandle

from .dialplan import DialPlan, Route
from .ivr_runner import IvrRunner
from .media import IsdnLegMedia
from .model import Call, CallAnswered, CallEnded, CallRouted, CallStarted, CallUpdated, Leg, LegState, new_call_id

log = logging.getLogger("pribox.pbx")

_VOICE = (TransferCapability.SPEECH, TransferCapability.AUDIO_3K1)
_LAWS = {Layer1.ALAW: "alaw", Layer1.ULAW: "ulaw"}
ANNOUNCEMENT_CAUSE = Cause.NORMAL_CLEARING
# Who cleared, in the CDR's words: the caller is the calling party of an incoming call.
_CLEARED_BY = {"caller": "calling", "box": "box", "network": "network"}


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


class Pbx:
    def __init__(self, plan_source: Callable[[], PbxPlan], clock: Clock, bus: EventBus):
        self.plan_source = plan_source
        self.clock = clock
        self.bus = bus
        self.active: dict[tuple[int, int], _Active] = {}   # (span, Q.931 call id) -> call
        self.route_to_skill: Callable[[Call, RouteToSkill], str | None] | None = None  # the CTI, when it runs
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
        return lines

    # -- events from a span --------------------------------------------------------------------
    def on_event(self, isdn, event) -> None:
        key = (isdn.span_id, getattr(event, "call_id", None))
        if isinstance(event, IncomingCall):
            self._incoming(isdn, event)
        elif isinstance(event, Answered) and key in self.active:
            pass        # our own CONNECT acknowledged
        elif isinstance(event, Disconnected) and key in self.active:
            active = self.active[key]
            active.call.cleared_by = active.call.cleared_by or "caller"
        elif isinstance(event, Released) and key in self.active:
            self._released(self.active.pop(key), event.cause)

    def close_span(self, isdn) -> None:
        for key in [k for k in self.active if k[0] == isdn.span_id]:
            active = self.active.pop(key)
            self._released(active, active.cause_sent or Cause.TEMPORARY_FAILURE)

    # -- an incoming call -----------------------------------------------------------------------
    def _incoming(self, isdn, ev: IncomingCall) -> None:
        plan = self.plan_source()
        if ev.bearer.capability not in _VOICE:
            isdn.disconnect(ev.call_id, Cause.BEARER_CAPABILITY_NOT_AVAILABLE)
            return
        called = Number(ev.called, *(_ton_npi(ev.called_number)))
        calling = _party(ev.calling)
        redirecting = _party(ev.redirecting)
        numbers_in = {"called": _describe(called), "calling": _describe(calling), "redirecting": _describe(redirecting)}
        trunk = plan.gateway.trunk_of_span(isdn.span_id)
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
        call = Call(new_call_id(f"s{isdn.span_id}"), "in", trunk.name if trunk else None, isdn.span_id, ev.timeslot,
                    numbers_in, numbers, setup_at=time.time())
        leg = Leg(f"{call.id}/in", f"isdn span {isdn.span_id} TS {ev.timeslot}", "in")
        call.legs.append(leg)
        active = _Active(call, isdn, ev.call_id, plan, leg)
        self.active[(isdn.span_id, ev.call_id)] = active
        self.bus.publish(CallStarted(self.clock.now(), call.id, call.summary()))
        route = plan.dialplan.route(mapped_called.digits, time.time())
        call.route = route.as_dict()
        self._record(lambda cdr: cdr.open(CallRecord(
            call.id, "in", setup_time=call.setup_at,
            legs=(CdrLeg("in", "isdn", call.trunk or "", isdn.span_id, ev.timeslot),),
            route_entry=route.pattern if route.entry >= 0 else "(no entry)",
            route_target=f"{route.kind}:{route.target}" + (" (after hours)" if route.after_hours else ""),
            **number_fields(called=called, calling=calling, redirecting=redirecting),
            **number_fields(called=mapped_numbers["called"], calling=mapped_numbers["calling"],
                            redirecting=mapped_numbers["redirecting"], mapped=True))))
        self.bus.publish(CallRouted(self.clock.now(), call.id, call.route))
        leg.media = IsdnLegMedia(isdn.bearer, ev.timeslot, _LAWS.get(ev.bearer.layer1))
        isdn.proceed(ev.call_id)
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
        else:   # extension, trunk: the outbound call path (a later step of this box) — refused with a cause
            log.warning("call %s: %s:%s is not reachable yet", active.call.id, kind, target)
            self._clear(active, Cause.NO_CIRCUIT_AVAILABLE)

    def _ivr(self, active: _Active, flow) -> None:
        isdn, call = active.isdn, active.call
        ring = active.plan.ring_seconds
        if ring > 0:
            isdn.alert(active.q931_id, inband=True)
            call.alerting_at = time.time()
            self._record(lambda cdr: cdr.update(call.id, alerting_time=call.alerting_at))
            active.leg.state = LegState.ALERTING
            isdn.bearer.play(call.timeslot, ToneGenerator("KR", "ringback"))
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
                                  record_dir=active.plan.record_dir)
        active.runner.start()

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
        if self.route_to_skill is not None:
            reason = self.route_to_skill(active.call, action)
        if reason is None:
            active.runner.handed_off()
        else:
            active.runner.route_failed(reason)

    def _transfer(self, active: _Active, action: Transfer) -> None:
        active.runner.transfer_failed("transfers to outside numbers need the outbound call path", None)

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
        self._record(lambda cdr: cdr.close(call.id, cause=call.cause, end_time=call.ended_at,
                                           cleared_by=_CLEARED_BY.get(call.cleared_by, "network")))
        self.bus.publish(CallEnded(self.clock.now(), call.id, call.summary()))

    def _record(self, write) -> None:
        """Hand a change to the CDR store (it queues; its thread writes)."""
        if self.cdr is None:
            return
        try:
            write(self.cdr)
        except Exception:        # a record must never cost the call
            log.exception("CDR write refused")


class PbxSpanHandler:
    """The CallHandler of one span, for the `Pbx` all spans share."""

    def __init__(self, isdn, pbx: Pbx):
        self.isdn = isdn
        self.pbx = pbx

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


def _describe(number: Number | None) -> str:
    if number is None:
        return ""
    return "anonymous" if number.anonymous else number.digits

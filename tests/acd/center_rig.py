"""A whole contact center in lockstep on one ManualClock: the carrier's PRI (spans 2 → 1), the
box's real switching core (`Pbx`) with a one-key IVR, the CTI (engine restored from a SQLite
event log, its runner, the `CallDistributor`), the CDR store in SQLite, and the center's PBX
on the second PRI (spans 3 → 4) as one scriptable phone per agent's extension.

Nothing runs on its own: time moves when a test says so, so a run is deterministic and a
minute of calls takes a fraction of a second.  A CTI restart is what the daemon does on a
reload of [cti] (pbx_cti/acd/service.py): the distributor and the engine's timers go, the log
is closed, and a new engine restored from the same file takes over the same core and calls.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

from drivers.lockstep import LockstepLine
from dsp.prompts import PromptStore
from firmware.config.loader import default_text, load_text
from firmware.gateway.plan import GatewayPlan
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.events import IncomingCall, Released
from firmware.isdn.q931.link import CallStateError
from firmware.isdn.q931.channels import PRI_TIMESLOTS
from firmware.isdn.stack import PriStack
from hil_tests.carrier import StackCarrier
from pbx_cti.acd.service import OwnedClock, put_to_work
from pbx_cti.api.config_section import cti_config
from pbx_cti.cdr.reader import CdrReader
from pbx_cti.cdr.store import CdrStore
from pbx_cti.cti.engine import CtiEngine
from pbx_cti.cti.eventlog import SqliteEventStore
from pbx_cti.cti.model import AgentState, CtiConfig
from pbx_cti.ivr.flow import load_flow_text
from pbx_cti.pbx.core import Pbx, PbxPlan, PbxSpanHandler
from pbx_cti.pbx.dialplan import DialPlan
from pbx_cti.pbx.model import CallStarted
from runtime.bus import EventBus
from runtime.clock import ManualClock

log = logging.getLogger("pribox.tests.acd")

WALL_T0 = 1_800_000_000.0     # the wall-clock time the CTI sees when the rig's clock reads 0
PERIOD = 0.01                 # the spans' tick: 10 ms blocks keep a minute of line cheap
CALLED = "15881234"           # the carrier's number for the center: route point 7000, flow "main"

# The embedded default as shipped: spans 1-4, the "center" trunk group as [pbx] extension_trunk,
# the dial plan's 7000 -> ivr:main, and [cti] with kim, lee, park and their three queues.
CONFIG = load_text(default_text(), "embedded default")
EXTENSIONS = {"kim": "2001", "lee": "2002", "park": "2003"}
AGENTS = tuple(EXTENSIONS)
QUEUE_OF_KEY = {"1": "deposit_inquiry", "2": "account_transfer", "3": "incident_report"}

# One key picks the queue; no prompts, so a caller is queued about 0.5 s after the IVR answers.
# `wait = true`: callers queue while every agent is busy (only a queue nobody is logged in to
# takes the busy path).  A caller who presses nothing or a wrong key is cleared with cause 16.
FLOW_TEXT = """
[flow]
entry = "menu"

[nodes.menu]
type = "collect"
prompts = []
first_digit_timeout = 2
valid = "[123]"
into = "choice"
no_input_retries = 0
invalid_retries = 0
next = "service"
on_max_retries = "goodbye"

[nodes.service]
type = "branch"
otherwise = "goodbye"

[[nodes.service.case]]
var = "choice"
equals = "1"
next = "deposit_inquiry"

[[nodes.service.case]]
var = "choice"
equals = "2"
next = "account_transfer"

[[nodes.service.case]]
var = "choice"
equals = "3"
next = "incident_report"

[nodes.deposit_inquiry]
type = "route"
skill = "deposit_inquiry"
wait = true
on_busy = "goodbye"

[nodes.account_transfer]
type = "route"
skill = "account_transfer"
wait = true
on_busy = "goodbye"

[nodes.incident_report]
type = "route"
skill = "incident_report"
priority = 10
wait = true
on_busy = "goodbye"

[nodes.goodbye]
type = "hangup"
cause = 16
"""
FLOW = load_flow_text(FLOW_TEXT, "tests/acd/one-key.toml")


def center_config(**per_queue) -> CtiConfig:
    """The default [cti], each queue changed by `per_queue[name]` (a dict of QueueConfig fields)."""
    base = cti_config(CONFIG.cti)
    queues = {name: dataclasses.replace(q, **per_queue.get(name, {})) for name, q in base.queues.items()}
    return CtiConfig(dict(base.agents), queues, base.groups, base.not_ready_reasons, base.wrap_up_codes)


@dataclass
class PhoneScript:
    """What an extension does when the box rings it."""
    kind: str = "answer"               # answer | ring (never answers) | busy (cause 17 at once)
    after: float = 1.0                 # seconds of ringing before it answers
    hang_up_after: float | None = None  # the agent hangs up at the phone this long after answering


@dataclass
class PhoneCall:
    q931_id: int
    extension: str
    answered: bool = False
    timeslot: int | None = None
    timers: list = field(default_factory=list)


class Phones:
    """The center's PBX on span 4 (user side): one phone per extension, each doing what its
    script says.  A number with no script answers after a second and stays."""

    def __init__(self, isdn: IsdnSpan):
        self.isdn = isdn
        self.scripts: dict[str, PhoneScript] = {}
        self.calls: dict[int, PhoneCall] = {}
        self.rung: dict[str, int] = {}
        self.voices: dict[str, object] = {}     # extension -> () -> an audio source its user speaks once answered

    def on_event(self, event) -> None:
        if isinstance(event, IncomingCall):
            self._ringing(event)
        elif isinstance(event, Released):
            call = self.calls.pop(event.call_id, None)
            if call is not None:
                for timer in call.timers:
                    timer.cancel()

    def _ringing(self, event: IncomingCall) -> None:
        script = self.scripts.get(event.called, PhoneScript())
        self.rung[event.called] = self.rung.get(event.called, 0) + 1
        if script.kind == "busy":
            self.isdn.try_disconnect(event.call_id, Cause.USER_BUSY)
            return
        try:
            self.isdn.proceed(event.call_id)
            self.isdn.alert(event.call_id)
        except CallStateError:
            return          # the box cleared it before the phone took it (same tick)
        call = self.calls[event.call_id] = PhoneCall(event.call_id, event.called, timeslot=event.timeslot)
        if script.kind == "answer":
            call.timers.append(self.isdn.clock.call_later(script.after, lambda: self._answer(call, script)))

    def _answer(self, call: PhoneCall, script: PhoneScript) -> None:
        if call.q931_id not in self.calls:
            return
        try:
            self.isdn.answer(call.q931_id)
        except CallStateError:
            return          # the box gave up on it in the same instant
        call.answered = True
        voice = self.voices.get(call.extension)
        if voice is not None:
            self.isdn.bearer.play(call.timeslot, voice())
        if script.hang_up_after is not None:
            call.timers.append(self.isdn.clock.call_later(script.hang_up_after,
                                                          lambda: self.isdn.try_disconnect(call.q931_id, 16)))

    def hang_up(self, extension: str) -> bool:
        """The phone at `extension` hangs up (or stops ringing) every call it has."""
        done = False
        for call in list(self.calls.values()):
            if call.extension == extension:
                done |= self.isdn.try_disconnect(call.q931_id, Cause.NORMAL_CLEARING)
        return done

    def answered(self, extension: str) -> PhoneCall | None:
        return next((c for c in self.calls.values() if c.extension == extension and c.answered), None)

    def close(self) -> None:
        for call in self.calls.values():
            for timer in call.timers:
                timer.cancel()


class Center:
    """The rig.  `state_dir` gets the CTI's event log and the CDRs."""

    def __init__(self, state_dir: Path, cti: CtiConfig | None = None, config=None, policy=None):
        self.state_dir = Path(state_dir)
        self.cti_config = cti or center_config()
        self.clock, self.bus = ManualClock(), EventBus()
        self.started: list[str] = []
        self.bus.subscribe(CallStarted, lambda e: self.started.append(e.call_id))
        self.carrier_line = LockstepLine(clock=self.clock, bus=self.bus, period=PERIOD,
                                         nt_config={"id": 2}, te_config={"id": 1}).open()
        self.center_line = LockstepLine(clock=self.clock, bus=self.bus, period=PERIOD,
                                        nt_config={"id": 3}, te_config={"id": 4}).open()
        config = config or CONFIG          # a box configuration (the embedded default unless a test needs more)
        self.policy = policy               # pbx_cti.acd LostPolicy, or the default
        plan = PbxPlan(GatewayPlan.from_config(config), DialPlan.from_config(config), {"main": FLOW}, PromptStore(),
                       0.0, None, "tests/acd", config.pbx.extension_trunk)
        self.pbx = Pbx(lambda: plan, self.clock, self.bus)
        self.cdr = CdrStore.in_state_dir(self.state_dir)
        self.pbx.cdr = self.cdr
        self.box = IsdnSpan(self.carrier_line.te, PriStack("user"), clock=self.clock, bus=self.bus)
        self.box_center = IsdnSpan(self.center_line.nt, PriStack("network"), clock=self.clock, bus=self.bus)
        self.box.handler = PbxSpanHandler(self.box, self.pbx)
        self.box_center.handler = PbxSpanHandler(self.box_center, self.pbx)
        self.net = IsdnSpan(self.carrier_line.nt, PriStack("network"), clock=self.clock, bus=self.bus)
        self.carrier = StackCarrier(self.net, digits="", tone_seconds=0.0, hangup_after_audio=False)
        self.pbx_side = IsdnSpan(self.center_line.te, PriStack("user"), clock=self.clock, bus=self.bus)
        self.phones = Phones(self.pbx_side)
        self.pbx_side.handler = self.phones
        self.stacks = [self.box, self.box_center, self.net, self.pbx_side]
        for isdn in self.stacks:
            isdn.start()
        self.run_until(lambda: all(s.in_service for s in self.stacks), 5.0)
        self.store = self.runner = self.distributor = self.cti_clock = None
        self.restarts = 0
        self.start_cti()

    # -- the CTI, as the daemon's cti service runs it --------------------------------------------
    def wall_now(self) -> float:
        return self.clock.now() + WALL_T0

    def start_cti(self) -> None:
        self.cti_clock = OwnedClock(self.clock)
        self.store = SqliteEventStore.in_state_dir(self.state_dir)
        engine = CtiEngine.restore(self.cti_config, self.store, self.wall_now())
        self.runner, self.distributor = put_to_work(engine, self.pbx, self.cti_clock, self.bus, WALL_T0,
                                                    policy=self.policy)

    def stop_cti(self) -> None:
        """A reload's stop: the core keeps its calls."""
        self.distributor.close()
        self.cti_clock.cancel_all()
        self.store.close()
        self.store = self.runner = self.distributor = None

    def restart_cti(self) -> None:
        self.stop_cti()
        self.start_cti()
        self.restarts += 1

    @property
    def engine(self) -> CtiEngine:
        return self.runner.engine

    @property
    def calls(self):
        return self.distributor.calls

    # -- the carrier ---------------------------------------------------------------------------
    def place_call(self, key: str):
        """A caller dials the center and presses `key` once the IVR answers ("" presses nothing)."""
        held = {c.timeslot for c in self.carrier.calls if not c.done}
        timeslot = next((ts for ts in PRI_TIMESLOTS if ts not in held), None)
        if timeslot is None:
            return None
        return self.carrier.place_call(called=CALLED, timeslot=timeslot, digits=key)

    def live_calls(self) -> list:
        return [c for c in self.carrier.calls if not c.done]

    # -- time --------------------------------------------------------------------------------
    def run(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def run_until(self, condition, timeout: float, step: float = 0.05) -> None:
        deadline = self.clock.now() + timeout
        while not condition():
            if self.clock.now() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s of line")
            self.clock.advance(step)

    # -- views ---------------------------------------------------------------------------------
    def core_offers(self) -> dict[str, set[str]]:
        """call id -> agents whose extension the core is ringing for it."""
        return {cid: set(a.offers) for cid, a in self.pbx.by_call.items() if a.offers}

    def core_connected(self) -> dict[str, str]:
        """call id -> agent whose extension is bridged to the caller."""
        return {cid: a.out.agent for cid, a in self.pbx.by_call.items()
                if a.out is not None and a.out.agent is not None and a.out.bridged}

    def engine_in_state(self, *states: AgentState) -> dict[str, str]:
        """agent -> its caller, for agents in one of `states`."""
        return {a.agent_id: a.caller for a in self.engine.agents.values() if a.state in states}

    def cdr_rows(self):
        self.cdr.flush()
        return CdrReader.in_state_dir(self.state_dir).calls(limit=None)

    def event_records(self):
        self.store.flush()
        return list(self.store.records())

    def close(self) -> None:
        if self.runner is not None:
            self.stop_cti()
        self.phones.close()
        for isdn in self.stacks:
            isdn.stop()
        self.carrier_line.close()
        self.center_line.close()
        self.cdr.stop()

"""Drive one scenario on the simulator's trunks and judge every expectation.

    runner = ScenarioRunner(scenario, clock, carrier={1: trunk}, pbx={1: user_trunk})
    report = await runner.run()
    report.passed; report.calls[0].checks; report.text()

The runner places the scenario's calls (at their times or when a condition is met), sends
their DTMF, plays their audio, hangs up as told, answers the box's calls on the `pbx` trunks
as the scenario's phones, and once every call is over (or `duration` ran out) checks each
call's expectations against what its leg saw and heard.  It only touches the trunks: the box
is a black box on the far end of the E1, whichever engine and clock run underneath.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from dsp.levels import SAMPLE_RATE
from dsp.tones import ToneGenerator
from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.causes import cause_name
from hil_tests.carrier import TestTone

from . import analysis
from .cdr import check_cdr
from .format import CONDITION, NUMBER_TYPES, PRESENTATIONS, REDIRECT_REASONS, Scenario
from .trunks import DRAIN_PERIOD, Dial, Leg, PartyNumber, Trunk

SETTLE_SECONDS = 3.0      # after the last call is over or the duration ran out: clearing finishes
BOX_SETTLE_SECONDS = 0.3  # then the box's side of the last clearing
# The simulator stamps a call answered when its control plane has decoded the CONNECT; the box's
# first words travel on the B-channel in the same E1 frames and are already in the recording by
# then, so on a loaded machine the stamp trails the audio.  "Heard while answered" looks this far
# back from the stamp, or a greeting that starts with the answer would lose its first syllable
# and, with it, the whole correlation.
ANSWER_STAMP_SLACK = 0.25


@dataclass
class Check:
    what: str
    held: bool
    why: str

    def as_dict(self) -> dict:
        return {"what": self.what, "held": self.held, "why": self.why}


@dataclass
class CallResult:
    name: str
    kind: str                    # "call" (placed by the simulator), "phone" (the box called it) or "agent"
    engine: str
    span: int
    timeslot: int | None
    ladder: list[tuple[float, str, str]]
    checks: list[Check] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)
    post_dial_delay: float | None = None

    @property
    def passed(self) -> bool:
        return all(check.held for check in self.checks)

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "engine": self.engine, "span": self.span,
                "timeslot": self.timeslot, "passed": self.passed,
                "post_dial_delay_ms": None if self.post_dial_delay is None else round(self.post_dial_delay * 1000, 1),
                "ladder": [{"t": round(t, 4), "dir": d, "msg": m} for t, d, m in self.ladder],
                "heard": self.heard, "checks": [c.as_dict() for c in self.checks]}


@dataclass
class ScenarioReport:
    scenario: str
    path: str
    engine: str
    calls: list[CallResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # failures not tied to one call
    load: dict | None = None

    @property
    def passed(self) -> bool:
        return not self.problems and all(call.passed for call in self.calls)

    def as_dict(self) -> dict:
        return {"scenario": self.scenario, "path": self.path, "engine": self.engine, "passed": self.passed,
                "problems": self.problems, "calls": [c.as_dict() for c in self.calls], "load": self.load}

    def text(self, ladders: bool = True) -> str:
        lines = [f"scenario {self.scenario!r} ({self.path}) with {self.engine}: {'PASSED' if self.passed else 'FAILED'}"]
        lines += [f"  problem: {p}" for p in self.problems]
        for call in self.calls:
            where = f"span {call.span} TS{call.timeslot}" if call.timeslot else f"span {call.span}"
            lines.append(f"  {call.kind} {call.name} ({where}): {'passed' if call.passed else 'FAILED'}")
            if ladders:
                for t, direction, message in call.ladder:
                    lines.append(f"    {t * 1000:9.1f} ms  {direction} {message}")
            for heard in call.heard:
                lines.append(f"    heard: {heard}")
            for check in call.checks:
                lines.append(f"    [{'ok' if check.held else 'FAIL'}] {check.what}: {check.why}")
        if self.load:
            lines.append("  load: " + json.dumps(self.load))
        return "\n".join(lines)


def party(spec, reason: bool = False) -> PartyNumber | None:
    """A party number of the file (called numbers carry no presentation, only redirecting
    numbers a reason)."""
    if spec is None:
        return None
    return PartyNumber(spec.number, NUMBER_TYPES[spec.type],
                       ie.NumberingPlan.ISDN if spec.plan == "isdn" else ie.NumberingPlan.UNKNOWN,
                       PRESENTATIONS[spec.get("presentation", "allowed")],
                       REDIRECT_REASONS[spec.reason] if reason else ie.RedirectReason.UNCONDITIONAL)


class _Samples:
    def __init__(self, samples: np.ndarray):
        self.samples, self.position = samples, 0

    def generate(self, n: int) -> np.ndarray:
        out = self.samples[self.position:self.position + n]
        self.position += len(out)
        return out


class ScenarioRunner:
    def __init__(self, scenario: Scenario, clock, *, carrier: dict[int, Trunk], pbx: dict[int, Trunk] | None = None,
                 box_digits: Callable[[Leg], str | None] | None = None, cdr_database: str | None = None,
                 ready_timeout: float = 10.0, center=None):
        self.scenario = scenario
        self.clock = clock
        self.carrier = carrier
        self.pbx = pbx or {}
        self.box_digits = box_digits
        self.cdr_database = cdr_database or scenario.settings.cdr_database
        self.ready_timeout = ready_timeout
        self.center_source = center or (lambda: None)   # the box's `cti` service, in process
        self.center = None
        self.agent_ladders: dict[str, list[tuple[float, str, str]]] = {a.id: [] for a in scenario.agents}
        self.start = 0.0
        self.legs: dict[str, list[Leg]] = {}           # scenario name -> its legs (repeat > 1: several)
        self.phone_legs: list[tuple[object, Leg]] = []
        self.problems: list[str] = []
        self._waiting: dict[tuple[str, str], list[Callable[[], None]]] = {}
        self._placed = 0
        self._to_place = sum(call.repeat for call in scenario.calls)
        self._timers: list = []
        self._prompt_watch: list[tuple[Leg, object, float]] = []

    @property
    def engine(self) -> str:
        engines = {t.engine for t in list(self.carrier.values()) + list(self.pbx.values())}
        return "+".join(sorted(engines)) or "?"

    # -- running --------------------------------------------------------------------------------
    async def run(self) -> ScenarioReport:
        trunks = list(self.carrier.values()) + list(self.pbx.values())
        if not await self._wait(lambda: all(t.ready for t in trunks), self.ready_timeout):
            down = [f"{t.role} span {t.number}" for t in trunks if not t.ready]
            report = ScenarioReport(self.scenario.name, self.scenario.path, self.engine)
            report.problems.append(f"D-channel not up within {self.ready_timeout:g} s on {', '.join(down)}")
            return report
        for trunk in self.pbx.values():
            trunk.on_incoming = self._incoming
        if any(p.side == "carrier" for p in self.scenario.phones):
            for trunk in self.carrier.values():       # the box calls out to the public network
                trunk.on_incoming = self._incoming
        if self.scenario.agents:
            await self._wait(lambda: getattr(self.center_source(), "runner", None) is not None, self.ready_timeout)
            self.center = self.center_source()
        self.start = self.clock.now()
        self._log_in_agents()
        for call in self.scenario.calls:
            if call.when is None:
                self._later(call.at or 0.0, lambda call=call: self._place(call))
            else:
                self._on(call.when, lambda call=call: self._place(call))
        watch = self.clock.call_later(DRAIN_PERIOD, self._watch_prompts)
        duration = self.scenario.settings.duration
        await self._wait(lambda: self._placed >= self._to_place and self._all_done() and not self._phones_waiting()
                         and not self._actions_due, duration, since=self.start)
        for timer in self._timers:
            timer.cancel()
        watch.cancel()
        for leg in self._all_legs():
            if not leg.done:
                leg.note(self.clock.now(), "!!", f"still up after the scenario's {duration:g} s: hanging up")
                leg.trunk.hangup(leg, 16)
        await self._wait(self._all_done, SETTLE_SECONDS)
        # The simulator is done once it sent its last message; the box takes it a few
        # milliseconds later and only then closes the call's record.
        await asyncio.sleep(BOX_SETTLE_SECONDS)
        for trunk in trunks:
            trunk.drain()
        report = ScenarioReport(self.scenario.name, self.scenario.path, self.engine)
        report.problems += self.problems
        if self._placed < self._to_place:
            report.problems.append(f"only {self._placed} of {self._to_place} calls were placed within "
                                   f"{duration:g} s (a condition never held?)")
        for call in self.scenario.calls:
            for leg in self.legs.get(call.name, []):
                report.calls.append(self._judge(leg, call.expect, "call"))
        for phone, leg in self.phone_legs:
            report.calls.append(self._judge(leg, phone.expect, "phone"))
        for phone in self.scenario.phones:
            if phone.expect is not None and not any(p is phone for p, _ in self.phone_legs):
                report.problems.append(f"phone {phone.name} ({phone.number}) was never called")
        report.calls += [self._judge_agent(agent) for agent in self.scenario.agents]
        if self._agent_watch is not None:
            self._agent_watch.cancel()
        return report

    # -- the box's contact center ---------------------------------------------------------------
    _agent_watch = None

    def _log_in_agents(self) -> None:
        agents = self.scenario.agents
        if not agents:
            return
        if self.center is None or self.center.runner is None:
            self.problems.append("the scenario has agents but the box's contact center (the cti service) "
                                 "is not running in this process")
            return
        from pbx_cti.cti.decisions import AgentStateChanged
        watched = set(self.agent_ladders)

        def changed(event) -> None:
            if event.agent in watched:
                why = f" ({event.reason})" if event.reason else ""
                self.agent_ladders[event.agent].append((self.clock.now() - self.start, "cti",
                                                        f"{event.previous.value} -> {event.state.value}{why}"))
        self._agent_watch = self.center.runner.bus.subscribe(AgentStateChanged, changed)
        for agent in agents:
            self._later(agent.at, lambda agent=agent: self._log_in(agent))
            for action in agent.action:
                self._on(action.when, lambda agent=agent, action=action: self._schedule(agent, action))

    _actions_due = 0     # agent actions whose condition held and that have not run yet

    def _schedule(self, agent, action) -> None:
        self._actions_due += 1

        def run() -> None:
            self._actions_due -= 1
            self._act(agent, action)
        self._timers.append(self.clock.call_later(action.after, run))

    def _act(self, agent, action) -> None:
        """The agent's request, through what the API's handlers call (in process)."""
        from pbx_cti.acd.distributor import CallActionError
        from pbx_cti.cti.model import CtiError
        runner, calls = self.center.runner, self.center.distributor.calls
        what = action.do + (f" {action.target or action.digits or action.extension or action.code or action.reason or ''}")
        note = lambda text: self.agent_ladders[agent.id].append((self.clock.now() - self.start, "api", text))  # noqa: E731
        try:
            if action.do == "notify":
                asyncio.ensure_future(self._notify(agent, action, note))
                return
            call = {"hold": lambda: calls.hold(agent.id), "retrieve": lambda: calls.retrieve(agent.id),
                    "hangup": lambda: calls.hang_up(agent.id), "dtmf": lambda: calls.send_dtmf(agent.id, action.digits),
                    "transfer": lambda: calls.transfer(agent.id, action.target),
                    "record-start": lambda: calls.start_recording(agent.id),
                    "record-stop": lambda: calls.stop_recording(agent.id),
                    "wrap-up": lambda: runner("wrap_up_code", agent.id, action.code),
                    "ready": lambda: runner("ready", agent.id),
                    "not-ready": lambda: runner("not_ready", agent.id, action.reason),
                    "logout": lambda: runner("logout", agent.id)}.get(action.do)
            if call is None:             # monitor, whisper, barge: a supervisor into the agent's call
                calls.supervise(agent.id, action.do, action.extension)
            else:
                call()
            note(f"{what.strip()}: done")
        except (CallActionError, CtiError) as exc:
            note(f"{what.strip()}: refused: {exc}")
            self.problems.append(f"agent {agent.id}: {what.strip()} refused: {exc}")

    async def _notify(self, agent, action, note) -> None:
        from pbx_cti.notify.service import submit_from_api
        state = self.center.runner.engine.agents[agent.id]
        body = {"call_id": state.caller, "to": self.center.distributor.calls.caller_number(state.caller)}
        if action.template is not None:
            body.update(kind="alimtalk", template=action.template, params=dict(action.params or {}))
        else:
            body.update(kind="sms", text=action.text)
        status, answer = await submit_from_api(self.center.runner.bus, agent.id, body)
        note(f"notify {action.template or 'sms'}: {status} {answer}")
        if status != 202:
            self.problems.append(f"agent {agent.id}: notify refused ({status}): {answer}")

    def _log_in(self, agent) -> None:
        runner = self.center.runner
        try:
            state = runner.engine.agents[agent.id].state.value if agent.id in runner.engine.agents else None
            if state == "LOGGED_OUT":
                runner("login", agent.id, agent.extension, list(agent.groups) if agent.groups else None)
            if agent.ready:
                runner("ready", agent.id)
        except Exception as exc:       # an unknown agent, a bad group: the scenario says why
            self.problems.append(f"agent {agent.id}: {exc}")

    def _judge_agent(self, agent) -> CallResult:
        result = CallResult(agent.id, "agent", "cti", 0, None, self.agent_ladders.get(agent.id, []))
        engine = self.center.runner.engine if self.center is not None and self.center.runner else None
        state = engine.agents.get(agent.id) if engine is not None else None
        expect = agent.expect
        if expect is None:
            return result
        if state is None:
            result.checks.append(Check(f"agent {agent.id}", False, "the box's contact center has no such agent"))
            return result
        if expect.state is not None:
            result.checks.append(Check(f"state {expect.state}", state.state.value == expect.state,
                                       f"agent {agent.id} is {state.state.value}"))
        if expect.reason is not None:
            result.checks.append(Check(f"reason {expect.reason!r}", state.reason == expect.reason,
                                       f"its reason is {state.reason!r}"))
        if expect.calls is not None:
            result.checks.append(Check(f"answered {expect.calls} call(s)", state.calls == expect.calls,
                                       f"it answered {state.calls}"))
        if expect.notified is not None:
            sent = self._delivered(agent.id)
            result.checks.append(Check(f"{expect.notified} notification(s) delivered", len(sent) == expect.notified,
                                       f"{len(sent)} delivered: " + "; ".join(sent)))
        return result

    def _delivered(self, agent: str) -> list[str]:
        """What the box's local outbox delivered for the agent (the notify-delivered.jsonl lines)."""
        if not self.cdr_database:
            return []
        path = Path(self.cdr_database).parent / "notify-delivered.jsonl"
        found = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("agent") == agent:
                found.append(f"{entry.get('channel')} {entry.get('template') or ''} to {entry.get('to')}: {entry.get('text', '')[:40]}")
        return found

    async def _wait(self, condition, timeout: float, since: float | None = None) -> bool:
        deadline = (self.clock.now() if since is None else since) + timeout
        while not condition():
            if self.clock.now() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def _all_legs(self) -> list[Leg]:
        return [leg for legs in self.legs.values() for leg in legs] + [leg for _, leg in self.phone_legs]

    def _phones_waiting(self) -> bool:
        """A phone with expectations that the box has not called yet keeps the scenario going."""
        called = {id(phone) for phone, _ in self.phone_legs}
        return any(phone.expect is not None and id(phone) not in called for phone in self.scenario.phones)

    def _all_done(self) -> bool:
        return all(leg.done for leg in self._all_legs())

    def _later(self, at: float, action) -> None:
        """`action` at `at` seconds after the scenario's start."""
        delay = max(0.0, self.start + at - self.clock.now())
        self._timers.append(self.clock.call_later(delay, action))

    def _on(self, condition: str, action) -> None:
        match = CONDITION.fullmatch(condition)
        key = (match["who"], match["event"])
        if self._happened(*key):
            action()
        else:
            self._waiting.setdefault(key, []).append(action)

    def _happened(self, who: str, event: str) -> bool:
        attr = {"placed": "placed_at", "proceeding": "proceeding_at", "alerting": "alerting_at",
                "answered": "answered_at", "disconnected": "disconnected_at", "released": "released_at"}[event]
        legs = self.legs.get(who) or [leg for phone, leg in self.phone_legs if phone.name == who]
        return any(getattr(leg, attr) is not None for leg in legs)

    def _milestone(self, who: str):
        def changed(leg: Leg, what: str) -> None:
            for action in self._waiting.pop((who, what), []):
                action()
        return changed

    # -- calls the simulator places ---------------------------------------------------------------
    def _place(self, call) -> None:
        trunks = self._pick_trunks(call)
        for copy in range(call.repeat):
            trunk = next((t for t in trunks if t.idle_channels() > 0), trunks[0])
            dial = Dial(party(call.called), party(call.calling), party(call.redirecting, reason=True),
                        timeslot=None if call.timeslot == "any" else call.timeslot,
                        overlap_first=call.overlap_first if call.dialing == "overlap" else None,
                        digit_interval=call.digit_interval, law=call.law, exclusive=call.exclusive,
                        out_of_step=call.out_of_step)
            name = call.name if call.repeat == 1 else f"{call.name}#{copy + 1}"
            self._placed += 1
            try:
                leg = trunk.place(name, dial)
            except Exception as exc:   # the simulator itself has no channel: say so, per call
                self.problems.append(f"call {name}: not placed on span {trunk.number}: {exc}")
                continue
            leg.on_change.append(self._milestone(call.name))
            self.legs.setdefault(call.name, []).append(leg)
            self._milestone(call.name)(leg, "placed")
            self._arrange(call, leg)

    def _pick_trunks(self, call) -> list[Trunk]:
        if call.span == "any":
            return sorted(self.carrier.values(), key=lambda t: -t.idle_channels())
        if call.span not in self.carrier:
            self.problems.append(f"call {call.name}: no carrier span {call.span} (have {sorted(self.carrier)})")
            return [next(iter(self.carrier.values()))]
        return [self.carrier[call.span]]

    def _arrange(self, call, leg: Leg) -> None:
        trunk = leg.trunk
        audio = self.scenario.audio

        def on_answer(action):
            leg.on_change.append(lambda l, what: action() if what == "answered" else None)

        if call.play:
            on_answer(lambda: trunk.play(leg, _Samples(audio[call.play])))
        if call.talk is not None:
            talk = call.talk
            source = (lambda: _Samples(audio[talk.wav])) if talk.wav else \
                (lambda: TestTone(talk.tone_hz, talk.level_dbm0, talk.seconds))
            self._on(talk.when, lambda: trunk.play(leg, source()))
        for dtmf in call.dtmf:
            send = (lambda d=dtmf: trunk.send_dtmf(leg, d.digits, d.on_ms, d.off_ms, d.level_dbm0))
            if dtmf.at is not None:
                self._later(dtmf.at, send)
            elif dtmf.after_answer is not None:
                on_answer(lambda d=dtmf, send=send: self._timers.append(self.clock.call_later(d.after_answer, send)))
            elif dtmf.after_prompt is not None:
                heard = next(h for h in call.expect.heard if h.prompt == dtmf.after_prompt)
                self._prompt_watch.append((leg, (audio[dtmf.after_prompt], heard.min_score), send))
        hangup = call.hangup
        if hangup is not None:
            drop = lambda: trunk.hangup(leg, hangup.cause)  # noqa: E731
            if hangup.at is not None:
                self._later(hangup.at, drop)
            elif hangup.after_answer is not None:
                on_answer(lambda: self._timers.append(self.clock.call_later(hangup.after_answer, drop)))
            elif hangup.when is not None:
                self._on(hangup.when, drop)

    def _watch_prompts(self) -> None:
        """Send DTMF that waits for a prompt once the prompt is heard (checked each drain)."""
        self._timers.append(self.clock.call_later(DRAIN_PERIOD, self._watch_prompts))
        for entry in list(self._prompt_watch):
            leg, (prompt, min_score), send = entry
            if leg.done:
                self._prompt_watch.remove(entry)
                continue
            if leg.answered_at is None:
                continue
            found = analysis.find_prompt(leg.recording(), prompt, min_score)
            if found is not None and leg.audio_started_at + found.at + min(len(prompt), 4 * SAMPLE_RATE) / SAMPLE_RATE \
                    <= self.clock.now():
                self._prompt_watch.remove(entry)
                leg.note(self.clock.now(), "..", f"prompt heard ({found.detail}): sending DTMF")
                send()

    # -- the box's calls, answered by the phones ------------------------------------------------------
    def _incoming(self, leg: Leg) -> None:
        trunk = leg.trunk
        side = "carrier" if trunk.role == "network" else "center"
        phone = next((p for p in self.scenario.phones if p.span == trunk.number and p.side == side
                      and p.number in ("*", leg.called)), None)
        if phone is None:
            leg.note(self.clock.now(), "->", "no phone with that number: RELEASE COMPLETE cause 1")
            trunk.hangup(leg, 1)
            return
        leg.name = phone.name
        self.phone_legs.append((phone, leg))
        leg.on_change.append(self._milestone(phone.name))
        self._milestone(phone.name)(leg, "placed")
        if phone.busy:
            trunk.hangup(leg, 17)
            return
        trunk.alert(leg)
        trunk.play(leg, ToneGenerator(self.scenario.settings.country, "ringback"))

        def answer() -> None:
            if leg.done:
                return
            trunk.play(leg, None)
            trunk.answer(leg)
            talk = phone.talk
            if talk is not None:
                source = (_Samples(self.scenario.audio[talk.wav]) if talk.wav
                          else TestTone(talk.tone_hz, talk.level_dbm0, talk.seconds))
                trunk.play(leg, source)
            if phone.hangup_after is not None:
                self._timers.append(self.clock.call_later(phone.hangup_after, lambda: trunk.hangup(leg, 16)))
        self._timers.append(self.clock.call_later(phone.rings * phone.ring_seconds, answer))
        if phone.hangup_when is not None:
            self._on(phone.hangup_when, lambda: trunk.hangup(leg, 16))

    # -- judging --------------------------------------------------------------------------------
    def _judge(self, leg: Leg, expect, kind: str) -> CallResult:
        at = lambda t: None if t is None else t - self.start  # noqa: E731
        result = CallResult(leg.name, kind, leg.trunk.engine, leg.trunk.number, leg.timeslot,
                            [(t - self.start, d, m) for t, d, m in leg.full_ladder()])
        if leg.answered_at is not None and leg.placed_at is not None and leg.outgoing:
            result.post_dial_delay = leg.answered_at - leg.placed_at
        recording = leg.recording()
        if recording.size:
            result.heard.append(f"{recording.size / SAMPLE_RATE:.2f} s recorded, "
                                f"{analysis.level_dbm0(recording):.1f} dBm0 overall")
        if expect is None:
            return result
        checks = result.checks

        def add(what: str, held: bool, why: str) -> None:
            checks.append(Check(what, held, why))

        if expect.proceeding is not None:
            add("proceeding", (leg.proceeding_at is not None) == expect.proceeding,
                f"CALL PROCEEDING at {at(leg.proceeding_at):.3f} s" if leg.proceeding_at else "no CALL PROCEEDING")
        if expect.alerting is not None:
            add("alerting", (leg.alerting_at is not None) == expect.alerting,
                f"ALERTING at {at(leg.alerting_at):.3f} s" if leg.alerting_at else "no ALERTING")
        if expect.progress is not None:
            add(f"progress indicator {expect.progress}", expect.progress in leg.progress,
                f"progress indicators seen: {leg.progress or 'none'}")
        if expect.answered is not None:
            add("answered" if expect.answered else "not answered", (leg.answered_at is not None) == expect.answered,
                f"CONNECT at {at(leg.answered_at):.3f} s" if leg.answered_at else "never answered")
        if expect.answer_within is not None:
            delay = None if leg.answered_at is None else leg.answered_at - leg.placed_at
            add(f"answered within {expect.answer_within:g} s", delay is not None and delay <= expect.answer_within,
                "never answered" if delay is None else f"answered after {delay:.3f} s")
        if expect.cause is not None:
            held = leg.cause == expect.cause
            add(f"cause {expect.cause} ({cause_name(expect.cause)})", held,
                "no clearing seen" if leg.cause is None else
                f"cleared with cause {leg.cause} ({cause_name(leg.cause)}) by the {leg.cleared_by}")
        if expect.cleared_by is not None:
            add(f"cleared by the {expect.cleared_by}", leg.cleared_by == expect.cleared_by,
                f"cleared by the {leg.cleared_by}" if leg.cleared_by else "not cleared")
        if expect.box_heard_digits is not None:
            if self.box_digits is None:
                add(f"box heard DTMF {expect.box_heard_digits}", False,
                    "only checkable with the box in this process (not on the wire)")
            else:
                heard = self.box_digits(leg) or ""
                add(f"box heard DTMF {expect.box_heard_digits}", heard == expect.box_heard_digits,
                    f"the box detected {heard!r}")
        for heard in expect.heard:
            checks.append(self._judge_heard(leg, recording, heard))
        if expect.cdr is not None:
            if not self.cdr_database:
                add("CDR", False, "no CDR database given ([scenario] cdr_database or --cdr-database)")
            else:
                held, why = check_cdr(self.cdr_database, dict(expect.cdr), calling=leg.calling, called=leg.called)
                add("CDR " + ", ".join(f"{k}={v}" for k, v in expect.cdr.items()), held, why)
        if expect.recorded is not None:
            held, why = self._judge_recording(leg, kind)
            add("recorded" if expect.recorded else "not recorded", held == expect.recorded, why)
        return result

    def _judge_recording(self, leg: Leg, kind: str) -> tuple[bool, str]:
        """(recorded, why): the box's recording of the call, found by the caller's number in the
        recordings' database beside the CDR database (the box's state directory)."""
        if not self.cdr_database:
            return False, "no state directory known (the recordings sit beside the CDR database)"
        database = Path(self.cdr_database).parent / "recordings.sqlite"
        if not database.exists():
            return False, f"no {database.name} in the box's state directory"
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            rows = connection.execute("SELECT path, duration, status, agent FROM recordings WHERE caller = ? "
                                      "ORDER BY started", (leg.calling,)).fetchall()
        finally:
            connection.close()
        if not rows:
            return False, f"no recording with caller {leg.calling}"
        path, duration, status, agent = rows[-1]
        try:
            with wave.open(path, "rb") as wav:
                channels, frames = wav.getnchannels(), wav.readframes(wav.getnframes())
        except (OSError, wave.Error, EOFError) as exc:
            return False, f"{path}: {exc}"
        if channels != 2:
            return False, f"{path}: {channels} channel(s), expected stereo"
        audio = np.frombuffer(frames, np.int16).reshape(-1, 2)
        left, right = np.ascontiguousarray(audio[:, 0]), np.ascontiguousarray(audio[:, 1])
        levels = f"caller {analysis.level_dbm0(left):.1f} dBm0, agent {analysis.level_dbm0(right):.1f} dBm0"
        why = f"{Path(path).name}: {status}, {duration:.2f} s, agent {agent}, {levels}"
        talk = next((c.talk for c in self.scenario.calls if c.name == leg.name), None) if kind == "call" else None
        if talk is not None and talk.tone_hz and analysis.find_frequency(left, talk.tone_hz) is None:
            return False, why + f"; the caller's {talk.tone_hz:g} Hz is not on the left"
        if analysis.level_dbm0(left) < -45 or analysis.level_dbm0(right) < -45:
            return False, why + "; a side is silent"
        return True, why

    def _judge_heard(self, leg: Leg, recording: np.ndarray, heard) -> Check:
        begin_time = leg.audio_started_at
        if begin_time is None:
            what = heard.prompt or heard.tone or (f"{heard.tone_hz:g} Hz" if heard.tone_hz else "silence")
            return Check(f"heard {what}", False, "no B-channel audio was recorded")
        if heard.during == "ringing":
            phase_start, phase_end = begin_time, leg.answered_at or leg.released_at or self.clock.now()
        elif heard.during == "answered":
            phase_start, phase_end = leg.answered_at, leg.released_at or self.clock.now()
        else:
            phase_start, phase_end = begin_time, leg.released_at or self.clock.now()
        if phase_start is None:
            what = heard.prompt or heard.tone or (f"{heard.tone_hz:g} Hz" if heard.tone_hz else "silence")
            return Check(f"heard {what} while {heard.during}", False, "the call was never answered")
        slack = ANSWER_STAMP_SLACK if heard.during == "answered" and heard.prompt is not None else 0.0
        first = max(0, int((phase_start - slack - begin_time) * SAMPLE_RATE))
        slack = (phase_start - begin_time) - first / SAMPLE_RATE       # what the look-back really took
        last = max(first, int((phase_end - begin_time) * SAMPLE_RATE))
        part = recording[first:last]
        label = f"while {heard.during}, within {heard.within:g} s"
        if heard.prompt is not None:
            prompt = self.scenario.audio[heard.prompt]
            found = analysis.find_prompt(part, prompt, heard.min_score)
            what = f"prompt {heard.prompt} heard {label}"
            if found is None:
                return Check(what, False, f"best correlation {analysis.best_prompt_score(part, prompt):.2f} "
                                          f"< {heard.min_score:g} in {part.size / SAMPLE_RATE:.2f} s of audio")
        elif heard.tone is not None:
            found = analysis.find_tone(part, heard.tone, self.scenario.settings.country)
            what = f"{heard.tone} tone heard {label}"
            if found is None:
                return Check(what, False, f"no {heard.tone} cadence in {part.size / SAMPLE_RATE:.2f} s of audio")
        elif heard.tone_hz is not None:
            found = analysis.find_frequency(part, heard.tone_hz)
            what = f"{heard.tone_hz:g} Hz tone heard {label}"
            if found is None:
                return Check(what, False, f"no steady {heard.tone_hz:g} Hz in {part.size / SAMPLE_RATE:.2f} s "
                                          f"({analysis.level_dbm0(part):.1f} dBm0 overall)")
        else:
            found = analysis.find_silence(part, heard.silence)
            what = f"{heard.silence:g} s of silence {label}"
            if found is None:
                return Check(what, False, f"no {heard.silence:g} s below {analysis.SILENCE_DBM0:g} dBm0 in "
                                          f"{part.size / SAMPLE_RATE:.2f} s")
        at = max(0.0, found.at - slack)
        late = at > heard.within
        return Check(what, not late, f"{found.detail} at {at:.2f} s"
                                     + (f", later than {heard.within:g} s" if late else ""))


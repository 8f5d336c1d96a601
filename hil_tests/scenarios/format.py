"""The scenario file: TOML an integrator writes by hand, validated with the box's own schema.

Every mistake is reported at once as `file:line:column: key.path: what was expected`
(firmware/config's loader and Locations do the line numbers); a scenario that loads is a tree
of read-only records plus the prompts and WAV files it names, already read.

    scenario = load_scenario("answered.toml")
    scenario.calls[0].called.number     # "15881234"

See README.md for the whole format with an example.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsp.prompts import PromptFileError, load_prompt
from dsp.tones import TONES
from firmware.config.errors import ConfigError, ConfigIssue, format_path
from firmware.config.loader import load_text
from firmware.config.locate import Locations
from firmware.config.schema import (OPTIONAL, Bool, Checker, Choice, Field, Int, ListOf, MapOf, Record, Section,
                                    Seconds, Str, Table, TableList, Type)
from firmware.isdn.q931.ies import Presentation, RedirectReason, TypeOfNumber

NUMBER_TYPES = {"unknown": TypeOfNumber.UNKNOWN, "international": TypeOfNumber.INTERNATIONAL,
                "national": TypeOfNumber.NATIONAL, "network_specific": TypeOfNumber.NETWORK_SPECIFIC,
                "subscriber": TypeOfNumber.SUBSCRIBER, "abbreviated": TypeOfNumber.ABBREVIATED}
PRESENTATIONS = {"allowed": Presentation.ALLOWED, "restricted": Presentation.RESTRICTED,
                 "not_available": Presentation.NOT_AVAILABLE}
REDIRECT_REASONS = {"unknown": RedirectReason.UNKNOWN, "busy": RedirectReason.BUSY,
                    "no_reply": RedirectReason.NO_REPLY, "deflection": RedirectReason.DEFLECTION,
                    "unconditional": RedirectReason.UNCONDITIONAL}
# What a condition may wait for: "<call or phone name> <event>".
CALL_EVENTS = ("placed", "proceeding", "alerting", "answered", "disconnected", "released")
CONDITION = re.compile(r"(?P<who>[A-Za-z0-9_-]+) (?P<event>" + "|".join(CALL_EVENTS) + r")")
DIGITS = Str(pattern=r"[0-9*#]+", what='digits 0-9, * and # such as "15881234"', min_len=1)
DTMF_DIGITS = Str(pattern=r"[0-9*#A-Da-d]+", what='DTMF digits 0-9, *, #, A-D such as "1234#"', min_len=1)
NAME = Str(pattern=r"[A-Za-z0-9_-]+", what="a name of letters, digits, _ and -", min_len=1, max_len=40)
CONDITION_TEXT = Str(pattern=CONDITION.pattern, what=f'"<call> <event>" with event one of {", ".join(CALL_EVENTS)}, '
                                                     'such as "first answered"')


class SpanChoice(Type):
    """A carrier span number (1 = the simulator's first network-side span) or "any"."""

    expected = 'a span number >= 1 or "any"'

    def convert(self, value, path, checker):
        if value == "any" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        return self.wrong(value, path, checker)


class TimeslotChoice(Type):
    expected = 'a B-channel timeslot 1..15 or 17..31, or "any"'

    def convert(self, value, path, checker):
        if value == "any" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 31
                              and value != 16):
            return value
        return self.wrong(value, path, checker)


class Number(Type):
    """A party number: "0212345678" or { number = "...", type = "national", ... }."""

    def __init__(self, table: Table):
        self.table = table
        self.expected = 'digits in quotes ("15881234") or a table { number = "15881234", type = "national" }'

    def convert(self, value, path, checker):
        if isinstance(value, str):
            value = {"number": value}
        if not isinstance(value, dict):
            return self.wrong(value, path, checker)
        return self.table.convert(value, path, checker)


def _number_table(*, presentation: bool = False, reason: bool = False) -> Table:
    fields = {"number": Field(DIGITS),
              "type": Field(Choice(*NUMBER_TYPES), "national"),
              "plan": Field(Choice("isdn", "unknown"), "isdn")}
    if presentation:
        fields["presentation"] = Field(Choice(*PRESENTATIONS), "allowed")
    if reason:
        fields["reason"] = Field(Choice(*REDIRECT_REASONS), "unconditional")
    return Table(fields)


def _when_xor_at(what: str, *keys: str):
    def check(record: Record, path: tuple, checker: Checker) -> None:
        given = [k for k in keys if record.get(k) is not None]
        if len(given) > 1:
            checker.report(path + (given[1],), f"{what}: give one of {', '.join(keys)}, not both {given[0]} and {given[1]}")
    return check


HEARD = Table({
    "prompt": Field(Str(what="a prompt name in prompt_dir or a WAV file path", min_len=1), OPTIONAL),
    "tone": Field(Choice(*sorted(TONES["KR"])), OPTIONAL),
    "tone_hz": Field(Seconds(min=100, max=3900), OPTIONAL),
    "silence": Field(Seconds(min=0.1, max=600), OPTIONAL),
    "during": Field(Choice("ringing", "answered", "call"), "answered"),
    "within": Field(Seconds(min=0.1, max=3600), 10.0),
    "min_score": Field(Seconds(min=0.05, max=1.0), 0.5),
}, checks=[_when_xor_at("heard", "prompt", "tone", "tone_hz", "silence")])

CDR_EXPECT = MapOf(Str(what="the value the CDR row must hold, as text", max_len=200))

EXPECT = Table({
    "proceeding": Field(Bool(), OPTIONAL),
    "alerting": Field(Bool(), OPTIONAL),
    "progress": Field(Int(0, 127), OPTIONAL),
    "answered": Field(Bool(), OPTIONAL),
    "answer_within": Field(Seconds(min=0.01, max=3600), OPTIONAL),
    "cause": Field(Int(1, 127), OPTIONAL),
    "cleared_by": Field(Choice("box", "simulator"), OPTIONAL),
    "box_heard_digits": Field(Str(pattern=r"[0-9*#A-D]*", what="DTMF digits the box must have detected"), OPTIONAL),
    "heard": Field(TableList(HEARD, noun="heard"), ()),
    "cdr": Field(CDR_EXPECT, OPTIONAL),
    # The box recorded the call with an agent: a stereo WAV, the caller on the left (with its
    # `talk` tone, if it has one), the agent on the right, both heard.
    "recorded": Field(Bool(), OPTIONAL),
})

DTMF = Table({
    "digits": Field(DTMF_DIGITS),
    "at": Field(Seconds(max=3600), OPTIONAL),
    "after_answer": Field(Seconds(max=3600), OPTIONAL),
    "after_prompt": Field(Str(what="a prompt the call must hear first (see expect.heard)", min_len=1), OPTIONAL),
    "on_ms": Field(Int(40, 1000), 80),
    "off_ms": Field(Int(40, 1000), 80),
    "level_dbm0": Field(Seconds(min=-40, max=0), -10.0),
}, checks=[_when_xor_at("dtmf", "at", "after_answer", "after_prompt")])

HANGUP = Table({
    "at": Field(Seconds(max=3600), OPTIONAL),
    "after_answer": Field(Seconds(max=3600), OPTIONAL),
    "when": Field(CONDITION_TEXT, OPTIONAL),
    "cause": Field(Int(1, 127), 16),
}, checks=[_when_xor_at("hangup", "at", "after_answer", "when")])

# What the caller says once someone has the call (an agent, say): starts when `when` holds.
CALL_TALK = Table({
    "wav": Field(Str(what="a WAV file the caller plays", min_len=1), OPTIONAL),
    "tone_hz": Field(Seconds(min=100, max=3900), OPTIONAL),
    "seconds": Field(Seconds(min=0.1, max=3600), 2.0),
    "level_dbm0": Field(Seconds(min=-40, max=0), -10.0),
    "when": Field(CONDITION_TEXT),
}, checks=[_when_xor_at("talk", "wav", "tone_hz")])

CALL = Table({
    "name": Field(NAME),
    "called": Field(Number(_number_table())),
    "calling": Field(Number(_number_table(presentation=True)), OPTIONAL),
    "redirecting": Field(Number(_number_table(presentation=True, reason=True)), OPTIONAL),
    "dialing": Field(Choice("en-bloc", "overlap"), "en-bloc"),
    "overlap_first": Field(Int(0, 30), 1),            # digits in the SETUP when dialing overlap
    "digit_interval": Field(Seconds(min=0.0, max=20), 0.2),
    "span": Field(SpanChoice(), 1),
    "timeslot": Field(TimeslotChoice(), "any"),
    "exclusive": Field(Bool(), True),                 # Channel ID: exclusive, or preferred (false)
    "out_of_step": Field(Bool(), False),              # SETUP on a timeslot the simulator itself holds
    "law": Field(Choice("alaw", "ulaw"), "alaw"),
    "at": Field(Seconds(max=3600), OPTIONAL),
    "when": Field(CONDITION_TEXT, OPTIONAL),
    "repeat": Field(Int(1, 1000), 1),                 # the same call placed this many times at once
    "play": Field(Str(what="a WAV file to play once answered", min_len=1), OPTIONAL),
    "dtmf": Field(TableList(DTMF, noun="dtmf"), ()),
    "talk": Field(CALL_TALK, OPTIONAL),
    "hangup": Field(HANGUP, OPTIONAL),
    "expect": Field(EXPECT, OPTIONAL),
}, checks=[_when_xor_at("call", "at", "when")])

TALK = Table({
    "wav": Field(Str(what="a WAV file the phone plays once it answers", min_len=1), OPTIONAL),
    "tone_hz": Field(Seconds(min=100, max=3900), OPTIONAL),
    "seconds": Field(Seconds(min=0.1, max=3600), 2.0),
    "level_dbm0": Field(Seconds(min=-40, max=0), -10.0),
}, checks=[_when_xor_at("talk", "wav", "tone_hz")])

PHONE = Table({
    "name": Field(NAME),
    "number": Field(Str(pattern=r"[0-9*#]+|\*", what='the called number it answers, or "*" for any', min_len=1)),
    "span": Field(Int(1), 1),
    # Where the phone is: behind the center's PBX (an extension), or out on the public network
    # (a customer the box calls back, on the carrier's span).
    "side": Field(Choice("center", "carrier"), "center"),
    "rings": Field(Int(0, 50), 1),
    "ring_seconds": Field(Seconds(min=0.1, max=10), 1.0),
    "busy": Field(Bool(), False),
    "talk": Field(TALK, OPTIONAL),
    "hangup_after": Field(Seconds(min=0.1, max=3600), OPTIONAL),
    "hangup_when": Field(CONDITION_TEXT, OPTIONAL),
    "expect": Field(EXPECT, OPTIONAL),
})

# An agent of the box's contact center (in process only): logged in at its extension (a phone
# of this scenario behind the center's PBX) and made ready at `at`.
AGENT_STATES = ("LOGGED_OUT", "NOT_READY", "READY", "RESERVED", "TALKING", "HOLD", "WRAP_UP")
# What the agent's application asks for during the scenario, as the API would: once `when` holds
# (a call's or phone's event), `after` seconds later.
AGENT_ACTIONS = ("hold", "retrieve", "hangup", "dtmf", "transfer", "record-start", "record-stop", "notify",
                 "wrap-up", "ready", "not-ready", "logout", "monitor", "whisper", "barge")
AGENT_ACTION = Table({
    "do": Field(Choice(*AGENT_ACTIONS)),
    "when": Field(CONDITION_TEXT),
    "after": Field(Seconds(max=3600), 0.0),
    "target": Field(Str(what='a transfer target such as "extension:2003" or "queue:deposit_inquiry"', min_len=1),
                    OPTIONAL),
    "digits": Field(DTMF_DIGITS, OPTIONAL),
    "extension": Field(DIGITS, OPTIONAL),             # the supervisor's phone (monitor, whisper, barge)
    "template": Field(Str(min_len=1), OPTIONAL),      # notify: a [notify] template code
    "params": Field(MapOf(Str()), OPTIONAL),
    "text": Field(Str(min_len=1), OPTIONAL),          # notify: an SMS's text
    "code": Field(Str(min_len=1), OPTIONAL),          # wrap-up code
    "reason": Field(Str(min_len=1), OPTIONAL),        # not-ready reason
})

AGENT = Table({
    "id": Field(NAME),
    "extension": Field(DIGITS),
    "groups": Field(ListOf(Str(min_len=1)), OPTIONAL),
    "at": Field(Seconds(max=3600), 0.0),
    "ready": Field(Bool(), True),
    "action": Field(TableList(AGENT_ACTION, noun="action"), ()),
    "expect": Field(Table({
        "state": Field(Choice(*AGENT_STATES), OPTIONAL),    # when the scenario is over
        "reason": Field(Str(), OPTIONAL),                   # of that state (not ready's code)
        "calls": Field(Int(0, 100000), OPTIONAL),           # calls it answered
        "notified": Field(Int(0, 1000), OPTIONAL),          # notifications delivered for its calls
    }), OPTIONAL),
})

LOAD = Table({
    "calls": Field(Int(1, 100000)),
    "rate": Field(Seconds(min=0.01, max=1000)),                # calls per second
    "spans": Field(ListOf(Int(1), min_len=1, unique=True), (1,)),
    "holding": Field(Choice("exponential", "fixed"), "exponential"),
    "holding_mean": Field(Seconds(min=0.1, max=3600), 20.0),
    "holding_max": Field(Seconds(min=0.1, max=36000), OPTIONAL),
    "seed": Field(Int(0), 1),
    "called": Field(Number(_number_table())),
    "calling": Field(Number(_number_table(presentation=True)), OPTIONAL),
    "dtmf": Field(DTMF_DIGITS, OPTIONAL),
    "dtmf_after_answer": Field(Seconds(max=600), 1.0),
    "expect_cause": Field(Int(1, 127), OPTIONAL),
})

SCENARIO = Table({
    "name": Field(Str(min_len=1, max_len=200)),
    "description": Field(Str(), ""),
    "duration": Field(Seconds(min=0.1, max=36000), 30.0),
    "engines": Field(ListOf(Choice("pribox", "libpri"), min_len=1, unique=True), ("pribox", "libpri")),
    "prompt_dir": Field(Str(what="a directory of the box's prompts (name.wav)", min_len=1), OPTIONAL),
    "cdr_database": Field(Str(what="the state directory's SQLite database with CDR rows", min_len=1), OPTIONAL),
    "country": Field(Choice(*sorted(TONES)), "KR"),
    # What takes the calls of the box run in process: its PBX (the embedded default: number
    # mapping, dial plan, IVR), or the bring-up handler that answers after a ring and listens.
    "box": Field(Choice("pbx", "answer"), "pbx"),
    # The box in process records its agents' calls ([recording] policy "all"), or not.
    "recording": Field(Choice("off", "all"), "off"),
})


def _references(config, checker: Checker) -> None:
    """Names are unique, and conditions and prompts name things that exist."""
    names: dict[str, tuple] = {}
    for kind, entries in (("call", config.call), ("phone", config.phone)):
        for index, entry in enumerate(entries):
            if entry.name in names:
                checker.report((kind, index, "name"), f'"{entry.name}" is already the name of '
                                                      f'{format_path(names[entry.name])}')
            names.setdefault(entry.name, (kind, index))

    def known(text: str | None, path: tuple) -> None:
        if text is None:
            return
        who = CONDITION.fullmatch(text)["who"]
        if who not in names:
            checker.report(path, f'"{who}" is no call or phone of this scenario (known: {", ".join(names) or "none"})')

    for index, call in enumerate(config.call):
        known(call.when, ("call", index, "when"))
        if call.hangup is not None:
            known(call.hangup.when, ("call", index, "hangup", "when"))
        heard_prompts = {h.prompt for h in (call.expect.heard if call.expect else ()) if h.prompt}
        for d, dtmf in enumerate(call.dtmf):
            if dtmf.after_prompt is not None and dtmf.after_prompt not in heard_prompts:
                checker.report(("call", index, "dtmf", d, "after_prompt"),
                               f'"{dtmf.after_prompt}" is not among this call\'s expect.heard prompts')
        if call.dialing == "overlap" and call.overlap_first >= len(call.called.number):
            checker.report(("call", index, "overlap_first"),
                           f"overlap dialing leaves digits for INFORMATION: expected fewer than the called "
                           f"number's {len(call.called.number)} digits in the SETUP, got {call.overlap_first}")
    for index, phone in enumerate(config.phone):
        known(phone.hangup_when, ("phone", index, "hangup_when"))
    for index, call in enumerate(config.call):
        if call.talk is not None:
            known(call.talk.when, ("call", index, "talk", "when"))
    agents = [a.id for a in config.agent]
    for index, agent in enumerate(config.agent):
        if agents.index(agent.id) != index:
            checker.report(("agent", index, "id"), f'agent "{agent.id}" is already listed')
        for a, action in enumerate(agent.action):
            known(action.when, ("agent", index, "action", a, "when"))
            needs = {"transfer": "target", "dtmf": "digits", "monitor": "extension", "whisper": "extension",
                     "barge": "extension", "wrap-up": "code", "not-ready": "reason"}.get(action.do)
            if needs is not None and getattr(action, needs) is None:
                checker.report(("agent", index, "action", a, needs), f'"{action.do}" needs {needs}')
            if action.do == "notify" and action.template is None and action.text is None:
                checker.report(("agent", index, "action", a, "template"), '"notify" needs a template or a text')


SECTIONS = {
    "scenario": Section("scenario", SCENARIO, required=True, checks=[_references]),
    "call": Section("call", TableList(CALL, noun="call")),
    "phone": Section("phone", TableList(PHONE, noun="phone")),
    "agent": Section("agent", TableList(AGENT, noun="agent")),
    "load": Section("load", LOAD),     # optional as a whole: absent, it reads as None
}


@dataclass
class Scenario:
    path: str
    config: object                     # the validated records: .scenario, .call, .phone, .load
    audio: dict[str, np.ndarray] = field(default_factory=dict)   # prompt/WAV key -> int16 samples

    @property
    def name(self) -> str:
        return self.config.scenario.name

    @property
    def calls(self):
        return self.config.call

    @property
    def phones(self):
        return self.config.phone

    @property
    def agents(self):
        return self.config.agent

    @property
    def load(self):
        return self.config.load

    @property
    def settings(self):
        return self.config.scenario


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), None, None, "", f"cannot read: {exc.strerror}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError([ConfigIssue(str(path), line, None, "", "the file is not valid UTF-8 text")]) from None
    return load_scenario_text(text, str(path), base=path.parent)


def load_scenario_text(text: str, source: str = "<scenario>", base: Path | None = None) -> Scenario:
    config = load_text(text, source, SECTIONS)
    scenario = Scenario(source, config)
    _read_audio(scenario, text, base or Path("."))
    return scenario


def _read_audio(scenario: Scenario, text: str, base: Path) -> None:
    """Read every prompt and WAV file the scenario names now, so a missing one is refused with
    its line before anything runs."""
    settings = scenario.settings
    prompt_dir = (base / settings.prompt_dir) if settings.prompt_dir else None
    problems: list[tuple[tuple, str]] = []

    def resolve(name: str, path: tuple, prompt: bool) -> None:
        if name in scenario.audio:
            return
        candidates = [base / name]
        if prompt and prompt_dir is not None:
            candidates.insert(0, prompt_dir / f"{name}.wav")
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            where = " or ".join(str(c) for c in candidates)
            problems.append((path, f'no such file: "{name}" (looked for {where})'))
            return
        try:
            scenario.audio[name] = load_prompt(found).samples
        except (PromptFileError, ValueError, OSError) as exc:
            problems.append((path, f"{found}: {exc}"))

    for index, call in enumerate(scenario.calls):
        if call.play:
            resolve(call.play, ("call", index, "play"), False)
        if call.talk is not None and call.talk.wav:
            resolve(call.talk.wav, ("call", index, "talk", "wav"), False)
        for h, heard in enumerate(call.expect.heard if call.expect else ()):
            if heard.prompt:
                resolve(heard.prompt, ("call", index, "expect", "heard", h, "prompt"), True)
    for index, phone in enumerate(scenario.phones):
        if phone.talk is not None and phone.talk.wav:
            resolve(phone.talk.wav, ("phone", index, "talk", "wav"), False)
        for h, heard in enumerate(phone.expect.heard if phone.expect else ()):
            if heard.prompt:
                resolve(heard.prompt, ("phone", index, "expect", "heard", h, "prompt"), True)
    if problems:
        locations = Locations(text)
        raise ConfigError([ConfigIssue(scenario.path, *locations.find(path), format_path(path), message)
                           for path, message in problems])

"""The simulator's end of one PRI span, with either engine, in either role.

A `Trunk` places calls toward the box (network role, the carrier) or takes the box's calls
(user role, a center's existing PBX with phones), and turns what its engine reports into one
`Leg` per call: a ladder of Q.931 messages with their times, the call's milestones and what
the line sent on its B-channel.  Two engines behind the one interface:

* `StackTrunk` — pribox's own `PriStack` on an `IsdnSpan` (any clock);
* `LibpriTrunk` — libpri on the span's D-channel export socket (real time only).

Audio goes through the span's media plane (`SpanAudio`): a channel records from the moment
its call has one, and plays whole sources (DTMF, a WAV, a tone).
"""

from __future__ import annotations

import abc
import asyncio
import logging
import re
import socket
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dsp.dtmf import DtmfGenerator
from firmware.isdn.bearer import SpanAudio
from firmware.isdn.events import IsdnTrace
from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.channels import PRI_TIMESLOTS
from firmware.isdn.q931.events import (Alerting, Answered, CallProceeding, Disconnected, IncomingCall, InfoDigits,
                                       Progress, Released, SetupAcknowledged)
from firmware.isdn.q931.link import CallStateError

log = logging.getLogger("pribox.scenarios")

TRACE_HEAD = re.compile(r"ISDN \S+: (TX ->|RX <-) (\S+) pd = 8  callref = 0x([0-9A-F]{4})")
TRACE_CALLED = re.compile(r"Called Party Number i = 0x[0-9A-F]+, '([0-9*#]*)'")
TRACE_CAUSE = re.compile(r"Cause i = 0x[0-9A-F]{2}([0-9A-F]{2})")
TRACE_PROGRESS = re.compile(r"Progress Ind i = 0x[0-9A-F]{2}([0-9A-F]{2})")
RECORD_SECONDS = 600.0      # the recorder ring; `drain` empties it every DRAIN_PERIOD
DRAIN_PERIOD = 0.25


@dataclass
class PartyNumber:
    number: str
    type_of_number: int = ie.TypeOfNumber.NATIONAL
    plan: int = ie.NumberingPlan.ISDN
    presentation: int = ie.Presentation.ALLOWED
    reason: int = ie.RedirectReason.UNCONDITIONAL


@dataclass
class Dial:
    """What a call sends: numbers, en-bloc or overlap, where."""

    called: PartyNumber
    calling: PartyNumber | None = None
    redirecting: PartyNumber | None = None
    timeslot: int | None = None          # None: the trunk picks a free B-channel
    overlap_first: int | None = None     # None: en-bloc; else digits in the SETUP
    digit_interval: float = 0.2
    law: str = "alaw"
    exclusive: bool = True
    record: bool = True          # keep what the line sends (load calls need not)
    out_of_step: bool = False    # offer a timeslot the simulator's own calls hold (a carrier out of
                                 # step with the box: how a busy span looks from the box's side)


@dataclass
class Leg:
    """One call as the simulator saw it."""

    name: str
    trunk: "Trunk"
    outgoing: bool                       # placed by the simulator toward the box
    called: str = ""
    calling: str = ""
    timeslot: int | None = None
    placed_at: float | None = None
    proceeding_at: float | None = None
    alerting_at: float | None = None
    progress: list[int] = field(default_factory=list)
    answered_at: float | None = None
    disconnected_at: float | None = None
    released_at: float | None = None
    cause: int | None = None             # the cause of the first clearing message
    cleared_by: str | None = None        # "box" or "simulator"
    ladder: list[tuple[float, str, str]] = field(default_factory=list)   # (time, "->"/"<-", text)
    audio: list[np.ndarray] = field(default_factory=list)
    audio_started_at: float | None = None
    key: object = None
    digit_interval: float = 0.2
    responded: bool = False              # an incoming call got CALL PROCEEDING or more from us
    shares_channel: bool = False         # placed out of step on a channel another leg holds: no audio
    on_change: list[Callable[["Leg", str], None]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.released_at is not None

    def note(self, now: float, direction: str, text: str) -> None:
        self.ladder.append((now, direction, text))

    def milestone(self, what: str) -> None:
        for callback in list(self.on_change):
            callback(self, what)

    def recording(self) -> np.ndarray:
        return np.concatenate(self.audio) if self.audio else np.zeros(0, np.int16)

    def full_ladder(self) -> list[tuple[float, str, str]]:
        """The ladder with the Q.931 messages as they crossed the D-channel where the engine
        traces them (ours), the simulator's own notes (DTMF, prompts, problems) in between."""
        wire = self.trunk.messages_of(self)
        if wire is None:
            return list(self.ladder)
        notes = [step for step in self.ladder if step[1] not in ("->", "<-", "==")]
        setup = next((step for step in self.ladder if step[2].startswith("SETUP ")), None)
        if setup is not None:    # the SETUP as the simulator described it: numbers and timeslot
            wire = [(t, d, setup[2] if text.startswith("SETUP ") and not text.startswith("SETUP ACK") else text)
                    for t, d, text in wire]
        return sorted(wire + notes, key=lambda step: step[0])


class Trunk(abc.ABC):
    """One simulator span: `role` "network" (the carrier) or "user" (the PBX with phones)."""

    engine = "?"

    def __init__(self, number: int, span, clock, bearer: SpanAudio, role: str):
        self.number = number          # the scenario's span number (1-based among this role's spans)
        self.span = span
        self.clock = clock
        self.bearer = bearer
        self.role = role
        self.legs: list[Leg] = []
        self.on_incoming: Callable[[Leg], None] | None = None
        self._drain_handle = None

    @property
    @abc.abstractmethod
    def ready(self) -> bool:
        """The D-channel is up."""

    def start(self) -> None:
        self._drain_handle = self.clock.call_later(DRAIN_PERIOD, self._drain_tick)

    def close(self) -> None:
        if self._drain_handle is not None:
            self._drain_handle.cancel()
            self._drain_handle = None
        self.drain()

    def messages_of(self, leg: Leg) -> list[tuple[float, str, str]] | None:
        """The call's Q.931 messages from the engine's trace; None where it has none."""
        return None

    def forget_finished(self) -> int:
        """Let go of the calls that have ended: out of `legs`, their ladders and audio dropped
        (the Leg keeps its times and cause, for whoever holds it).  A soak calls this, so the
        simulator in the box's process does not grow with every call.  Returns how many."""
        done = [leg for leg in self.legs if leg.done]
        for leg in done:
            leg.ladder.clear()
            leg.audio.clear()
            leg.on_change.clear()
        self.legs[:] = [leg for leg in self.legs if not leg.done]
        self._forget(done)
        return len(done)

    def _forget(self, legs: list[Leg]) -> None:
        """An engine's own records of `legs` (ended), dropped."""

    def _drain_tick(self) -> None:
        self._drain_handle = self.clock.call_later(DRAIN_PERIOD, self._drain_tick)
        self.drain()

    def drain(self) -> None:
        """Move what each live call's recorder took into its leg."""
        for leg in self.legs:
            if leg.timeslot is not None and leg.audio_started_at is not None and not leg.done:
                if self.bearer.is_open(leg.timeslot):
                    chunk = self.bearer.recorded(leg.timeslot)
                    if chunk.size:
                        leg.audio.append(chunk)

    def free_timeslot(self) -> int:
        held = {leg.timeslot for leg in self.legs if not leg.done}
        for ts in PRI_TIMESLOTS:
            if ts not in held:
                return ts
        raise CallStateError("no idle B-channel: the simulator's calls on this span hold all 30")

    def idle_channels(self) -> int:
        return len(PRI_TIMESLOTS) - sum(1 for leg in self.legs if not leg.done)

    def _listen(self, leg: Leg, law: str | None = None) -> None:
        if leg.timeslot is None or leg.audio_started_at is not None or leg.shares_channel:
            return
        self.bearer.open(leg.timeslot, law)
        self.bearer.record(leg.timeslot, RECORD_SECONDS)
        leg.audio_started_at = self.clock.now()

    def play(self, leg: Leg, source) -> None:
        if leg.timeslot is not None and not leg.done:
            self.bearer.play(leg.timeslot, source)

    def send_dtmf(self, leg: Leg, digits: str, on_ms: int = 80, off_ms: int = 80, level_dbm0: float = -10.0) -> None:
        generator = DtmfGenerator(level_dbm0=level_dbm0, on_ms=on_ms, off_ms=off_ms)
        generator.put(digits)
        self.play(leg, _Finite(generator, len(digits) * (on_ms + off_ms) * 8))
        leg.note(self.clock.now(), "~>", f"DTMF {digits} in band")

    def _finish(self, leg: Leg, cause: int | None, text: str, direction: str = "<-") -> None:
        if leg.done:
            return
        now = self.clock.now()
        leg.note(now, direction, text)
        if leg.cause is None:
            leg.cause = cause
            leg.cleared_by = "box" if direction == "<-" else "simulator"
        if leg.timeslot is not None and not leg.shares_channel and self.bearer.is_open(leg.timeslot):
            if leg.audio_started_at is not None:
                chunk = self.bearer.recorded(leg.timeslot)
                if chunk.size:
                    leg.audio.append(chunk)
            self.bearer.close(leg.timeslot)      # the next call on the timeslot starts afresh
        leg.released_at = now
        leg.milestone("released")

    # -- the call API ---------------------------------------------------------------------------
    @abc.abstractmethod
    def place(self, name: str, dial: Dial) -> Leg:
        """SETUP toward the box (network role)."""

    @abc.abstractmethod
    def hangup(self, leg: Leg, cause: int = 16) -> None:
        """Clear the call (DISCONNECT, or RELEASE COMPLETE for an unanswered incoming SETUP)."""

    @abc.abstractmethod
    def alert(self, leg: Leg) -> None:
        """Incoming call: CALL PROCEEDING then ALERTING."""

    @abc.abstractmethod
    def answer(self, leg: Leg) -> None:
        """Incoming call: CONNECT."""


class _Finite:
    """A generator that runs out: the DTMF sender queues digits and would give silence forever."""

    def __init__(self, source, samples: int):
        self.source, self.remaining = source, samples

    def generate(self, n: int) -> np.ndarray:
        n = min(n, self.remaining)
        self.remaining -= n
        return self.source.generate(n) if n else np.zeros(0, np.int16)


def _mark(leg: Leg, attr: str, now: float, what: str) -> None:
    if getattr(leg, attr) is None:
        setattr(leg, attr, now)
    leg.milestone(what)


class StackTrunk(Trunk):
    """pribox's own PriStack on the span (the `[[isdn]]` entry of the simulator's span)."""

    engine = "pribox"

    def __init__(self, number: int, isdn):
        super().__init__(number, isdn.span, isdn.clock, isdn.bearer, isdn.role)
        self.isdn = isdn
        self._by_id: dict[int, Leg] = {}
        self._pending_digits: dict[int, str] = {}
        self._call_refs: dict[int, int] = {}                  # call_id -> call reference
        self._messages: list[tuple[float, str, str, int]] = []  # (time, "->"/"<-", name, call reference)
        self._unsubscribe = isdn.bus.subscribe(IsdnTrace, self._on_trace)
        if isdn.handler is not None:
            isdn.handler.close()
        isdn.handler = self

    @property
    def ready(self) -> bool:
        return self.isdn.in_service     # the first link-up restarts the channels first

    def _on_trace(self, event: IsdnTrace) -> None:
        if event.span_id != self.span.id:
            return
        head = TRACE_HEAD.match(event.text)
        if head:
            direction = "->" if head[1] == "TX ->" else "<-"
            text = head[2].replace("_", " ")
            for pattern, label in ((TRACE_CALLED, "to"), (TRACE_PROGRESS, "PI"), (TRACE_CAUSE, "cause")):
                found = pattern.search(event.text)
                if found:
                    text += f" {found[1]}" if label == "to" else f" {label} {int(found[1], 16) & 0x7F}"
            self._messages.append((event.time, direction, text, int(head[3], 16) & 0x7FFF))

    def _remember_ref(self, call_id: int) -> None:
        call = self.isdn.stack.calls.get(call_id)
        if call is not None:
            self._call_refs[call_id] = call.call_ref

    def _forget(self, legs: list[Leg]) -> None:
        for leg in legs:
            self._by_id.pop(leg.key, None)
            self._call_refs.pop(leg.key, None)
            self._pending_digits.pop(leg.key, None)
        live = [leg.placed_at for leg in self.legs if leg.placed_at is not None]
        keep_from = min(live) if live else self.clock.now()
        self._messages = [m for m in self._messages if m[0] >= keep_from - 1e-6]

    def messages_of(self, leg: Leg) -> list[tuple[float, str, str]] | None:
        ref = self._call_refs.get(leg.key)
        if ref is None or leg.placed_at is None:
            return None
        end = leg.released_at if leg.released_at is not None else float("inf")
        return [(t, d, text) for t, d, text, r in self._messages
                if r == ref and leg.placed_at - 1e-6 <= t <= end + 1e-6]

    def close(self) -> None:
        super().close()
        self._unsubscribe.cancel()

    def place(self, name: str, dial: Dial) -> Leg:
        now = self.clock.now()
        calling = redirecting = None
        if dial.calling is not None:
            calling = ie.CallingNumber(dial.calling.number, dial.calling.type_of_number, dial.calling.plan,
                                       dial.calling.presentation)
        if dial.redirecting is not None:
            r = dial.redirecting
            redirecting = ie.RedirectingNumber(r.number, r.type_of_number, r.plan, r.presentation, reason=r.reason)
        called = dial.called.number
        first = called if dial.overlap_first is None else called[:dial.overlap_first]
        timeslot = dial.timeslot if dial.timeslot is not None else self.free_timeslot()
        held = self._held_by_another(timeslot) if dial.out_of_step else None
        bearer = ie.BearerCapability(ie.TransferCapability.SPEECH,
                                     layer1=ie.Layer1.ALAW if dial.law == "alaw" else ie.Layer1.ULAW)
        try:
            call_id = self.isdn.setup(first, calling=calling, redirecting=redirecting, timeslot=timeslot,
                                      bearer=bearer, exclusive=dial.exclusive,
                                      sending_complete=dial.overlap_first is None,
                                      called_type=dial.called.type_of_number)
        finally:
            if held is not None:
                self.isdn.stack.channels.claim(timeslot, held)   # the first call keeps the channel
        leg = Leg(name, self, True, called=called, calling=dial.calling.number if dial.calling else "",
                  timeslot=timeslot, placed_at=now, key=call_id, shares_channel=held is not None)
        self._by_id[call_id] = leg
        self._remember_ref(call_id)
        self.legs.append(leg)
        leg.note(now, "->", f"SETUP {leg.calling or '-'} -> {first}{'' if dial.overlap_first is None else ' (overlap)'}"
                            f" TS{timeslot}")
        if dial.overlap_first is not None:
            self._pending_digits[call_id] = called[dial.overlap_first:]
            leg.digit_interval = dial.digit_interval
        if dial.record:
            self._listen(leg, dial.law)
        leg.milestone("placed")
        return leg

    def _held_by_another(self, timeslot: int) -> int | None:
        """Let our own channel table offer a timeslot one of our calls holds; the holder's id,
        to give the channel back to once the SETUP is out."""
        channels = self.isdn.stack.channels
        holder = channels.owner.get(timeslot)
        if holder is not None:
            channels.free(timeslot, holder)
        return holder

    def _send_next_digit(self, leg: Leg) -> None:
        rest = self._pending_digits.get(leg.key, "")
        if not rest or leg.done:
            return
        digit, rest = rest[0], rest[1:]
        self._pending_digits[leg.key] = rest
        try:
            self.isdn.stack.send_info(leg.key, digit, self.clock.now(), sending_complete=not rest)
            self.isdn.service(self.clock.now())
        except CallStateError as exc:
            leg.note(self.clock.now(), "!!", f"INFORMATION {digit} not sent: {exc}")
            return
        leg.note(self.clock.now(), "->", f"INFORMATION {digit}{' sending complete' if not rest else ''}")
        if rest:
            self.clock.call_later(leg.digit_interval, lambda: self._send_next_digit(leg))

    def hangup(self, leg: Leg, cause: int = 16) -> None:
        if leg.done or leg.disconnected_at is not None:
            return
        unanswered_incoming = not leg.outgoing and not leg.responded
        if self.isdn.try_disconnect(leg.key, cause):
            # An incoming SETUP not yet answered at all is refused with RELEASE COMPLETE.
            leg.note(self.clock.now(), "->", f"{'RELEASE COMP' if unanswered_incoming else 'DISCONNECT'} cause {cause}")
            leg.disconnected_at = self.clock.now()
            if leg.cause is None:
                leg.cause, leg.cleared_by = cause, "simulator"

    def alert(self, leg: Leg) -> None:
        leg.responded = True
        self.isdn.proceed(leg.key)
        leg.note(self.clock.now(), "->", "CALL PROC")
        self.isdn.alert(leg.key)
        leg.note(self.clock.now(), "->", "ALERTING")

    def answer(self, leg: Leg) -> None:
        try:
            self.isdn.answer(leg.key)
        except CallStateError as exc:
            leg.note(self.clock.now(), "!!", f"CONNECT not sent: {exc}")
            return
        leg.note(self.clock.now(), "->", "CONNECT")
        _mark(leg, "answered_at", self.clock.now(), "answered")

    def on_event(self, event) -> None:
        now = self.clock.now()
        if isinstance(event, IncomingCall):
            leg = Leg(f"in{len(self.legs) + 1}", self, False, called=event.called,
                      calling=event.calling.digits if event.calling else "", timeslot=event.timeslot,
                      placed_at=now, key=event.call_id)
            self._by_id[event.call_id] = leg
            self._remember_ref(event.call_id)
            self.legs.append(leg)
            leg.note(now, "<-", f"SETUP {leg.calling or '-'} -> {event.called} TS{event.timeslot}")
            self._listen(leg)
            if self.on_incoming is not None:
                self.on_incoming(leg)
            return
        leg = self._by_id.get(getattr(event, "call_id", None))
        if leg is None:
            return
        if isinstance(event, SetupAcknowledged):
            leg.note(now, "<-", "SETUP ACK")
            self.clock.call_later(leg.digit_interval, lambda: self._send_next_digit(leg))
        elif isinstance(event, CallProceeding):
            leg.note(now, "<-", "CALL PROC")
            if self._pending_digits.get(leg.key):
                leg.note(now, "!!", f"the box proceeded before overlap digits {self._pending_digits[leg.key]} were sent")
                self._pending_digits.pop(leg.key)
            _mark(leg, "proceeding_at", now, "proceeding")
        elif isinstance(event, Alerting):
            leg.note(now, "<-", "ALERTING" + (" PI 8 (in-band information)" if event.inband else ""))
            if event.inband:
                leg.progress.append(8)
            _mark(leg, "alerting_at", now, "alerting")
        elif isinstance(event, Progress):
            leg.note(now, "<-", f"PROGRESS PI {event.description}")
            leg.progress.append(event.description)
        elif isinstance(event, Answered):
            leg.note(now, "<-", "CONNECT")
            _mark(leg, "answered_at", now, "answered")
        elif isinstance(event, InfoDigits):
            leg.note(now, "<-", f"INFORMATION {event.digits}")
        elif isinstance(event, Disconnected):
            leg.note(now, "<-", f"DISCONNECT cause {event.cause}")
            if leg.cause is None:
                leg.cause, leg.cleared_by = event.cause, "box"
            leg.disconnected_at = now
            leg.milestone("disconnected")
        elif isinstance(event, Released):
            direction = "<-" if leg.cleared_by != "simulator" else "=="
            # Without a DISCONNECT first, the box refused the SETUP with RELEASE COMPLETE.
            text = f"released, cause {event.cause}" if leg.disconnected_at else f"RELEASE COMP cause {event.cause}"
            self._finish(leg, event.cause, text, direction)


class LibpriTrunk(Trunk):
    """libpri on the span's D-channel export (`[[span]] dchannel_export`); real time only."""

    engine = "libpri"

    def __init__(self, number: int, span, clock, role: str, bearer: SpanAudio | None = None):
        if span.config.dchannel_export is None:
            raise ValueError(f"span {span.id} has no dchannel_export socket for libpri to drive")
        super().__init__(number, span, clock, bearer or SpanAudio(span, clock), role)
        from hil_tests.peers.libpri import LibpriPeer

        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(span.config.dchannel_export)
        self.peer = LibpriPeer(self.sock, role)
        self._by_handle: dict[int, Leg] = {}
        self._task: asyncio.Task | None = None

    @property
    def ready(self) -> bool:
        return self.peer.dchannel_up

    def start(self) -> None:
        super().start()
        self.peer.start()
        if not self.bearer.running:
            self.bearer.start()
        self._task = asyncio.get_running_loop().create_task(self._events(), name=f"libpri-trunk-{self.number}")

    def close(self) -> None:
        super().close()
        if self._task is not None:
            self._task.cancel()
        self.peer.close()
        self.bearer.stop()
        self.sock.close()

    def _forget(self, legs: list[Leg]) -> None:
        gone = {id(leg) for leg in legs}
        for handle, leg in list(self._by_handle.items()):
            if id(leg) in gone:
                del self._by_handle[handle]

    def place(self, name: str, dial: Dial) -> Leg:
        now = self.clock.now()
        timeslot = dial.timeslot if dial.timeslot is not None else self.free_timeslot()
        called = dial.called.number
        first = called if dial.overlap_first is None else called[:dial.overlap_first]
        calling = dial.calling
        plan = (calling.type_of_number << 4 | calling.plan) if calling else 0x21
        handle = self.peer.call(first, calling=calling.number if calling else "", channel=timeslot,
                                exclusive=dial.exclusive,
                                redirecting=dial.redirecting.number if dial.redirecting else "",
                                redirecting_reason=dial.redirecting.reason if dial.redirecting else 0,
                                complete=dial.overlap_first is None, alaw=dial.law == "alaw",
                                called_plan=dial.called.type_of_number << 4 | dial.called.plan, calling_plan=plan,
                                calling_presentation=(calling.presentation << 5) if calling else 0)
        shares = dial.out_of_step and any(l.timeslot == timeslot and not l.done for l in self.legs)
        leg = Leg(name, self, True, called=called, calling=calling.number if calling else "", timeslot=timeslot,
                  placed_at=now, key=handle, shares_channel=shares)
        self._by_handle[id(handle)] = leg
        self.legs.append(leg)
        leg.note(now, "->", f"SETUP {leg.calling or '-'} -> {first}{'' if dial.overlap_first is None else ' (overlap)'}"
                            f" TS{timeslot}")
        if dial.overlap_first is not None:
            self._send_rest(leg, called[dial.overlap_first:], dial.digit_interval)
        if dial.record:
            self._listen(leg, dial.law)
        leg.milestone("placed")
        return leg

    def _send_rest(self, leg: Leg, rest: str, interval: float) -> None:
        # libpri has no SETUP ACKNOWLEDGE wait of its own: the digits follow at the set pace.
        def send(i: int = 0) -> None:
            if leg.done or i >= len(rest):
                return
            self.peer.information(leg.key, rest[i])
            leg.note(self.clock.now(), "->", f"INFORMATION {rest[i]}")
            self.clock.call_later(interval, lambda: send(i + 1))
        self.clock.call_later(interval, send)

    def hangup(self, leg: Leg, cause: int = 16) -> None:
        if leg.done or leg.disconnected_at is not None or leg.key.cleared:
            return
        self.peer.hangup(leg.key, cause)
        leg.note(self.clock.now(), "->", f"DISCONNECT cause {cause}")
        leg.disconnected_at = self.clock.now()
        if leg.cause is None:
            leg.cause, leg.cleared_by = cause, "simulator"

    def alert(self, leg: Leg) -> None:
        self.peer.proceeding(leg.key)
        leg.note(self.clock.now(), "->", "CALL PROC")
        self.peer.alerting(leg.key)
        leg.note(self.clock.now(), "->", "ALERTING")

    def answer(self, leg: Leg) -> None:
        if leg.done:
            return
        self.peer.answer(leg.key)
        leg.note(self.clock.now(), "->", "CONNECT")
        _mark(leg, "answered_at", self.clock.now(), "answered")

    async def _events(self) -> None:
        while True:
            event = await self.peer._queue.get()
            try:
                self._on_event(event)
            except Exception:
                log.exception("libpri trunk %d: failed on %s", self.number, event.kind)

    def _on_event(self, event) -> None:
        if event.call is None:
            return
        now = self.clock.now()
        leg = self._by_handle.get(id(event.call))
        if event.kind == "ring":
            leg = Leg(f"in{len(self.legs) + 1}", self, False, called=event.called, calling=event.calling,
                      timeslot=event.channel, placed_at=now, key=event.call)
            self._by_handle[id(event.call)] = leg
            self.legs.append(leg)
            leg.note(now, "<-", f"SETUP {event.calling or '-'} -> {event.called} TS{event.channel}")
            self._listen(leg)
            if self.on_incoming is not None:
                self.on_incoming(leg)
            return
        if leg is None:
            return
        kind = event.kind
        if kind == "setup_ack":
            leg.note(now, "<-", "SETUP ACK")
        elif kind == "proceeding":
            leg.note(now, "<-", "CALL PROC")
            _mark(leg, "proceeding_at", now, "proceeding")
        elif kind == "ringing":
            leg.note(now, "<-", "ALERTING" + (f" PI {event.progress}" if event.progress is not None else ""))
            if event.progress is not None:
                leg.progress.append(event.progress)
            _mark(leg, "alerting_at", now, "alerting")
        elif kind == "progress":
            leg.note(now, "<-", f"PROGRESS PI {event.progress}")
            if event.progress is not None:
                leg.progress.append(event.progress)
        elif kind == "answer":
            leg.note(now, "<-", "CONNECT")
            _mark(leg, "answered_at", now, "answered")
        elif kind in ("hangup_req", "hangup"):
            if leg.disconnected_at is None:
                leg.note(now, "<-", f"{'DISCONNECT' if kind == 'hangup_req' else 'RELEASE'} cause {event.cause}")
                if leg.cause is None:
                    leg.cause, leg.cleared_by = event.cause, "box"
                leg.disconnected_at = now
                leg.milestone("disconnected")
            # libpri answers the box's DISCONNECT with RELEASE itself and reports nothing more.
            self._finish(leg, event.cause, f"released, cause {event.cause}", "==")
        elif kind == "hangup_ack":
            self._finish(leg, event.cause if event.cause is not None else leg.cause,
                         f"RELEASE cause {event.cause}", "==")

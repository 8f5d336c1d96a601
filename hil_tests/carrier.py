"""The built-in carrier simulator: the network side of the embedded default (span 2, NT).

Two far ends behind one interface, chosen by what drives the NT span's D-channel:

* `LibpriCarrier` — libpri, Asterisk's PRI stack, in the network role on the span's D-channel
  export socket (`[[span]] dchannel_export`).  This is the preferred far end: it proves the
  box's set-up against a stack that is not ours.  libpri keeps its timers on the wall clock, so
  it runs in real time only.
* `StackCarrier` — our own `PriStack("network")`, the one the embedded default's
  `[[isdn]] span = 2, role = "network"` entry makes the ISDN service run on span 2.  It runs
  on any clock, so the virtual-time tests and `pribox demo --virtual` use it, and it is the
  fallback where libpri is not installed.

Both place calls toward the box (a Korean national number: called 15881234 — a KT
representative number — from 0212345678 (Seoul), forwarded from a 070 number), answer calls
from the box after a Korean ringback, and after answer put audio on the call's B-channel:
DTMF digits, then a 1 kHz test tone, then hang up with cause 16.  Audio is G.711 through the
span's media plane (`SpanAudio`, firmware/isdn/bearer.py).
"""

from __future__ import annotations

import abc
import asyncio
import logging
import socket
from dataclasses import dataclass, field

import numpy as np

from dsp import ffi, lib
from dsp.dtmf import DtmfGenerator
from dsp.levels import SAMPLE_RATE
from dsp.tones import ToneGenerator
from runtime.clock import Clock
from firmware.isdn.bearer import SpanAudio
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.channels import PRI_TIMESLOTS
from firmware.isdn.q931.events import Alerting, Answered, Disconnected, IncomingCall, Released
from firmware.isdn.q931.link import CallStateError

log = logging.getLogger("pribox.carrier")

CALLED = "15881234"
CALLING = "0212345678"
FORWARDED_FROM = "07012345678"
DIGITS = "1234#"
TONE_HZ = 1000.0
TONE_DBM0 = -10.0
TONE_SECONDS = 1.0


class TestTone:
    """A continuous sine for `seconds` (then the source runs out), from the C tone generator."""

    def __init__(self, hz: float = TONE_HZ, level_dbm0: float = TONE_DBM0, seconds: float = TONE_SECONDS):
        state = lib.tone_tx_new(hz, 0.0, level_dbm0, ffi.new("int32_t[]", [0]), 0, 1)
        if state == ffi.NULL:
            raise ValueError(f"test tone {hz} Hz at {level_dbm0} dBm0: out of range")
        self._state = ffi.gc(state, lib.tone_tx_free)
        self.remaining = int(seconds * SAMPLE_RATE)

    def generate(self, n: int) -> np.ndarray:
        n = min(n, self.remaining)
        out = np.zeros(n, dtype=np.int16)
        if n:
            lib.tone_tx(self._state, ffi.from_buffer("int16_t[]", out), n)
        self.remaining -= n
        return out


class Sequence:
    """Sources one after the other: DTMF digits, a pause, the test tone."""

    def __init__(self, *sources):
        self.sources = list(sources)

    def generate(self, n: int) -> np.ndarray:
        parts = []
        while n > 0 and self.sources:
            chunk = self.sources[0].generate(n)
            parts.append(chunk)
            n -= len(chunk)
            if n > 0:
                self.sources.pop(0)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


class Silence:
    def __init__(self, seconds: float):
        self.remaining = int(seconds * SAMPLE_RATE)

    def generate(self, n: int) -> np.ndarray:
        n = min(n, self.remaining)
        self.remaining -= n
        return np.zeros(n, dtype=np.int16)


def after_answer_audio(digits: str = DIGITS, tone_seconds: float = TONE_SECONDS) -> tuple[Sequence, float]:
    """What the carrier plays once the box answers, and how long it lasts."""
    dtmf = DtmfGenerator(level_dbm0=-10.0, on_ms=80, off_ms=80)
    dtmf.put(digits)
    seconds = 0.3 + len(digits) * 0.16 + 0.2 + tone_seconds
    return Sequence(Silence(0.3), dtmf, Silence(0.2), TestTone(seconds=tone_seconds)), seconds


@dataclass
class CarrierCall:
    """One call as the carrier sees it; `log` is what happened, as (time, text)."""

    key: object
    called: str
    outgoing: bool                       # placed by the carrier toward the box
    timeslot: int | None = None
    answered_at: float | None = None
    alerting_inband: bool | None = None
    cause_received: int | None = None    # the box's cause, when the box cleared
    released_cause: int | None = None
    done: bool = False
    digits: str | None = None            # what this call plays after answer; None: the carrier's
    log: list[tuple[float, str]] = field(default_factory=list)


class Carrier(abc.ABC):
    """What both far ends do; subclasses supply the signalling."""

    kind = "carrier"

    def __init__(self, span, clock: Clock, bearer: SpanAudio, *, digits: str = DIGITS,
                 tone_seconds: float = TONE_SECONDS, ring_seconds: float = 1.0, hangup_after_audio: bool = True):
        self.span = span
        self.clock = clock
        self.bearer = bearer
        self.digits = digits
        self.tone_seconds = tone_seconds
        self.ring_seconds = ring_seconds
        self.hangup_after_audio = hangup_after_audio
        self.calls: list[CarrierCall] = []

    @property
    @abc.abstractmethod
    def ready(self) -> bool:
        """The far end's D-channel is up."""

    def _note(self, call: CarrierCall, text: str) -> None:
        call.log.append((self.clock.now(), text))

    def _answered(self, call: CarrierCall) -> None:
        call.answered_at = self.clock.now()
        self._note(call, "answered by the box")
        if call.timeslot is not None:
            digits = self.digits if call.digits is None else call.digits
            audio, seconds = after_answer_audio(digits, self.tone_seconds)
            self.bearer.play(call.timeslot, audio)
            self._note(call, f"playing DTMF {digits} then {TONE_HZ:g} Hz at {TONE_DBM0:g} dBm0 "
                             f"for {self.tone_seconds:g} s on TS{call.timeslot}")
            if self.hangup_after_audio:
                self.clock.call_later(seconds + 0.3, lambda: self.hangup(call, 16))

    def _released(self, call: CarrierCall, cause: int | None) -> None:
        if call.done:
            return
        call.done = True
        call.released_cause = cause
        if call.timeslot is not None:
            self.bearer.close(call.timeslot)
        self._note(call, f"released, cause {cause}")

    @abc.abstractmethod
    def hangup(self, call: CarrierCall, cause: int = 16) -> None:
        """Clear `call` with a Q.850 cause."""


class StackCarrier(Carrier):
    """Our PriStack("network") on the NT span (the ISDN service's span-2 stack) as the far end."""

    kind = "pribox PriStack (network)"

    def __init__(self, isdn: IsdnSpan, **options):
        if isdn.role != "network":
            raise ValueError(f"the carrier is the network side; span {isdn.span_id}'s stack is {isdn.role}")
        super().__init__(isdn.span, isdn.clock, isdn.bearer, **options)
        self.isdn = isdn
        self._by_id: dict[int, CarrierCall] = {}
        if isdn.handler is not None:
            isdn.handler.close()
        isdn.handler = self

    @property
    def ready(self) -> bool:
        # In service: the D-channel is up and the RESTART of the first link-up acknowledged
        # (by then, frames being in order, the box's own RESTART has been taken too).
        return self.isdn.in_service

    def place_call(self, called: str = CALLED, calling: str = CALLING, forwarded_from: str | None = FORWARDED_FROM,
                   timeslot: int | None = None, digits: str | None = None) -> CarrierCall:
        redirecting = None
        if forwarded_from:
            redirecting = ie.RedirectingNumber(forwarded_from, ie.TypeOfNumber.NATIONAL, ie.NumberingPlan.ISDN,
                                               reason=ie.RedirectReason.UNCONDITIONAL)
        calling_ie = ie.CallingNumber(calling, ie.TypeOfNumber.NATIONAL, ie.NumberingPlan.ISDN)
        call_id = self.isdn.setup(called, calling=calling_ie, redirecting=redirecting, timeslot=timeslot,
                                  called_type=ie.TypeOfNumber.NATIONAL)
        call = CarrierCall(call_id, called, True, self.isdn.stack.calls[call_id].timeslot, digits=digits)
        self._by_id[call_id] = call
        self.calls.append(call)
        self._note(call, f"SETUP {calling} -> {called}" + (f" (forwarded from {forwarded_from})" if forwarded_from else ""))
        return call

    def hangup(self, call: CarrierCall, cause: int = 16) -> None:
        if not call.done and self.isdn.try_disconnect(call.key, cause):
            self._note(call, f"hangs up, cause {cause}")

    def on_event(self, event) -> None:
        call = self._by_id.get(getattr(event, "call_id", None))
        if isinstance(event, IncomingCall):
            call = CarrierCall(event.call_id, event.called, False, event.timeslot)
            self._by_id[event.call_id] = call
            self.calls.append(call)
            self._note(call, f"SETUP from the box to {event.called}")
            self.isdn.proceed(event.call_id)
            self.isdn.alert(event.call_id, inband=True)
            self.bearer.play(event.timeslot, ToneGenerator("KR", "ringback"))
            self.clock.call_later(self.ring_seconds, lambda: self._answer_box(call))
        elif call is None:
            return
        elif isinstance(event, Alerting):
            call.alerting_inband = event.inband
            self._note(call, f"ALERTING{' with in-band information' if event.inband else ''}")
        elif isinstance(event, Answered):
            self._answered(call)
        elif isinstance(event, Disconnected):
            call.cause_received = event.cause
            self._note(call, f"DISCONNECT from the box, cause {event.cause}")
        elif isinstance(event, Released):
            if call.cause_received is None and not call.log[-1][1].startswith("hangs up"):
                call.cause_received = event.cause
            self._released(call, event.cause)

    def _answer_box(self, call: CarrierCall) -> None:
        try:
            self.isdn.answer(call.key)
        except CallStateError:
            return
        self.bearer.play(call.timeslot, None)
        self._answered(call)

    def close(self) -> None:
        pass


class LibpriCarrier(Carrier):
    """libpri in the network role on the NT span's D-channel export socket (real time only)."""

    kind = "libpri (network)"

    def __init__(self, span, clock: Clock, *, bearer: SpanAudio | None = None, **options):
        if span.config.dchannel_export is None:
            raise ValueError(f"span {span.id} has no dchannel_export socket for libpri to drive")
        bearer = bearer or SpanAudio(span, clock)
        super().__init__(span, clock, bearer, **options)
        from hil_tests.peers.libpri import LibpriPeer

        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(span.config.dchannel_export)
        self.peer = LibpriPeer(self.sock, "network")
        self._by_handle: dict[int, CarrierCall] = {}
        self._task: asyncio.Task | None = None

    @property
    def ready(self) -> bool:
        return self.peer.dchannel_up

    def start(self) -> None:
        self.peer.start()
        if not self.bearer.running:
            self.bearer.start()
        self._task = asyncio.get_running_loop().create_task(self._events(), name="libpri-carrier")

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.peer.close()
        self.bearer.stop()
        self.sock.close()

    def place_call(self, called: str = CALLED, calling: str = CALLING, forwarded_from: str | None = FORWARDED_FROM,
                   timeslot: int | None = 1, digits: str | None = None) -> CarrierCall:
        """`timeslot` None: the carrier picks the lowest B-channel none of its calls holds, as a
        network does (the peer's own None would send "any channel" on interface 127, which a
        single-span box rightly refuses with cause 82)."""
        from hil_tests.peers.libpri import PRI_NATIONAL_ISDN

        if timeslot is None:
            timeslot = self.free_timeslot()
        handle = self.peer.call(called, calling=calling, channel=timeslot, redirecting=forwarded_from or "",
                                redirecting_reason=15 if forwarded_from else 0,
                                called_plan=PRI_NATIONAL_ISDN, calling_plan=PRI_NATIONAL_ISDN)
        call = CarrierCall(handle, called, True, timeslot, digits=digits)
        self._by_handle[id(handle)] = call
        self.calls.append(call)
        self._note(call, f"SETUP {calling} -> {called}" + (f" (forwarded from {forwarded_from})" if forwarded_from else ""))
        return call

    def free_timeslot(self) -> int:
        held = {call.timeslot for call in self.calls if not call.done}
        for ts in PRI_TIMESLOTS:
            if ts not in held:
                return ts
        raise CallStateError(f"setup: no idle B-channel (cause {Cause.NO_CIRCUIT_AVAILABLE}): "
                             f"the carrier's {len(held)} calls hold them all")

    def hangup(self, call: CarrierCall, cause: int = 16) -> None:
        if not call.done and not call.key.cleared:
            self.peer.hangup(call.key, cause)
            self._note(call, f"hangs up, cause {cause}")

    async def _events(self) -> None:
        while True:
            event = await self.peer._queue.get()
            try:
                self._on_event(event)
            except Exception:
                log.exception("libpri carrier: failed on %s", event.kind)

    def _on_event(self, event) -> None:
        if event.call is None:
            return
        call = self._by_handle.get(id(event.call))
        if event.kind == "ring":
            call = CarrierCall(event.call, event.called, False, event.channel)
            self._by_handle[id(event.call)] = call
            self.calls.append(call)
            self._note(call, f"SETUP from the box to {event.called}")
            self.peer.proceeding(event.call)
            self.peer.alerting(event.call, inband=True)
            self.bearer.play(event.channel, ToneGenerator("KR", "ringback"))
            self.clock.call_later(self.ring_seconds, lambda: self._answer_box(call))
            return
        if call is None:
            return
        if event.channel not in (None, 0xFF) and call.timeslot is None:
            call.timeslot = event.channel
        if event.kind == "ringing":
            call.alerting_inband = event.progress is not None and event.progress in (1, 8)
            self._note(call, "ALERTING")
        elif event.kind == "answer":
            self._answered(call)
        elif event.kind in ("hangup_req", "hangup"):
            if call.cause_received is None and not call.log[-1][1].startswith("hangs up"):
                call.cause_received = event.cause
                self._note(call, f"DISCONNECT from the box, cause {event.cause}")
            # hangup_req: libpri answers the box's DISCONNECT with RELEASE itself (auto_release)
            # and reports nothing more for the call.
            self._released(call, event.cause)
        elif event.kind == "hangup_ack":
            self._released(call, event.cause if event.cause is not None else call.cause_received)

    def _answer_box(self, call: CarrierCall) -> None:
        if call.done:
            return
        self.peer.answer(call.key)
        self.bearer.play(call.timeslot, None)
        self._answered(call)


def libpri_far_end_config(text: str, export_path: str, nt_span: int = 2) -> str:
    """The embedded default with libpri as the carrier: the NT span's D-channel exported on
    `export_path` and its `[[isdn]]` entry dropped (libpri, not our stack, drives it)."""
    from firmware.config import load_text

    config = load_text(text, "embedded default")
    if not any(span.id == nt_span for span in config.span):
        raise ValueError(f"no [[span]] with id {nt_span} to hand to libpri")
    out, block, kind = [], [], None

    def flush():
        if kind == "isdn" and any(line.replace(" ", "") == f"span={nt_span}" for line in block):
            return
        if kind == "span" and any(line.replace(" ", "") == f"id={nt_span}" for line in block):
            block.append(f'dchannel_export = "{export_path}"')
        out.extend(block)

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            flush()
            block, kind = [], stripped.strip("[]")
        block.append(line)
    flush()
    return "\n".join(out) + "\n"

"""What the box does with a call before it has a dial plan: the minimal correct PRI CPE.

`AnswerAndListen` is the whole policy, kept in one place so the PBX replaces it by setting
another `CallHandler` on the span: an incoming call gets CALL PROCEEDING, then ALERTING with
progress indicator 8 while the box plays the Korean ringback on the call's B-channel, then
CONNECT after `ring_seconds`; once answered it listens to the B-channel the Channel ID named
(DTMF digits published as `DtmfDigit`, the tone level in a `CallAudioReport` at release) and
clears with cause 16 after `max_call_seconds` unless the far end clears first.  A call it cannot
take (not speech/audio) is refused with cause 58 (bearer capability not presently available).
"""

from __future__ import annotations

import logging

from dsp.tones import ToneGenerator
from runtime.clock import TimerHandle

from .binding import IsdnSpan
from .listen import InbandListener
from .q931.causes import Cause
from .q931.events import IncomingCall, Released
from .q931.ies import TransferCapability
from .q931.link import CallStateError

log = logging.getLogger("pribox.isdn")

_VOICE = (TransferCapability.SPEECH, TransferCapability.AUDIO_3K1)


class AnswerAndListen:
    def __init__(self, isdn: IsdnSpan, *, ring_seconds: float = 1.0, max_call_seconds: float = 60.0,
                 ringback_country: str = "KR"):
        self.isdn = isdn
        self.ring_seconds = ring_seconds
        self.max_call_seconds = max_call_seconds
        self.ringback_country = ringback_country
        self.listener = InbandListener(isdn.bearer, isdn.bus, isdn.clock, isdn.span_id)
        self._timers: dict[int, TimerHandle] = {}
        self._timeslots: dict[int, int] = {}
        self.answered = 0

    def on_event(self, event) -> None:
        if isinstance(event, IncomingCall):
            self._incoming(event)
        elif isinstance(event, Released):
            self._forget(event.call_id)

    def _incoming(self, call: IncomingCall) -> None:
        isdn = self.isdn
        if call.bearer.capability not in _VOICE:
            isdn.disconnect(call.call_id, Cause.BEARER_CAPABILITY_NOT_AVAILABLE)
            return
        self._timeslots[call.call_id] = call.timeslot
        isdn.proceed(call.call_id)
        isdn.alert(call.call_id, inband=True)
        isdn.bearer.open(call.timeslot, call.law)   # the call's law; None keeps the span's
        isdn.bearer.play(call.timeslot, ToneGenerator(self.ringback_country, "ringback"))
        self._timers[call.call_id] = isdn.clock.call_later(self.ring_seconds, lambda: self._answer(call))

    def _answer(self, call: IncomingCall) -> None:
        try:
            self.isdn.answer(call.call_id)
        except CallStateError as exc:  # the caller gave up meanwhile
            log.info("span %d: call %d not answered: %s", self.isdn.span_id, call.call_id, exc)
            return
        self.answered += 1
        self.isdn.bearer.play(call.timeslot, None)
        self.listener.listen(call.call_id, call.timeslot)
        self._timers[call.call_id] = self.isdn.clock.call_later(
            self.max_call_seconds, lambda: self.isdn.try_disconnect(call.call_id, Cause.NORMAL_CLEARING))

    def _forget(self, call_id: int) -> None:
        timer = self._timers.pop(call_id, None)
        if timer is not None:
            timer.cancel()
        timeslot = self._timeslots.pop(call_id, None)
        self.listener.stop(call_id)
        if timeslot is not None:
            self.isdn.bearer.close(timeslot)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self.listener.close()

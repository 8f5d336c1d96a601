"""Listening to calls' B-channels: DTMF digits and the level of a steady tone.

One `InbandListener` per span reads what the span's media plane heard (firmware/isdn/bearer.py):
each listened channel has a DTMF receiver and a level meter on the audio from the line, run in
C inside the line's advance.  Digits on a timeslot some call listens to are published as
`DtmfDigit`.  Per call it also keeps the audio its recorder tap took (the last minute), and when the call
stops listening publishes a `CallAudioReport` with the digits and the level of the longest
steady tone (10 ms windows within ±1 dB of each other), which is how a test tone's level is
measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dsp.levels import DBM0_FULL_SCALE_SINE, SAMPLE_RATE
from runtime.bus import EventBus
from runtime.clock import Clock, TimerHandle

from .bearer import SpanAudio
from .events import CallAudioReport, DtmfDigit
from .q931.channels import b_channel

# A steady tone stays within this many dB from block to block, and is at least this loud.
STEADY_DB = 1.0
POLL_PERIOD = 0.02
QUIET_DBM0 = -50.0
_FULL_SCALE_SINE_POWER = 32767.0 ** 2 / 2.0


WINDOW = 80     # samples a level is taken over (10 ms)
HOP = 8         # the window slides by one 1 kHz period, so a tone's edges cost at most a hop
KEEP_SECONDS = 60


@dataclass
class _Listening:
    call_id: int
    timeslot: int
    digits: list[str] = field(default_factory=list)
    audio: list[np.ndarray] = field(default_factory=list)
    kept: int = 0


def steady_tone(pcm: np.ndarray) -> tuple[float | None, float]:
    """(level in dBm0, seconds) of the longest steady tone in `pcm`: the longest run of 10 ms
    windows, slid by HOP samples, within STEADY_DB of the run's first window and louder than
    QUIET_DBM0; (None, 0.0) when there is none."""
    if len(pcm) < WINDOW:
        return None, 0.0
    energy = np.concatenate(([0.0], np.cumsum(pcm.astype(np.float64) ** 2)))
    starts = np.arange(0, len(pcm) - WINDOW + 1, HOP)
    mean_square = (energy[starts + WINDOW] - energy[starts]) / WINDOW
    with np.errstate(divide="ignore"):
        levels = DBM0_FULL_SCALE_SINE + 10.0 * np.log10(mean_square / _FULL_SCALE_SINE_POWER)
    best: tuple[float, int] | None = None   # (level, windows)
    start = 0
    while start < len(levels):
        if levels[start] < QUIET_DBM0:
            start += 1
            continue
        outside = np.flatnonzero(np.abs(levels[start + 1:] - levels[start]) > STEADY_DB)
        end = start + 1 + (int(outside[0]) if len(outside) else len(levels) - start - 1)
        if best is None or end - start > best[1]:
            best = (float(np.median(levels[start:end])), end - start)
        start = end
    if best is None:
        return None, 0.0
    return round(best[0], 1), ((best[1] - 1) * HOP + WINDOW) / SAMPLE_RATE


class InbandListener:
    """Every `period` it drains the listened timeslots' DTMF receivers and level meters, which
    run in the media plane; nothing per block runs here."""

    def __init__(self, audio: SpanAudio, bus: EventBus, clock: Clock, span_id: int, period: float = POLL_PERIOD):
        self.audio = audio
        self.bus = bus
        self.clock = clock
        self.span_id = span_id
        self.period = period
        self._by_timeslot: dict[int, _Listening] = {}
        self._handle: TimerHandle | None = None

    def listen(self, call_id: int, timeslot: int) -> None:
        self.audio.reset_listening(timeslot)
        self.audio.record(timeslot)
        self.audio.recorded(timeslot)           # what an earlier call on the timeslot left
        self._by_timeslot[timeslot] = _Listening(call_id, timeslot)
        if self._handle is None:
            self._handle = self.clock.call_later(self.period, self._poll)

    def stop(self, call_id: int) -> CallAudioReport | None:
        """Stop listening to `call_id` and publish what was heard (None if it was not heard)."""
        for timeslot, listening in list(self._by_timeslot.items()):
            if listening.call_id == call_id:
                self._drain(timeslot, listening, self.clock.now())
                del self._by_timeslot[timeslot]
                if not self._by_timeslot:
                    self._cancel()
                pcm = np.concatenate(listening.audio) if listening.audio else np.zeros(0, np.int16)
                level, seconds = steady_tone(pcm)
                report = CallAudioReport(self.clock.now(), self.span_id, call_id, timeslot,
                                         "".join(listening.digits), level, seconds)
                self.bus.publish(report)
                return report
        return None

    def heard(self, call_id: int) -> str:
        for listening in self._by_timeslot.values():
            if listening.call_id == call_id:
                return "".join(listening.digits)
        return ""

    def close(self) -> None:
        self._cancel()

    def _cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _poll(self) -> None:
        now = self.clock.now()
        self._handle = self.clock.call_later(self.period, self._poll)
        for timeslot, listening in list(self._by_timeslot.items()):
            self._drain(timeslot, listening, now)

    def _drain(self, timeslot: int, listening: _Listening, now: float) -> None:
        for digit in self.audio.digits(timeslot):
            listening.digits.append(digit)
            self.bus.publish(DtmfDigit(now, self.span_id, listening.call_id, timeslot, digit))
        pcm = self.audio.recorded(timeslot)
        if len(pcm):
            listening.audio.append(pcm)
            listening.kept += len(pcm)
            while listening.kept - len(listening.audio[0]) >= KEEP_SECONDS * SAMPLE_RATE:
                listening.kept -= len(listening.audio.pop(0))

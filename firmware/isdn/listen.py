"""Listening to calls' B-channels: DTMF digits and the level of a steady tone.

One `InbandListener` per span sits on its `BearerPump`: every block of all 30 channels goes
through a `DtmfReceiverBank` in one C call; digits on a timeslot some call listens to are
published as `DtmfDigit`.  Per call it also keeps each block's power, and when the call stops
listening publishes a `CallAudioReport` with the digits and the level of the longest steady
tone (blocks within ±1 dB of each other), which is how a test tone's level is measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dsp.dtmf import DtmfReceiverBank
from dsp.levels import DBM0_FULL_SCALE_SINE, SAMPLE_RATE
from runtime.bus import EventBus
from runtime.clock import Clock

from .bearer import B_CHANNELS, BearerPump
from .events import CallAudioReport, DtmfDigit
from .q931.channels import b_channel

# A steady tone stays within this many dB from block to block, and is at least this loud.
STEADY_DB = 1.0
QUIET_DBM0 = -50.0
_FULL_SCALE_SINE_POWER = 32767.0 ** 2 / 2.0


@dataclass
class _Listening:
    call_id: int
    timeslot: int
    digits: list[str] = field(default_factory=list)
    levels: list[float] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)


def steady_tone(levels: list[float], samples: list[int]) -> tuple[float | None, float]:
    """(level in dBm0, seconds) of the longest run of blocks within STEADY_DB of the run's
    first block and louder than QUIET_DBM0; (None, 0.0) when there is none."""
    best: tuple[float, int, int] | None = None   # (level, samples, first index)
    start = 0
    while start < len(levels):
        if levels[start] < QUIET_DBM0:
            start += 1
            continue
        end = start + 1
        while end < len(levels) and abs(levels[end] - levels[start]) <= STEADY_DB:
            end += 1
        length = sum(samples[start:end])
        if best is None or length > best[1]:
            run = levels[start:end]
            best = (float(np.median(run)), length, start)
        start = end
    if best is None:
        return None, 0.0
    return round(best[0], 1), best[1] / SAMPLE_RATE


class InbandListener:
    def __init__(self, pump: BearerPump, bus: EventBus, clock: Clock, span_id: int):
        self.pump = pump
        self.bus = bus
        self.clock = clock
        self.span_id = span_id
        self._bank = DtmfReceiverBank(B_CHANNELS)
        self._by_timeslot: dict[int, _Listening] = {}

    def listen(self, call_id: int, timeslot: int) -> None:
        # The bank runs only while someone listens, so a receiver may have stopped mid-digit with
        # the last call on this timeslot; without a reset the new call's first digit, if the
        # same, would never "start".
        self._bank.reset(b_channel(timeslot) - 1)
        if not self._by_timeslot:  # idle spans cost nothing: the pump decodes only for listeners
            self.pump.add_receiver(self._receive)
        self._by_timeslot[timeslot] = _Listening(call_id, timeslot)

    def stop(self, call_id: int) -> CallAudioReport | None:
        """Stop listening to `call_id` and publish what was heard (None if it was not heard)."""
        for timeslot, listening in list(self._by_timeslot.items()):
            if listening.call_id == call_id:
                del self._by_timeslot[timeslot]
                if not self._by_timeslot:
                    self.pump.remove_receiver(self._receive)
                level, seconds = steady_tone(listening.levels, listening.samples)
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
        self.pump.remove_receiver(self._receive)

    def _receive(self, pcm: np.ndarray, now: float) -> None:
        events = self._bank.process(pcm)
        if not self._by_timeslot:
            return
        rows = [b_channel(ts) - 1 for ts in self._by_timeslot]
        x = pcm[rows].astype(np.float64)
        mean_square = np.mean(x * x, axis=1)
        with np.errstate(divide="ignore"):
            levels = DBM0_FULL_SCALE_SINE + 10.0 * np.log10(mean_square / _FULL_SCALE_SINE_POWER)
        for (timeslot, listening), row, level in zip(list(self._by_timeslot.items()), rows, levels):
            listening.levels.append(float(level))
            listening.samples.append(pcm.shape[1])
            for event in events[row]:
                if event.kind == "start":
                    listening.digits.append(event.digit)
                    self.bus.publish(DtmfDigit(now, self.span_id, listening.call_id, timeslot, event.digit))

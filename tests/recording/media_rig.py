"""A caller and an agent on two emulated spans of the box (the carrier's and the one toward the
center's PBX), each line's far end played by a span of its own, all on one virtual clock: the
far ends speak known tones into the box's real media plane, whose legs are bridged."""

from __future__ import annotations

import numpy as np

from drivers.lockstep import LockstepLine
from firmware.isdn.bearer import SpanAudio
from pbx_cti.pbx.media import IsdnLegMedia
from runtime.clock import ManualClock

RATE = 8000
CALLER_HZ, AGENT_HZ = 440.0, 1020.0


def tone(hz: float, seconds: float, amplitude: float = 8000.0) -> np.ndarray:
    n = int(round(seconds * RATE))
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(n) / RATE)).astype(np.int16)


def band_level(pcm: np.ndarray, hz: float) -> float:
    """Power of the hz component in dB relative to full scale."""
    t = np.arange(len(pcm)) / RATE
    x = pcm.astype(float)
    i, q = np.mean(x * np.cos(2 * np.pi * hz * t)), np.mean(x * np.sin(2 * np.pi * hz * t))
    return 10 * np.log10(2 * (i * i + q * q) / 32767.0 ** 2 + 1e-12)


def onsets(pcm: np.ndarray, threshold: float = 1500.0, gap_ms: int = 100) -> list[float]:
    """Seconds at which sound starts after at least gap_ms of quiet (1 ms envelope)."""
    n = len(pcm) // 8 * 8
    envelope = np.abs(pcm[:n].astype(np.int32)).reshape(-1, 8).max(axis=1)
    loud = np.flatnonzero(envelope > threshold)
    if not len(loud):
        return []
    starts = loud[np.concatenate(([True], np.diff(loud) - 1 >= gap_ms))]
    return [float(ms) / 1000.0 for ms in starts]


class CallRig:
    CALLER_TS, AGENT_TS = 1, 5

    def __init__(self):
        self.clock = ManualClock()
        self.caller_line = LockstepLine(clock=self.clock).open()
        self.agent_line = LockstepLine(clock=self.clock).open()
        self.lines = (self.caller_line, self.agent_line)
        self.caller_line.run_until(lambda: self.caller_line.aligned() and self.agent_line.aligned(), 2.0)
        box_caller, box_agent = SpanAudio(self.caller_line.te, self.clock), SpanAudio(self.agent_line.te, self.clock)
        self.caller = IsdnLegMedia(box_caller, self.CALLER_TS)
        self.agent = IsdnLegMedia(box_agent, self.AGENT_TS)
        self.caller.hear(self.agent)
        self.agent.hear(self.caller)
        self.caller_phone = SpanAudio(self.caller_line.nt, self.clock)
        self.agent_phone = SpanAudio(self.agent_line.nt, self.clock)
        self.caller_phone.open(self.CALLER_TS)
        self.agent_phone.open(self.AGENT_TS)

    def caller_says(self, samples: np.ndarray) -> None:
        self.caller_phone.media.play(SpanAudio.channel(self.CALLER_TS), samples)

    def agent_says(self, samples: np.ndarray) -> None:
        self.agent_phone.media.play(SpanAudio.channel(self.AGENT_TS), samples)

    def at(self, delay: float, action) -> None:
        self.clock.call_later(delay, action)

    def run(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def close(self) -> None:
        for line in self.lines:
            line.close()

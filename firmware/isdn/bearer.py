"""A span's 30 B-channels as linear audio, moved on the one clock.

Every `period` the pump reads the octets the line delivered since the last run from
`span.read_bearer`, expands them (A-law or μ-law, per the span) in one C call and hands the
(30, n) int16 block to each receiver; and it writes the same number of octets back with
`span.write_bearer`, taken from the source playing on each timeslot (silence elsewhere).
One pump per span: it is the only reader and writer of that span's bearer rings.
"""

from __future__ import annotations

import logging
from typing import Callable, Protocol

import numpy as np

from dsp.codecs import Codec, decode, encode
from dsp.levels import SAMPLE_RATE
from runtime.clock import Clock, TimerHandle

from .q931.channels import b_channel

log = logging.getLogger("pribox.isdn")

B_CHANNELS = 30
SILENCE_OCTET = {"alaw": 0xD5, "ulaw": 0xFF}
# The span's bearer rings hold 1024 frames (128 ms); never ask for more than half in one go.
MAX_OCTETS_PER_RUN = 512


class AudioSource(Protocol):
    def generate(self, n: int) -> np.ndarray:
        """Up to n int16 samples; fewer (or none) once the source has run out."""


Receiver = Callable[[np.ndarray, float], None]


class BearerPump:
    def __init__(self, span, clock: Clock, period: float = 0.02):
        if not 0.001 <= period <= 0.05:
            raise ValueError(f"bearer pump period {period} s: expected 0.001 .. 0.05 s")
        self.span = span
        self.clock = clock
        self.period = period
        self.law = Codec.ALAW if span.config.law == "alaw" else Codec.ULAW
        self._silence = SILENCE_OCTET[span.config.law]
        self._sources: dict[int, AudioSource] = {}
        self._receivers: list[Receiver] = []
        self._handle: TimerHandle | None = None
        self._last = 0.0
        self._owed = 0.0
        self.octets_moved = 0

    # -- what plays, who listens ---------------------------------------------------------------
    def play(self, timeslot: int, source: AudioSource | None) -> None:
        """Send `source` on `timeslot` from the next run on (None: silence)."""
        b_channel(timeslot)  # a timeslot with no B-channel is refused here, naming it
        if source is None:
            self._sources.pop(timeslot, None)
        else:
            self._sources[timeslot] = source

    def playing(self, timeslot: int) -> AudioSource | None:
        return self._sources.get(timeslot)

    def add_receiver(self, receiver: Receiver) -> None:
        self._receivers.append(receiver)

    def remove_receiver(self, receiver: Receiver) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    # -- running --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        if self._handle is None:
            self._last = self.clock.now()
            self._owed = 0.0
            self._handle = self.clock.call_later(self.period, self._run)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _run(self) -> None:
        now = self.clock.now()
        self._handle = self.clock.call_later(self.period, self._run)
        self._owed += (now - self._last) * SAMPLE_RATE
        self._last = now
        n = min(int(self._owed), MAX_OCTETS_PER_RUN)
        self._owed = min(self._owed - n, float(MAX_OCTETS_PER_RUN))
        if n <= 0 or not self.span.is_open:
            return
        try:
            self.move(n, now)
        except Exception:
            log.exception("span %d: bearer pump failed; it keeps running", self.span.id)

    def move(self, n: int, now: float) -> None:
        """Write n octets per B-channel and read n back (the work of one run)."""
        out = np.full((B_CHANNELS, n), self._silence, dtype=np.uint8)
        for timeslot, source in list(self._sources.items()):
            pcm = source.generate(n)
            if len(pcm):
                row = out[b_channel(timeslot) - 1]
                row[:len(pcm)] = encode(self.law, np.ascontiguousarray(pcm, dtype=np.int16))
            if len(pcm) < n:
                self._sources.pop(timeslot, None)  # ran out: silence from here on
        self.span.write_bearer(out)
        received = self.span.read_bearer(n)
        self.octets_moved += n
        if self._receivers:
            pcm = decode(self.law, received.reshape(-1)).reshape(B_CHANNELS, n)
            for receiver in list(self._receivers):
                receiver(pcm, now)

"""A span's 30 B-channels in the media plane, for the control plane.

The audio itself never passes through Python: the span's C media port (`span.media_port()`,
dsp/c/media_port.h) runs every 10 ms block of its B-channels through the media batch — inside
the emulated line's advance (in the line's own thread on a running box), or in a DAHDI span's
tick for the blocks its B-channel descriptors delivered; `dsp/line_port.py`'s `PortMedia` is
the control plane's handle on it.  `SpanAudio` opens a channel for a call in the call's
law, hands it whole prompts to play (a finite source is rendered once, a repeating tone one
cadence period that the player loops), and drains what the channel's DTMF receiver and level
meter found.  One per span: it owns that span's media plane.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from dsp import lib
from dsp.line_port import PortMedia
from runtime.clock import Clock

from .q931.channels import b_channel

log = logging.getLogger("pribox.isdn")

B_CHANNELS = 30
LAWS = {"alaw": lib.MEDIA_CODEC_ALAW, "ulaw": lib.MEDIA_CODEC_ULAW}
RENDER_CHUNK = 8000
MAX_RENDER_SECONDS = 600


class AudioSource(Protocol):
    def generate(self, n: int) -> np.ndarray:
        """Up to n int16 samples; fewer (or none) once the source has run out."""


def render(source: AudioSource) -> tuple[np.ndarray, int]:
    """(samples, loops) for the player: a repeating source's one period looped until stopped
    (loops 0), or a finite source's whole audio once."""
    period = getattr(source, "period_samples", None)
    if period:
        return np.ascontiguousarray(source.generate(period), np.int16), 0
    parts = []
    for _ in range(MAX_RENDER_SECONDS * 8000 // RENDER_CHUNK):
        chunk = source.generate(RENDER_CHUNK)
        parts.append(np.asarray(chunk, np.int16))
        if len(chunk) < RENDER_CHUNK:
            break
    return (np.concatenate(parts) if parts else np.zeros(0, np.int16)), 1


class SpanAudio:
    def __init__(self, span, clock: Clock):
        self.span = span
        self.clock = clock
        self.law = LAWS[span.config.law]
        self._media: PortMedia | None = None
        self._playing: dict[int, int] = {}     # timeslot -> item id of what plays now

    @property
    def media(self) -> PortMedia:
        if self._media is None:
            port = self.span.media_port()
            if port is None:
                raise RuntimeError(f"span {self.span.id}: its backend has no media plane")
            self._media = PortMedia(port)
        return self._media

    @property
    def running(self) -> bool:
        return self._media is not None

    def start(self) -> None:
        self.media  # noqa: B018  (enabling the plane primes the line's transmit side)

    def stop(self) -> None:
        if self._media is not None:
            for channel in range(B_CHANNELS):
                self._media.close(channel)
        self._playing.clear()

    # -- channels -------------------------------------------------------------------------------
    @staticmethod
    def channel(timeslot: int) -> int:
        """The media plane's channel (0..29) of a timeslot."""
        return b_channel(timeslot) - 1

    def open(self, timeslot: int, law: str | None = None) -> None:
        """Carry the timeslot's call in `law` (the call's bearer capability; the span's by
        default), silent until something plays."""
        channel = b_channel(timeslot) - 1
        if not self.media.is_open(channel):
            self.media.open(channel, LAWS[law] if law else self.law)

    def close(self, timeslot: int) -> None:
        self._playing.pop(timeslot, None)
        self.media.close(b_channel(timeslot) - 1)

    def is_open(self, timeslot: int) -> bool:
        return self._media is not None and self._media.is_open(b_channel(timeslot) - 1)

    # -- what plays -----------------------------------------------------------------------------
    def play(self, timeslot: int, source: AudioSource | None) -> None:
        """Play `source` on `timeslot` from now on, instead of what played (None: silence)."""
        channel = b_channel(timeslot) - 1   # a timeslot with no B-channel is refused here, naming it
        self.open(timeslot)
        self.media.stop(channel)
        self._playing.pop(timeslot, None)
        if source is None:
            return
        samples, loops = render(source)
        if len(samples):
            self._playing[timeslot] = self.media.play(channel, samples, loops=loops)

    def playing(self, timeslot: int) -> bool:
        item = self._playing.get(timeslot)
        if item is None:
            return False
        for ended, _ in self.media.finished(b_channel(timeslot) - 1):
            if ended == item:
                self._playing.pop(timeslot, None)
                return False
        return True

    # -- what is heard --------------------------------------------------------------------------
    def digits(self, timeslot: int) -> list[str]:
        return self.media.digits(b_channel(timeslot) - 1) if self.is_open(timeslot) else []

    def record(self, timeslot: int, seconds: float = 30.0) -> None:
        """Keep what the line sends on the timeslot (drain it with `recorded`)."""
        self.open(timeslot)
        self.media.record(b_channel(timeslot) - 1, seconds=seconds)

    def recorded(self, timeslot: int) -> np.ndarray:
        return self.media.recorded(b_channel(timeslot) - 1)

    def hear(self, timeslot: int, other: "SpanAudio", other_timeslot: int, gain_db: float = 0.0) -> None:
        """The caller on `timeslot` hears the line of `other_timeslot` on `other` (this span or
        another run by the same thread: every span of a box is, see docs/data-plane.md): one half of a bridged call, a conference seat, a
        supervisor's monitor, whisper or barge."""
        self.open(timeslot)
        other.open(other_timeslot)
        self.media.hear(b_channel(timeslot) - 1, other.media, b_channel(other_timeslot) - 1, gain_db)

    def stop_hearing(self, timeslot: int, other: "SpanAudio", other_timeslot: int) -> None:
        self.media.stop_hearing(b_channel(timeslot) - 1, other.media, b_channel(other_timeslot) - 1)

    def open_timeslots(self) -> list[int]:
        """Timeslots whose channel is open in the media plane (a call is carried there)."""
        if self._media is None:
            return []
        from .q931.channels import PRI_TIMESLOTS
        return [ts for ts in PRI_TIMESLOTS if self._media.is_open(b_channel(ts) - 1)]

    def reset_listening(self, timeslot: int) -> None:
        """Start the timeslot's DTMF receiver and level meter afresh (a new call on it)."""
        channel = b_channel(timeslot) - 1
        self.open(timeslot)
        self.media.reset_dtmf(channel)

"""A leg's audio, whatever carries it: what the IVR and the bridges need of an endpoint.

`IsdnLegMedia` is a B-channel in its span's media plane (firmware/isdn/bearer.py `SpanAudio`);
`RtpLegMedia` is an RTP leg, a channel of an RTP port's media plane (dsp/rtp.py); a browser leg
will offer the same calls.  Either hears the other: the bridges of the media plane join channels
of any two ports run by the one line thread."""

from __future__ import annotations

import numpy as np

from dsp import lib
from firmware.isdn.bearer import render      # the tone renderer the spans use

BARGED_IN = lib.PLAYER_END_BARGE_IN
FROM_LINE = lib.MEDIA_FROM_LINE     # what the party on the leg says
TO_LINE = lib.MEDIA_TO_LINE         # what the box sends the party


class _ChannelMedia:
    """The calls every leg offers, on `_media` (the port's media plane) and `_channel`."""

    def play(self, samples: np.ndarray, *, interruptible: bool = False, loops: int = 1) -> int:
        """Queue audio on the leg (loops 0: until stopped)."""
        return self._media.play(self._channel, samples, interruptible=interruptible, loops=loops)

    def stop(self) -> None:
        self._media.stop(self._channel)

    def finished(self) -> list[tuple[int, int]]:
        return self._media.finished(self._channel)

    def digits(self) -> list[str]:
        return self._media.digits(self._channel)

    def barge_in(self, on: bool) -> None:
        self._media.barge_in(self._channel, on)

    def record(self, seconds: float, direction: int = FROM_LINE) -> None:
        """Tap what this party says (FROM_LINE) or hears (TO_LINE) into a ring of `seconds`."""
        self._media.record(self._channel, direction, seconds=seconds)

    def recorded(self, direction: int = FROM_LINE) -> np.ndarray:
        return self._media.recorded(self._channel, direction)

    def recorder_lost(self, direction: int = FROM_LINE) -> int:
        return self._media.recorder_lost(self._channel, direction)

    def hear(self, other: "_ChannelMedia", gain_db: float = 0.0) -> None:
        self._media.hear(self._channel, other._media, other._channel, gain_db)

    def stop_hearing(self, other: "_ChannelMedia") -> None:
        self._media.stop_hearing(self._channel, other._media, other._channel)


class IsdnLegMedia(_ChannelMedia):
    def __init__(self, audio, timeslot: int, law: str | None = None):
        self.audio = audio
        self.timeslot = timeslot
        self.law = law
        audio.open(timeslot, law)

    @property
    def _media(self):
        return self.audio.media

    @property
    def _channel(self) -> int:
        return self.audio.channel(self.timeslot)

    def play_source(self, source) -> None:
        """A tone generator or other repeating source, looped until stopped (dsp/tones.py)."""
        self.audio.play(self.timeslot, source)

    def close(self) -> None:
        self.audio.close(self.timeslot)


class RtpLegMedia(_ChannelMedia):
    """An RTP leg (dsp/rtp.py `RtpSession`) as a call's audio: the calls of `IsdnLegMedia`.
    Digits are in-band tones and RFC 4733 events alike, and those signalled beside the media
    (SIP INFO: `signalled`); `close` hands the leg back (`on_close`, e.g. to the pool).

    A leg the box places has no session until the far end answers our offer (`attach`); until
    then `law` is the law we offered first and `opened` is False."""

    def __init__(self, session, on_close=None, *, law: str = "alaw"):
        self.session = None
        self.law = law
        self._on_close = on_close
        self._signalled: list[str] = []
        self._closed = False
        self._final: dict | None = None      # figures() as the leg closed
        if session is not None:
            self.attach(session)

    def attach(self, session) -> None:
        if self._closed:            # the call ended while its answer was on its way
            session.close()
            return
        self.session = session
        self.law = "ulaw" if session.codec == "PCMU" else "alaw"    # G.729 legs decode to A-law

    @property
    def opened(self) -> bool:
        return self.session is not None

    @property
    def _media(self):
        return self.session.port.media

    @property
    def _channel(self) -> int:
        return self.session.leg

    def play_source(self, source) -> None:
        self._media.stop(self._channel)
        samples, loops = render(source)
        if len(samples):
            self._media.play(self._channel, samples, loops=loops)

    def digits(self) -> list[str]:
        got, self._signalled = self._signalled + super().digits(), []
        return got

    def signalled(self, digit: str) -> None:
        """A digit that came in signalling (SIP INFO), reported with the media's own."""
        self._signalled.append(digit)

    def stats(self) -> dict:
        """The leg's RTP figures (loss, jitter, round trip, MOS) while it is open."""
        return self.session.stats()

    def figures(self) -> dict | None:
        """What the call's record keeps of this leg: where its streams ran, so a capture's
        streams can be matched to it, and its RTP figures — as it closed, once closed."""
        session = self.session
        if session is None:
            return self._final
        st = session.stats()
        return {
            "local": f"{session.local[0]}:{session.local[1]}", "remote": f"{session.remote[0]}:{session.remote[1]}",
            "codec": session.codec, "ssrc": session.ssrc,
            "packets_sent": st["packets_sent"], "packets_received": st["packets_received"],
            "expected": st["expected"], "lost": st["lost"], "jitter_ms": round(st["jitter_ms"], 3),
            "remote_lost": st["remote_lost"], "remote_jitter_ms": round(st["remote_jitter_ms"], 3),
            "rtt_ms": round(st["rtt_ms"], 3), "mos": round(st["mos"], 2),
            "malformed": st["malformed_total"], "rtcp_sent": st["rtcp_sent"], "rtcp_received": st["rtcp_received"],
        }

    def close(self) -> None:
        self._closed = True
        if self.session is None:
            return
        self._final = self.figures()         # the call's record reads them after the leg is gone
        session, self.session = self.session, None
        session.close()
        if self._on_close is not None:
            self._on_close(session)

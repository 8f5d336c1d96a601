"""A leg's audio, whatever carries it: what the IVR and the bridges need of an endpoint.

`IsdnLegMedia` is a B-channel in its span's media plane (firmware/isdn/bearer.py `SpanAudio`);
`RtpLegMedia` is an RTP leg, a channel of an RTP port's media plane (dsp/rtp.py); a browser leg
will offer the same calls.  Either hears the other: the bridges of the media plane join channels
of any two ports run by the one line thread.

Who hears whom is kept here, and `_arrange` decides how it is carried: two RTP legs of one codec
(and payload size) that hear each other and nothing else, with nothing played into them, are
relayed in C (dsp/rtp.py `relay`: payloads untouched, RFC 4733 events passed on, RTCP per leg)
instead of decoded, mixed and encoded again; `monitor` relays when a recorder or a third party
(a supervisor) needs what they say.  Anything else (a prompt, music, a third voice mixed in, a
conference, legs of two codecs, an E1 channel) goes through the media plane's bridges.  Every
change (hear, stop_hearing, play, stop, record, close) arranges the legs it touches again, so a
call moves between the two as recording, supervision or hold start and stop."""

from __future__ import annotations

import numpy as np

from dsp import lib
from firmware.isdn.bearer import render      # the tone renderer the spans use

BARGED_IN = lib.PLAYER_END_BARGE_IN
FROM_LINE = lib.MEDIA_FROM_LINE     # what the party on the leg says
TO_LINE = lib.MEDIA_TO_LINE         # what the box sends the party


def bridge(a: "_ChannelMedia", b: "_ChannelMedia") -> None:
    """Two parties talk: what `a` was being played (a prompt, music) gives way, and each hears
    the other (relayed untouched when both are RTP legs of one codec: see the module's text)."""
    a.stop()
    a.hear(b)
    b.hear(a)


class _ChannelMedia:
    """The calls every leg offers, on `_media` (the port's media plane) and `_channel`.

    `_hears` maps each party this leg hears to the gain; `_heard_by` the parties hearing it;
    `_wired` those whose media-plane bridge is in place (all it hears but a relay partner)."""

    def _links(self) -> None:
        self._hears: dict[_ChannelMedia, float] = {}
        self._heard_by: set[_ChannelMedia] = set()
        self._wired: set[_ChannelMedia] = set()
        self._playing = False
        self._recording: set[int] = set()   # directions tapped (FROM_LINE, TO_LINE)
        self._closing = False
        self.relay_partner: "RtpLegMedia | None" = None
        self.relay_monitored = False

    def play(self, samples: np.ndarray, *, interruptible: bool = False, loops: int = 1) -> int:
        """Queue audio on the leg (loops 0: until stopped)."""
        self._playing = True
        _arrange(self)
        return self._media.play(self._channel, samples, interruptible=interruptible, loops=loops)

    def stop(self) -> None:
        self._media.stop(self._channel)
        if self._playing:
            self._playing = False
            _arrange(self)

    def finished(self) -> list[tuple[int, int]]:
        return self._media.finished(self._channel)

    def digits(self) -> list[str]:
        return self._media.digits(self._channel)

    def barge_in(self, on: bool) -> None:
        self._media.barge_in(self._channel, on)

    def record(self, seconds: float, direction: int = FROM_LINE) -> None:
        """Tap what this party says (FROM_LINE) or hears (TO_LINE) into a ring of `seconds`."""
        self._recording.add(direction)
        _arrange(self)
        self._media.record(self._channel, direction, seconds=seconds)

    def recorded(self, direction: int = FROM_LINE) -> np.ndarray:
        return self._media.recorded(self._channel, direction)

    def recorder_lost(self, direction: int = FROM_LINE) -> int:
        return self._media.recorder_lost(self._channel, direction)

    def hear(self, other: "_ChannelMedia", gain_db: float = 0.0) -> None:
        if other is self:
            raise ValueError("a leg cannot hear itself")
        if self._hears.get(other) == gain_db and (other in self._wired or self.relay_partner is other):
            return
        if other in self._wired:            # wired again below, at the new gain
            self._media.stop_hearing(self._channel, other._media, other._channel)
            self._wired.discard(other)
        self._hears[other] = gain_db
        other._heard_by.add(self)
        _arrange(self, other)

    def stop_hearing(self, other: "_ChannelMedia") -> None:
        if self._hears.pop(other, None) is None:
            return
        other._heard_by.discard(self)
        _arrange(self, other)

    def _forget(self) -> None:
        """The leg closes: nobody hears it any more, and it hears nobody."""
        touched = {self} | set(self._hears) | set(self._heard_by)
        for other in list(self._hears):
            other._heard_by.discard(self)
        for other in list(self._heard_by):
            other._hears.pop(self, None)
            other._wired.discard(self)
        partner = self.relay_partner
        if partner is not None:
            partner.relay_partner, partner.relay_monitored = None, False
            if partner.opened:
                partner.session.port.unrelay(partner.session.leg)
        self._hears.clear()
        self._heard_by.clear()
        self._wired.clear()
        self.relay_partner, self.relay_monitored = None, False
        self._closing = True
        _arrange(*(leg for leg in touched if leg is not self))

    @property
    def live(self) -> bool:
        return not self._closing

    def decoded(self) -> bool:
        """Whether the media plane decodes what this leg receives (False while relayed untouched)."""
        return self.relay_partner is None or self.relay_monitored


def _relayable(a: "_ChannelMedia", b: "_ChannelMedia") -> bool:
    """a and b can be relayed to each other untouched: RTP legs of one codec and packet size
    (so the far ends get what they negotiated), alike in RFC 4733, hearing only each other at
    unity gain, with nothing played into either and no recorder of what either hears (a relayed
    leg's channel sends nothing of its own for such a tap to take)."""
    if not (isinstance(a, RtpLegMedia) and isinstance(b, RtpLegMedia) and a.opened and b.opened):
        return False
    sa, sb = a.session, b.session
    if (sa.codec, sa.ptime) != (sb.codec, sb.ptime) or (sa.dtmf_payload_type < 0) != (sb.dtmf_payload_type < 0):
        return False
    return (a._hears == {b: 0.0} and b._hears == {a: 0.0} and not a._playing and not b._playing
            and TO_LINE not in a._recording and TO_LINE not in b._recording)


def _needs_audio(leg: "_ChannelMedia", partner: "_ChannelMedia") -> bool:
    """Someone besides the relay partner listens to the leg, or a recorder taps it."""
    return FROM_LINE in leg._recording or bool(leg._heard_by - {partner})


def _arrange(*legs: "_ChannelMedia") -> None:
    """Carry each of `legs` (and the legs they are relayed with) as relay or media-plane bridge,
    whichever who-hears-whom now allows: relays first undone where they no longer fit, then
    made, then the media plane's bridges wired for whatever is not relayed."""
    legs = {leg for leg in legs if leg.live}
    legs |= {leg.relay_partner for leg in legs if leg.relay_partner is not None}
    for leg in legs:
        partner = leg.relay_partner
        if partner is None:
            continue
        if not _relayable(leg, partner):
            leg.session.port.unrelay(leg.session.leg)
            leg.relay_partner = partner.relay_partner = None
            leg.relay_monitored = partner.relay_monitored = False
    for leg in legs:
        if leg.relay_partner is None and len(leg._hears) == 1:
            (partner,) = leg._hears
            if partner.relay_partner is None and _relayable(leg, partner):
                for x, y in ((leg, partner), (partner, leg)):
                    if y in x._wired:       # the media plane's bridge gives way to the relay
                        x._media.stop_hearing(x._channel, y._media, y._channel)
                        x._wired.discard(y)
                leg.relay_partner, partner.relay_partner = partner, leg
                leg.relay_monitored = partner.relay_monitored = False
    for leg in list(legs):
        partner = leg.relay_partner
        if partner is not None:
            monitored = _needs_audio(leg, partner) or _needs_audio(partner, leg)
            if partner.relay_monitored != monitored or not _is_relayed(leg):
                leg.session.relay(partner.session, monitor=monitored)
            leg.relay_monitored = partner.relay_monitored = monitored
    for leg in legs:
        for other in list(leg._wired):
            if other not in leg._hears or other is leg.relay_partner:
                if other.live:
                    leg._media.stop_hearing(leg._channel, other._media, other._channel)
                leg._wired.discard(other)
        for other, gain in leg._hears.items():
            if other not in leg._wired and other is not leg.relay_partner:
                leg._media.hear(leg._channel, other._media, other._channel, gain)
                leg._wired.add(other)


def _is_relayed(leg: "RtpLegMedia") -> bool:
    partner = leg.session.relayed_with
    return partner is not None and partner is leg.relay_partner.session


class IsdnLegMedia(_ChannelMedia):
    def __init__(self, audio, timeslot: int, law: str | None = None):
        self.audio = audio
        self.timeslot = timeslot
        self.law = law
        self._links()
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
        self._forget()
        self.audio.close(self.timeslot)


class RtpLegMedia(_ChannelMedia):
    """An RTP leg (dsp/rtp.py `RtpSession`) as a call's audio: the calls of `IsdnLegMedia`.
    Digits are in-band tones and RFC 4733 events alike, and those signalled beside the media
    (SIP INFO: `signalled`); `close` hands the leg back (`on_close`, e.g. to the pool).

    A leg the box places has no session until the far end answers our offer (`attach`); until
    then `law` is the law we offered first and `opened` is False."""

    def __init__(self, session, on_close=None, *, law: str = "alaw"):
        self._links()
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
        self._playing = bool(len(samples))
        _arrange(self)
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
        self._forget()
        session, self.session = self.session, None
        session.close()
        if self._on_close is not None:
            self._on_close(session)

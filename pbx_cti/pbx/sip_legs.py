"""SIP calls in the switching core: a SIP user agent's calls reach `Pbx` as a span's do.

The core keys a call by (span id, the span's call id) and drives it through the span's call
API.  `SipLegs` gives a `SipCalls` (firmware/sip/binding.py) that shape: a negative pseudo
span id (never a real span's, and never in a trunk group's spans, so no hunter picks it), the
call API with each call's local RTP address filled in, and an RTP leg (`RtpLegMedia`) per call
from an `RtpLegPool` in place of a B-channel.  `PbxSipHandler` is the `SipCalls` handler: it
opens the leg on the caller's SDP offer and hands the core the call's events in the ISDN
stack's classes (the SIP events carry the same fields).

    pool = RtpLegPool("192.0.2.10", (20000, 20998), now=clock.now, started=thread.attach_rtp)
    sip.handler = PbxSipHandler(sip, pbx, pool)
"""

from __future__ import annotations

import logging
from typing import Callable

from dsp.rtp import RtpError, RtpPort
from firmware.isdn.q931 import events as isdn
from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.link import CallStateError
from firmware.sip import events as sip
from firmware.sip.sdp import AudioConfig
from firmware.sip.useragent import SipCallStateError

from .media import RtpLegMedia

log = logging.getLogger("pribox.pbx.sip")

# A far end that has sent media and then falls silent on RTP and RTCP alike for this long is
# gone (a trunk or phone that died without a BYE): the call is cleared and the agent freed.  A
# far end on hold still sends RTCP reports (RFC 3550 6.2), so hold does not trip it.
MEDIA_TIMEOUT = 60.0

# Pseudo span ids of SIP agents count down from here: a real span's id is 1 or more.
FIRST_SIP_SPAN_ID = -1


class RtpLegPool:
    """RTP legs for calls: `RtpPort`s of 30 legs each, made as calls need them and handed to
    `started` (the line thread's `attach_rtp`, or a test's lockstep list).  Local ports come from
    `ports` (first, last), even numbers only (RTCP takes the odd one above); (0, 0): any."""

    def __init__(self, host: str, ports: tuple[int, int] = (0, 0), *, now: Callable[[], float],
                 started: Callable[[RtpPort], None] = lambda port: None, ntp_offset: float | None = None):
        first, last = ports
        if first and (first % 2 or last < first):
            raise ValueError(f"RTP ports {first}..{last}: expected an even first port and last >= first")
        self.host = host
        self.ports = (first, last)
        self.now = now
        self.started = started
        self.ntp_offset = ntp_offset
        self.rtp_ports: list[RtpPort] = []
        self._next = first

    def open(self, remote: tuple[str, int], codec: str, *, payload_type: int | None = None,
             dtmf_payload_type: int | None = 101, ptime: int = 20):
        """A leg toward `remote`, bound on a free local port; raises RtpError when none is left."""
        port, leg = self._free_leg()
        first, last = self.ports
        tries = max(1, (last - first) // 2 + 1) if first else 1
        error: RtpError | None = None
        for _ in range(tries):
            local = (self.host, self._take_port())
            try:
                return port.open(leg, local, remote, codec, payload_type=payload_type,
                                 dtmf_payload_type=dtmf_payload_type, ptime=ptime)
            except RtpError as exc:
                error = exc            # that port is taken by someone else: try the next
        raise RtpError(f"no free RTP port in {first}..{last}: {error}")

    def _take_port(self) -> int:
        first, last = self.ports
        if not first:
            return 0
        port = self._next
        self._next = port + 2 if port + 2 <= last else first
        return port

    def _free_leg(self) -> tuple[RtpPort, int]:
        for port in self.rtp_ports:
            for leg in range(RtpPort.LEGS):
                if leg not in port.sessions:
                    return port, leg
        kwargs = {} if self.ntp_offset is None else {"ntp_offset": self.ntp_offset}
        port = RtpPort(self.now(), **kwargs)
        self.rtp_ports.append(port)
        self.started(port)
        return port, 0

    def legs_open(self) -> int:
        return sum(len(port.sessions) for port in self.rtp_ports)

    def close(self) -> None:
        for port in self.rtp_ports:
            for leg in list(port.sessions):
                port.close(leg)


class SipLegs:
    """One SIP agent's calls with the span call API the core uses (`Pbx.on_event(legs, ev)`)."""

    kind = "sip"
    in_service = False          # never hunted: the core places no calls here (yet)

    def __init__(self, calls, pool: RtpLegPool, span_id: int = FIRST_SIP_SPAN_ID):
        if span_id >= 0:
            raise ValueError(f"span id {span_id}: a SIP agent's pseudo span id must be negative")
        self.calls = calls
        self.pool = pool
        self.span_id = span_id
        self.media: dict[int, RtpLegMedia] = {}      # call id -> its RTP leg
        self.local: dict[int, AudioConfig] = {}      # call id -> what our SDP says
        self.trunks: dict[int, str | None] = {}      # call id -> the [[sip_trunk]] it came in on

    # -- what the core asks of a call's carrier ------------------------------------------------
    def leg_media(self, call_id: int) -> RtpLegMedia | None:
        return self.media.get(call_id)

    def trunk_name(self, call_id: int) -> str | None:
        return self.trunks.get(call_id)

    def endpoint(self, call_id: int) -> str:
        session = self.media[call_id].session if call_id in self.media else None
        where = f" RTP {session.local[1]}" if session is not None else ""
        return f"sip {self.trunks.get(call_id) or 'phone'} call {call_id}{where}"

    # -- the span call API ---------------------------------------------------------------------
    def proceed(self, call_id: int) -> None:
        self._do(self.calls.proceed, call_id)

    def alert(self, call_id: int, inband: bool = False) -> None:
        self._do(self.calls.alert, call_id, inband=inband, media=self.local.get(call_id))

    def progress(self, call_id: int, description: int = 8) -> None:
        self._do(self.calls.progress, call_id, description, media=self.local.get(call_id))

    def answer(self, call_id: int) -> None:
        self._do(self.calls.answer, call_id, media=self.local.get(call_id))

    def disconnect(self, call_id: int, cause: int = Cause.NORMAL_CLEARING) -> None:
        self._do(self.calls.disconnect, call_id, cause)

    def try_disconnect(self, call_id: int, cause: int) -> bool:
        return self.calls.try_disconnect(call_id, cause)

    @staticmethod
    def _do(method, *args, **kwargs) -> None:
        try:
            method(*args, **kwargs)
        except SipCallStateError as exc:     # the core catches the span's kind of refusal
            raise CallStateError(str(exc)) from None

    # -- legs --------------------------------------------------------------------------------------
    def open_leg(self, event: sip.IncomingCall) -> str | None:
        """The call's RTP leg on the caller's offer; None when open, else why not."""
        offer = event.offer
        if offer is None:
            return "the INVITE has no SDP offer (offers in the ACK are not taken)"
        try:
            session = self.pool.open((offer.remote_address, offer.remote_port), offer.codec,
                                     payload_type=offer.payload_type, dtmf_payload_type=offer.telephone_event_pt,
                                     ptime=offer.ptime)
        except RtpError as exc:
            return str(exc)
        self.media[event.call_id] = RtpLegMedia(session)
        self.local[event.call_id] = AudioConfig(self.pool.host, session.local[1], codecs=(offer.codec,),
                                                g729_annexb=offer.g729_annexb,
                                                telephone_event_pt=offer.telephone_event_pt, ptime=offer.ptime)
        self.trunks[event.call_id] = event.trunk
        return None

    def forget(self, call_id: int) -> None:
        """The call is over: its leg goes back (the core closed it already if it took it)."""
        media = self.media.pop(call_id, None)
        if media is not None:
            media.close()
        self.local.pop(call_id, None)
        self.trunks.pop(call_id, None)


class PbxSipHandler:
    """The `SipCalls` handler that gives its calls to the switching core."""

    def __init__(self, calls, pbx, pool: RtpLegPool, span_id: int = FIRST_SIP_SPAN_ID, *,
                 media_timeout: float | None = MEDIA_TIMEOUT):
        self.pbx = pbx
        self.legs = SipLegs(calls, pool, span_id)
        pbx.attach_span(self.legs)
        self.media_timeout = media_timeout
        self._heard: dict[int, tuple[int, float]] = {}    # call id -> (packets seen, when they last grew)
        self._watch = None
        clock = getattr(calls, "clock", None)
        if media_timeout and clock is not None:
            self._clock = clock
            self._watch = clock.call_later(media_timeout / 6, self._check_media)

    def _check_media(self) -> None:
        now = self._clock.now()
        self._watch = self._clock.call_later(self.media_timeout / 6, self._check_media)
        for call_id, media in list(self.legs.media.items()):
            try:
                stats = media.session.stats()
            except (RtpError, AttributeError):
                continue
            seen = stats["packets_received"] + stats["rtcp_received"]
            if stats["packets_received"] == 0:
                continue                    # no media yet (ringing, or a one-way call): not ours to judge
            last = self._heard.get(call_id)
            if last is None or seen != last[0]:
                self._heard[call_id] = (seen, now)
            elif now - last[1] >= self.media_timeout:
                log.warning("SIP call %d (%s): no RTP or RTCP for %.0f s: the far end is gone; clearing",
                            call_id, self.legs.endpoint(call_id), now - last[1])
                self._heard.pop(call_id, None)
                cause = Cause.RECOVERY_ON_TIMER_EXPIRY
                self.pbx.cleared_locally(self.legs.span_id, call_id, cause)
                self.legs.try_disconnect(call_id, cause)   # a BYE the dead far end will never answer
                # The core frees the caller's partner (the agent) and writes the record now, not
                # when the BYE's transaction gives up half a minute later (RFC 3261 timer F).
                self.pbx.on_event(self.legs, isdn.Released(now, call_id, cause))

    def on_event(self, event) -> None:
        legs = self.legs
        if isinstance(event, sip.IncomingCall):
            reason = legs.open_leg(event)
            if reason is not None:
                log.warning("SIP call %d from %s refused: %s", event.call_id, event.source[0], reason)
                legs.try_disconnect(event.call_id, Cause.BEARER_CAPABILITY_NOT_IMPLEMENTED
                                    if event.offer is None else Cause.RESOURCE_UNAVAILABLE)
                return
        elif isinstance(event, sip.DtmfDigit) and event.call_id in legs.media:
            legs.media[event.call_id].signalled(event.digit)      # SIP INFO: the IVR reads it as any digit
            return
        translated = _as_span_event(event)
        if isinstance(translated, isdn.IncomingCall):
            try:
                self.pbx.on_event(legs, translated)
            except Exception:       # a call the core could not take must not hang unanswered
                log.exception("SIP call %d: the PBX failed to take it: refused with cause 41", event.call_id)
                if (legs.span_id, event.call_id) not in self.pbx.active:
                    legs.try_disconnect(event.call_id, Cause.TEMPORARY_FAILURE)
        elif translated is not None:
            self.pbx.on_event(legs, translated)
        if isinstance(event, sip.Released):
            legs.forget(event.call_id)
            self._heard.pop(event.call_id, None)

    def cleared_locally(self, call_id: int, cause: int) -> None:
        self.pbx.cleared_locally(self.legs.span_id, call_id, cause)

    def describe_call(self, call_id: int) -> list[str]:
        return self.pbx.describe_call(self.legs.span_id, call_id)

    def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        self.pbx.close_span(self.legs)


def _as_span_event(event):
    """The ISDN stack's event for a SIP call event (same names and fields), or None for what
    the core does not take (trunk state, hold and resume: the bus has them)."""
    if isinstance(event, sip.IncomingCall):
        return isdn.IncomingCall(event.time, event.call_id, event.called, event.calling, event.redirecting,
                                 event.bearer, None, False, True, event.display, event.called_number,
                                 event.progress, event.law)
    if isinstance(event, sip.Alerting):
        return isdn.Alerting(event.time, event.call_id, event.inband)
    if isinstance(event, sip.Progress):
        return isdn.Progress(event.time, event.call_id, event.description)
    if isinstance(event, sip.Answered):
        return isdn.Answered(event.time, event.call_id, event.connected)
    if isinstance(event, sip.Disconnected):
        return isdn.Disconnected(event.time, event.call_id, event.cause, event.inband)
    if isinstance(event, sip.Released):
        return isdn.Released(event.time, event.call_id, event.cause)
    return None

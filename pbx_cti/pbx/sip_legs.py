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
import os
import socket
from dataclasses import replace
from typing import Callable

from dsp.rtp import SRTP_KEY_OCTETS, RtpError, RtpPort
from firmware.isdn.q931 import events as isdn
from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.link import CallStateError
from firmware.sip import events as sip
from firmware.sip.sdp import AudioConfig
from firmware.sip.useragent import SipCallStateError

from .media import RtpLegMedia
from .presence import PresenceRelay

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
                 started: Callable[[RtpPort], None] = lambda port: None, ntp_offset: float | None = None,
                 tos: int | None = None, priority: int | None = None):
        first, last = ports
        if first and (first % 2 or last < first):
            raise ValueError(f"RTP ports {first}..{last}: expected an even first port and last >= first")
        self.host = host
        self.ports = (first, last)
        self.now = now
        self.started = started
        self.ntp_offset = ntp_offset
        self.tos, self.priority = tos, priority      # every leg's marks: [qos] media_dscp, voice VLAN
        self.rtp_ports: list[RtpPort] = []
        self._next = first

    def open(self, remote: tuple[str, int], codec: str, *, payload_type: int | None = None,
             dtmf_payload_type: int | None = 101, ptime: int = 20, reserved: "PortReservation | None" = None):
        """A leg toward `remote`, bound on a free local port (or the `reserved` one, whose
        holding sockets are let go just before); raises RtpError when none is left."""
        port, leg = self._free_leg()
        if reserved is not None:
            reserved.release()
            return port.open(leg, (self.host, reserved.port), remote, codec, payload_type=payload_type,
                             dtmf_payload_type=dtmf_payload_type, ptime=ptime)
        first, last = self.ports
        tries = max(1, (last - first) // 2 + 1) if first else 1
        error: RtpError | None = None
        for _ in range(tries):
            local = (self.host, self._take_port())
            try:
                return port.open(leg, local, remote, codec, payload_type=payload_type,
                                 dtmf_payload_type=dtmf_payload_type, ptime=ptime, tos=self.tos,
                                 priority=self.priority)
            except RtpError as exc:
                error = exc            # that port is taken by someone else: try the next
        raise RtpError(f"no free RTP port in {first}..{last}: {error}")

    def reserve(self) -> "PortReservation":
        """A local RTP/RTCP port pair held (bound) for a call the box places: its number goes in
        our SDP offer before the far end's answer says where to send, and `open(reserved=)`
        takes it then.  Raises RtpError when no pair is free."""
        first, last = self.ports
        tries = max(1, (last - first) // 2 + 1) if first else 64
        error: OSError | None = None
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(tries):
            rtp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                rtp.bind((self.host, self._take_port()))
                number = rtp.getsockname()[1]
                if number % 2:
                    rtp.close()
                    continue
                rtcp = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    rtcp.bind((self.host, number + 1))
                except OSError:
                    rtcp.close()
                    raise
                return PortReservation(number, [rtp, rtcp])
            except OSError as exc:
                rtp.close()
                error = exc
        raise RtpError(f"no free RTP port pair in {first}..{last} to offer: {error}")

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


class PortReservation:
    """A local RTP port (and RTCP above it) held by bound sockets until the leg opens on it."""

    def __init__(self, port: int, sockets: list):
        self.port = port
        self._sockets = sockets

    def release(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets = []


def offered_codecs(law: str | None) -> tuple[str, ...]:
    """G.711 in the caller's law first, so a G.711 call passes through untranscoded."""
    return ("PCMU", "PCMA") if law == "ulaw" else ("PCMA", "PCMU")


class Fork:
    """One call the core placed to a phone, rung on each of its contacts: the first INVITE's
    call id stands for all of them."""

    def __init__(self, call_id: int, members: list[int]):
        self.call_id = call_id
        self.members = tuple(members)
        self.live = set(members)
        self.winner: int | None = None
        self.alerted = False
        self.causes: list[int] = []


class SipLegs:
    """One SIP agent's calls with the span call API the core uses (`Pbx.on_event(legs, ev)`)."""

    kind = "sip"
    in_service = False          # never hunted as a span: the core places SIP legs by `place`

    def __init__(self, calls, pool: RtpLegPool, span_id: int = FIRST_SIP_SPAN_ID):
        if span_id >= 0:
            raise ValueError(f"span id {span_id}: a SIP agent's pseudo span id must be negative")
        self.calls = calls
        self.pool = pool
        self.span_id = span_id
        self.media: dict[int, RtpLegMedia] = {}      # call id -> its RTP leg
        self.local: dict[int, AudioConfig] = {}      # call id -> what our SDP says
        self.trunks: dict[int, str | None] = {}      # call id -> the [[sip_trunk]] it came in on
        self.awaiting_answer: set[int] = set()       # late offers: legs waiting for the ACK's SDP
        self.reserved: dict[int, PortReservation] = {}  # call id we placed -> its offered port, until answered
        self.fork_of: dict[int, Fork] = {}          # each INVITE of a call rung on several contacts -> its fork

    # -- what the core asks of a call's carrier ------------------------------------------------
    def leg_media(self, call_id: int) -> RtpLegMedia | None:
        return self.media.get(call_id)

    def trunk_name(self, call_id: int) -> str | None:
        return self.trunks.get(call_id)

    def endpoint(self, call_id: int) -> str:
        session = self.media[call_id].session if call_id in self.media else None
        where = f" RTP {session.local[1]}" if session is not None else ""
        return f"sip {self.trunks.get(call_id) or 'phone'} call {call_id}{where}"

    def registered_phone(self, extension: str) -> str | None:
        """The address of record of `extension` when a registered contact answers for it now
        (a desk phone, a softphone, a browser: whatever registered as that user), else None."""
        registrar = getattr(self.calls.ua, "registrar", None)
        if registrar is None or not extension:
            return None
        now = self.calls.clock.now()
        for aor in registrar.aors():
            user = aor.split(":", 1)[-1].split("@", 1)[0]
            if user == extension and registrar.lookup(aor, now):
                return aor
        return None

    def has_trunk(self, name: str) -> bool:
        return name in self.calls.ua.trunks

    # -- the span call API ---------------------------------------------------------------------
    def place(self, called: str, *, trunk: str | None = None, phone: str | None = None, calling=None,
              redirecting=None, law: str | None = None) -> int:
        """An INVITE to a registered phone (its address of record) or out on a SIP trunk, with
        an SDP offer on a reserved local port (G.711 in `law` first); the call id.  Its RTP
        leg opens when the far end's answer (or early media) says where to send.  A phone with
        several contacts (a desk phone and a browser) is rung on all of them at once: the core
        sees one call, the first to answer takes it and the others are cancelled (`Fork`).
        Raises CallStateError (the span's kind of refusal) naming why it cannot be placed."""
        contacts = self._contacts(phone) if phone is not None else [None]
        placed, error = [], None
        for contact in contacts:
            try:
                placed.append(self._place_one(called, trunk, phone, contact, calling, redirecting, law))
            except CallStateError as exc:
                error = exc
        if not placed:
            raise error
        call_id = placed[0]
        self.media[call_id] = RtpLegMedia(None, law=law or "alaw")
        if len(placed) > 1:
            fork = Fork(call_id, placed)
            for one in placed:
                self.fork_of[one] = fork
        return call_id

    def _contacts(self, aor: str) -> list[str | None]:
        registrar = getattr(self.calls.ua, "registrar", None)
        bindings = registrar.lookup(aor, self.calls.clock.now()) if registrar is not None else []
        return [str(b.uri) for b in bindings] or [None]

    def _place_one(self, called, trunk, phone, contact, calling, redirecting, law) -> int:
        try:
            reservation = self.pool.reserve()
        except RtpError as exc:
            raise CallStateError(str(exc)) from None
        media = AudioConfig(self.pool.host, reservation.port, codecs=offered_codecs(law))
        extra = {"contact": contact} if contact is not None else {}
        try:
            call_id = self.calls.setup(called, trunk=trunk, phone=phone, calling=calling, redirecting=redirecting,
                                       media=media, **extra)
        except (SipCallStateError, ValueError) as exc:
            reservation.release()
            raise CallStateError(str(exc)) from None
        self.reserved[call_id] = reservation
        self.local[call_id] = media
        self.trunks[call_id] = trunk
        return call_id

    def as_placed(self, event):
        """A forked call's event as the core's one call sees it, or None to keep it from the
        core: the first ringing, the first answer (the other forks are cancelled then), and the
        end when the winner ends or, with no winner, when the last fork has ended (its cause
        the most telling: busy first)."""
        fork = self.fork_of.get(getattr(event, "call_id", None))
        if fork is None:
            return event
        one, group = event.call_id, fork.call_id
        if isinstance(event, (sip.Alerting, sip.Progress)):
            if fork.alerted or fork.winner is not None:
                return None
            fork.alerted = True
            return sip.Alerting(event.time, group, inband=False)     # forks' early media is not taken
        if isinstance(event, sip.Answered):
            if fork.winner is not None:
                return None
            fork.winner = one
            for other in fork.live - {one}:
                self.calls.try_disconnect(other, Cause.NON_SELECTED_USER_CLEARING)   # answered elsewhere
            return replace(event, call_id=group)
        if isinstance(event, (sip.DtmfDigit, sip.MediaChanged)):   # a re-INVITE moves the one leg
            return replace(event, call_id=group) if one == fork.winner else None
        if isinstance(event, sip.Disconnected):
            fork.causes.append(event.cause)
            if one == fork.winner or (fork.winner is None and fork.live == {one}):
                return replace(event, call_id=group)
            return None
        if isinstance(event, sip.Released):
            fork.live.discard(one)
            if one != group:
                self.forget(one)
            if one == fork.winner or (fork.winner is None and not fork.live):
                for member in fork.members:
                    self.fork_of.pop(member, None)
                cause = event.cause if one == fork.winner else \
                    (Cause.USER_BUSY if Cause.USER_BUSY in fork.causes else (fork.causes or [event.cause])[0])
                return sip.Released(event.time, group, cause)
            return None
        return None if one != group else event

    def placed_media_answered(self, call_id: int, negotiated) -> str | None:
        """`media_answered` for the fork that answered: its reserved port opens into the one
        call's leg."""
        fork = self.fork_of.get(call_id)
        if fork is None:
            return self.media_answered(call_id, negotiated)
        return self.media_answered(call_id, negotiated, into=fork.call_id)

    def media_answered(self, call_id: int, negotiated, into: int | None = None) -> str | None:
        """The far end of a call we placed said where its RTP goes: the leg opens on the port we
        offered (once; a later answer keeps it).  None when open, else why not."""
        if call_id not in self.reserved or negotiated is None:
            return None          # open already, or no SDP yet (a plain 180): still waiting
        reservation = self.reserved.pop(call_id)
        try:
            session = self.pool.open((negotiated.remote_address, negotiated.remote_port), negotiated.codec,
                                     payload_type=negotiated.payload_type,
                                     dtmf_payload_type=negotiated.telephone_event_pt, ptime=negotiated.ptime,
                                     reserved=reservation)
        except RtpError as exc:
            return str(exc)
        if negotiated.srtp_send_key is not None and negotiated.srtp_receive_key is not None:
            session.set_srtp(negotiated.srtp_send_key, negotiated.srtp_receive_key)   # SDES of our offer
        self.media[call_id if into is None else into].attach(session)
        return None

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
        fork = self.fork_of.get(call_id)
        if fork is not None and fork.call_id == call_id:
            cleared = [self.calls.try_disconnect(one, cause) for one in sorted(fork.live)]
            return any(cleared)
        return self.calls.try_disconnect(call_id, cause)

    @staticmethod
    def _do(method, *args, **kwargs) -> None:
        try:
            method(*args, **kwargs)
        except SipCallStateError as exc:     # the core catches the span's kind of refusal
            raise CallStateError(str(exc)) from None

    # -- legs --------------------------------------------------------------------------------------
    def open_leg(self, event: sip.IncomingCall) -> str | None:
        """The call's RTP leg on the caller's offer (or, for an INVITE without SDP, a leg that
        waits for the answer in the ACK); None when open, else why not."""
        offer = event.offer
        if offer is None:
            return self._open_late_offer_leg(event)
        try:
            session = self.pool.open((offer.remote_address, offer.remote_port), offer.codec,
                                     payload_type=offer.payload_type, dtmf_payload_type=offer.telephone_event_pt,
                                     ptime=offer.ptime)
        except RtpError as exc:
            return str(exc)
        self.media[event.call_id] = RtpLegMedia(session)
        self.local[event.call_id] = AudioConfig(self.pool.host, session.local[1], codecs=(offer.codec,),
                                                g729_annexb=offer.g729_annexb,
                                                telephone_event_pt=offer.telephone_event_pt, ptime=offer.ptime,
                                                **self._srtp_of(event, session, offer.srtp_receive_key))
        self.trunks[event.call_id] = event.trunk
        if offer.remote_holds:
            session.set_sending(False)
        return None

    def _srtp_of(self, event: sip.IncomingCall, session, their_key: bytes | None) -> dict:
        """SRTP for the call's leg when the caller offered it (SDES): our key, made here and put
        in our answer, and theirs, given to the C leg at once."""
        trunk = self.calls.ua.trunks.get(event.trunk) if event.trunk is not None else None
        mode = trunk.srtp if trunk is not None else self.calls.ua.phone_srtp
        if mode == "off":
            return {"srtp": "off", "srtp_key": None}
        ours = os.urandom(SRTP_KEY_OCTETS)
        if their_key is not None:
            session.set_srtp(ours, their_key)
        return {"srtp": mode, "srtp_key": ours}

    def _open_late_offer_leg(self, event: sip.IncomingCall) -> str | None:
        """An INVITE without SDP (a late offer, RFC 3261 §13.2.1): the box offers in its 200 one
        codec, the trunk's first, with telephone-event when the trunk's DTMF is RFC 4733, on a
        leg that sends nothing until the ACK's answer says where (media_changed)."""
        trunk = self.calls.ua.trunks.get(event.trunk) if event.trunk is not None else None
        codec = trunk.codecs[0] if trunk is not None else "PCMA"
        events = 101 if trunk is None or trunk.dtmf == "rfc4733" else None
        try:
            # connected to the discard port of the box's own address until the answer arrives
            session = self.pool.open((self.pool.host, 9), codec, dtmf_payload_type=events)
        except RtpError as exc:
            return str(exc)
        session.set_sending(False)
        self.media[event.call_id] = RtpLegMedia(session)
        self.local[event.call_id] = AudioConfig(self.pool.host, session.local[1], codecs=(codec,),
                                                telephone_event_pt=events, **self._srtp_of(event, session, None))
        self.trunks[event.call_id] = event.trunk
        self.awaiting_answer.add(event.call_id)
        return None

    def media_changed(self, event: sip.MediaChanged) -> None:
        """A re-INVITE, an UPDATE or the ACK's answer changed the far end's media: the RTP leg
        follows it to its new address and port, and stops sending while the far end holds
        (sendonly or inactive offered, or the old c=0.0.0.0) until it resumes."""
        leg = self.media.get(event.call_id)
        if leg is None or leg.session is None:
            return
        session, media = leg.session, event.media
        if media.codec != session.codec:
            log.warning("SIP call %d: the far end changed the codec to %s; the leg keeps %s", event.call_id,
                        media.codec, session.codec)
        holding = media.remote_holds
        if not holding and media.remote_port and (media.remote_address, media.remote_port) != tuple(session.remote):
            try:
                session.move((media.remote_address, media.remote_port))
                log.info("SIP call %d: RTP moved to %s:%d", event.call_id, media.remote_address, media.remote_port)
            except RtpError as exc:
                log.warning("SIP call %d: cannot move RTP to %s:%d: %s", event.call_id, media.remote_address,
                            media.remote_port, exc)
                return
        keys = (media.srtp_send_key, media.srtp_receive_key)
        if None not in keys and keys != session.srtp_keys:
            session.set_srtp(*keys)          # new keys in this exchange (same keys: the streams go on)
        self.awaiting_answer.discard(event.call_id)
        session.set_sending(not holding)

    def forget(self, call_id: int) -> None:
        """The call is over: its leg goes back (the core closed it already if it took it)."""
        media = self.media.pop(call_id, None)
        if media is not None:
            media.close()
        self.local.pop(call_id, None)
        self.trunks.pop(call_id, None)
        self.awaiting_answer.discard(call_id)
        reservation = self.reserved.pop(call_id, None)
        if reservation is not None:
            reservation.release()


class PbxSipHandler:
    """The `SipCalls` handler that gives its calls to the switching core."""

    def __init__(self, calls, pbx, pool: RtpLegPool, span_id: int = FIRST_SIP_SPAN_ID, *,
                 media_timeout: float | None = MEDIA_TIMEOUT):
        self.pbx = pbx
        self.legs = SipLegs(calls, pool, span_id)
        pbx.attach_span(self.legs)
        # The registrar's presence (on the bus it was given) as extensions the center knows.
        bus = getattr(calls, "bus", None)
        self.presence = PresenceRelay(bus) if bus is not None else None
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
        placed = legs.as_placed(event)
        if placed is None:
            return                  # a fork the core does not see (ringing twice, answered too late)
        if isinstance(placed, sip.DtmfDigit) and placed.call_id in legs.media:
            legs.media[placed.call_id].signalled(placed.digit)    # SIP INFO: the IVR reads it as any digit
            return
        if isinstance(placed, sip.MediaChanged):
            legs.media_changed(placed)                            # re-INVITE, hold, the late offer's answer
            return
        if placed is not event and isinstance(placed, sip.Answered):
            reason = legs.placed_media_answered(event.call_id, event.media)
            if reason is not None:
                log.warning("SIP call %d: its RTP leg cannot open: %s; cleared with cause 47", event.call_id, reason)
                legs.try_disconnect(placed.call_id, Cause.RESOURCE_UNAVAILABLE)
                return
            if event.call_id in legs.reserved:
                log.warning("SIP call %d answered without an SDP answer: cleared with cause 47", event.call_id)
                legs.try_disconnect(placed.call_id, Cause.RESOURCE_UNAVAILABLE)
                return
            event = placed
        elif placed is not event:
            event = placed
        elif isinstance(event, (sip.Alerting, sip.Progress, sip.Answered)) and event.call_id in legs.reserved:
            reason = legs.media_answered(event.call_id, event.media)
            if reason is not None:
                log.warning("SIP call %d: its RTP leg cannot open: %s; cleared with cause 47", event.call_id, reason)
                legs.try_disconnect(event.call_id, Cause.RESOURCE_UNAVAILABLE)
                return
            if isinstance(event, sip.Answered) and event.call_id in legs.reserved:
                log.warning("SIP call %d answered without an SDP answer: cleared with cause 47", event.call_id)
                legs.try_disconnect(event.call_id, Cause.RESOURCE_UNAVAILABLE)
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
        if self.presence is not None:
            self.presence.close()
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

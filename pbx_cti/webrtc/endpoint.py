"""The box's WebRTC endpoint: each logged-in agent's browser becomes a SIP phone of the box.

    endpoint = WebRtcEndpoint(EndpointConfig(registrar=("127.0.0.1", 5060), domain="127.0.0.1"),
                              password_of=lambda extension: secrets[extension])
    session = endpoint.open("lee", "2002", send=page_messages.append)
    answer_sdp = await session.start(offer_sdp)      # ICE (host candidates), DTLS-SRTP, G.711
    session.answer_call(); session.hang_up(); await session.close("browser gone")

A session terminates ICE, DTLS-SRTP and the browser's audio with aiortc and registers a SIP
contact for the agent's extension with the box's own registrar (digest, over loopback), so the
switching core rings it like any IP phone.  The audio is relayed as plain RTP to the box's RTP
leg (relay.py) in the trunk's G.711 law, the only codec negotiated with the browser.

What the page hears about (`send` gets JSON-able dicts): registered / unregistered, incoming
(caller, called), answered, ended (Q.850 cause), error.  A browser that goes away (its ICE
consent fails, its DTLS closes, its signalling socket closes) is handled as an IP phone that
fails: its call is cleared with cause 41 and its contact unregistered, so the core and the CTI
see the device go (the policy for the call and the agent's state is theirs).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from dataclasses import dataclass, field
from typing import Callable

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from firmware.sip import events as sip_events
from firmware.sip.binding import SipCalls
from firmware.sip.dialog import LocalEndpoint
from firmware.sip.sdp import AudioConfig
from firmware.sip.trunks import SipTrunk
from firmware.sip.useragent import SipCallStateError, SipUserAgent
from runtime.bus import EventBus
from runtime.clock import LoopClock

from . import ice_guard
from .relay import RtpRelay

log = logging.getLogger("pribox.webrtc")

BOX = "box"                       # the name of the one "trunk" a session's user agent knows: the box
NORMAL_CLEARING, USER_BUSY, TEMPORARY_FAILURE = 16, 17, 41


@dataclass
class EndpointConfig:
    registrar: tuple[str, int]                 # the box's own SIP registrar (loopback)
    domain: str                                # the registrar's domain (the host of its AORs)
    host: str = "127.0.0.1"                    # where the sessions' SIP and RTP sockets bind
    ice_addresses: tuple[str, ...] = ("127.0.0.1",)   # host candidates offered to browsers
    codec: str = "PCMA"                        # the trunk's law: the only codec negotiated
    register_expires: int = 300


class SoftphoneError(Exception):
    """A page's request the session cannot do; the message says why (sent to the page)."""


_ICE_ADDRESSES: tuple[str, ...] = ()


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [a for a in _ICE_ADDRESSES if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


def use_ice_addresses(addresses: tuple[str, ...]) -> None:
    """Offer exactly these host candidates.  aioice lists the interfaces' addresses leaving out
    loopback, and takes no list of its own: a box that serves browsers on 127.0.0.1 (or on one
    chosen interface only) replaces its address lookup, for this process."""
    global _ICE_ADDRESSES
    _ICE_ADDRESSES = tuple(addresses)
    aioice.ice.get_host_addresses = _host_addresses


def _free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@dataclass
class EndpointCounters:
    sessions: int = 0
    calls: int = 0
    browsers_gone: int = 0
    refused_offers: int = 0


class WebRtcEndpoint:
    def __init__(self, config: EndpointConfig, password_of: Callable[[str], str | None],
                 bus: EventBus | None = None):
        if config.codec not in ("PCMA", "PCMU"):
            raise ValueError(f"[webrtc] codec: expected PCMA or PCMU (the trunk's G.711 law), got {config.codec!r}")
        self.config = config
        self.password_of = password_of
        self.bus = bus or EventBus()
        self.sessions: dict[str, SoftphoneSession] = {}     # agent -> its session
        self.counters = EndpointCounters()
        use_ice_addresses(config.ice_addresses)
        ice_guard.install()

    def dropped(self) -> dict[str, int]:
        """Datagrams dropped at the ICE ports of this process, by reason (ice_guard.py)."""
        return dict(ice_guard.DROPPED)

    def open(self, agent: str, extension: str, send: Callable[[dict], None]) -> "SoftphoneSession":
        """A session for the agent's browser.  An older idle one of the same agent is closed (the
        newest page wins, as a phone re-registering replaces its binding); one with a call is
        kept and the new page refused, so a second tab never drops the agent's caller."""
        old = self.sessions.get(agent)
        if old is not None and old.call is not None:
            raise SoftphoneError(f"agent {agent!r} is in a call on the softphone of another page: "
                                 f"finish it there first")
        if old is not None:
            del self.sessions[agent]
            asyncio.ensure_future(old.close("replaced by a newer page", gone=False))
        session = SoftphoneSession(self, agent, extension, send)
        self.sessions[agent] = session
        self.counters.sessions += 1
        return session

    def forget(self, session: "SoftphoneSession") -> None:
        if self.sessions.get(session.agent) is session:
            del self.sessions[session.agent]

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            await session.close("endpoint stopping", gone=False)


@dataclass
class _Call:
    call_id: int
    caller: str
    called: str
    relay: RtpRelay
    state: str = "ringing"             # ringing, talking


class SoftphoneSession:
    def __init__(self, endpoint: WebRtcEndpoint, agent: str, extension: str, send: Callable[[dict], None]):
        self.endpoint, self.agent, self.extension, self._send = endpoint, agent, extension, send
        self.pc: RTCPeerConnection | None = None
        self.calls: SipCalls | None = None
        self.call: _Call | None = None
        self.relay: RtpRelay | None = None        # the relay the peer connection's sender is bound to
        self.registered = False
        self.closed = False
        self._browser_pt: int | None = None       # the browser's payload type for our codec

    # -- page -> box --------------------------------------------------------------------------
    async def start(self, offer_sdp: str) -> str:
        """The browser's offer -> our answer; the SIP contact registers once ICE and DTLS are up."""
        if self.pc is not None:
            raise SoftphoneError("this session already has a peer connection: open a new one to renegotiate")
        if not isinstance(offer_sdp, str) or "m=audio" not in offer_sdp:
            self.endpoint.counters.refused_offers += 1
            raise SoftphoneError("the offer has no audio stream (m=audio)")
        config = self.endpoint.config
        codec = config.codec
        self.relay = RtpRelay(codec)
        await self.relay.open(config.host)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = self.pc.addTransceiver(self.relay.track, direction="sendrecv")
        wanted = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType.lower() == f"audio/{codec.lower()}"]
        transceiver.setCodecPreferences(wanted)
        # The browser's RTP, once SRTP is removed, goes to the box's leg as it arrives: aiortc's
        # jitter buffer and decoder are left out (the leg has its own adaptive jitter buffer, and
        # G.711 needs no decoding to be relayed), so its octets reach the box untouched.
        transceiver.receiver._handle_rtp_packet = self._rtp_from_browser
        pc = self.pc
        pc.on("connectionstatechange", lambda: self._on_connection_state(pc))
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
        except Exception as exc:  # noqa: BLE001 -- aiortc raises many kinds on a broken SDP; each is the page's fault
            self.endpoint.counters.refused_offers += 1
            await self._drop_media()
            raise SoftphoneError(f"the offer could not be used: {type(exc).__name__}: {exc}") from None
        sdp = self.pc.localDescription.sdp
        found = re.search(rf"a=rtpmap:(\d+) {codec}/8000", sdp)
        self._browser_pt = int(found.group(1)) if found else None
        if found is None:
            self.endpoint.counters.refused_offers += 1
            await self._drop_media()
            raise SoftphoneError(f"the browser offered no {codec}/8000: the box carries G.711 in the trunk's law "
                                 f"and transcodes nothing")
        return sdp

    async def _drop_media(self) -> None:
        """A refused offer leaves nothing open; the page may offer again."""
        pc, relay, self.pc, self.relay = self.pc, self.relay, None, None
        if pc is not None:
            await pc.close()
        if relay is not None:
            relay.close()

    def answer_call(self) -> None:
        call = self._need_call("answer", "ringing")
        audio = AudioConfig(call.relay.local[0], call.relay.local[1], codecs=(self.endpoint.config.codec,),
                            telephone_event_pt=None)
        try:
            self.calls.answer(call.call_id, media=audio)
        except SipCallStateError as exc:          # the caller gave up as the agent clicked
            raise SoftphoneError(f"answer: {exc}") from None
        call.state = "talking"
        call.relay.talking = True
        self.send({"type": "answered", "call": call.call_id})

    def reject_call(self) -> None:
        call = self._need_call("reject", "ringing")
        self.calls.try_disconnect(call.call_id, USER_BUSY)

    def hang_up(self) -> None:
        call = self._need_call("hang up", "ringing", "talking")
        self.calls.try_disconnect(call.call_id, NORMAL_CLEARING)

    def _need_call(self, what: str, *states: str) -> _Call:
        if self.call is None:
            raise SoftphoneError(f"{what}: no call on this softphone")
        if self.call.state not in states:
            raise SoftphoneError(f"{what}: the call is {self.call.state}")
        return self.call

    async def close(self, reason: str, *, gone: bool = True) -> None:
        """End the session: the call cleared (41 when the browser went away), the contact
        unregistered, the peer connection closed."""
        if self.closed:
            return
        self.closed = True
        if gone:
            self.endpoint.counters.browsers_gone += 1
            log.warning("softphone of agent %s (extension %s): %s", self.agent, self.extension, reason)
        self.endpoint.forget(self)
        if self.calls is not None:
            if self.call is not None:
                self.calls.try_disconnect(self.call.call_id, TEMPORARY_FAILURE if gone else NORMAL_CLEARING)
            if self.registered:
                try:
                    self.calls.unregister(BOX)
                except SipCallStateError:
                    pass
                for _ in range(20):           # the challenge and the answer, over loopback
                    if not self.registered:
                        break
                    await asyncio.sleep(0.025)
        if self.pc is not None:
            await self.pc.close()
        if self.relay is not None:
            self.relay.close()
        if self.calls is not None:
            await self.calls.stop()
        self.send({"type": "closed", "reason": reason})

    # -- aiortc ---------------------------------------------------------------------------------
    async def _rtp_from_browser(self, packet, arrival_time_ms: int = 0) -> None:
        if packet.payload_type != self._browser_pt:
            self.relay.counters["other_payload"] += 1
            return
        self.relay.forward(packet.sequence_number, packet.timestamp, packet.marker, packet.payload)

    async def _on_connection_state(self, pc: RTCPeerConnection) -> None:
        if pc is not self.pc:
            return                  # a peer connection dropped after a refused offer: not the browser
        state = pc.connectionState
        if state == "connected" and self.calls is None and not self.closed:
            await self._register()
        elif state in ("failed", "closed") and not self.closed:
            # ICE consent freshness failed (RFC 7675) or DTLS closed: the browser is gone.
            await self.close(f"the browser's connection {state}")

    # -- SIP toward the box -----------------------------------------------------------------------
    async def _register(self) -> None:
        config = self.endpoint.config
        password = self.endpoint.password_of(self.extension)
        if password is None:
            self.send({"type": "error", "error": f"extension {self.extension} has no SIP credentials on the box"})
            return
        port = _free_udp_port(config.host)
        box_host, box_port = config.registrar
        trunk = SipTrunk(name=BOX, host=box_host, port=box_port, username=self.extension, password=password,
                         register=True, expires=config.register_expires, codecs=(config.codec,), dtmf="inband",
                         keepalive=0, domain=config.domain)
        ua = SipUserAgent(LocalEndpoint(config.host, port), [trunk], user_agent="pribox-webrtc")
        self.calls = SipCalls(ua, clock=LoopClock(asyncio.get_running_loop()), bus=self.endpoint.bus)
        self.calls.handler = self
        await self.calls.start(config.host, port, tcp=False)

    def on_event(self, event) -> None:
        if isinstance(event, sip_events.TrunkRegistered):
            self.registered = event.registered
            self.send({"type": "registered" if event.registered else "unregistered", "extension": self.extension,
                       "detail": event.detail})
        elif isinstance(event, sip_events.IncomingCall):
            self._incoming(event)
        elif isinstance(event, sip_events.Disconnected):
            if self.call is not None and self.call.call_id == event.call_id:
                self.calls.try_disconnect(event.call_id, event.cause)
        elif isinstance(event, sip_events.Released):
            if self.call is not None and self.call.call_id == event.call_id:
                self._ended(event.cause)

    def cleared_locally(self, call_id: int, cause: int) -> None:
        pass      # Released follows and ends the call for the page

    def _incoming(self, event: sip_events.IncomingCall) -> None:
        if self.call is not None or self.closed:
            self.calls.try_disconnect(event.call_id, USER_BUSY)
            return
        offer = event.offer
        if offer is None or offer.codec != self.endpoint.config.codec:
            got = offer.codec if offer is not None else "no SDP"
            log.warning("softphone %s: call offered in %s, not %s: refused", self.extension, got, self.endpoint.config.codec)
            self.calls.try_disconnect(event.call_id, 88)     # incompatible destination (488)
            return
        self.relay.connect((offer.remote_address, offer.remote_port), offer.payload_type)
        caller = event.calling.digits if event.calling is not None else ""
        self.call = _Call(event.call_id, caller, event.called, self.relay)
        self.endpoint.counters.calls += 1
        self.calls.alert(event.call_id)
        self.send({"type": "incoming", "call": event.call_id, "caller": caller, "called": event.called})

    def _ended(self, cause: int) -> None:
        call, self.call = self.call, None
        self.relay.disconnect()                   # nothing from the old leg reaches the page, nor it
        self.send({"type": "ended", "call": call.call_id, "cause": cause})

    def send(self, message: dict) -> None:
        try:
            self._send(message)
        except Exception:   # noqa: BLE001 -- a page that cannot be told must not stop the call's signalling
            log.exception("softphone %s: message to the page failed", self.extension)

"""The box's PBX with SIP agents' phones, a SIP peer and (optionally) the carrier's PRI, on one
virtual clock: every SIP user agent's datagrams travel through the clock (tests/support/sip_pbx.py),
the RTP of every far end is a leg of one RtpPort on 127.0.0.1, all advanced in lockstep.

    rig = AgentRig(config, phones=("2001",), peer=True, pri=True)
    rig.run_until(lambda: rig.registered("2001"), 2.0)
    call = rig.carrier_call("2001")          # the 070 carrier calls over SIP
    call = rig.pri_call("0519990000")        # the carrier simulator calls on span 1

Far ends (phones, the carrier, the peer) answer what the box sends them after `ring_seconds`
with an RTP leg, or refuse it with `refuse_cause` (a Q.850 cause, sent as its RFC 3398 status).
"""

from __future__ import annotations

import itertools

from drivers.lockstep import LockstepLine
from dsp.rtp import RtpPort
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.stack import PriStack
from firmware.sip import events as sip
from firmware.sip.dialog import LocalEndpoint
from firmware.sip.digest import DigestChallenger
from firmware.sip.registrar import Registrar
from firmware.sip.sdp import AudioConfig
from firmware.sip.trunks import SipTrunk, trunks_from_config
from firmware.sip.useragent import SipCallStateError, SipUserAgent
from hil_tests.carrier import StackCarrier
from pbx_cti.pbx.core import Pbx, PbxSpanHandler
from pbx_cti.pbx.service import build_plan
from pbx_cti.pbx.sip_legs import PbxSipHandler, RtpLegPool
from runtime.bus import Event, EventBus
from runtime.clock import ManualClock
from tests.support.sip_pbx import BOX, CARRIER, free_even_port, virtual_calls

PEER = ("127.0.0.4", 5060)
PASSWORDS = {"2001": "secret-2001", "2002": "secret-2002"}

PEER_TRUNK = '''
[[sip_trunk]]
name = "peer"
host = "127.0.0.4"
keepalive = 0
caller_header = "pai"
'''


class FarCall:
    """One call at a far end: its events and, once media is agreed, its RTP leg."""

    def __init__(self, end: "FarEnd", call_id: int, media: AudioConfig, leg: int):
        self.end, self.id, self.media, self.leg_no = end, call_id, media, leg
        self.events: list = []
        self.leg = None
        self.incoming: sip.IncomingCall | None = None

    @property
    def answered(self) -> bool:
        return any(isinstance(e, sip.Answered) for e in self.events) or \
            (self.incoming is not None and self.leg is not None)

    @property
    def released(self) -> sip.Released | None:
        return next((e for e in self.events if isinstance(e, sip.Released)), None)

    def open_leg(self, negotiated) -> None:
        if self.leg is None and negotiated is not None:
            self.leg = self.end.rig.far_rtp.open(self.leg_no, ("127.0.0.1", self.media.port),
                                                 (negotiated.remote_address, negotiated.remote_port),
                                                 negotiated.codec, payload_type=negotiated.payload_type,
                                                 dtmf_payload_type=negotiated.telephone_event_pt)

    def hang_up(self, cause: int = 16) -> None:
        self.end.calls.try_disconnect(self.id, cause)


class FarEnd:
    """A SIP user agent at a far end: places calls to the box, takes the box's calls."""

    def __init__(self, rig: "AgentRig", ua: SipUserAgent, codecs=("PCMA", "PCMU")):
        self.rig, self.codecs = rig, codecs
        self.calls = virtual_calls(ua, rig.clock, rig.bus, rig.network)
        self.calls.handler = self
        self.by_id: dict[int, FarCall] = {}
        self.ring_seconds = 1.0
        self.refuse_cause: int | None = None

    def _new(self, call_id: int, media: AudioConfig) -> FarCall:
        call = FarCall(self, call_id, media, next(self.rig.legs) % RtpPort.LEGS)
        self.by_id[call_id] = call
        return call

    def call_box(self, called: str, calling: str = "0212345678", redirecting: str | None = None,
                 codec: str = "PCMA") -> FarCall:
        media = AudioConfig("127.0.0.1", free_even_port(), codecs=(codec,))
        pending = FarCall(self, 0, media, next(self.rig.legs) % RtpPort.LEGS)
        call_id = self.calls.setup(called, trunk="box", calling=calling, redirecting=redirecting, media=media)
        pending.id = call_id
        self.by_id[call_id] = pending
        return pending

    def on_event(self, event) -> None:
        if isinstance(event, sip.IncomingCall):
            media = AudioConfig("127.0.0.1", free_even_port(), codecs=self.codecs)
            call = self._new(event.call_id, media)
            call.incoming = event
            call.events.append(event)
            self.calls.proceed(event.call_id)
            if self.refuse_cause is not None:
                self.calls.disconnect(event.call_id, self.refuse_cause)
                return
            self.calls.alert(event.call_id)
            self.rig.clock.call_later(self.ring_seconds, lambda: self._answer(call))
            return
        call = self.by_id.get(getattr(event, "call_id", None))
        if call is None:
            return
        call.events.append(event)
        if isinstance(event, (sip.Answered, sip.Progress)) and call.incoming is None:
            call.open_leg(event.media)
        elif isinstance(event, sip.Released) and call.leg is not None:
            call.leg.close()

    def _answer(self, call: FarCall) -> None:
        if call.released is not None:
            return
        call.open_leg(call.incoming.offer)
        try:
            self.calls.answer(call.id, media=AudioConfig("127.0.0.1", call.media.port,
                                                         codecs=(call.incoming.offer.codec,)))
        except SipCallStateError:
            pass

    def of(self, kind) -> list:
        return [e for c in self.by_id.values() for e in c.events if isinstance(e, kind)]


class AgentRig:
    def __init__(self, config, *, phones=("2001",), peer: bool = False, pri: bool = False, unregistered=()):
        self.clock, self.bus = ManualClock(), EventBus()
        self.events: list[Event] = []
        self.bus.subscribe(Event, self.events.append)
        self.plan = build_plan(config, None)
        self.pbx = Pbx(lambda: self.plan, self.clock, self.bus)
        self.network: dict = {}
        self.legs = itertools.count()
        self.registrar = Registrar(("127.0.0.1",), DigestChallenger("127.0.0.1", algorithms=("MD5",)),
                                   PASSWORDS.get, bus=self.bus, min_expires=10)
        self.box = virtual_calls(SipUserAgent(LocalEndpoint(*BOX), trunks_from_config(config),
                                              registrar=self.registrar), self.clock, self.bus, self.network)
        self.pool = RtpLegPool("127.0.0.1", now=self.clock.now, ntp_offset=0.0)
        self.handler = PbxSipHandler(self.box, self.pbx, self.pool)
        self.box.handler = self.handler
        self.far_rtp = RtpPort(self.clock.now(), ntp_offset=0.0)
        self.carrier = FarEnd(self, SipUserAgent(LocalEndpoint(*CARRIER), [SipTrunk("box", *BOX, keepalive=0)]))
        self.phones: dict[str, FarEnd] = {}
        for n, extension in enumerate(phones):
            trunk = SipTrunk("box", *BOX, username=extension, password=PASSWORDS[extension],
                             register=extension not in unregistered, expires=60, keepalive=0)
            self.phones[extension] = FarEnd(self, SipUserAgent(LocalEndpoint(f"127.0.0.{10 + n}", 5060), [trunk]))
        self.peer = FarEnd(self, SipUserAgent(LocalEndpoint(*PEER), [SipTrunk("box", *BOX, keepalive=0)])) \
            if peer else None
        self.line = self.pri = None
        self.spans: list[IsdnSpan] = []
        if pri:
            self.line = LockstepLine(clock=self.clock, bus=self.bus, nt_config={"id": 2}, te_config={"id": 1}).open()
            box_span = IsdnSpan(self.line.te, PriStack("user"), clock=self.clock, bus=self.bus)
            box_span.handler = PbxSpanHandler(box_span, self.pbx)
            net = IsdnSpan(self.line.nt, PriStack("network"), clock=self.clock, bus=self.bus)
            self.pri = StackCarrier(net)
            self.spans = [box_span, net]
            for span in self.spans:
                span.start()
        self._tick()

    def _tick(self) -> None:
        now = self.clock.now()
        for port in self.pool.rtp_ports:
            port.advance(now)
        self.far_rtp.advance(now)
        self.clock.call_later(0.002, self._tick)

    def registered(self, extension: str) -> bool:
        return self.handler.legs.registered_phone(extension) is not None

    def up(self) -> None:
        self.run_until(lambda: all(self.registered(e) for e, p in self.phones.items()
                                   if p.calls.ua.trunks["box"].register)
                       and all(s.in_service for s in self.spans), 3.0)

    def run(self, seconds: float) -> None:
        self.run_until(lambda: False, seconds, raise_timeout=False)

    def run_until(self, condition, timeout: float, *, raise_timeout: bool = True) -> None:
        deadline = self.clock.now() + timeout
        while not condition():
            if self.clock.now() >= deadline:
                if raise_timeout:
                    raise TimeoutError(f"condition not met within {timeout} s")
                return
            self.clock.advance(0.002)

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def close(self) -> None:
        for span in self.spans:
            span.stop()
        if self.line is not None:
            self.line.close()
        self.pool.close()
        for leg in list(self.far_rtp.sessions):
            self.far_rtp.close(leg)

"""A carrier's SIP trunk calling the box's PBX on one virtual clock: two SIP user agents whose
datagrams travel through the clock (no SIP socket), the box's RTP legs from an `RtpLegPool`
and the carrier's RTP port on 127.0.0.1, all advanced in lockstep, and optionally the center's
PRI (span 3 the box, span 4 the agents' extensions answering and listening)."""

from __future__ import annotations

import socket

from drivers.lockstep import LockstepLine
from dsp.rtp import RtpPort
from firmware.isdn.answer import AnswerAndListen
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.stack import PriStack
from firmware.sip import events as sip
from firmware.sip.binding import SipCalls, _AgentAsLayer
from firmware.sip.dialog import LocalEndpoint
from firmware.sip.sdp import AudioConfig
from firmware.sip.trunks import SipTrunk, trunks_from_config
from firmware.sip.udp import SipUdpEndpoint
from firmware.sip.useragent import SipUserAgent
from pbx_cti.pbx.core import Pbx
from pbx_cti.pbx.service import build_plan
from pbx_cti.pbx.sip_legs import PbxSipHandler, RtpLegPool
from runtime.bus import Event, EventBus
from runtime.clock import ManualClock

BOX = ("127.0.0.1", 5060)
CARRIER = ("127.0.0.2", 5060)
ONE_WAY = 0.0005          # seconds a datagram takes on the virtual network

SIP070 = '''
[[sip_trunk]]
name = "sip070"
host = "127.0.0.2"
keepalive = 0
translation_in = "sip070-in"

[[translation_profile]]
name = "sip070-in"
called = "sip070-called"
calling = "to-national"
redirecting = "to-national"

[[translation_rule]]
name = "sip070-called"
[[translation_rule.rule]]
match = '/^07012345678$/'
replace = '/7000/'
set_type = "unknown"
'''


class VirtualUdp:
    """What SipUdpEndpoint sends on: datagrams reach the endpoint at the address on the clock."""

    def __init__(self, clock: ManualClock, network: dict, source: tuple[str, int]):
        self.clock, self.network, self.source = clock, network, source
        self.sent = 0

    def sendto(self, data: bytes, addr) -> None:
        self.sent += 1
        dest = self.network.get(tuple(addr[:2]))
        if dest is not None:
            self.clock.call_later(ONE_WAY, lambda: dest.datagram_received(data, self.source))

    def get_extra_info(self, name):
        return self.source if name == "sockname" else None

    def close(self) -> None:
        pass


def virtual_calls(ua: SipUserAgent, clock: ManualClock, bus: EventBus, network: dict) -> SipCalls:
    calls = SipCalls(ua, clock=clock, bus=bus)
    address = (ua.local.host, ua.local.port)
    calls.endpoint = SipUdpEndpoint(_AgentAsLayer(ua), calls._deliver, clock)
    calls.endpoint.transport = VirtualUdp(clock, network, address)
    network[address] = calls.endpoint
    ua.start(clock.now())
    calls._pump()
    return calls


def free_even_port(host: str = "127.0.0.1") -> int:
    """An even UDP port with its odd neighbour free now (for a far end's RTP offer)."""
    for _ in range(64):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        if port % 2 == 0:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtcp:
                    rtcp.bind((host, port + 1))
                return port
            except OSError:
                continue
    raise OSError("no free even UDP port")


class CarrierCall:
    """One call the carrier's trunk places toward the box, with its RTP leg once answered."""

    def __init__(self, rig: "SipPbx", called: str, calling: str, redirecting: str | None, codec: str):
        self.rig = rig
        self.codec = codec
        self.rtp_port = free_even_port()
        self.media = AudioConfig("127.0.0.1", self.rtp_port, codecs=(codec,))
        self.events: list = []
        self.leg = None
        self.id = rig.carrier.setup(called, trunk="box", calling=calling, redirecting=redirecting, media=self.media)
        rig.calls[self.id] = self

    @property
    def answered(self) -> bool:
        return self.leg is not None

    @property
    def released(self) -> sip.Released | None:
        return next((e for e in self.events if isinstance(e, sip.Released)), None)

    def on_event(self, event) -> None:
        self.events.append(event)
        if isinstance(event, sip.Answered):
            media = event.media
            self.leg = self.rig.carrier_rtp.open(self.id % RtpPort.LEGS, ("127.0.0.1", self.rtp_port),
                                                 (media.remote_address, media.remote_port), media.codec,
                                                 payload_type=media.payload_type,
                                                 dtmf_payload_type=media.telephone_event_pt)
        elif isinstance(event, sip.Released) and self.leg is not None:
            self.leg.close()

    def hang_up(self) -> None:
        self.rig.carrier.disconnect(self.id, 16)


class SipPbx:
    """The box's PBX with the 070 SIP trunk, a carrier user agent, and (center=True) the center's
    PRI whose extensions answer after `ring_seconds` and stay `phone_call_seconds`."""

    def __init__(self, config, *, center: bool = False, phone_call_seconds: float = 60.0):
        self.clock, self.bus = ManualClock(), EventBus()
        self.events: list[Event] = []
        self.bus.subscribe(Event, self.events.append)
        self.plan = build_plan(config, None)
        self.pbx = Pbx(lambda: self.plan, self.clock, self.bus)
        network: dict = {}
        self.box = virtual_calls(SipUserAgent(LocalEndpoint(*BOX), trunks_from_config(config)),
                                 self.clock, self.bus, network)
        self.carrier = virtual_calls(SipUserAgent(LocalEndpoint(*CARRIER),
                                                  [SipTrunk("box", *BOX, keepalive=0)]),
                                     self.clock, self.bus, network)
        self.pool = RtpLegPool("127.0.0.1", now=self.clock.now, ntp_offset=0.0)
        self.box.handler = PbxSipHandler(self.box, self.pbx, self.pool)
        self.carrier_rtp = RtpPort(self.clock.now(), ntp_offset=0.0)
        self.calls: dict[int, CarrierCall] = {}
        self.carrier.handler = self
        self.stacks: list[IsdnSpan] = []
        self.line = None
        if center:
            self.line = LockstepLine(clock=self.clock, bus=self.bus, nt_config={"id": 3}, te_config={"id": 4}).open()
            box_center = IsdnSpan(self.line.nt, PriStack("network"), clock=self.clock, bus=self.bus)
            from pbx_cti.pbx.core import PbxSpanHandler
            box_center.handler = PbxSpanHandler(box_center, self.pbx)
            self.phone = IsdnSpan(self.line.te, PriStack("user"), clock=self.clock, bus=self.bus)
            self.phone.handler = AnswerAndListen(self.phone, ring_seconds=1.0, max_call_seconds=phone_call_seconds)
            self.stacks = [box_center, self.phone]
            for isdn in self.stacks:
                isdn.start()
        self._tick()

    def _tick(self) -> None:
        now = self.clock.now()
        for port in self.pool.rtp_ports:
            port.advance(now)
        self.carrier_rtp.advance(now)
        self.clock.call_later(0.002, self._tick)

    def on_event(self, event) -> None:          # the carrier's SipCalls handler
        call = self.calls.get(getattr(event, "call_id", None))
        if call is not None:
            call.on_event(event)

    def place_call(self, called: str = "07012345678", calling: str = "0212345678",
                   redirecting: str | None = None, codec: str = "PCMA") -> CarrierCall:
        return CarrierCall(self, called, calling, redirecting, codec)

    def up(self) -> None:
        if self.stacks:
            self.run_until(lambda: all(s.in_service for s in self.stacks), 3.0)

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
        for isdn in self.stacks:
            isdn.stop()
        if self.line is not None:
            self.line.close()
        self.pool.close()
        for leg in list(self.carrier_rtp.sessions):
            self.carrier_rtp.close(leg)

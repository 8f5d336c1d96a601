"""The daemon's `sip` service: the box's SIP user agent on UDP (and TCP) at `[sip] address:port`
with the `[[sip_trunk]]`s, an RTP leg pool on `[sip] rtp_port_min..rtp_port_max` whose ports the
line thread runs beside the spans (or the loop, when the spans are paced from it), and, with
`[sip] handler = "pbx"`, the trunks' calls handed to the one switching core (sip_legs.py).

A change of `[sip]` or `[[sip_trunk]]` restarts this service only: its calls are cleared with
cause 41 (the sockets and legs go), the spans' calls are untouched.
"""

from __future__ import annotations

import asyncio
import logging

from drivers.realtime import LineThreadPacer
from dsp.capture_tap import CaptureTap
from firmware.capture import console as capture
from firmware.config.sections.network import voice_priority
from firmware.qos.dscp import mark_socket
from firmware.appliance.services import BOX_SERVICES, Health, Service, ServiceContext, StopReason
from firmware.isdn.q931.causes import Cause
from firmware.sip import events as sip_events
from firmware.sip.binding import SipCalls
from firmware.sip.dialog import LocalEndpoint
from firmware.sip.digest import DigestChallenger
from firmware.sip.registrar import Registrar
from firmware.sip.tls import tls_settings
from firmware.sip.trunks import trunks_from_config
from firmware.sip.useragent import SipUserAgent
from runtime.clock import TimerHandle

from . import sip_console as _console  # noqa: F401  (registers `show sip calls`)
from .service import core_for
from .sip_legs import PbxSipHandler, RtpLegPool

log = logging.getLogger("pribox.sip")

LOOP_RTP_PERIOD = 0.005     # RTP ports advanced from the loop when no line thread runs
STOP_GRACE = 1.5            # seconds for the BYEs of cleared calls to be answered


class _CoreReady:
    """The PBX handler, but a call that arrives while the pbx service has no plan loaded is
    refused with cause 41 (503), so the carrier tries again or elsewhere."""

    def __init__(self, handler: PbxSipHandler, ctx: ServiceContext):
        self.handler, self.ctx = handler, ctx

    def on_event(self, event) -> None:
        if isinstance(event, sip_events.IncomingCall):
            pbx = self.ctx.peer("pbx")
            if pbx is None or pbx.core is None:
                log.error("SIP call %d: the pbx service is not running: refused with cause 41", event.call_id)
                self.handler.legs.try_disconnect(event.call_id, Cause.TEMPORARY_FAILURE)
                return
        self.handler.on_event(event)

    def cleared_locally(self, call_id: int, cause: int) -> None:
        self.handler.cleared_locally(call_id, cause)


class SipService(Service):
    name = "sip"

    def __init__(self, config):
        self.config = config
        self.calls: SipCalls | None = None
        self.pool: RtpLegPool | None = None
        self.handler: PbxSipHandler | None = None
        self.bound: int | None = None
        self._ctx: ServiceContext | None = None
        self._thread = None
        self._tick: TimerHandle | None = None
        # Every RTP port copies into this tap while a capture wants RTP (off otherwise).
        self.capture_tap: CaptureTap | None = None

    async def start(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        section = self.config.sip
        address = str(section.address)
        ua = SipUserAgent(LocalEndpoint(address, section.port), trunks_from_config(self.config),
                          registrar=phones_registrar(self.config, address, ctx.bus))
        ua.phone_srtp = section.phone_srtp
        tls = _tls_of(section)
        self.calls = SipCalls(ua, clock=ctx.clock, bus=ctx.bus)
        qos = getattr(self.config, "qos", None)
        network = getattr(self.config, "network", None)
        priority = voice_priority(network) if network is not None else None
        media_dscp = qos.media_dscp if qos is not None else 46
        self.pool = RtpLegPool(address, (section.rtp_port_min, section.rtp_port_max), now=ctx.clock.now,
                               started=self._run_port, tos=media_dscp << 2, priority=priority)
        if section.handler == "pbx":
            self.handler = PbxSipHandler(self.calls, core_for(ctx), self.pool)
            self.calls.handler = _CoreReady(self.handler, ctx)
        self.capture_tap = CaptureTap()
        capture.add_data_plane_tap(self.capture_tap)
        self.bound = await self.calls.start(address, section.port, tcp=section.tcp, tls=tls)
        self.calls.endpoint.trace = capture.sip_message
        signalling = self.calls.endpoint.transport.get_extra_info("socket")
        if signalling is not None:
            mark_socket(signalling, qos.signalling_dscp if qos is not None else 24, field="qos.signalling_dscp",
                        priority=priority)
        log.info("sip: listening on %s:%d (UDP%s%s), %d trunk(s), %d phone(s), RTP ports %d-%d, calls to %s", address,
                 self.bound, "+TCP" if section.tcp else "", f", TLS on {tls.port}" if tls is not None else "",
                 len(ua.trunks), len(getattr(self.config, "sip_phone", ())),
                 section.rtp_port_min, section.rtp_port_max, section.handler)

    def _run_port(self, port) -> None:
        """A new RTP port: the line thread runs it after the spans, or the loop does."""
        port.set_capture_tap(self.capture_tap)
        spans = self._ctx.peer("spans") if self._ctx is not None else None
        pacer = getattr(spans, "pacer", None)
        if isinstance(pacer, LineThreadPacer):
            pacer.thread.attach_rtp(port)
            self._thread = pacer.thread
        elif self._tick is None:
            self._tick = self._ctx.clock.call_later(LOOP_RTP_PERIOD, self._advance)

    def _advance(self) -> None:
        now = self._ctx.clock.now()
        for port in self.pool.rtp_ports:
            port.advance(now)
        self._tick = self._ctx.clock.call_later(LOOP_RTP_PERIOD, self._advance)

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def stop(self, reason: StopReason) -> None:
        if self.calls is not None:
            for call_id in list(self.calls.ua.calls):
                self.calls.try_disconnect(call_id, Cause.TEMPORARY_FAILURE)
            for _ in range(int(STOP_GRACE / 0.05)):
                if not self.calls.ua.calls:
                    break
                await asyncio.sleep(0.05)
            if self.handler is not None:
                self.handler.close()
            await self.calls.stop()
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        if self.pool is not None:
            if self._thread is not None:
                for port in self.pool.rtp_ports:
                    self._thread.detach_rtp(port)
            self.pool.close()
        if self.capture_tap is not None:
            capture.remove_data_plane_tap(self.capture_tap)

    def health(self) -> Health:
        if self.calls is None or self.bound is None:
            return Health(False, "not listening")
        up = [name for name in self.calls.ua.trunks if self.calls.trunk_up(name) is not False]
        registrar = self.calls.ua.registrar
        phones = "" if registrar is None else \
            f", phones registered: {sum(1 for p in registrar.presence(self.calls.clock.now()).values() if p.reachable)}"
        return Health(True, f"listening on {self.config.sip.address}:{self.bound}, {self.calls.active_calls()} "
                            f"call(s), {self.pool.legs_open()} RTP leg(s), trunks up: {', '.join(up) or 'none'}{phones}")


def phones_registrar(config, address: str, bus) -> Registrar | None:
    """The registrar of the `[[sip_phone]]`s (None without any): digest with MD5, which every
    phone answers (SIPp and older phones fail on a SHA-256 challenge); presence on the bus."""
    phones = {phone.extension: phone.password for phone in getattr(config, "sip_phone", None) or ()}
    if not phones:
        return None
    return Registrar((address,), DigestChallenger(address, algorithms=("MD5",)), phones.get, bus=bus)


def _tls_of(section):
    """The TLS listener's settings from [sip], or None; a file that cannot be used stops the
    service with the file named (SipTlsError)."""
    if not section.tls_port:
        return None
    return tls_settings(section.tls_port, str(section.tls_certificate), str(section.tls_key),
                        str(section.tls_ca) if section.tls_ca is not None else None)


def _sip_from_config(config) -> SipService | None:
    if not getattr(config, "sip_trunk", None) and not getattr(config, "sip_phone", None):
        return None
    return SipService(config)


BOX_SERVICES.add("sip", _sip_from_config, sections=("sip", "sip_trunk", "sip_phone"))

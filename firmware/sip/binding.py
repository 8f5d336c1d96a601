"""The SIP user agent on the one clock and the event bus, with UDP and TCP sockets: the SIP
counterpart of firmware/isdn/binding.py's IsdnSpan, which the PBX drives the same way.

    sip = SipCalls(SipUserAgent(LocalEndpoint("192.0.2.10", 5060), trunks, registrar=registrar),
                   clock=clock, bus=bus)
    sip.handler = pbx_handler                  # on_event(event) for every call event
    await sip.start("192.0.2.10", 5060)        # UDP, and TCP on the same port
    call_id = sip.setup("0212345678", trunk="sip070", calling="15881234", media=AudioConfig(...))
    sip.stop()

Each method takes `now` from the clock, acts on the user agent, then hands the resulting events
to the bus and the handler and sends what the agent queued, before it returns.  A method the
call's state does not allow raises SipCallStateError (a ValueError) naming the call and state.
"""

from __future__ import annotations

import logging

from runtime.bus import EventBus
from runtime.clock import Clock, LoopClock

from .tcp import SipTcpTransport
from .udp import SipUdpEndpoint, open_udp_endpoint
from .useragent import SipCallStateError, SipUserAgent

log = logging.getLogger("pribox.sip")

__all__ = ["SipCalls", "SipCallStateError"]


class _AgentAsLayer:
    """What the UDP/TCP adapters drive, backed by the user agent: they feed it messages, take
    its call events, send its datagrams and keep its next timer armed."""

    def __init__(self, ua: SipUserAgent):
        self.ua = ua

    def receive(self, message, source, now, transport="UDP") -> None:
        self.ua.receive(message, source, now, transport)

    def next_event(self):
        return self.ua.next_event()

    def datagrams_to_send(self, now=None):
        return self.ua.datagrams_to_send(now)

    def get_timer(self):
        return self.ua.get_timer()

    def handle_timer(self, now) -> None:
        self.ua.handle_timer(now)

    def transport_error(self, address, now) -> None:
        self.ua.layer.transport_error(address, now)
        self.ua.handle_timer(now)


class SipCalls:
    def __init__(self, ua: SipUserAgent, *, clock: Clock | None = None, bus: EventBus | None = None):
        self.ua = ua
        self.clock = clock or LoopClock()
        self.bus = bus or EventBus()
        self.handler = None
        self.endpoint: SipUdpEndpoint | None = None
        self.tcp: SipTcpTransport | None = None
        self.tls: SipTcpTransport | None = None
        self._dispatching = False
        self.faults = 0

    async def start(self, host: str, port: int, tcp: bool = True, tls=None) -> int:
        """Open the UDP socket (and a TCP listener on the same port) and start the trunks'
        keepalives and registrations; the UDP port (useful with port 0).  `tls`: a
        `TlsSettings` for a TLS listener and TLS connections to trunks."""
        self.endpoint = await open_udp_endpoint(host, port, _AgentAsLayer(self.ua), self._deliver, self.clock)
        bound = self.endpoint.transport.get_extra_info("sockname")[1]
        if tcp:
            self.tcp = SipTcpTransport(self.endpoint)
            await self.tcp.listen(host, bound)
        if tls is not None:
            self.tls = SipTcpTransport(self.endpoint, server_ssl=tls.server, client_ssl=tls.client)
            self.ua.local.tls_port = await self.tls.listen(host, tls.port)
        self.ua.start(self.clock.now())
        self._pump()
        return bound

    async def stop(self) -> None:
        if self.tcp is not None:
            await self.tcp.close()
        if self.tls is not None:
            await self.tls.close()
        if self.endpoint is not None:
            self.endpoint.close()

    def _deliver(self, event, now: float) -> None:
        self.bus.publish(event)
        if self.handler is not None:
            try:
                self.handler.on_event(event)
            except Exception:  # noqa: BLE001 -- one bad handler call must not stop signalling
                self.faults += 1
                log.exception("SIP call handler failed on %r", event)

    def _pump(self) -> None:
        """Events to the bus and the handler (whose actions queue more), then the datagrams out."""
        if self._dispatching or self.endpoint is None:
            return
        self._dispatching = True
        try:
            self.endpoint.pump()
        finally:
            self._dispatching = False

    def _do(self, method, *args, **kwargs):
        result = method(*args, **kwargs)
        self._pump()
        return result

    # -- the call API, `now` from the clock ---------------------------------------------------------
    def setup(self, called: str, **kwargs) -> int:
        return self._do(self.ua.setup, called, self.clock.now(), **kwargs)

    def proceed(self, call_id: int) -> None:
        self._do(self.ua.proceed, call_id, self.clock.now())

    def alert(self, call_id: int, **kwargs) -> None:
        self._do(self.ua.alert, call_id, self.clock.now(), **kwargs)

    def progress(self, call_id: int, description: int = 8, **kwargs) -> None:
        self._do(self.ua.progress, call_id, self.clock.now(), description, **kwargs)

    def answer(self, call_id: int, **kwargs) -> None:
        self._do(self.ua.answer, call_id, self.clock.now(), **kwargs)

    def disconnect(self, call_id: int, cause: int = 16, **kwargs) -> None:
        self._do(self.ua.disconnect, call_id, self.clock.now(), cause)
        # As IsdnSpan does: the handler learns the box cleared the call, and with which cause.
        cleared = getattr(self.handler, "cleared_locally", None)
        if cleared is not None:
            cleared(call_id, cause)

    def try_disconnect(self, call_id: int, cause: int) -> bool:
        try:
            self.disconnect(call_id, cause)
            return True
        except SipCallStateError:
            return False

    def hold(self, call_id: int) -> None:
        self._do(self.ua.hold, call_id, self.clock.now())

    def resume(self, call_id: int) -> None:
        self._do(self.ua.resume, call_id, self.clock.now())

    def send_dtmf(self, call_id: int, digit: str, duration_ms: int = 160) -> None:
        self._do(self.ua.send_dtmf, call_id, digit, self.clock.now(), duration_ms)

    def unregister(self, trunk: str) -> None:
        self._do(self.ua.unregister, trunk, self.clock.now())

    def law_of(self, call_id: int) -> str:
        return self.ua.law_of(call_id)

    def media_of(self, call_id: int):
        return self.ua.media_of(call_id)

    def active_calls(self) -> int:
        return self.ua.active_calls()

    def trunk_up(self, name: str) -> bool | None:
        return self.ua.trunk_up(name)

"""The thin asyncio UDP adapter around a TransactionLayer: datagrams in and out, the layer's
timer kept armed on the one clock, events handed to a transaction user.  No SIP logic here.
Messages the layer sends on a stream transport go to the connection `tcp.py` registered for
that address.  `trace`, when set, sees every message in and out as it crosses the socket
(`trace(data, local, remote, sent, transport)`: the box's packet captures)."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from runtime.clock import Clock, LoopClock, TimerHandle
from firmware.sip.transaction import TransactionLayer

log = logging.getLogger("pribox.sip.udp")


class SipUdpEndpoint(asyncio.DatagramProtocol):
    def __init__(self, layer: TransactionLayer, on_event: Callable[[object, float], None],
                 clock: Clock | None = None):
        self.layer = layer
        self.on_event = on_event
        self.clock = clock or LoopClock()
        self.transport: asyncio.DatagramTransport | None = None
        self._timer: TimerHandle | None = None
        self._timer_at: float | None = None
        # address -> callable writing bytes on that stream connection (filled by tcp.py)
        self.stream_senders: dict[tuple[str, int], Callable[[bytes], None]] = {}
        self.connect_stream: Callable[[tuple[str, int], bytes], None] | None = None
        # transport name -> its connector, for stream transports other than TCP (TLS)
        self.connectors: dict[str, Callable[[tuple[str, int], bytes], None]] = {}
        self.trace: Callable[[bytes, tuple, tuple, bool, str], None] | None = None
        self.local: tuple = ("0.0.0.0", 0)

    def connection_made(self, transport) -> None:
        self.transport = transport
        sockname = transport.get_extra_info("sockname")
        if sockname:
            self.local = (sockname[0], sockname[1])

    def datagram_received(self, data: bytes, addr) -> None:
        if self.trace is not None:
            self.trace(data, self.local, addr, False, "udp")
        self.layer.receive(data, (addr[0], addr[1]), self.clock.now(), "UDP")
        self.pump()

    def error_received(self, exc: Exception) -> None:
        # Linux reports ICMP unreachable on the socket without the address; the timers cope.
        log.warning("UDP error: %s", exc)

    def pump(self) -> None:
        """Hand events to the TU, send what the layer queued, re-arm the layer's timer."""
        now = self.clock.now()
        while (event := self.layer.next_event()) is not None:
            try:
                self.on_event(event, now)
            except Exception:  # noqa: BLE001 -- one bad TU call must not stop the endpoint
                log.exception("transaction user failed on %r", event)
        for data, addr, transport in self.layer.datagrams_to_send(now):
            if transport == "UDP":
                if self.transport is not None:
                    if self.trace is not None:
                        self.trace(data, self.local, addr, True, "udp")
                    self.transport.sendto(data, addr)
            elif addr in self.stream_senders:
                self.stream_senders[addr](data)
            elif (connector := self.connectors.get(transport, self.connect_stream if transport == "TCP" else None)):
                connector(addr, data)
            else:
                log.warning("no %s connection to %s:%s; message dropped", transport, *addr)
                self.layer.transport_error(addr, now)
        when = self.layer.get_timer()
        if when != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = when
            self._timer = self.clock.call_at(when, self._fire) if when is not None else None

    def _fire(self) -> None:
        self._timer, self._timer_at = None, None
        self.layer.handle_timer(self.clock.now())
        self.pump()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.transport is not None:
            self.transport.close()


async def open_udp_endpoint(host: str, port: int, layer: TransactionLayer,
                            on_event: Callable[[object, float], None],
                            clock: Clock | None = None) -> SipUdpEndpoint:
    loop = asyncio.get_running_loop()
    _, endpoint = await loop.create_datagram_endpoint(
        lambda: SipUdpEndpoint(layer, on_event, clock), local_addr=(host, port))
    return endpoint

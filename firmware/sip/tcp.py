"""The thin asyncio TCP side of the SIP adapter: a listener whose connections are framed by
`StreamParser` and fed to the same TransactionLayer as the UDP endpoint, and outgoing
connections opened on demand.  A connection that loses its framing (bad Content-Length) is
answered when possible and closed, as RFC 3261 §18.3 expects.  With SSL contexts the same
adapter is the TLS transport (RFC 3261 §26.3.1): its connections are TLS and their messages
reach the layer as transport "TLS"."""

from __future__ import annotations

import asyncio
import logging
import ssl

from firmware.sip.errors import SipError
from firmware.sip.message import StreamParser
from firmware.sip.udp import SipUdpEndpoint

log = logging.getLogger("pribox.sip.tcp")


class SipTcpTransport:
    def __init__(self, endpoint: SipUdpEndpoint, *, server_ssl: ssl.SSLContext | None = None,
                 client_ssl: ssl.SSLContext | None = None):
        self.endpoint = endpoint
        self.server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.server_ssl, self.client_ssl = server_ssl, client_ssl
        self.name = "TLS" if server_ssl is not None or client_ssl is not None else "TCP"
        if self.name == "TLS":
            endpoint.connectors["TLS"] = self._connect_and_send
        else:
            endpoint.connect_stream = self._connect_and_send
        self.handshake_failures = 0

    async def listen(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._serve, host, port, ssl=self.server_ssl)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._connection(reader, writer)

    def _sender(self, writer, addr: tuple[str, int]):
        """writer.write, with the bytes shown to the endpoint's trace (captures) first."""
        local = writer.get_extra_info("sockname") or ("0.0.0.0", 0)

        def send(data: bytes) -> None:
            if self.endpoint.trace is not None:
                self.endpoint.trace(data, (local[0], local[1]), addr, True, "tcp")
            writer.write(data)
        return send

    async def _connection(self, reader, writer) -> None:
        peer = writer.get_extra_info("peername")
        addr = (peer[0], peer[1])
        local = writer.get_extra_info("sockname") or ("0.0.0.0", 0)
        self.endpoint.stream_senders[addr] = self._sender(writer, addr)
        parser = StreamParser()
        try:
            while data := await reader.read(65536):
                if self.endpoint.trace is not None:
                    self.endpoint.trace(data, (local[0], local[1]), addr, False, "tcp")
                parser.feed(data)
                while (message := parser.next_message()) is not None:
                    clock = self.endpoint.clock
                    if isinstance(message, SipError):
                        # the layer answers it (400 with the reason) when a Via can be read
                        self.endpoint.layer.receive(message.raw, addr, clock.now(), self.name)
                        self.endpoint.pump()
                        if parser.broken:
                            return
                        continue
                    self.endpoint.layer.receive(message, addr, clock.now(), self.name)
                    self.endpoint.pump()
                if parser.broken:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            log.info("%s connection %s:%s ended: %s", self.name, *addr, exc)
        finally:
            self.endpoint.stream_senders.pop(addr, None)
            writer.close()

    def _connect_and_send(self, addr: tuple[str, int], data: bytes) -> None:
        async def connect() -> None:
            try:
                reader, writer = await asyncio.open_connection(*addr, ssl=self.client_ssl)
            except (OSError, ssl.SSLError) as exc:    # SSLError: the peer's certificate was refused
                log.warning("cannot connect to %s:%s over %s: %s", *addr, self.name, exc)
                self.endpoint.layer.transport_error(addr, self.endpoint.clock.now())
                self.endpoint.pump()
                return
            send = self.endpoint.stream_senders[addr] = self._sender(writer, addr)
            send(data)
            await self._connection(reader, writer)

        task = asyncio.get_running_loop().create_task(connect())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for task in list(self._tasks):
            task.cancel()

"""The asyncio adapters on loopback: timers re-armed on the loop's clock, malformed input
answered over UDP and TCP, TCP connections closed when their framing is lost."""

import asyncio
import socket

from runtime.clock import LoopClock, virtual_time_loop
from firmware.sip.message import make_response, parse_message
from firmware.sip.tcp import SipTcpTransport
from firmware.sip.transaction import RequestReceived, TransactionLayer
from firmware.sip.udp import open_udp_endpoint

INVITE = (b"INVITE sip:200@127.0.0.1 SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKadapter;rport\r\n"
          b"From: <sip:100@127.0.0.1>;tag=1\r\nTo: <sip:200@127.0.0.1>\r\nCall-ID: adapter-1\r\n"
          b"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:100@127.0.0.1>\r\n"
          b"Content-Length: 0\r\n\r\n")


def test_udp_endpoint_retransmits_on_timer_g_in_virtual_time():
    loop = virtual_time_loop()
    try:
        async def scenario():
            layer = TransactionLayer()

            def busy(event, now):
                if isinstance(event, RequestReceived) and event.transaction is not None:
                    layer.send_response(event.transaction, make_response(event.request, 486, to_tag="b"), now)

            endpoint = await open_udp_endpoint("127.0.0.1", 0, layer, busy, LoopClock())
            port = endpoint.transport.get_extra_info("sockname")[1]
            phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            phone.bind(("127.0.0.1", 0))
            phone.setblocking(False)
            phone.sendto(INVITE % phone.getsockname()[1], ("127.0.0.1", port))
            start = loop.time()
            await asyncio.sleep(4.0)   # virtual: G fires at 0.5, 1.5, 3.5
            got = []
            while True:
                try:
                    got.append(parse_message(phone.recv(65536)).status)
                except BlockingIOError:
                    break
            phone.close()
            endpoint.close()
            return got, loop.time() - start

        statuses, elapsed = loop.run_until_complete(scenario())
        assert statuses == [100, 486, 486, 486, 486] and elapsed >= 4.0
    finally:
        loop.close()


def test_tcp_malformed_message_is_answered_and_the_connection_closed():
    async def scenario():
        layer = TransactionLayer()
        endpoint = await open_udp_endpoint("127.0.0.1", 0, layer, lambda e, now: None)
        tcp = SipTcpTransport(endpoint)
        port = await tcp.listen("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(INVITE.replace(b"Content-Length: 0\r\n", b"") % 5060)
        answer = await asyncio.wait_for(reader.read(65536), 5)
        closed = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        await tcp.close()
        endpoint.close()
        return answer, closed

    answer, closed = asyncio.run(scenario())
    response = parse_message(answer)
    assert response.status == 400 and response.reason == "Bad Content-Length: missing on a stream transport"
    assert closed == b""


def test_udp_garbage_gets_400_with_reason():
    async def scenario():
        layer = TransactionLayer()
        endpoint = await open_udp_endpoint("127.0.0.1", 0, layer, lambda e, now: None)
        port = endpoint.transport.get_extra_info("sockname")[1]
        loop = asyncio.get_running_loop()
        received = loop.create_future()

        class Phone(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                received.set_result(data)

        transport, _ = await loop.create_datagram_endpoint(Phone, local_addr=("127.0.0.1", 0))
        own = transport.get_extra_info("sockname")[1]
        transport.sendto((INVITE % own).replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"), ("127.0.0.1", port))
        data = await asyncio.wait_for(received, 5)
        transport.close()
        endpoint.close()
        return data

    response = parse_message(asyncio.run(scenario()))
    assert response.status == 400 and response.reason.startswith("Bad CSeq: method 'BYE'")

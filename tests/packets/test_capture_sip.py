"""SIP as it crosses the box's sockets, into the running capture: the SIP adapter's trace hook
(firmware/sip/udp.py, tcp.py) hands every UDP datagram and TCP stream chunk to the console's
capture (`sip_message`), with the real addresses and ports, and tshark decodes SIP over both."""

import asyncio
import socket

from firmware.capture import console as capture_console
from firmware.capture.definition import parse_definition
from firmware.sip.message import make_response
from firmware.sip.tcp import SipTcpTransport
from firmware.sip.transaction import RequestReceived, TransactionLayer
from firmware.sip.udp import open_udp_endpoint
from hil_tests.packets.capture_file import read_capture
from tests.packets.test_capture import tshark
from tests.sip.test_sip_adapters import INVITE


def test_sip_over_udp_and_tcp_is_captured_both_ways_with_real_ports(tmp_path):
    control = capture_console._control
    control.define(parse_definition("sip"), None)
    path = control.start(tmp_path, None)

    async def scenario():
        layer = TransactionLayer()

        def busy(event, now):
            if isinstance(event, RequestReceived) and event.transaction is not None:
                layer.send_response(event.transaction, make_response(event.request, 486, to_tag="b"), now)

        endpoint = await open_udp_endpoint("127.0.0.1", 0, layer, busy)
        endpoint.trace = capture_console.sip_message
        tcp = SipTcpTransport(endpoint)
        tcp_port = await tcp.listen("127.0.0.1", 0)
        udp_port = endpoint.transport.get_extra_info("sockname")[1]
        phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        phone.bind(("127.0.0.1", 0))
        phone.sendto(INVITE % phone.getsockname()[1], ("127.0.0.1", udp_port))
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
        writer.write(INVITE.replace(b"adapter-1", b"adapter-2").replace(b"z9hG4bKadapter", b"z9hG4bKtcp")
                     .replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP") % writer.get_extra_info("sockname")[1])
        answered = b""
        while answered.count(b"SIP/2.0 ") < 2:
            answered += await asyncio.wait_for(reader.read(65536), 5)
        await asyncio.sleep(0.3)
        writer.close()
        await tcp.close()
        endpoint.close()
        phone.close()
        return udp_port, tcp_port

    try:
        udp_port, tcp_port = asyncio.run(scenario())
    finally:
        status = control.stop()
        control.define(None, None)
    assert status["dropped"] == 0
    packets = read_capture(path)
    udp = [p for p in packets if p.packet.proto == 17]
    tcp = [p for p in packets if p.packet.proto == 6]
    assert [p.outbound for p in udp[:3]] == [False, True, True]           # INVITE in, 100 and 486 out
    assert {p.packet.payload.dport for p in udp if not p.outbound} == {udp_port}
    assert tcp and {p.packet.payload.sport for p in tcp if p.outbound} == {tcp_port}
    assert tshark(path, "-Y", "_ws.malformed") == ""
    methods = tshark(path, "-T", "fields", "-e", "frame.protocols", "-e", "sip.Status-Code", "-e", "sip.Method")
    assert "tcp:sip" in methods and "udp:sip" in methods and "486" in methods and "INVITE" in methods

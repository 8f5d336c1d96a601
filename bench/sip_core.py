"""Benchmark: the sans-I/O SIP core: message parse/build rate, INVITE server transactions, and
whole calls (INVITE/100/180/200/ACK/BYE/200 between a UAC and a UAS stack, dialogs included).

A typical trunk INVITE (Via with rport, Record-Route, P-Asserted-Identity, Diversion, SDP with
PCMA/PCMU/G.729/telephone-event) is parsed with every header validated, and re-serialised.
A B2BUA call at 200 calls/s touches about 10 messages per leg per call (INVITE, 100, 180/183,
200, ACK, BYE, 200 on two legs), so the parse rate to compare with is ~4,000 messages/s.
The reference measured in the same run is the standard library's email header parser
(`email.parser.BytesHeaderParser`) on the same bytes, a parser that validates nothing.

The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import time
from email.parser import BytesHeaderParser

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from firmware.sip.message import make_response, parse_message  # noqa: E402
from firmware.sip.dialog import Dialog, LocalEndpoint  # noqa: E402
from firmware.sip.transaction import (RequestReceived, ResponseReceived,  # noqa: E402
                                      TransactionLayer)

INVITE = (
    b"INVITE sip:+4930555123@192.0.2.1:5060;user=phone SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK-524287-1---0d8a6c2b1f0e3a45;rport\r\n"
    b"Max-Forwards: 69\r\n"
    b"Record-Route: <sip:198.51.100.20;lr;ftag=as5f0e2a1b>\r\n"
    b'From: "070 Caller" <sip:+4970123456@carrier.example;user=phone>;tag=as5f0e2a1b\r\n'
    b"To: <sip:+4930555123@192.0.2.1;user=phone>\r\n"
    b"Call-ID: 4a7e3c1d52b26f5a0d4e2c3b1a6f7e8d@198.51.100.20\r\n"
    b"CSeq: 102 INVITE\r\n"
    b"Contact: <sip:+4970123456@198.51.100.20:5060;transport=udp>\r\n"
    b"P-Asserted-Identity: <sip:+4970123456@carrier.example;user=phone>\r\n"
    b"Diversion: <sip:+4930999888@carrier.example>;reason=unconditional;counter=1\r\n"
    b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, PRACK, UPDATE\r\n"
    b"Supported: replaces, timer, 100rel\r\n"
    b"Session-Expires: 1800\r\nMin-SE: 90\r\n"
    b"User-Agent: CarrierSBC 4.2\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 263\r\n\r\n"
    b"v=0\r\no=sbc 123456 654321 IN IP4 198.51.100.21\r\ns=SBC call\r\nc=IN IP4 198.51.100.21\r\n"
    b"t=0 0\r\nm=audio 31000 RTP/AVP 8 0 18 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n")


def rate(fn, seconds: float = 1.5) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            fn()
        count += 200
    return count / elapsed


def server_transactions(count: int = 20000) -> float:
    """INVITEs (distinct branches, 200 a second of virtual time) in through a transaction
    layer, answered 100 (automatic), 180 and 200, every datagram drained; each stays in
    Accepted for Timer L (32 s), so about 6,400 are alive at once."""
    layer = TransactionLayer()
    invites = [INVITE.replace(b"0d8a6c2b1f0e3a45", b"%016x" % i)
               .replace(b"Call-ID: 4a7e3c1d", b"Call-ID: %08x" % i) for i in range(count)]
    start = time.perf_counter()
    for i, data in enumerate(invites):
        now = i * 0.005
        layer.receive(data, ("198.51.100.20", 5060), now)
        event = layer.next_event()
        while not isinstance(event, RequestReceived):  # Timer L ends the oldest as time goes
            event = layer.next_event()
        while layer.next_event() is not None:
            pass
        layer.send_response(event.transaction, make_response(event.request, 180, to_tag="t"), now)
        layer.send_response(event.transaction, make_response(event.request, 200, to_tag="t"), now)
        layer.datagrams_to_send(now)
        layer.get_timer()
        layer.handle_timer(now)
    elapsed = time.perf_counter() - start
    assert 0 < layer.transaction_count < count   # 32 s of calls at 200/s stay alive
    return count / elapsed


def calls(count: int = 2000) -> float:
    """Complete calls between two in-memory stacks, one leg's signalling of a B2BUA call."""
    uac_addr, uas_addr = ("192.0.2.10", 5060), ("192.0.2.20", 5060)
    uac, uas = TransactionLayer(), TransactionLayer()
    box, phone = LocalEndpoint(*uac_addr, user="box"), LocalEndpoint(*uas_addr, user="200")
    template = parse_message(INVITE)

    def wire(now):
        moved = True
        while moved:
            moved = False
            for here, layer, there in ((uac_addr, uac, uas), (uas_addr, uas, uac)):
                for data, _, transport in layer.datagrams_to_send(now):
                    there.receive(data, here, now, transport)
                    moved = True

    def events(layer, kind):
        found = []
        while (event := layer.next_event()) is not None:
            if isinstance(event, kind):
                found.append(event)
        return found

    start = time.perf_counter()
    for i in range(count):
        now = i * 0.005
        invite = parse_message(INVITE)
        invite.set("Via", box.via())
        invite.set("Call-ID", f"bench-{i}@192.0.2.10")
        invite.set("Contact", box.contact())
        uac.send_request(invite, uas_addr, now)
        wire(now)
        incoming = events(uas, RequestReceived)[0]
        dialog_b = Dialog.as_uas(incoming.request, phone)
        uas.send_response(incoming.transaction, dialog_b.respond(incoming.request, 180), now)
        uas.send_response(incoming.transaction, dialog_b.respond(incoming.request, 200,
                                                                 body=template.body), now)
        wire(now)
        final = [e for e in events(uac, ResponseReceived) if e.response.status == 200][0]
        dialog_a = Dialog.as_uac(invite, final.response, box)
        uac.send_stateless(dialog_a.ack_for_2xx(invite), uas_addr)
        bye = dialog_a.new_request("BYE")
        uac.send_request(bye, uas_addr, now)
        wire(now)
        for event in events(uas, RequestReceived):
            if event.request.method == "BYE":
                dialog_b.on_request(event.request)
                uas.send_response(event.transaction, dialog_b.respond(event.request, 200), now)
        wire(now)
        events(uac, ResponseReceived)
        uac.handle_timer(now)
        uas.handle_timer(now)
    return count / (time.perf_counter() - start)


def main() -> None:
    msg = parse_message(INVITE)
    assert len(msg.body) == 263, len(msg.body)
    parse = rate(lambda: parse_message(INVITE))
    build = rate(msg.to_bytes)
    email = rate(lambda: BytesHeaderParser().parsebytes(INVITE))
    transactions = server_transactions()
    call_rate = calls()
    print(f"parse_message(INVITE): {parse:,.0f}/s; to_bytes: {build:,.0f}/s; "
          f"email header parser on the same bytes: {email:,.0f}/s; "
          f"INVITE server transactions (100/180/200, 200/s, ~6,400 alive): {transactions:,.0f}/s; "
          f"whole calls UAC<->UAS (7 messages, both stacks in this process): {call_rate:,.0f}/s")
    print(json.dumps({"sip_invite_parse_per_s": round(parse), "sip_invite_build_per_s": round(build),
                      "reference_email_header_parse_per_s": round(email),
                      "invite_server_transactions_per_s": round(transactions),
                      "signalling_calls_per_s_both_ends": round(call_rate),
                      "b2bua_calls_per_s_parse_bound": round(parse / 10)}))


if __name__ == "__main__":
    main()

"""Dialogs over two transaction layers: call set-up with reliable 183 + PRACK, session timers,
re-INVITE hold, UPDATE, BYE, CANCEL, glare, route sets, OPTIONS and REFER."""

import pytest

from runtime.clock import ManualClock
from firmware.sip.dialog import (Dialog, LocalEndpoint, ReliableProvisional, RSeqCounter,
                                 answer_options, dialog_id, negotiate_session_timer_uas,
                                 new_branch, parse_refer, retry_after_422, session_timer_from_2xx,
                                 sipfrag)
from firmware.sip.errors import SipError
from firmware.sip.message import Request, make_response, parse_message
from firmware.sip.sdp import AudioConfig, accept_answer, answer_offer, make_offer, parse_sdp
from firmware.sip.transaction import (RequestReceived, ResponseReceived, TransactionLayer)

A = ("192.0.2.10", 5060)   # the box as UAC (toward a trunk)
B = ("192.0.2.20", 5060)   # a phone as UAS


class Net:
    """Two transaction layers joined by a lossless wire, on one ManualClock."""

    def __init__(self):
        self.clock = ManualClock()
        self.layers = {A: TransactionLayer(), B: TransactionLayer()}
        self.inbox = {A: [], B: []}

    def flush(self):
        moved = True
        while moved:
            moved = False
            for here, layer in self.layers.items():
                for data, dest, transport in layer.datagrams_to_send(self.clock.now()):
                    self.layers[dest].receive(data, here, self.clock.now(), transport)
                    moved = True
                while (event := layer.next_event()) is not None:
                    self.inbox[here].append(event)

    def take(self, at, kind):
        self.flush()
        found = [e for e in self.inbox[at] if isinstance(e, kind)]
        self.inbox[at] = [e for e in self.inbox[at] if not isinstance(e, kind)]
        return found


def invite(extra=()):
    box = LocalEndpoint("192.0.2.10", 5060, user="box")
    offer = make_offer(AudioConfig("192.0.2.10", 40000), session_id=1)
    req = Request(method="INVITE", uri=parse_message(b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n").uri,
                  body=offer.to_bytes())
    req.uri.user, req.uri.host, req.uri.port = "200", "192.0.2.20", None
    req.add("Via", box.via())
    req.add("Max-Forwards", "70")
    req.add("From", '"Box" <sip:box@192.0.2.10>;tag=boxtag')
    req.add("To", "<sip:200@192.0.2.20>")
    req.add("Call-ID", "call-42@192.0.2.10")
    req.add("CSeq", "1 INVITE")
    req.add("Contact", box.contact())
    req.add("Supported", "100rel, timer")
    req.add("Session-Expires", "1800")
    req.add("Min-SE", "90")
    for name, value in extra:
        req.add(name, value)
    req.add("Content-Type", "application/sdp")
    return req, box, offer


def test_call_with_reliable_183_prack_session_timer_hold_update_and_bye():
    net = Net()
    req, box, offer = invite()
    phone = LocalEndpoint("192.0.2.20", 5060, user="200")
    client_tx = net.layers[A].send_request(req, B, 0.0)
    got = net.take(B, RequestReceived)[0]
    server_tx = got.transaction
    uas = Dialog.as_uas(got.request, phone)
    # 183 with SDP, sent reliably
    answer, neg = answer_offer(parse_sdp(got.request.body), AudioConfig("192.0.2.20", 50000), 9)
    early = RSeqCounter(start=1).reliable(uas.respond(got.request, 183, body=answer.to_bytes()))
    net.layers[B].send_response(server_tx, early, 0.0)
    pending = ReliableProvisional(early, 0.0)
    responses = net.take(A, ResponseReceived)
    assert [r.response.status for r in responses] == [100, 183]
    uac = Dialog.as_uac(req, responses[1].response, box)
    assert uac.state == "early" and uac.remote_target.host == "192.0.2.20"
    assert accept_answer(offer, parse_sdp(responses[1].response.body)).codec == "PCMA"
    # the 183 is retransmitted until the PRACK arrives
    assert pending.get_timer() == 0.5 and pending.handle_timer(0.5) is early
    prack = uac.prack_for(responses[1].response)
    assert prack.get("RAck") == "1 1 INVITE" and prack.cseq.number == 2
    assert uac.prack_for(responses[1].response) is None          # a retransmission: no new PRACK
    net.layers[A].send_request(prack, B, 0.6)
    prack_in = net.take(B, RequestReceived)[0]
    assert uas.on_request(prack_in.request) is None and pending.on_prack(prack_in.request)
    assert pending.get_timer() is None
    net.layers[B].send_response(prack_in.transaction, uas.respond(prack_in.request, 200), 0.6)
    assert net.take(A, ResponseReceived)[0].response.status == 200
    # 200 OK with the negotiated session timer
    timer, headers = negotiate_session_timer_uas(got.request)
    assert timer.interval == 1800 and timer.refresher == "uac" and not timer.we_refresh
    net.layers[B].send_response(server_tx, uas.respond(got.request, 200, headers=headers), 1.0)
    ok = net.take(A, ResponseReceived)[0].response
    assert ok.status == 200 and client_tx.state == "Accepted"   # RFC 6026, until Timer M
    uac.on_response(ok)
    assert uac.state == "confirmed" and uas.state == "confirmed"
    uac_timer = session_timer_from_2xx(ok)
    assert uac_timer.we_refresh and uac_timer.refresh_at(1.0) == 901.0
    assert uac_timer.expire_at(1.0) == 1.0 + 1800 - 32
    ack = uac.ack_for_2xx(req)
    assert ack.cseq.number == 1 and ack.cseq.method == "ACK" and ack.top_via.branch != req.top_via.branch
    net.layers[A].send_stateless(ack, B)
    ack_in = net.take(B, RequestReceived)[0]
    assert ack_in.transaction is None and ack_in.request.method == "ACK"
    assert dialog_id(ack_in.request, we_sent_it=False) == uas.id
    # re-INVITE to hold
    held = make_offer(AudioConfig("192.0.2.10", 40000), 1, version=2, direction="sendonly")
    reinvite = uac.new_request("INVITE", body=held.to_bytes())
    assert reinvite.cseq.number == 3 and reinvite.to.tag == uas.local_tag
    net.layers[A].send_request(reinvite, B, 2.0)
    re_in = net.take(B, RequestReceived)[0]
    assert uas.on_request(re_in.request) is None
    _, hold = answer_offer(parse_sdp(re_in.request.body), AudioConfig("192.0.2.20", 50000), 9, 2)
    assert hold.direction == "recvonly" and hold.remote_holds
    net.layers[B].send_response(re_in.transaction, uas.respond(re_in.request, 200), 2.0)
    for event in net.take(A, ResponseReceived):   # 100 Trying, then 200
        uac.on_response(event.response)
    assert not uac.invite_pending
    # UPDATE from the phone (refreshing the session), then BYE
    update = uas.new_request("UPDATE", headers=(("Session-Expires", "1800;refresher=uas"),))
    net.layers[B].send_request(update, A, 3.0)
    up_in = net.take(A, RequestReceived)[0]
    assert uac.on_request(up_in.request) is None and uac.remote_seq == update.cseq.number
    bye = uac.new_request("BYE")
    net.layers[A].send_request(bye, B, 4.0)
    bye_in = net.take(B, RequestReceived)[0]
    assert uas.on_request(bye_in.request) is None and uas.state == "terminated"


def test_cancel_before_answer():
    net = Net()
    req, box, _ = invite()
    client_tx = net.layers[A].send_request(req, B, 0.0)
    got = net.take(B, RequestReceived)[0]
    uas = Dialog.as_uas(got.request, LocalEndpoint("192.0.2.20"))
    net.layers[B].send_response(got.transaction, uas.respond(got.request, 180), 0.1)
    net.flush()
    cancel = client_tx.cancel_request()
    assert cancel.top_via.branch == req.top_via.branch and cancel.cseq.method == "CANCEL"
    net.layers[A].send_request(cancel, B, 0.2)
    cancel_in = net.take(B, RequestReceived)[0]
    assert cancel_in.cancels is got.transaction
    net.layers[B].send_response(cancel_in.transaction, make_response(cancel_in.request, 200), 0.2)
    net.layers[B].send_response(got.transaction, uas.respond(got.request, 487), 0.2)
    statuses = [r.response.status for r in net.take(A, ResponseReceived)]
    assert statuses == [100, 180, 200, 487]
    assert client_tx.state == "Completed" and got.transaction.state == "Confirmed"  # ACKed


def test_record_route_becomes_the_route_set_and_strict_routers_are_handled():
    req, box, _ = invite()
    ok = make_response(req, 200, to_tag="tt")
    ok.add("Record-Route", "<sip:p2.example.com;lr>")
    ok.add("Record-Route", "<sip:p1.example.com;lr>")
    ok.add("Contact", "<sip:200@192.0.2.20:5070>")
    uac = Dialog.as_uac(req, ok, box)
    assert uac.route_set == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    bye = uac.new_request("BYE")
    assert str(bye.uri) == "sip:200@192.0.2.20:5070"
    assert bye.get_all("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    uac.route_set = ["<sip:strict.example.com>"]
    strict = uac.new_request("BYE")
    assert str(strict.uri) == "sip:strict.example.com"
    assert strict.get_all("Route") == ["<sip:200@192.0.2.20:5070>"]


def test_the_uas_returns_the_record_route_of_the_invite_in_its_dialog_making_responses():
    req, _, _ = invite()
    req.add("Record-Route", "<sip:127.0.0.1:5060;lr>")
    req.add("Record-Route", "<sip:edge.example.com;lr>")
    uas = Dialog.as_uas(req, LocalEndpoint("192.0.2.20", 5060, user="200"))
    for status in (180, 183, 200):
        assert uas.respond(req, status).get_all("Record-Route") == ["<sip:127.0.0.1:5060;lr>",
                                                                    "<sip:edge.example.com;lr>"]
    assert uas.respond(req, 486).get_all("Record-Route") == []      # no dialog: nothing to route
    bye = uas.new_request("BYE")                                     # our BYE takes the proxies' path
    assert bye.get_all("Route") == ["<sip:127.0.0.1:5060;lr>", "<sip:edge.example.com;lr>"]


def test_a_sips_invite_over_tls_makes_a_secure_dialog_with_a_sips_contact():
    req, _, _ = invite()
    req.uri.scheme = "sips"
    tls = LocalEndpoint("192.0.2.20", 5060, transport="TLS", user="200", tls_port=5061)
    uas = Dialog.as_uas(req, tls)
    assert uas.secure
    assert uas.respond(req, 200).get("Contact") == "<sips:200@192.0.2.20:5061>"
    assert uas.new_request("BYE").get("Via").startswith("SIP/2.0/TLS 192.0.2.20:5061;")
    plain = Dialog.as_uas(req, LocalEndpoint("192.0.2.20", 5060, user="200"))    # sips over UDP: not secure
    assert not plain.secure and plain.respond(req, 200).get("Contact") == "<sip:200@192.0.2.20:5060>"


def test_glare_out_of_order_and_no_tag():
    req, box, _ = invite()
    ok = make_response(req, 200, to_tag="tt")
    ok.add("Contact", "<sip:200@192.0.2.20>")
    uac = Dialog.as_uac(req, ok, box)
    uac.remote_seq = 10
    uac.new_request("INVITE")                      # our re-INVITE is open...
    theirs = Request(method="INVITE", raw_uri="sip:box@192.0.2.10")
    theirs.headers = [("CSeq", "11 INVITE")]
    assert uac.on_request(theirs).status == 491    # ...so theirs meets 491
    theirs.headers = [("CSeq", "5 BYE")]
    theirs.method = "BYE"
    assert uac.on_request(theirs).status == 500
    with pytest.raises(SipError):
        Dialog.as_uac(req, make_response(req, 180), box)


def test_session_timer_too_small_and_retry():
    req, _, _ = invite()
    req.set("Session-Expires", "60")
    with pytest.raises(SipError) as info:
        negotiate_session_timer_uas(req, min_se=90)
    assert info.value.status == 422 and info.value.extra_headers == (("Min-SE", "90"),)
    rejection = make_response(req, 422)
    rejection.add("Min-SE", "90")
    retried = retry_after_422(req, rejection)
    assert negotiate_session_timer_uas(retried)[0].interval == 90
    plain, _, _ = invite()
    plain.remove("Session-Expires")
    plain.remove("Supported")
    assert negotiate_session_timer_uas(plain) == (None, ())
    wants, _, _ = invite()
    wants.remove("Session-Expires")
    timer, headers = negotiate_session_timer_uas(wants)
    assert timer.we_refresh and ("Require", "timer") in headers


def test_reliable_provisional_gives_up_after_64_t1():
    req, _, _ = invite()
    early = RSeqCounter(start=7).reliable(make_response(req, 183, to_tag="x"))
    pending = ReliableProvisional(early, 0.0, t1=0.5)
    sent = []
    while (when := pending.get_timer()) is not None:
        if pending.handle_timer(when) is not None:
            sent.append(when)
    assert sent == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5] and pending.failed
    wrong = Request(method="PRACK", raw_uri="sip:x@y", headers=[("RAck", "8 1 INVITE")])
    assert not ReliableProvisional(early, 0).on_prack(wrong)


def test_options_answer_lists_capabilities():
    opt = parse_message(b"OPTIONS sip:box@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKo\r\n"
                        b"From: <sip:k@lb>;tag=1\r\nTo: <sip:box@192.0.2.10>\r\nCall-ID: o1\r\n"
                        b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    answer = answer_options(opt)
    assert answer.status == 200 and answer.to.tag
    assert "INVITE" in answer.get("Allow") and "100rel" in answer.get("Supported")
    assert answer.get("Accept") == "application/sdp"


def test_refer_with_replaces_and_referred_by():
    refer = parse_message(
        b"REFER sip:200@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKr\r\n"
        b"From: <sip:box@x>;tag=1\r\nTo: <sip:200@y>;tag=2\r\nCall-ID: c\r\nCSeq: 5 REFER\r\n"
        b"r: <sip:300@192.0.2.30?Replaces=abc%40192.0.2.30%3Bto-tag%3D7%3Bfrom-tag%3D8>\r\n"
        b"b: <sip:box@x>\r\nContent-Length: 0\r\n\r\n")
    parsed = parse_refer(refer)
    assert parsed.target.uri.user == "300" and parsed.target.uri.headers == {}
    assert (parsed.replaces.call_id, parsed.replaces.to_tag, parsed.replaces.from_tag) == \
        ("abc@192.0.2.30", "7", "8")
    assert parsed.referred_by.uri.user == "box"
    blind = parse_message(refer.to_bytes().replace(b"?Replaces=abc%40192.0.2.30%3Bto-tag%3D7%3Bfrom-tag%3D8", b""))
    assert parse_refer(blind).replaces is None
    refer.remove("Refer-To")
    with pytest.raises(SipError) as info:
        parse_refer(refer)
    assert info.value.header == "Refer-To"
    assert sipfrag(200, "OK") == b"SIP/2.0 200 OK\r\n"
    assert new_branch().startswith("z9hG4bK")

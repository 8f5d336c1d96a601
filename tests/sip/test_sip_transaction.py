"""Transactions (RFC 3261 §17) on a ManualClock: every timer A-K (and L), UDP vs TCP, ACK for
non-2xx, matching, CANCEL, and response routing with received/rport (§18.2.2, RFC 3581)."""

import pytest

from runtime.clock import ManualClock
from firmware.sip.message import Request, make_response, parse_message
from firmware.sip.transaction import (MessageRejected, RequestReceived, ResponseReceived, Timers,
                                      TransactionLayer, TransactionTerminated, TransactionTimeout)

PHONE = ("192.0.2.50", 5062)


def request(method="INVITE", branch="z9hG4bKaaa", sent_by="192.0.2.50:5062", extra="", cseq=1):
    return parse_message(
        (f"{method} sip:bob@192.0.2.1 SIP/2.0\r\n"
         f"Via: SIP/2.0/UDP {sent_by};branch={branch}{extra}\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=ft\r\n"
         "To: <sip:bob@example.com>\r\nCall-ID: call-1@example.com\r\n"
         f"CSeq: {cseq} {method}\r\nRoute: <sip:proxy.example.com;lr>\r\n"
         "Content-Length: 0\r\n\r\n").encode())


class Harness:
    def __init__(self, t1=0.5, t2=4.0, t4=5.0, send_100=True):
        self.clock = ManualClock()
        self.layer = TransactionLayer(Timers(t1, t2, t4), send_100_trying=send_100)
        self.sent = []      # (time, message, addr)
        self.events = []

    def pump(self):
        for data, addr, _ in self.layer.datagrams_to_send(self.clock.now()):
            self.sent.append((self.clock.now(), parse_message(data), addr))
        while (event := self.layer.next_event()) is not None:
            self.events.append(event)

    def run_until(self, until):
        self.pump()
        while (when := self.layer.get_timer()) is not None and when <= until:
            self.clock.run_until(max(when, self.clock.now()))
            self.layer.handle_timer(self.clock.now())
            self.pump()
        self.clock.run_until(until)

    def receive(self, message, addr=PHONE, transport="UDP"):
        data = message if isinstance(message, bytes) else message.to_bytes()
        self.layer.receive(data, addr, self.clock.now(), transport)
        self.pump()

    def times(self, method=None, status=None):
        return [round(t, 3) for t, m, _ in self.sent
                if (method and getattr(m, "method", None) == method) or
                (status and getattr(m, "status", None) == status)]

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


def test_invite_client_timer_a_doubles_and_timer_b_times_out():
    h = Harness()
    tx = h.layer.send_request(request(), ("192.0.2.1", 5060), 0.0)
    h.run_until(40)
    assert h.times(method="INVITE") == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    timeouts = h.of(TransactionTimeout)
    assert len(timeouts) == 1 and timeouts[0].timer == "B" and tx.state == "Terminated"
    assert h.layer.transaction_count == 0


def test_t1_is_configurable():
    h = Harness(t1=0.1)
    h.layer.send_request(request(), ("192.0.2.1", 5060), 0.0)
    h.run_until(10)
    assert h.times(method="INVITE") == [0, 0.1, 0.3, 0.7, 1.5, 3.1, 6.3]
    assert h.clock.now() == 10 and h.of(TransactionTimeout)[0].timer == "B"


def test_invite_client_provisional_stops_retransmission_and_non2xx_is_acked():
    h = Harness()
    inv = request()
    tx = h.layer.send_request(inv, ("192.0.2.1", 5060), 0.0)
    h.run_until(0.7)
    h.receive(make_response(inv, 180, to_tag="tt"))
    h.run_until(100)   # in Proceeding there is no timeout at all
    assert h.times(method="INVITE") == [0, 0.5] and tx.state == "Proceeding"
    busy = make_response(inv, 486, to_tag="tt")
    h.receive(busy)
    acks = [m for _, m, _ in h.sent if getattr(m, "method", "") == "ACK"]
    assert len(acks) == 1 and tx.state == "Completed"
    ack = acks[0]
    assert ack.top_via.branch == "z9hG4bKaaa" and ack.cseq.method == "ACK" and ack.cseq.number == 1
    assert ack.to.tag == "tt" and str(ack.uri) == "sip:bob@192.0.2.1"
    assert ack.get("Route") == "<sip:proxy.example.com;lr>"
    h.receive(busy)    # retransmitted final response: ACK again, not passed up again
    assert len([m for _, m, _ in h.sent if getattr(m, "method", "") == "ACK"]) == 2
    assert [e.response.status for e in h.of(ResponseReceived)] == [180, 486]
    h.run_until(100 + 31.9)
    assert tx.state == "Completed"
    h.run_until(100 + 32.1)      # Timer D = 32 s on UDP
    assert tx.state == "Terminated"


def test_invite_client_over_tcp_has_no_timer_a_and_zero_timer_d():
    h = Harness()
    inv = request()
    tx = h.layer.send_request(inv, ("192.0.2.1", 5060), 0.0, transport="TCP")
    h.run_until(10)
    assert h.times(method="INVITE") == [0]
    h.receive(make_response(inv, 603, to_tag="x"), transport="TCP")
    h.run_until(10)
    assert tx.state == "Terminated"
    h2 = Harness()
    h2.layer.send_request(request(), ("192.0.2.1", 5060), 0.0, transport="TCP")
    h2.run_until(32.1)
    assert h2.of(TransactionTimeout)[0].timer == "B"


def test_invite_client_2xx_is_accepted_until_timer_m_and_retransmissions_reach_the_tu():
    h = Harness()
    inv = request()
    tx = h.layer.send_request(inv, ("192.0.2.1", 5060), 0.0)
    ok = make_response(inv, 200, to_tag="tt")
    h.receive(ok)
    assert tx.state == "Accepted"
    h.receive(ok)                            # a 2xx retransmission: to the TU, which re-ACKs
    h.run_until(31.9)
    assert tx.state == "Accepted"
    h.run_until(32.1)                        # Timer M = 64*T1 (RFC 6026)
    assert tx.state == "Terminated"
    h.receive(ok)                            # after that, a stray 2xx still reaches the TU
    received = h.of(ResponseReceived)
    assert [e.transaction is tx for e in received] == [True, True, False]
    assert h.times(method="INVITE") == [0]   # no retransmission once answered
    assert not any(getattr(m, "method", "") == "ACK" for _, m, _ in h.sent)  # the dialog ACKs 2xx


def test_non_invite_client_timer_e_caps_at_t2_and_f_times_out():
    h = Harness()
    h.layer.send_request(request("OPTIONS"), ("192.0.2.1", 5060), 0.0)
    h.run_until(40)
    assert h.times(method="OPTIONS") == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert h.of(TransactionTimeout)[0].timer == "F"


def test_non_invite_client_proceeding_retransmits_every_t2_then_k():
    h = Harness()
    reg = request("REGISTER")
    tx = h.layer.send_request(reg, ("192.0.2.1", 5060), 0.0)
    h.run_until(0.6)
    h.receive(make_response(reg, 100))
    h.run_until(9)
    # the E already due fires once more, then every T2
    assert h.times(method="REGISTER") == [0, 0.5, 1.5, 5.5]
    h.receive(make_response(reg, 200, to_tag="r"))
    assert tx.state == "Completed"
    h.run_until(9 + 4.9)
    assert tx.state == "Completed"
    h.run_until(9 + 5.1)  # Timer K = T4
    assert tx.state == "Terminated"
    tcp = Harness()
    tx = tcp.layer.send_request(reg, ("192.0.2.1", 5060), 0.0, transport="TCP")
    tcp.receive(make_response(reg, 200, to_tag="r"), transport="TCP")
    tcp.run_until(0)
    assert tx.state == "Terminated" and tcp.times(method="REGISTER") == [0]


def test_invite_server_100_retransmission_g_h():
    h = Harness()
    inv = request(extra=";rport")
    h.receive(inv, addr=("198.51.100.7", 40000))
    event = h.of(RequestReceived)[0]
    tx = event.transaction
    # 100 Trying went out at once, to the NAT's address and port (received + rport)
    assert h.sent[0][1].status == 100 and h.sent[0][2] == ("198.51.100.7", 40000)
    via = event.request.top_via
    assert via.params["received"] == "198.51.100.7" and via.params["rport"] == "40000"
    h.receive(inv, addr=("198.51.100.7", 40000))   # retransmission: the 100 again, no new event
    assert h.times(status=100) == [0, 0] and len(h.of(RequestReceived)) == 1
    h.layer.send_response(tx, make_response(event.request, 486, to_tag="s"), h.clock.now())
    h.run_until(40)
    assert h.times(status=486) == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert h.of(TransactionTimeout)[0].timer == "H" and tx.state == "Terminated"
    assert all(addr == ("198.51.100.7", 40000) for _, _, addr in h.sent)


def test_invite_server_ack_stops_g_and_timer_i_ends_it():
    h = Harness()
    inv = request()
    h.receive(inv)
    tx = h.of(RequestReceived)[0].transaction
    h.layer.send_response(tx, make_response(inv, 404, to_tag="s"), 0.0)
    h.run_until(1.0)
    ack = request("ACK")
    ack.set("To", "<sip:bob@example.com>;tag=s")
    h.receive(ack)
    assert tx.state == "Confirmed" and tx.ack_received
    assert len(h.of(RequestReceived)) == 1   # the ACK for a non-2xx stays in the transaction
    h.run_until(5.9)
    assert tx.state == "Confirmed" and h.times(status=404) == [0, 0.5]
    h.run_until(6.1)                          # Timer I = T4
    assert tx.state == "Terminated"


def test_invite_server_2xx_accepted_absorbs_retransmissions_and_passes_ack_up():
    h = Harness()
    inv = request()
    h.receive(inv)
    tx = h.of(RequestReceived)[0].transaction
    h.layer.send_response(tx, make_response(inv, 200, to_tag="s"), 0.0)
    h.receive(inv)
    assert len(h.of(RequestReceived)) == 1 and tx.state == "Accepted"
    ack = request("ACK", branch="z9hG4bKother")
    h.receive(ack)
    acks = [e for e in h.of(RequestReceived) if e.request.method == "ACK"]
    assert len(acks) == 1 and acks[0].transaction is None
    h.run_until(32.1)   # Timer L = 64*T1
    assert tx.state == "Terminated"


def test_non_invite_server_j_and_retransmissions():
    h = Harness()
    opt = request("OPTIONS")
    h.receive(opt)
    tx = h.of(RequestReceived)[0].transaction
    h.receive(opt)                     # Trying: absorbed silently
    assert h.sent == [] and len(h.of(RequestReceived)) == 1
    h.layer.send_response(tx, make_response(opt, 200, to_tag="o"), 0.0)
    h.receive(opt)                     # Completed: the final response again
    assert h.times(status=200) == [0, 0]
    h.run_until(31.9)
    assert tx.state == "Completed"
    h.run_until(32.1)                  # Timer J = 64*T1 on UDP
    assert tx.state == "Terminated"
    tcp = Harness()
    tcp.receive(opt, transport="TCP")
    tx = tcp.of(RequestReceived)[0].transaction
    tcp.layer.send_response(tx, make_response(opt, 200), 0.0)
    tcp.run_until(0)
    assert tx.state == "Terminated" and tcp.sent[0][2] == PHONE


def test_matching_by_branch_sent_by_and_method_and_cancel():
    h = Harness(send_100=False)
    h.receive(request())
    # same branch, other sent-by: not a retransmission but a new transaction (which, being
    # the same request by another path, is answered 482 as a merged request)
    h.receive(request(sent_by="192.0.2.51:5062"))
    h.receive(request("OPTIONS"))                              # same branch, other method
    assert len(h.of(RequestReceived)) == 2 and h.layer.merged == 1
    assert h.layer.transaction_count == 3
    invite_tx = h.of(RequestReceived)[0].transaction
    h.receive(request("CANCEL"))
    cancel = h.of(RequestReceived)[-1]
    assert cancel.request.method == "CANCEL" and cancel.cancels is invite_tx
    assert cancel.transaction is not invite_tx
    h.receive(request("CANCEL", branch="z9hG4bKnomatch"))
    assert h.of(RequestReceived)[-1].cancels is None


def test_rfc2543_requests_match_without_branch():
    h = Harness(send_100=False)
    old = request(branch="abc")
    h.receive(old)
    h.receive(old)
    assert len(h.of(RequestReceived)) == 1


@pytest.mark.parametrize("via_extra,source,expected", [
    ("", ("192.0.2.50", 5062), ("192.0.2.50", 5062)),               # sent-by as is
    ("", ("198.51.100.7", 40000), ("198.51.100.7", 5062)),          # received, sent-by port
    (";rport", ("198.51.100.7", 40000), ("198.51.100.7", 40000)),   # received and rport
])
def test_response_routing(via_extra, source, expected):
    h = Harness(send_100=False)
    opt = request("OPTIONS", extra=via_extra)
    h.receive(opt, addr=source)
    event = h.of(RequestReceived)[0]
    h.layer.send_response(event.transaction, make_response(event.request, 200), 0.0)
    h.pump()
    response = h.sent[-1][1]
    assert h.sent[-1][2] == expected
    assert response.top_via.params.get("received") == (None if source[0] == "192.0.2.50" else source[0])


def test_client_and_server_talk_to_each_other():
    uac, uas = Harness(), Harness()
    inv = request()
    tx = uac.layer.send_request(inv, ("192.0.2.1", 5060), 0.0)
    uac.pump()
    uas.receive(uac.sent[0][1].to_bytes(), addr=PHONE)
    server_tx = uas.of(RequestReceived)[0].transaction
    uas.layer.send_response(server_tx, make_response(uas.of(RequestReceived)[0].request, 480, to_tag="z"), 0)
    uas.pump()
    for _, message, _ in uas.sent:
        uac.receive(message.to_bytes(), addr=("192.0.2.1", 5060))
    uas.receive(uac.sent[-1][1].to_bytes())   # the ACK the client transaction built
    assert tx.state == "Completed" and server_tx.state == "Confirmed"


def test_malformed_request_answered_400_with_reason_and_event():
    h = Harness()
    bad = request().to_bytes().replace(b"proxy.example.com;lr>", b"proxy.example.com;lr")
    h.receive(bad)
    rejected = h.of(MessageRejected)
    assert rejected and rejected[0].answered and h.sent[0][1].status == 400
    assert h.sent[0][1].reason.startswith("Bad Route")
    h.receive(b"\r\n\r\n")  # keepalive: nothing at all
    h.receive(b"SIP/2.0 999999 nope\r\n\r\n")
    assert len(h.sent) == 1 and not h.of(MessageRejected)[-1].answered


def test_terminated_events_are_reported():
    h = Harness()
    h.layer.send_request(request("OPTIONS"), ("192.0.2.1", 5060), 0.0, transport="TCP")
    h.run_until(33)
    assert len(h.of(TransactionTerminated)) == 1


def test_transport_error_ends_the_transactions_toward_that_address():
    from firmware.sip.transaction import TransportFailed
    h = Harness()
    tx = h.layer.send_request(request("OPTIONS"), ("192.0.2.1", 5060), 0.0, transport="TCP")
    other = h.layer.send_request(request("OPTIONS", branch="z9hG4bKb"), ("192.0.2.2", 5060), 0.0)
    h.layer.transport_error(("192.0.2.1", 5060), 0.1)
    h.pump()
    failed = h.of(TransportFailed)
    assert [f.transaction for f in failed] == [tx] and tx.state == "Terminated"
    assert other.state == "Trying"


def test_merged_request_from_another_path_gets_482():
    h = Harness(send_100=False)
    h.receive(request())
    h.receive(request(branch="z9hG4bKviaother", sent_by="192.0.2.60:5060"), addr=("192.0.2.60", 5060))
    assert len(h.of(RequestReceived)) == 1 and h.layer.merged == 1
    assert h.sent[-1][1].status == 482 and h.sent[-1][2] == ("192.0.2.60", 5060)


def test_invite_server_over_tcp_has_no_timer_g_and_zero_timer_i():
    h = Harness()
    inv = request()
    h.receive(inv, transport="TCP")
    tx = h.of(RequestReceived)[0].transaction
    h.layer.send_response(tx, make_response(inv, 486, to_tag="s"), 0.0)
    h.run_until(5)
    assert h.times(status=486) == [0]          # no retransmission on a reliable transport
    ack = request("ACK")
    ack.set("To", "<sip:bob@example.com>;tag=s")
    h.receive(ack, transport="TCP")
    h.run_until(5)
    assert tx.state == "Terminated" and tx.ack_received   # Timer I = 0
    h2 = Harness()
    h2.receive(inv, transport="TCP")
    tx2 = h2.of(RequestReceived)[0].transaction
    h2.layer.send_response(tx2, make_response(inv, 486, to_tag="s"), 0.0)
    h2.run_until(32.1)                           # Timer H still guards the ACK on TCP
    assert h2.of(TransactionTimeout)[0].timer == "H"

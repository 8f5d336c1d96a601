"""Call flows of the SIP user agent on a virtual clock: two sans-I/O agents (the box and a
carrier, or a phone) exchange datagrams through tests/sip/uanet.py; every message they send is
on `net.wire` for the assertions about what went over SIP."""

import pytest

from firmware.sip import events as ev
from firmware.sip.dialog import LocalEndpoint
from firmware.sip.digest import DigestChallenger
from firmware.sip.message import parse_message
from firmware.sip.registrar import Registrar
from firmware.sip.sdp import parse_sdp
from firmware.sip.trunks import SipTrunk
from firmware.sip.useragent import SipCallStateError, SipUserAgent

from .uanet import BOX, CARRIER, Net, box_and_carrier, media


def call_in(net, box, carrier, **setup):
    """The carrier calls the box; (carrier's call id, box's IncomingCall)."""
    cid = carrier.setup(setup.pop("called", "15881234"), net.now, trunk="box", media=media(50000, "127.0.0.2"),
                        **setup)
    net.pump()
    incoming = net.take(box, ev.IncomingCall)
    assert len(incoming) == 1
    return cid, incoming[0]


def answered_call(net, box, carrier, **setup):
    cid, incoming = call_in(net, box, carrier, **setup)
    box.answer(incoming.call_id, net.now, media=media(40000))
    net.pump()
    assert net.take(carrier, ev.Answered)
    return cid, incoming.call_id


def statuses(net, source, method="INVITE"):
    return [m.status for m in net.messages(source=source) if hasattr(m, "status") and m.cseq.method == method]


def requests(net, source, method):
    return [m for m in net.messages(source=source) if getattr(m, "method", None) == method]


# -- incoming ---------------------------------------------------------------------------------

def test_incoming_call_with_diversion_early_media_answer_and_bye_from_the_carrier():
    net, box, carrier = box_and_carrier()
    redirecting = ev.Party("07012345678", reason=ev.REASON_BUSY)
    cid, incoming = call_in(net, box, carrier, calling="0212345678", redirecting=redirecting)
    assert incoming.called == "15881234" and incoming.trunk == "carrier" and incoming.phone is None
    assert incoming.calling.digits == "0212345678"
    assert incoming.redirecting.digits == "07012345678" and incoming.redirecting.reason == ev.REASON_BUSY
    assert incoming.offer.remote_address == "127.0.0.2" and incoming.offer.remote_port == 50000
    assert incoming.offer.codec == "PCMA" and incoming.law == "alaw"
    assert incoming.bearer == ev.Bearer(0, 3) and incoming.timeslot is None   # speech, A-law, no B-channel
    assert requests(net, CARRIER, "INVITE")[0].get("Diversion").endswith("reason=user-busy;counter=1")

    box.alert(incoming.call_id, net.now, inband=True, media=media(40000))
    net.pump()
    progress = net.take(carrier, ev.Progress)
    assert progress and progress[0].description == 8 and progress[0].media.remote_port == 40000
    early = [m for m in net.messages(source=BOX) if getattr(m, "status", 0) == 183][0]
    assert early.get("Require") == "100rel" and early.get("RSeq")   # the carrier said Supported: 100rel
    assert requests(net, CARRIER, "PRACK"), "the reliable 183 is PRACKed"

    box.answer(incoming.call_id, net.now)
    net.pump()
    answered = net.take(carrier, ev.Answered)[0]
    assert answered.media.remote_address == "127.0.0.1" and answered.media.codec == "PCMA"
    assert requests(net, CARRIER, "ACK")
    net.advance(40)      # the ACK came: our 200 is not sent again
    assert statuses(net, BOX).count(200) == 1

    carrier.disconnect(cid, net.now, cause=16)
    net.pump()
    assert [type(e) for e in net.take(box)] == [ev.Disconnected, ev.Released]
    assert net.take(carrier, ev.Released)[0].cause == 16
    assert requests(net, CARRIER, "BYE")[0].get("Reason").startswith("Q.850;cause=16")
    assert box.active_calls() == 0 and carrier.active_calls() == 0


def test_caller_from_p_asserted_identity_and_forwarding_from_history_info():
    net, box, carrier = box_and_carrier(box_trunk={"caller_header": "pai", "forwarding_header": "history-info"},
                                        carrier_trunk={"caller_header": "pai", "forwarding_header": "history-info",
                                                       "number_format": "e164"})
    calling = ev.Party("821012345678", ev.TON_INTERNATIONAL)
    redirecting = ev.Party("827012345678", ev.TON_INTERNATIONAL, reason=ev.REASON_NO_REPLY)
    _, incoming = call_in(net, box, carrier, calling=calling, redirecting=redirecting)
    invite = requests(net, CARRIER, "INVITE")[0]
    assert invite.get("P-Asserted-Identity").startswith("<sip:+821012345678@")
    assert [v.split(";index=")[1] for v in invite.get_all("History-Info")] == ["1", "1.1"]
    assert incoming.calling.digits == "821012345678" and incoming.calling.type_of_number == ev.TON_INTERNATIONAL
    assert incoming.called == "15881234" and incoming.called_number.type_of_number == ev.TON_UNKNOWN
    assert incoming.redirecting.digits == "827012345678" and incoming.redirecting.reason == ev.REASON_NO_REPLY


def test_restricted_caller_goes_out_anonymous_with_privacy_id():
    net, box, carrier = box_and_carrier(carrier_trunk={"caller_header": "pai"}, box_trunk={"caller_header": "pai"})
    hidden = ev.Party("0212345678", presentation=ev.PRESENTATION_RESTRICTED)
    _, incoming = call_in(net, box, carrier, calling=hidden)
    invite = requests(net, CARRIER, "INVITE")[0]
    assert "anonymous@anonymous.invalid" in invite.get("From") and invite.get("Privacy") == "id"
    assert incoming.calling.digits == "0212345678"
    assert incoming.calling.presentation == ev.PRESENTATION_RESTRICTED


def test_box_rejects_with_cause_1_as_404_and_the_caller_hears_cause_1():
    net, box, carrier = box_and_carrier()
    cid, incoming = call_in(net, box, carrier)
    box.disconnect(incoming.call_id, net.now, cause=1)
    net.pump()
    assert 404 in statuses(net, BOX)
    assert net.take(box) == [ev.Released(net.now, incoming.call_id, 1)]
    disconnected = net.take(carrier, ev.Disconnected)[0]
    assert disconnected.cause == 1 and disconnected.status == 404   # the Reason header carried 1


def test_caller_cancels_before_the_answer():
    net, box, carrier = box_and_carrier()
    cid, incoming = call_in(net, box, carrier)
    box.alert(incoming.call_id, net.now)
    net.pump()
    assert net.take(carrier, ev.Alerting)[0].inband is False
    carrier.disconnect(cid, net.now, cause=16)
    net.pump()
    assert requests(net, CARRIER, "CANCEL")
    assert 487 in statuses(net, BOX)
    got = net.take(box)
    assert [type(e) for e in got] == [ev.Disconnected, ev.Released] and got[0].cause == 16
    assert net.take(carrier, ev.Released)[0].cause == 16
    with pytest.raises(SipCallStateError, match="gone"):
        box.disconnect(incoming.call_id, net.now)


def test_cancel_waits_for_a_provisional_response():
    net, box, carrier = box_and_carrier()
    net.drop = lambda s, d, data: s == BOX          # the box is mute: no 100 Trying yet
    cid = carrier.setup("15881234", net.now, trunk="box", media=media(50000, "127.0.0.2"))
    net.pump()
    incoming = net.take(box, ev.IncomingCall)[0]
    carrier.disconnect(cid, net.now)
    net.pump()
    assert not requests(net, CARRIER, "CANCEL")       # RFC 3261 §9.1
    net.drop = None
    box.alert(incoming.call_id, net.now)
    net.pump()
    assert requests(net, CARRIER, "CANCEL")
    assert net.take(carrier, ev.Released) and net.take(box, ev.Released)


# -- outgoing ---------------------------------------------------------------------------------

def test_outgoing_call_ringing_answer_and_bye_from_the_box():
    net, box, carrier = box_and_carrier()
    call_id = box.setup("0212345678", net.now, trunk="carrier", calling="15881234", media=media(40000))
    net.pump()
    assert net.take(box, ev.CallProceeding)
    remote = net.take(carrier, ev.IncomingCall)[0]
    assert remote.called == "0212345678" and remote.calling.digits == "15881234"
    carrier.alert(remote.call_id, net.now)
    net.pump()
    assert net.take(box, ev.Alerting) == [ev.Alerting(net.now, call_id, False, None)]
    carrier.answer(remote.call_id, net.now, media=media(50000, "127.0.0.2"))
    net.pump()
    answered = net.take(box, ev.Answered)[0]
    assert answered.media.remote_address == "127.0.0.2" and answered.media.remote_port == 50000
    assert box.law_of(call_id) == "alaw"
    box.disconnect(call_id, net.now, cause=16)
    net.pump()
    assert net.take(box) == [ev.Released(net.now, call_id, 16)]
    got = net.take(carrier)
    assert [type(e) for e in got] == [ev.Disconnected, ev.Released] and got[0].cause == 16


def test_busy_486_is_cause_17_both_ways():
    net, box, carrier = box_and_carrier()
    call_id = box.setup("0212345678", net.now, trunk="carrier", media=media(40000))
    net.pump()
    remote = net.take(carrier, ev.IncomingCall)[0]
    carrier.disconnect(remote.call_id, net.now, cause=17)
    net.pump()
    assert 486 in statuses(net, CARRIER)
    got = net.take(box)
    assert got[-2] == ev.Disconnected(net.now, call_id, 17, status=486)
    assert got[-1] == ev.Released(net.now, call_id, 17)
    assert requests(net, BOX, "ACK")         # the transaction layer ACKs the 486


def test_early_media_183_on_an_outgoing_call():
    net, box, carrier = box_and_carrier()
    call_id = box.setup("0212345678", net.now, trunk="carrier", media=media(40000))
    net.pump()
    remote = net.take(carrier, ev.IncomingCall)[0]
    carrier.progress(remote.call_id, net.now, 8, media=media(50000, "127.0.0.2"))
    net.pump()
    progress = net.take(box, ev.Progress)[0]
    assert progress.call_id == call_id and progress.media.remote_port == 50000
    assert requests(net, BOX, "PRACK")


def test_a_2xx_crossing_our_cancel_is_acked_and_ended_with_bye():
    net, box, carrier = box_and_carrier()
    call_id = box.setup("0212345678", net.now, trunk="carrier", media=media(40000))
    net.pump()
    remote = net.take(carrier, ev.IncomingCall)[0]
    net.drop = lambda s, d, data: data.startswith(b"CANCEL")
    box.disconnect(call_id, net.now)
    net.pump()
    carrier.answer(remote.call_id, net.now, media=media(50000, "127.0.0.2"))
    net.pump()
    assert requests(net, BOX, "ACK") and requests(net, BOX, "BYE")
    assert net.take(box, ev.Released)[0].cause == 16
    assert net.take(carrier, ev.Released)


def test_no_answer_at_all_ends_with_cause_102_after_timer_b():
    net, box, carrier = box_and_carrier()
    net.drop = lambda s, d, data: d == CARRIER
    call_id = box.setup("0212345678", net.now, trunk="carrier", media=media(40000))
    net.advance(40)
    got = net.take(box)
    assert got[-2] == ev.Disconnected(got[-2].time, call_id, 102, status=408)
    assert got[-1].cause == 102


def test_200_is_retransmitted_until_the_ack_arrives():
    net, box, carrier = box_and_carrier()
    cid, incoming = call_in(net, box, carrier)
    lost = []
    net.drop = lambda s, d, data: data.startswith(b"ACK") and not lost and not lost.append(1)
    box.answer(incoming.call_id, net.now, media=media(40000))
    net.pump()
    net.drop = None
    net.advance(5)
    assert statuses(net, BOX).count(200) >= 2
    count = statuses(net, BOX).count(200)
    net.advance(30)
    assert statuses(net, BOX).count(200) == count     # acknowledged: no more
    assert box.calls[incoming.call_id].state == "active"


def test_unknown_call_and_wrong_state_are_clear_errors():
    net, box, carrier = box_and_carrier()
    with pytest.raises(SipCallStateError, match="no call 99"):
        box.answer(99, net.now)
    with pytest.raises(SipCallStateError, match='no SIP trunk "nowhere"'):
        box.setup("1", net.now, trunk="nowhere", media=media())
    with pytest.raises(SipCallStateError, match="no media description"):
        box.setup("1", net.now, trunk="carrier")
    assert box.try_disconnect(42, net.now, 16) is False


# -- in the dialog ----------------------------------------------------------------------------

def test_reinvite_hold_and_resume_reach_the_call_model():
    net, box, carrier = box_and_carrier()
    cid, call_id = answered_call(net, box, carrier)
    carrier.hold(cid, net.now)
    net.pump()
    held = net.take(box, ev.MediaChanged)[0]
    assert held.held and held.media.direction == "recvonly"
    answer = parse_sdp([m for m in net.messages(source=BOX) if getattr(m, "status", 0) == 200][-1].body)
    assert answer.media_direction(answer.media[0]) == "recvonly"
    carrier.resume(cid, net.now)
    net.pump()
    resumed = net.take(box, ev.MediaChanged)[0]
    assert not resumed.held and resumed.media.direction == "sendrecv"
    assert box.calls[call_id].state == "active"


def test_box_puts_the_far_end_on_hold():
    net, box, carrier = box_and_carrier()
    cid, call_id = answered_call(net, box, carrier)
    box.hold(call_id, net.now)
    net.pump()
    assert net.take(carrier, ev.MediaChanged)[0].held
    assert box.media_of(call_id).direction == "sendonly"


def test_session_timer_refreshes_keep_the_call_up():
    net, box, carrier = box_and_carrier(session_expires=120)
    carrier.session_expires = 120
    cid, call_id = answered_call(net, box, carrier)
    net.advance(600)
    refreshes = requests(net, CARRIER, "UPDATE") + requests(net, CARRIER, "INVITE")[1:]
    assert len(refreshes) >= 9        # every 60 s: half of 120 (RFC 4028 §10)
    assert refreshes[0].get("Session-Expires").startswith("120")
    assert box.calls[call_id].state == "active" and carrier.calls[cid].state == "active"
    assert not net.take(box, ev.Disconnected)


def test_a_session_that_is_not_refreshed_expires_with_bye_and_cause_102():
    net, box, carrier = box_and_carrier(session_expires=120)
    carrier.session_expires = 120
    cid, call_id = answered_call(net, box, carrier)
    net.drop = lambda s, d, data: s == CARRIER and (data.startswith(b"UPDATE") or data.startswith(b"INVITE"))
    net.advance(200)
    got = net.take(box)
    assert ev.Disconnected(got[0].time, call_id, 102) in got and got[-1].cause == 102
    assert 88 <= got[0].time <= 120      # interval - min(32, interval/3) = 80 s after the last refresh at 0..60
    assert requests(net, BOX, "BYE")


def test_sip_info_dtmf_both_bodies():
    net, box, carrier = box_and_carrier(carrier_trunk={"dtmf": "info"})
    cid, call_id = answered_call(net, box, carrier)
    carrier.send_dtmf(cid, "5", net.now, duration_ms=200)
    net.pump()
    assert net.take(box, ev.DtmfDigit) == [ev.DtmfDigit(net.now, call_id, "5", 200)]
    # application/dtmf, as some phones send it
    dialog = carrier.calls[cid].dialog
    info = dialog.new_request("INFO", body=b"#", content_type="application/dtmf")
    carrier.layer.send_request(info, BOX, net.now)
    net.pump()
    assert net.take(box, ev.DtmfDigit)[0].digit == "#"
    bad = dialog.new_request("INFO", body=b"Signal=Z\r\n", content_type="application/dtmf-relay")
    carrier.layer.send_request(bad, BOX, net.now)
    net.pump()
    assert 400 in statuses(net, BOX, "INFO")


# -- security ---------------------------------------------------------------------------------

def stranger(net, host="127.0.0.9", **trunk):
    return net.add(SipUserAgent(LocalEndpoint(host, 5060), [SipTrunk("box", BOX[0], BOX[1], keepalive=0, **trunk)]))


def test_invite_from_an_address_no_trunk_admits_is_refused_and_logged(caplog):
    net, box, carrier = box_and_carrier()
    intruder = stranger(net)
    intruder.setup("0019001234567", net.now, trunk="box", media=media(5000, "127.0.0.9"))
    net.pump()
    assert 403 in statuses(net, ("127.0.0.9", 5060)) or 403 in statuses(net, BOX)
    failed = net.take(box, ev.AuthenticationFailed)
    assert failed and failed[0].source[0] == "127.0.0.9" and failed[0].reason == "not a trunk address"
    assert not net.take(box, ev.IncomingCall)
    assert "refused" in caplog.text


def phones_box():
    net = Net()
    registrar = Registrar(("127.0.0.1",), DigestChallenger("127.0.0.1", algorithms=("MD5",)),
                          {"100": "secret100"}.get)
    box = net.add(SipUserAgent(LocalEndpoint(*BOX), [SipTrunk("carrier", *CARRIER, keepalive=0)],
                               registrar=registrar))
    return net, box


def test_phone_authenticates_with_digest_and_its_call_comes_in():
    net, box = phones_box()
    phone = stranger(net, "127.0.0.5", username="100", password="secret100")
    phone.setup("7000", net.now, trunk="box", media=media(6000, "127.0.0.5"))
    net.pump()
    incoming = net.take(box, ev.IncomingCall)[0]
    assert incoming.phone == "100" and incoming.trunk is None and incoming.called == "7000"
    assert 401 in statuses(net, BOX)


def test_wrong_passwords_are_rate_limited_per_source():
    net, box = phones_box()
    phone = stranger(net, "127.0.0.6", username="100", password="guess")
    for attempt in range(3):
        phone.setup("7000", net.now, trunk="box", media=media(6000, "127.0.0.6"))
        net.pump()
    assert not net.take(box, ev.IncomingCall)
    failures = net.take(box, ev.AuthenticationFailed)
    assert len(failures) >= 5 and failures[-1].blocked and failures[0].reason == "wrong password"
    assert box.counters["auth_failures"] >= 5
    assert statuses(net, BOX)[-1] == 403
    # another source is not affected
    good = stranger(net, "127.0.0.7", username="100", password="secret100")
    good.setup("7000", net.now, trunk="box", media=media(6000, "127.0.0.7"))
    net.pump()
    assert net.take(box, ev.IncomingCall)[0].phone == "100"


def test_broken_sdp_is_answered_488_naming_the_line_and_nothing_reaches_the_call_model():
    net, box, carrier = box_and_carrier()
    carrier.setup("15881234", net.now, trunk="box", media=media(50000, "127.0.0.2"))
    # rewrite the INVITE on the wire: a broken c= line
    net.nodes.pop(BOX)
    pending = carrier.datagrams_to_send(net.now)
    net.nodes[BOX] = box
    data = pending[0][0].replace(b"c=IN IP4 127.0.0.2", b"c=IN IP4 not..an address")
    box.receive(data, CARRIER, net.now)
    out = box.datagrams_to_send(net.now)
    final = [d for d, _, _ in out if d.startswith(b"SIP/2.0 488")]
    assert final and b"line 4" in final[0].split(b"\r\n")[0]
    assert box.next_event() is None and box.counters["rejected_sdp"] == 1


def test_outgoing_invite_answers_the_peers_challenge_with_the_trunk_credentials():
    net = Net()
    registrar = Registrar(("127.0.0.2",), DigestChallenger("127.0.0.2", algorithms=("MD5",)), {"box": "pw"}.get)
    peer = net.add(SipUserAgent(LocalEndpoint(*CARRIER), [], registrar=registrar))
    box = net.add(SipUserAgent(LocalEndpoint(*BOX), [SipTrunk("carrier", *CARRIER, keepalive=0,
                                                              username="box", password="pw")]))
    box.setup("0212345678", net.now, trunk="carrier", media=media(40000))
    net.pump()
    assert net.take(peer, ev.IncomingCall)[0].phone == "box"
    invites = requests(net, BOX, "INVITE")
    assert len(invites) == 2 and invites[1].get("Authorization") and invites[1].cseq.number == 2


# -- trunks -----------------------------------------------------------------------------------

def test_options_keepalive_marks_the_trunk_up_and_down():
    net, box, carrier = box_and_carrier(box_trunk={"keepalive": 30})
    box.start(net.now)
    net.pump()
    assert net.take(box, ev.TrunkStateChanged) == [ev.TrunkStateChanged(0.0, "carrier", True, "OPTIONS answered 200")]
    net.drop = lambda s, d, data: d == CARRIER
    net.advance(120)
    down = net.take(box, ev.TrunkStateChanged)
    assert down and down[0].up is False and box.trunk_up("carrier") is False
    with pytest.raises(SipCallStateError, match="cause 38"):
        box.setup("0212345678", net.now, trunk="carrier", media=media())
    net.drop = None
    net.advance(31)
    assert net.take(box, ev.TrunkStateChanged)[0].up is True


def test_trunk_registers_with_digest_and_refreshes():
    net = Net()
    registrar = Registrar(("127.0.0.2",), DigestChallenger("127.0.0.2", algorithms=("MD5",)),
                          {"0701234": "pw"}.get, min_expires=60)
    carrier = net.add(SipUserAgent(LocalEndpoint(*CARRIER), [], registrar=registrar))
    box = net.add(SipUserAgent(LocalEndpoint(*BOX), [SipTrunk("carrier", *CARRIER, keepalive=0, username="0701234",
                                                              password="pw", register=True, expires=120)]))
    box.start(net.now)
    net.pump()
    registered = net.take(box, ev.TrunkRegistered)
    assert registered and registered[0].registered and registered[0].expires == 120
    assert registrar.lookup("sip:0701234@127.0.0.2", net.now)
    net.advance(300)
    assert len(requests(net, BOX, "REGISTER")) >= 6       # challenged each time, refreshed at 80 %
    assert registrar.lookup("sip:0701234@127.0.0.2", net.now)


def test_trunk_registration_with_a_wrong_password_is_reported_and_retried():
    net = Net()
    registrar = Registrar(("127.0.0.2",), DigestChallenger("127.0.0.2", algorithms=("MD5",)), {"u": "pw"}.get)
    net.add(SipUserAgent(LocalEndpoint(*CARRIER), [], registrar=registrar))
    box = net.add(SipUserAgent(LocalEndpoint(*BOX), [SipTrunk("carrier", *CARRIER, keepalive=0, username="u",
                                                              password="bad", register=True)]))
    box.start(net.now)
    net.pump()
    failed = net.take(box, ev.TrunkRegistered)
    assert failed and not failed[0].registered and "401" in failed[0].detail
    net.advance(61)
    assert len(requests(net, BOX, "REGISTER")) >= 4


def test_calling_a_registered_phone():
    net, box = phones_box()
    phone = net.add(SipUserAgent(LocalEndpoint("127.0.0.5", 5062), [SipTrunk("box", *BOX, keepalive=0,
                                                                             username="100", password="secret100",
                                                                             register=True, realm="127.0.0.1")]))
    phone.start(net.now)
    net.pump()
    assert net.take(phone, ev.TrunkRegistered)[0].registered
    call_id = box.setup("100", net.now, phone="100", calling="0212345678", media=media(40000))
    net.pump()
    incoming = net.take(phone, ev.IncomingCall)
    assert incoming and incoming[0].called == "100" and incoming[0].calling.digits == "0212345678"
    phone.answer(incoming[0].call_id, net.now, media=media(7000, "127.0.0.5"))
    net.pump()
    assert net.take(box, ev.Answered)[0].media.remote_port == 7000
    with pytest.raises(SipCallStateError, match="not registered"):
        box.setup("101", net.now, phone="101", media=media())


def test_box_refreshes_the_session_of_its_own_call_with_update():
    net, box, carrier = box_and_carrier(session_expires=100)
    call_id = box.setup("0212345678", net.now, trunk="carrier", media=media(40000))
    net.pump()
    remote = net.take(carrier, ev.IncomingCall)[0]
    carrier.answer(remote.call_id, net.now, media=media(50000, "127.0.0.2"))
    net.pump()
    ok = [m for m in net.messages(source=CARRIER) if getattr(m, "status", 0) == 200][0]
    assert ok.get("Session-Expires") == "100;refresher=uac" and ok.get("Require") == "timer"
    net.advance(260)
    updates = requests(net, BOX, "UPDATE")
    assert len(updates) == 5 and [round(m.cseq.number) for m in updates] == [2, 3, 4, 5, 6]
    assert box.calls[call_id].state == "active" and carrier.calls[remote.call_id].state == "active"


def test_bye_in_the_early_dialog_answers_the_invite_487():
    net, box, carrier = box_and_carrier()
    cid, incoming = call_in(net, box, carrier)
    box.alert(incoming.call_id, net.now)
    net.pump()
    # the caller's side of the early dialog sends BYE (RFC 3261 §15)
    early = carrier.calls[cid].dialog
    carrier.layer.send_request(early.new_request("BYE", headers=(("Reason", "Q.850;cause=19"),)), BOX, net.now)
    net.pump()
    assert 487 in statuses(net, BOX) and 200 in statuses(net, BOX, "BYE")
    got = net.take(box)
    assert [type(e) for e in got] == [ev.Disconnected, ev.Released] and got[0].cause == 19
    assert box.active_calls() == 0


def test_an_invite_without_sdp_gets_our_offer_in_the_200_and_the_answer_in_the_ack():
    net, box, carrier = box_and_carrier()
    carrier.setup("15881234", net.now, trunk="box", media=media(50000, "127.0.0.2"))
    invite = carrier.datagrams_to_send(net.now)[0][0]
    head = invite.split(b"\r\n\r\n")[0].replace(b"Content-Type: application/sdp\r\n", b"")
    head = head.replace(head[head.index(b"Content-Length"):], b"Content-Length: 0")
    box.receive(head + b"\r\n\r\n", CARRIER, net.now)
    incoming = [e for e in iter(box.next_event, None) if isinstance(e, ev.IncomingCall)][0]
    assert incoming.offer is None and incoming.law is None
    box.answer(incoming.call_id, net.now, media=media(40000))
    ok = [d for d, _, _ in box.datagrams_to_send(net.now) if d.startswith(b"SIP/2.0 200")][0]
    ok_message = parse_message(ok)
    offer = parse_sdp(ok_message.body)
    assert offer.media[0].port == 40000 and offer.media[0].formats[:2] == ["8", "0"]
    ack_sdp = (b"v=0\r\no=c 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
               b"m=audio 50000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    ack = (f"ACK sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKack1\r\n"
           f"From: {ok_message.get('From')}\r\nTo: {ok_message.get('To')}\r\nCall-ID: {ok_message.call_id}\r\n"
           f"CSeq: 1 ACK\r\nContent-Type: application/sdp\r\nContent-Length: {len(ack_sdp)}\r\n\r\n").encode() + ack_sdp
    box.receive(ack, CARRIER, net.now)
    changed = [e for e in iter(box.next_event, None) if isinstance(e, ev.MediaChanged)]
    assert changed and changed[0].media.codec == "PCMU" and changed[0].media.remote_port == 50000
    assert box.law_of(incoming.call_id) == "ulaw"


def test_require_100rel_makes_even_the_180_reliable():
    net, box, carrier = box_and_carrier()
    carrier.setup("15881234", net.now, trunk="box", media=media(50000, "127.0.0.2"))
    invite = carrier.datagrams_to_send(net.now)[0][0].replace(b"Supported: 100rel, timer, replaces\r\n",
                                                               b"Require: 100rel\r\nSupported: timer\r\n")
    box.receive(invite, CARRIER, net.now)
    incoming = [e for e in iter(box.next_event, None) if isinstance(e, ev.IncomingCall)][0]
    box.alert(incoming.call_id, net.now)
    ringing = [parse_message(d) for d, _, _ in box.datagrams_to_send(net.now) if d.startswith(b"SIP/2.0 180")][0]
    assert ringing.get("Require") == "100rel" and ringing.get("RSeq")
    net.nodes.pop(CARRIER)  # the caller hears nothing more: no PRACK, no INVITE retransmission
    net.advance(1.6)        # not PRACKed: sent again T1 later, then 2*T1 later (RFC 3262 §3)
    again = [s for s, d, data in net.wire if data.startswith(b"SIP/2.0 180")]
    assert len(again) == 2 and parse_message(net.wire[-1][2]).get("RSeq") == ringing.get("RSeq")


def test_a_trunk_for_outgoing_calls_only_refuses_incoming_ones():
    net, box, carrier = box_and_carrier(box_trunk={"direction": "out"})
    carrier.setup("15881234", net.now, trunk="box", media=media(50000, "127.0.0.2"))
    net.pump()
    assert 403 in statuses(net, BOX) and not net.take(box, ev.IncomingCall)
    assert net.take(carrier, ev.Disconnected)[0].cause == 21


def test_an_early_update_offer_before_media_is_refused_politely():
    net, box, carrier = box_and_carrier()
    cid, incoming = call_in(net, box, carrier)
    box.alert(incoming.call_id, net.now)        # 180 without SDP: no media given yet
    net.pump()
    early = carrier.calls[cid].dialog
    update = early.new_request("UPDATE", body=carrier.calls[cid].local_sdp.to_bytes())
    carrier.layer.send_request(update, BOX, net.now)
    net.pump()
    assert 500 in statuses(net, BOX, "UPDATE")
    box.answer(incoming.call_id, net.now, media=media(40000))
    net.pump()
    assert net.take(carrier, ev.Answered)


def test_registered_phones_are_pinged_and_their_presence_follows():
    net = Net()
    registrar = Registrar(("127.0.0.1",), DigestChallenger("127.0.0.1", algorithms=("MD5",)),
                          {"100": "secret100"}.get, keepalive_timeout=90)
    box = net.add(SipUserAgent(LocalEndpoint(*BOX), [], registrar=registrar, phone_keepalive=30))
    phone = net.add(SipUserAgent(LocalEndpoint("127.0.0.5", 5062), [SipTrunk("box", *BOX, keepalive=0,
                                                                             username="100", password="secret100",
                                                                             register=True, expires=3600)]))
    box.start(net.now)
    phone.start(net.now)
    net.pump()
    assert registrar.presence(net.now)["sip:100@127.0.0.1"].reachable
    net.advance(200)
    pings = [m for m in net.messages(source=BOX) if getattr(m, "method", "") == "OPTIONS"]
    assert len(pings) >= 5 and pings[0].uri.port == 5062
    assert registrar.presence(net.now)["sip:100@127.0.0.1"].reachable
    net.nodes.pop(("127.0.0.5", 5062))            # the phone is unplugged
    net.advance(200)
    assert not registrar.presence(net.now)["sip:100@127.0.0.1"].reachable
    changes = []
    while (event := registrar.next_event()) is not None:
        changes.append(event.reachable)
    assert changes == [True, False]


def test_an_offer_in_a_reliable_183_takes_its_answer_from_the_prack():
    net, box, carrier = box_and_carrier()
    carrier.setup("15881234", net.now, trunk="box", media=media(50000, "127.0.0.2"))
    invite = carrier.datagrams_to_send(net.now)[0][0]
    head = invite.split(b"\r\n\r\n")[0].replace(b"Content-Type: application/sdp\r\n", b"")
    head = head.replace(head[head.index(b"Content-Length"):], b"Content-Length: 0")
    box.receive(head + b"\r\n\r\n", CARRIER, net.now)
    incoming = [e for e in iter(box.next_event, None) if isinstance(e, ev.IncomingCall)][0]
    box.alert(incoming.call_id, net.now, inband=True, media=media(40000))
    early = [parse_message(d) for d, _, _ in box.datagrams_to_send(net.now) if d.startswith(b"SIP/2.0 183")][0]
    assert early.get("Require") == "100rel" and parse_sdp(early.body).media[0].port == 40000
    answer = (b"v=0\r\no=c 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
              b"m=audio 50002 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")
    prack = (f"PRACK sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKprack1\r\n"
             f"From: {early.get('From')}\r\nTo: {early.get('To')}\r\nCall-ID: {early.call_id}\r\n"
             f"CSeq: 2 PRACK\r\nRAck: {early.get('RSeq')} 1 INVITE\r\nContent-Type: application/sdp\r\n"
             f"Content-Length: {len(answer)}\r\n\r\n").encode() + answer
    box.receive(prack, CARRIER, net.now)
    assert any(d.startswith(b"SIP/2.0 200") for d, _, _ in box.datagrams_to_send(net.now))
    changed = [e for e in iter(box.next_event, None) if isinstance(e, ev.MediaChanged)]
    assert changed and changed[0].media.remote_port == 50002 and changed[0].media.codec == "PCMA"
    box.answer(incoming.call_id, net.now)
    ok = [parse_message(d) for d, _, _ in box.datagrams_to_send(net.now) if d.startswith(b"SIP/2.0 200")][0]
    assert ok.body == b""           # offer and answer are done: no SDP again in the 200

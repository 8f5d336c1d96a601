"""Registrar and location: several contacts, expiry, unregister, q, keepalives, presence, auth."""

from runtime.bus import EventBus
from runtime.clock import ManualClock
from firmware.sip.digest import DigestChallenger, DigestClient
from firmware.sip.message import parse_message
from firmware.sip.registrar import AorPresenceChanged, Registrar
from tests.sip.torture import MESSAGES

PHONE = ("192.0.2.50", 5062)
AOR = "sip:100@pbx.example"


def register(contacts=("<sip:100@192.0.2.50:5062>",), expires=None, cseq=1, call_id="reg-1",
             user="100"):
    lines = ["REGISTER sip:pbx.example SIP/2.0",
             f"Via: SIP/2.0/UDP 192.0.2.50:5062;branch=z9hG4bK{cseq}{call_id}",
             f"From: <sip:{user}@pbx.example>;tag=a", f"To: <sip:{user}@pbx.example>",
             f"Call-ID: {call_id}", f"CSeq: {cseq} REGISTER"]
    lines += [f"Contact: {c}" for c in contacts]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    return parse_message(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())


def test_several_contacts_with_q_and_expiry():
    clock = ManualClock()
    reg = Registrar(("pbx.example",))
    response = reg.handle_register(register(("<sip:100@192.0.2.50:5062>;q=0.5",
                                             "<sip:100@192.0.2.51:5062>;expires=120;q=0.9")),
                                   PHONE, "UDP", clock.now())
    assert response.status == 200
    expires = sorted(c.params["expires"] for c in response.contacts)
    assert expires == ["120", "3600"]
    assert [b.uri.host for b in reg.lookup(AOR, 0)] == ["192.0.2.51", "192.0.2.50"]
    assert reg.get_timer() == 120
    clock.advance(121)
    reg.handle_timer(clock.now())
    assert [b.uri.host for b in reg.lookup(AOR, clock.now())] == ["192.0.2.50"]


def test_refresh_unregister_and_star():
    reg = Registrar(("pbx.example",))
    reg.handle_register(register(), PHONE, "UDP", 0)
    reg.handle_register(register(("<sip:100@192.0.2.52>",), cseq=2), PHONE, "UDP", 1)
    assert len(reg.lookup(AOR, 1)) == 2
    gone = reg.handle_register(register(("<sip:100@192.0.2.52>",), expires=0, cseq=3), PHONE, "UDP", 2)
    assert gone.status == 200 and len(gone.contacts) == 1
    star = reg.handle_register(register(("*",), expires=0, cseq=4), PHONE, "UDP", 3)
    assert star.status == 200 and reg.lookup(AOR, 3) == [] and reg.aors() == []
    bad_star = reg.handle_register(register(("*",), cseq=5), PHONE, "UDP", 4)
    assert bad_star.status == 400 and "Contact" in bad_star.reason


def test_too_brief_and_out_of_order():
    reg = Registrar(("pbx.example",), min_expires=60)
    brief = reg.handle_register(register(expires=10), PHONE, "UDP", 0)
    assert brief.status == 423 and brief.get("Min-Expires") == "60"
    assert reg.handle_register(register(cseq=5), PHONE, "UDP", 0).status == 200
    assert reg.handle_register(register(cseq=4), PHONE, "UDP", 1).status == 500
    assert reg.handle_register(register(cseq=4, call_id="other"), PHONE, "UDP", 1).status == 200


def test_foreign_domain_and_oversized_expires():
    reg = Registrar(("pbx.example",), max_expires=7200)
    other = register()
    other.uri.host = "elsewhere.example"
    assert reg.handle_register(other, PHONE, "UDP", 0).status == 404
    big = parse_message(MESSAGES["cparam01"])
    reg2 = Registrar(("example.com",))
    ok = reg2.handle_register(big, PHONE, "UDP", 0)
    assert ok.status == 200 and reg2.lookup("sip:watson@example.com", 0)[0].uri.user == "+19725552222"


def test_presence_view_and_events_for_the_cti():
    bus, seen = EventBus(), []
    bus.subscribe(AorPresenceChanged, seen.append)
    reg = Registrar(("pbx.example",), keepalive_timeout=90, bus=bus)
    reg.handle_register(register(), PHONE, "UDP", 0)
    reg.handle_register(register(("<sip:101@192.0.2.60>",), user="101", call_id="r2"),
                        ("192.0.2.60", 5060), "UDP", 0)
    view = reg.presence(10)
    assert view[AOR].reachable and view["sip:101@pbx.example"].reachable
    assert [(e.aor, e.reachable) for e in seen] == [(AOR, True), ("sip:101@pbx.example", True)]
    assert reg.keepalive(PHONE, 80) == 1           # the phone pinged; 101 stayed silent
    assert [b.aor for b in reg.keepalive_due(85, interval=60)] == ["sip:101@pbx.example"]
    assert reg.get_timer() == 90 + 1e-6
    reg.handle_timer(91)
    view = reg.presence(91)
    assert view[AOR].reachable and not view["sip:101@pbx.example"].reachable
    assert seen[-1].aor == "sip:101@pbx.example" and not seen[-1].reachable
    assert reg.next_event().reachable  # the same events are also pulled sans-I/O


def test_digest_protected_registration():
    users = {"100": "pw100"}
    reg = Registrar(("pbx.example",), DigestChallenger("pbx.example"), users.get)
    first = reg.handle_register(register(), PHONE, "UDP", 0)
    assert first.status == 401 and first.get("WWW-Authenticate")
    client = DigestClient("100", "pw100")
    ok = reg.handle_register(client.authorize(register(cseq=2), first), PHONE, "UDP", 1)
    assert ok.status == 200 and reg.lookup(AOR, 1)
    thief = DigestClient("100", "nope")
    denied = reg.handle_register(thief.authorize(register(cseq=3), first), PHONE, "UDP", 2)
    assert denied.status == 401 and reg.auth_failures == 1
    users["101"] = "pw101"
    other = DigestClient("101", "pw101").authorize(register(cseq=4), reg.challenger.challenge(register(), 3))
    assert reg.handle_register(other, PHONE, "UDP", 3).status == 403   # 101 may not bind 100
    regaut = parse_message(MESSAGES["regaut01"])
    reg2 = Registrar(("example.com",), DigestChallenger("example.com"), users.get)
    assert reg2.handle_register(regaut, PHONE, "TCP", 0).status == 401  # RFC 4475 regaut01


def test_wrong_password_flood_is_rate_limited_per_source_and_logged(caplog):
    from firmware.sip.registrar import FailureLimiter
    users = {"100": "pw100"}
    reg = Registrar(("pbx.example",), DigestChallenger("pbx.example"), users.get,
                    limiter=FailureLimiter(max_failures=3, window=60, block=300))
    attacker = ("203.0.113.66", 5060)
    statuses = []
    for n in range(5):
        challenge = reg.handle_register(register(cseq=2 * n + 1), attacker, "UDP", n)
        if challenge.status == 403:   # blocked: not even challenged any more
            statuses.append(403)
            continue
        guess = DigestClient("100", f"guess{n}").authorize(register(cseq=2 * n + 2), challenge)
        statuses.append(reg.handle_register(guess, attacker, "UDP", n).status)
    assert statuses[:2] == [401, 401] and statuses[2:] == [403, 403, 403]
    assert "failed authentication" in caplog.text and "blocked" in caplog.text
    # the real phone elsewhere is unharmed, and the block lifts after its time
    first = reg.handle_register(register(call_id="ok"), PHONE, "UDP", 10)
    ok = DigestClient("100", "pw100").authorize(register(cseq=2, call_id="ok"), first)
    assert reg.handle_register(ok, PHONE, "UDP", 10).status == 200
    assert reg.handle_register(register(cseq=20), attacker, "UDP", 400).status == 401

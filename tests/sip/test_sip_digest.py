"""Digest authentication: RFC 7616 §3.9.1 vectors, both roles, stale nonces, replay, MD5/SHA-256."""

import pytest

from firmware.sip.digest import (DigestChallenger, DigestClient, digest_response,
                                 parse_auth_header)
from firmware.sip.message import parse_message

# RFC 7616 §3.9.1
NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


@pytest.mark.parametrize("algorithm,expected", [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_rfc7616_vectors(algorithm, expected):
    assert digest_response(algorithm, "Mufasa", "http-auth@example.org", "Circle of Life", "GET",
                           "/dir/index.html", NONCE, "00000001", CNONCE, "auth") == expected


def test_rfc7616_vector_through_the_client():
    challenge = (f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
                 f'nonce="{NONCE}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
    value = DigestClient("Mufasa", "Circle of Life", cnonce=lambda: CNONCE).credentials(
        "GET", "/dir/index.html", challenge)
    scheme, params = parse_auth_header(value)
    assert scheme == "Digest" and params["nc"] == "00000001" and params["qop"] == "auth"
    assert params["response"] == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    assert params["opaque"] == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def register(cseq=1, auth=None):
    data = ("REGISTER sip:pbx.example SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 192.0.2.50:5062;branch=z9hG4bK{cseq}\r\n"
            "From: <sip:100@pbx.example>;tag=a\r\nTo: <sip:100@pbx.example>\r\n"
            f"Call-ID: reg@x\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:100@192.0.2.50:5062>\r\n"
            "Content-Length: 0\r\n\r\n")
    msg = parse_message(data.encode())
    if auth:
        msg.add("Authorization", auth)
    return msg


USERS = {"100": "s3cret"}


@pytest.mark.parametrize("algorithms", [("SHA-256", "MD5"), ("MD5",)])
def test_challenge_and_answer_round_trip(algorithms):
    server = DigestChallenger("pbx.example", algorithms=algorithms)
    first = register()
    assert not server.verify(first, 0.0, USERS.get).ok
    challenge = server.challenge(first, 0.0, to_tag="t")
    assert challenge.status == 401 and len(challenge.get_all("WWW-Authenticate")) == len(algorithms)
    retry = DigestClient("100", "s3cret").authorize(register(2), challenge)
    result = server.verify(retry, 1.0, USERS.get)
    assert result.ok and result.username == "100"
    assert algorithms[0] in retry.get("Authorization")


def test_wrong_password_unknown_user_and_foreign_nonce():
    server = DigestChallenger("pbx.example")
    challenge = server.challenge(register(), 0.0)
    bad = DigestClient("100", "guess").authorize(register(2), challenge)
    assert server.verify(bad, 1.0, USERS.get).reason == "wrong password"
    nobody = DigestClient("999", "x").authorize(register(2), challenge)
    assert server.verify(nobody, 1.0, USERS.get).reason == "unknown user"
    other = DigestChallenger("pbx.example")  # another secret: as after a restart
    assert other.verify(DigestClient("100", "s3cret").authorize(register(2), challenge), 1.0,
                        USERS.get).reason == "nonce not ours"


def test_expired_nonce_is_stale_and_a_fresh_one_works():
    server = DigestChallenger("pbx.example", nonce_lifetime=60)
    challenge = server.challenge(register(), 0.0)
    client = DigestClient("100", "s3cret")
    late = server.verify(client.authorize(register(2), challenge), 61.0, USERS.get)
    assert not late.ok and late.stale
    again = server.challenge(register(2), 61.0, stale=True)
    assert "stale=true" in again.get("WWW-Authenticate")
    assert server.verify(client.authorize(register(3), again), 62.0, USERS.get).ok


def test_nonce_count_replay_is_refused():
    server = DigestChallenger("pbx.example")
    challenge = server.challenge(register(), 0.0)
    client = DigestClient("100", "s3cret")
    request = client.authorize(register(2), challenge)
    assert server.verify(request, 1.0, USERS.get).ok
    replay = server.verify(request, 2.0, USERS.get)
    assert not replay.ok and replay.reason == "nonce-count replayed"
    assert server.verify(client.authorize(register(3), challenge), 3.0, USERS.get).ok  # nc=2


def test_rfc2617_without_qop_and_unknown_scheme():
    server = DigestChallenger("pbx.example", algorithms=("MD5",))
    nonce = server.make_nonce(0.0)
    answer = digest_response("MD5", "100", "pbx.example", "s3cret", "REGISTER", "sip:pbx.example", nonce)
    old = register(2, f'Digest username="100", realm="pbx.example", nonce="{nonce}", '
                      f'uri="sip:pbx.example", response="{answer}"')
    assert server.verify(old, 1.0, USERS.get).ok
    odd = register(3, "NoOneKnowsThisScheme opaque-data=here")   # RFC 4475 regaut01
    result = server.verify(odd, 1.0, USERS.get)
    assert not result.ok and "scheme" in result.reason


def test_proxy_authentication_407():
    server = DigestChallenger("carrier.example")
    invite = register()
    challenge = server.challenge(invite, 0.0, proxy=True)
    assert challenge.status == 407 and challenge.get("Proxy-Authenticate")
    retry = DigestClient("100", "s3cret").authorize(register(2), challenge)
    assert retry.get("Proxy-Authorization") and server.verify(retry, 1, USERS.get, proxy=True).ok

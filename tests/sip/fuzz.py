"""Mutation fuzzer for the SIP parser: nothing it is fed may raise anything but a SipError.

Seeds are the RFC 4475/5118 messages and a few ordinary ones; each case mutates one seed a few
times (bit flips, inserted/deleted/duplicated spans, separators, huge numbers, spliced lines)
and runs it through every entry point: the transaction layer (with a registrar and a dialog
answering what it passes up), datagram and stream parsing, the stream framer fed in
pieces, every typed accessor, re-serialisation, the UAS checks and the error answer.

    python -m tests.sip.fuzz --count 100000 [--seed N]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
import traceback

from firmware.sip.checks import check_request
from firmware.sip.errors import SipError
from firmware.sip.message import Request, StreamParser, decode, error_response
from firmware.sip.dialog import Dialog, LocalEndpoint
from firmware.sip.digest import DigestChallenger
from firmware.sip.registrar import FailureLimiter, Registrar
from firmware.sip.sdp import parse_sdp
from firmware.sip.transaction import RequestReceived, TransactionLayer
from tests.sip.torture import IPV6, MESSAGES

ORDINARY = [
    b"INVITE sip:bob@192.0.2.4 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9;rport\r\n"
    b"Max-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\nCall-ID: 3848276298220188511@atlanta.example.com\r\n"
    b"CSeq: 1 INVITE\r\nContact: <sip:alice@192.0.2.1;transport=udp>;expires=60;q=0.5\r\n"
    b"Supported: 100rel, timer\r\nSession-Expires: 1800;refresher=uac\r\nMin-SE: 90\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, REFER\r\n"
    b"Content-Type: application/sdp\r\nContent-Length: 229\r\n\r\n"
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    b"m=audio 49170 RTP/AVP 8 0 18 101\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
    b"SIP/2.0 401 Unauthorized\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKabc;received=192.0.2.9;rport=5070\r\n"
    b"From: <sip:100@pbx.example>;tag=a1\r\nTo: <sip:100@pbx.example>;tag=b2\r\n"
    b"Call-ID: reg-1@10.0.0.5\r\nCSeq: 2 REGISTER\r\n"
    b'WWW-Authenticate: Digest realm="pbx.example", nonce="abc123", algorithm=SHA-256, '
    b'qop="auth", opaque="xyz", stale=FALSE\r\nContent-Length: 0\r\n\r\n',
    b"REFER sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bKr\r\n"
    b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: refer-1\r\nCSeq: 7 REFER\r\n"
    b"Refer-To: <sip:carol@z.example?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\n"
    b"Referred-By: <sip:a@x>\r\nContent-Length: 0\r\n\r\n",
]

SEPARATORS = [b"\r\n", b"\r\n ", b":", b";", b",", b'"', b"<", b">", b"%", b"[", b"]", b"=",
              b"\x00", b"\xff", b" ", b"\t", b"@", b"/", b"?", b"\\", b"-1", b"99999999999999999999",
              b"\r\n\r\n", b"SIP/2.0", b"%0", b"z9hG4bK", b"[::", b"\xc3"]


def seeds() -> list[bytes]:
    return list(MESSAGES.values()) + [data for data, _ in IPV6.values()] + ORDINARY


def mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not buf:
            buf += rng.choice(pool)[:50]
        op = rng.randrange(8)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip a bit
            i = min(pos, len(buf) - 1)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert a separator
            buf[pos:pos] = rng.choice(SEPARATORS)
        elif op == 2:  # delete a span
            del buf[pos:pos + rng.randint(1, 16)]
        elif op == 3:  # duplicate a span
            span = bytes(buf[pos:pos + rng.randint(1, 40)])
            buf[pos:pos] = span * rng.randint(1, 3)
        elif op == 4:  # truncate
            del buf[pos:]
        elif op == 5:  # replace a digit run with a huge or negative number
            j = pos
            while j < len(buf) and 48 <= buf[j] <= 57:
                j += 1
            buf[pos:j] = rng.choice([b"4294967301", b"-5", b"00000000000000000000001", b"0"])
        elif op == 6:  # splice in a line of another message
            other = rng.choice(pool).split(b"\r\n")
            buf[pos:pos] = rng.choice(other) + b"\r\n"
        else:  # random byte
            i = min(pos, len(buf) - 1) if buf else 0
            if buf:
                buf[i] = rng.randrange(256)
    return bytes(buf)


REGISTRAR = Registrar(("example.com", "pbx.example", "[2001:db8::10]"),
                      DigestChallenger("example.com"), {"100": "pw"}.get,
                      limiter=FailureLimiter(max_failures=10**9))
HERE = LocalEndpoint("192.0.2.1")


def exercise(data: bytes, rng: random.Random) -> None:
    """Every entry point; raises whatever escaped that is not a SipError."""
    layer = TransactionLayer()
    layer.receive(data, ("192.0.2.99", 5060), 0.0, rng.choice(["UDP", "TCP"]))
    while (event := layer.next_event()) is not None:
        if isinstance(event, RequestReceived) and event.transaction is not None:
            request = event.request
            if request.method == "REGISTER":
                layer.send_response(event.transaction,
                                    REGISTRAR.handle_register(request, event.source, "UDP", 0.0), 0.0)
            elif request.method == "INVITE":
                try:
                    dialog = Dialog.as_uas(request, HERE)
                    layer.send_response(event.transaction, dialog.respond(request, 486), 0.0)
                except SipError:
                    pass
    layer.datagrams_to_send(0.0)
    layer.handle_timer(100.0)
    for stream in (False, True):
        result = decode(data, stream=stream)
        if isinstance(result, SipError):
            answer = error_response(data, result)
            if answer is not None:
                decode(answer.to_bytes())
            continue
        _touch(result)
    parser = StreamParser()
    cut = rng.randrange(len(data) + 1)
    for piece in (data[:cut], data[cut:]):
        parser.feed(piece)
        while True:
            result = parser.next_message()
            if result is None or isinstance(result, SipError):
                break
            _touch(result)


def _touch(msg) -> None:
    for accessor in ("vias", "from_", "to", "cseq", "contacts", "content_type", "call_id"):
        try:
            getattr(msg, accessor)
        except SipError:
            pass
    again = decode(msg.to_bytes())
    if isinstance(msg, Request):
        check_request(msg)
    if msg.body and msg.content_type == "application/sdp":
        try:
            parse_sdp(msg.body)
        except SipError:
            pass
    del again


def run(count: int, seed: int = 1, report_every: int = 0) -> tuple[int, list[str]]:
    rng = random.Random(seed)
    pool = seeds()
    failures: list[str] = []
    for i in range(count):
        data = mutate(rng.choice(pool), rng, pool)
        try:
            exercise(data, rng)
        except Exception:  # noqa: BLE001 -- the fuzzer's whole point is to catch these
            failures.append(f"case {i}: {data!r}\n{traceback.format_exc()}")
            if len(failures) >= 20:
                break
        if report_every and i and i % report_every == 0:
            print(f"{i} cases", file=sys.stderr)
    return count, failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    logging.getLogger("pribox.sip").setLevel(logging.ERROR)  # failed-auth warnings by the thousand
    start = time.monotonic()
    count, failures = run(args.count, args.seed, report_every=20_000)
    elapsed = time.monotonic() - start
    for failure in failures:
        print(failure)
    print(f"{count} mutated messages, {len(failures)} raised, {elapsed:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

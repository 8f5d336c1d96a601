"""Bad input at the running box (its user agent on UDP, a registrar for phones, the IVR), on
127.0.0.1 in real time, while SIPp's call is in progress with RTP to the test's own socket:
- every RFC 4475 torture message, from a stranger's address: each answered per the RFC's verdict
  (400/505/416 for the invalid ones, or dropped; 405/415/420/501 where a UAS core refuses; never
  a 400 for a valid one), counted;
- a flood of REGISTERs with a wrong password from one source: challenged until the fifth
  failure, then refused outright (403) for the block time, counted and logged; another source
  with the right password still registers;
- an INVITE from the trunk with a broken SDP: 488 naming the line and the fault, counted;
the call in progress carries on (its RTP without a gap, its end normal), and `show sip counters`
says what happened.  About 8 s."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from types import SimpleNamespace

from firmware.sip.digest import DigestChallenger, DigestClient
from firmware.sip.message import Request, decode
from firmware.sip.registrar import Registrar
from firmware.console.commands import registry
from pbx_cti.pbx.sip_console import show_sip_counters
from tests.sip.live_box import LiveBox, free_port, until
from tests.sip.test_sip_reinvite import far_rtp, run_sipp, scenario_file
from tests.sip.torture import APP_STATUS, MESSAGES, VERDICT
from tests.support.sip_pbx import SIP070

STRANGER = ("127.0.0.5", 5060)        # torture messages' Via ports are mostly 5060: answers come here
FLOODER = "127.0.0.6"
PHONE = "127.0.0.7"
CALL_MS = 5000


class Peer:
    """A plain UDP socket sending SIP and collecting whatever comes back."""

    def __init__(self, address: tuple[str, int]):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()

    def send(self, data: bytes, to) -> None:
        self.sock.sendto(data, to)

    async def answers(self, wait: float = 0.08, raw: bool = False) -> list:
        await asyncio.sleep(wait)
        out = []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return out
            out.append(data if raw else decode(data))

    def close(self) -> None:
        self.sock.close()


def register(source: tuple[str, int], box_port: int, cseq: int, call_id: str) -> Request:
    return decode((f"REGISTER sip:127.0.0.1:{box_port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {source[0]}:{source[1]};branch=z9hG4bK-flood-{cseq}-{call_id};rport\r\n"
                   f"Max-Forwards: 70\r\nFrom: <sip:2002@127.0.0.1>;tag=f{cseq}\r\nTo: <sip:2002@127.0.0.1>\r\n"
                   f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
                   f"Contact: <sip:2002@{source[0]}:{source[1]}>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
                   ).encode())


async def register_with(password: str, peer: Peer, box_port: int, tries: int, tag: str) -> list[int]:
    """REGISTER, then `tries` answers to the challenge with `password`: the statuses of those."""
    box = ("127.0.0.1", box_port)
    peer.send(register(peer.address, box_port, 1, tag).to_bytes(), box)
    challenge = next(a for a in await peer.answers() if a.status == 401)
    statuses = []
    for n in range(tries):
        request = register(peer.address, box_port, n + 2, tag)
        DigestClient("2002", password).authorize(request, challenge)
        peer.send(request.to_bytes(), box)
        got = [a for a in await peer.answers(0.03) if a.cseq.number == n + 2]
        statuses.append(got[0].status if got else None)
        if got and got[0].status == 401:
            challenge = got[0]                   # a fresh nonce each round, as a client would
    return statuses


def broken_sdp_invite(source: tuple[str, int], box_port: int) -> bytes:
    body = (b"v=0\r\no=carrier 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            b"m=audio seventy RTP/AVP 8\r\n")
    return (f"INVITE sip:07012345678@127.0.0.1:{box_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {source[0]}:{source[1]};branch=z9hG4bK-badsdp;rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:0212345678@127.0.0.1>;tag=badsdp\r\n"
            f"To: <sip:07012345678@127.0.0.1>\r\nCall-ID: badsdp@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:0212345678@{source[0]}:{source[1]}>\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def unique_branches() -> dict[str, bytes]:
    """The torture messages with a branch of their own: RFC 4475's reuse z9hG4bKkdjuw, so sent
    to one element, several would be retransmissions of each other (RFC 3261 17.2.3 matching
    by branch, sent-by and method) and answered as such."""
    return {name: data.replace(b"branch=z9hG4bKkdjuw", b"branch=z9hG4bKkdjuw" + str(n).encode() + b"x")
            for n, (name, data) in enumerate(MESSAGES.items())}


def call_id_of(data: bytes) -> str | None:
    found = re.search(rb"^(?:call-id|i)[ \t]*:[ \t]*(\S+)", data, re.I | re.M)
    return found.group(1).decode(errors="replace") if found else None


def status_of(response: bytes) -> int:
    found = re.match(rb"SIP/2\.0 (\d{3}) ", response)
    assert found, f"not a response: {response[:60]!r}"
    return int(found.group(1))


def expected(name: str):
    """The answer the RFC asks of a UAS: a status, None (dropped, and every response: a UAS
    answers no response) or "any" but 400/505."""
    if MESSAGES[name].startswith(b"SIP/"):
        return None
    if name in APP_STATUS:
        return APP_STATUS[name]
    verdict = VERDICT[name]
    return None if verdict == "drop" else ("any" if verdict == "accept" else verdict)


def test_torture_a_register_flood_and_a_broken_sdp_leave_the_call_in_progress_unharmed(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pribox.sip")
    carrier_port = free_port()
    registrar = Registrar(("127.0.0.1",), DigestChallenger("127.0.0.1", algorithms=("MD5",)), {"2002": "secret"}.get)
    trunk = SIP070.replace('host = "127.0.0.2"', f'host = "127.0.0.1"\nport = {carrier_port}')

    async def scenario():
        far, far_port = await far_rtp()
        path = scenario_file(tmp_path, "uac_call_in_progress.xml", FIRST_RTP_PORT=far_port, CALL_MS=CALL_MS)
        async with LiveBox(tmp_path, trunk, ua_options={"registrar": registrar}) as box:
            call = asyncio.ensure_future(run_sipp(path, box.port, carrier_port))
            await until(lambda: box.answered and len(far.packets) > 10, 10, "the call in progress")
            target = ("127.0.0.1", box.port)
            seen = {"torture": {}}
            stranger = Peer(STRANGER)
            answers = []
            for data in unique_branches().values():
                stranger.send(data, target)
                answers += await stranger.answers(0.03, raw=True)
            answers += await stranger.answers(0.2, raw=True)
            stranger.close()
            # each answer to its message by Call-ID (an INVITE's 401 is retransmitted until ACKed);
            # read from the octets: an answer echoes the torture message's odd headers
            for name, data in MESSAGES.items():
                call_id = call_id_of(data)
                seen["torture"][name] = sorted({status_of(a) for a in answers if call_id_of(a) == call_id} - {100})
            flooder = Peer((FLOODER, 0))
            seen["flood"] = await register_with("wrong", flooder, box.port, 12, "flood")
            flooder.close()
            phone = Peer((PHONE, 0))
            seen["phone"] = await register_with("secret", phone, box.port, 1, "phone")
            phone.close()
            trunk_peer = Peer(("127.0.0.1", 0))
            trunk_peer.send(broken_sdp_invite(trunk_peer.address, box.port), target)
            seen["bad_sdp"] = [a for a in await trunk_peer.answers(0.2) if a.status >= 200]
            trunk_peer.close()
            seen["counters"] = show_sip_counters(box.calls, box.clock.now())
            parsed = registry.parse("show sip counters")         # the console command, on this box
            seen["console"] = parsed.node.handler(SimpleNamespace(services=SimpleNamespace(
                sip=SimpleNamespace(calls=box.calls))), {})
            seen["raw_counters"] = box.ua.security_counters(box.clock.now())
            seen["active_during"] = box.ua.active_calls()
            seen["sipp"] = await call
            await until(lambda: box.ended, 3, "the call's end")
        far.transport.close()
        return box, far.packets, seen

    box, packets, seen = asyncio.run(scenario())
    # the torture messages, each per its verdict
    for name, statuses in seen["torture"].items():
        want = expected(name)
        if want is None:
            assert statuses == [], (name, statuses)
        elif want == "any":
            assert statuses and not {400, 505} & set(statuses), (name, statuses)
        else:
            assert set(statuses) <= {want}, (name, statuses)
    answered_invalid = [n for n, s in seen["torture"].items() if isinstance(expected(n), int) and s]
    assert len(answered_invalid) >= 20
    for name in ("unkscm", "novelsc"):
        assert seen["torture"][name] == [416]
    assert seen["torture"]["badvers"] == [505] and seen["torture"]["bext01"] == [420]
    assert seen["torture"]["invut"] == [415]
    # the flood: challenged while under the limit, then refused outright; the phone registers
    assert seen["flood"][:4] == [401] * 4 and set(seen["flood"][4:]) == {403}, seen["flood"]
    assert seen["phone"] == [200]
    counters = seen["raw_counters"]
    assert counters["register_auth_failures"] == 5 and counters["register_blocked_refusals"] == 7
    assert FLOODER in counters["blocked_sources"] and PHONE not in counters["blocked_sources"]
    assert any("blocked for" in r.getMessage() and FLOODER in r.getMessage() for r in caplog.records)
    assert sum("failed authentication" in r.getMessage() for r in caplog.records) >= 5
    # the broken SDP: 488 naming the line and the fault
    assert [(a.status, a.reason) for a in seen["bad_sdp"]] == [(488, "Bad SDP: line 6: bad port 'seventy'")]
    assert counters["rejected_sdp"] == 1 and counters["malformed"] >= 20 and counters["calls_in"] == 1
    assert re.search(r"INVITEs with an unusable SDP \(488\)\s+1\b", seen["counters"])
    assert seen["console"] == seen["counters"]
    assert re.search(rf"Sources blocked after failed authentication\s+1\n\s+{re.escape(FLOODER)}", seen["counters"])
    # the call in progress: unharmed
    rc, err = seen["sipp"]
    assert rc == 0, err
    assert seen["active_during"] == 1
    gaps = [b[0] - a[0] for a, b in zip(packets, packets[1:])]
    assert len(packets) > 200 and max(gaps) < 0.2, max(gaps)
    summary = box.ended[0].summary
    assert summary["cleared_by"] == "caller" and summary["cause"] == 16

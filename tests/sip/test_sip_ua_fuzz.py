"""Mutated messages thrown at the user agent while a call is up: nothing raises out of
`receive`, and the call in progress is unharmed.  The seeds are the messages of whole call flows
(INVITE with SDP, 183, PRACK, 200, ACK, re-INVITE, INFO, BYE, CANCEL, REGISTER) and the parser
fuzzer's seeds; `PRIBOX_LONG=1` runs 20,000 cases instead of 2,000."""

import os
import random

from firmware.sip import events as ev
from firmware.sip.dialog import LocalEndpoint
from firmware.sip.digest import DigestChallenger
from firmware.sip.registrar import Registrar
from firmware.sip.trunks import SipTrunk
from firmware.sip.useragent import SipUserAgent
from tests.sip.fuzz import mutate, seeds

from .uanet import BOX, CARRIER, Net, box_and_carrier, media

CASES = 20000 if os.environ.get("PRIBOX_LONG") else 2000


def recorded_flows() -> list[bytes]:
    """The datagrams of a few complete calls between two agents (another box's Call-IDs)."""
    net, box, carrier = box_and_carrier(carrier_trunk={"dtmf": "info"})
    cid = carrier.setup("15881234", net.now, trunk="box", calling="0212345678", redirecting="07012345678",
                        media=media(50000, "127.0.0.2"))
    net.pump()
    incoming = net.take(box, ev.IncomingCall)[0]
    box.alert(incoming.call_id, net.now, inband=True, media=media(40000))
    net.pump()
    box.answer(incoming.call_id, net.now)
    net.pump()
    carrier.hold(cid, net.now)
    net.pump()
    carrier.send_dtmf(cid, "7", net.now)
    net.pump()
    carrier.disconnect(cid, net.now)
    net.pump()
    other = box.setup("0212345678", net.now, trunk="carrier", media=media(40002))
    net.pump()
    box.disconnect(other, net.now)
    net.pump()
    return [data for _, _, data in net.wire if data.strip()]


def test_mutated_messages_never_raise_and_the_live_call_survives():
    net = Net()
    registrar = Registrar(("127.0.0.1",), DigestChallenger("127.0.0.1", algorithms=("MD5",)), {"100": "pw"}.get)
    box = net.add(SipUserAgent(LocalEndpoint(*BOX), [SipTrunk("carrier", *CARRIER, keepalive=0)],
                               registrar=registrar, media_for=lambda call_id: media(41000 + 2 * call_id)))
    carrier = net.add(SipUserAgent(LocalEndpoint(*CARRIER), [SipTrunk("box", *BOX, keepalive=0)]))
    cid = carrier.setup("15881234", net.now, trunk="box", media=media(50000, "127.0.0.2"))
    net.pump()
    live = net.take(box, ev.IncomingCall)[0].call_id
    box.answer(live, net.now)
    net.pump()
    assert net.take(carrier, ev.Answered)

    pool = recorded_flows() + seeds()
    rng = random.Random(7)
    sources = [CARRIER, ("127.0.0.66", 5060), ("127.0.0.1", 5999)]
    for case in range(CASES):
        data = mutate(rng.choice(pool), rng, pool)
        box.receive(data, rng.choice(sources), net.now, "UDP")
        box.datagrams_to_send(net.now)
        while (event := box.next_event()) is not None:
            if isinstance(event, ev.IncomingCall):    # a mutated INVITE that still parses: refuse it
                box.try_disconnect(event.call_id, net.now, 21)
        if case % 97 == 0:
            net.now += 0.5
            box.handle_timer(net.now)
            box.datagrams_to_send(net.now)
    assert box.calls[live].state == "active"
    # the live call still works both ways
    carrier.hold(cid, net.now)
    net.pump()
    assert net.take(box, ev.MediaChanged)[-1].held
    carrier.disconnect(cid, net.now)
    net.pump()
    assert net.take(box, ev.Released)[-1].call_id == live


def test_empty_via_lines_before_the_real_one_are_passed_over():
    net, box, carrier = box_and_carrier()
    data = (b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia:\r\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bKempty1\r\n"
            b"From: <sip:c@127.0.0.2>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ev1\r\nCSeq: 1 OPTIONS\r\n"
            b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    box.receive(data, CARRIER, net.now)
    out = box.datagrams_to_send(net.now)
    assert out and out[0][0].startswith(b"SIP/2.0 200") and out[0][1] == ("127.0.0.2", 5060)

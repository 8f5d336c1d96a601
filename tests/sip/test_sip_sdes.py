"""SRTP keys by SDES in SDP (RFC 4568): a=crypto on RTP/SAVP parsed and written, offers answered
with our key under their tag, the trunk's mode ("off", "optional", "mandatory") deciding what is
taken, broken crypto lines refused with 488 naming the line, and the [[sip_trunk]] srtp key."""

import base64
import os

import pytest

from firmware.config.errors import ConfigError
from firmware.config.loader import load_text
from firmware.sip.errors import SipError
from firmware.sip.sdp import SRTP_SUITE, AudioConfig, accept_answer, answer_offer, make_offer, parse_sdp

THEIRS = os.urandom(30)
OURS = os.urandom(30)


def offer(proto=b"RTP/SAVP", crypto=None):
    crypto = crypto if crypto is not None else (
        b"a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:" + base64.b64encode(os.urandom(30)) + b"\r\n"
        b"a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(THEIRS) + b"|2^31|1:4\r\n")
    return parse_sdp(b"v=0\r\no=phone 1 1 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n"
                     b"m=audio 49170 " + proto + b" 8 101\r\na=rtpmap:101 telephone-event/8000\r\n" + crypto)


def box(srtp, key=OURS):
    return AudioConfig("192.0.2.1", 40000, codecs=("PCMA",), srtp=srtp, srtp_key=key)


@pytest.mark.parametrize("mode", ["optional", "mandatory"])
def test_an_srtp_offer_is_answered_with_our_key_under_the_tag_of_the_suite_we_take(mode):
    answer, negotiated = answer_offer(offer(), box(mode), 1)
    media = parse_sdp(answer.to_bytes()).media[0]
    assert media.proto == "RTP/SAVP"
    assert [(c.tag, c.suite, c.key) for c in media.crypto] == [(7, SRTP_SUITE, OURS)]
    assert negotiated.srtp_send_key == OURS and negotiated.srtp_receive_key == THEIRS


def test_our_mandatory_offer_and_the_answer_give_both_keys():
    ours = make_offer(box("mandatory"), 1)
    media = parse_sdp(ours.to_bytes()).media[0]
    assert media.proto == "RTP/SAVP" and media.crypto[0].key == OURS
    answer = parse_sdp(ours.to_bytes().replace(base64.b64encode(OURS), base64.b64encode(THEIRS)))
    negotiated = accept_answer(ours, answer)
    assert (negotiated.srtp_send_key, negotiated.srtp_receive_key) == (OURS, THEIRS)
    assert make_offer(box("optional"), 1).media[0].proto == "RTP/AVP"    # optional offers plain RTP


def test_the_trunk_mode_decides_and_the_refusal_says_why():
    plain, _ = answer_offer(offer(b"RTP/AVP", b""), box("optional"), 1)
    assert plain.media[0].proto == "RTP/AVP" and not plain.media[0].crypto
    with pytest.raises(SipError, match="SRTP is mandatory here and the offer is RTP/AVP") as refused:
        answer_offer(offer(b"RTP/AVP", b""), box("mandatory"), 1)
    assert refused.value.status == 488
    with pytest.raises(SipError, match="SRTP .RTP/SAVP. offered, and SRTP is off here"):
        answer_offer(offer(), box("off", None), 1)
    only_32 = b"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:" + base64.b64encode(THEIRS) + b"\r\n"
    with pytest.raises(SipError, match="without a usable AES_CM_128_HMAC_SHA1_80"):
        answer_offer(offer(crypto=only_32), box("optional"), 1)


@pytest.mark.parametrize("line, fault", [
    (b"a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n", "expected a tag"),
    (b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 uri:http://x\r\n", "expected inline"),
    (b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%%%%\r\n", "not base64"),
    (b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(b"short") + b"\r\n", "5 octets"),
])
def test_a_broken_crypto_line_is_refused_with_488_naming_the_line(line, fault):
    with pytest.raises(SipError, match=fault) as refused:
        offer(crypto=line)
    assert refused.value.status == 488 and "line 8" in refused.value.reason


def test_sip_trunk_srtp_key_takes_the_three_modes_and_names_a_bad_one():
    base = '[[sip_trunk]]\nname = "t"\nhost = "192.0.2.9"\n'
    assert load_text(base + 'srtp = "mandatory"\n', "x.toml").sip_trunk[0].srtp == "mandatory"
    assert load_text(base, "x.toml").sip_trunk[0].srtp == "off"
    with pytest.raises(ConfigError, match=r"sip_trunk\[0\]\.srtp.*optional") as error:
        load_text(base + 'srtp = "yes"\n', "x.toml")
    assert "x.toml" in str(error.value)


def test_a_call_between_two_user_agents_on_srtp_trunks_exchanges_keys_both_ways():
    from firmware.sip import events as ev
    from tests.sip.uanet import box_and_carrier, media
    net, box, carrier = box_and_carrier({"srtp": "mandatory"}, {"srtp": "optional"})
    call_id = box.setup("0212345678", net.now, trunk="carrier", media=media(40000))
    net.pump()
    incoming = net.take(carrier, ev.IncomingCall)[0]
    offer = incoming.offer
    assert offer.srtp_receive_key is not None                       # the box offered RTP/SAVP with its key
    carrier_key = os.urandom(30)
    carrier.answer(incoming.call_id, net.now, media=AudioConfig("127.0.0.2", 50000, codecs=("PCMA",),
                                                                 srtp="optional", srtp_key=carrier_key))
    net.pump()
    answered = net.take(box, ev.Answered)[0].media
    assert answered.srtp_receive_key == carrier_key and answered.srtp_send_key == offer.srtp_receive_key
    assert box.media_of(call_id).srtp_send_key == offer.srtp_receive_key


def test_a_plain_offer_to_a_mandatory_trunk_is_refused_with_488_naming_why():
    from firmware.sip import events as ev
    from tests.sip.uanet import box_and_carrier, media
    net, box, carrier = box_and_carrier({"srtp": "off"}, {"srtp": "mandatory"})
    call_id = box.setup("0212345678", net.now, trunk="carrier", media=media(40000))
    net.pump()
    gone = net.take(box, ev.Disconnected)
    assert gone and gone[0].status == 488 and gone[0].call_id == call_id
    refusals = [m for m in net.messages() if getattr(m, "status", None) == 488]
    assert [m.reason for m in refusals] == ["Bad SDP: SRTP is mandatory here and the offer is RTP/AVP"]

"""SDP parse/build and RFC 3264 offer/answer: codecs, telephone-event, ptime, hold/resume."""

import pytest

from firmware.sip.errors import SipError
from firmware.sip.sdp import (AudioConfig, accept_answer, answer_offer, make_offer, parse_sdp,
                              with_direction)

PHONE_OFFER = (b"v=0\r\no=phone 2890844526 2890844526 IN IP4 192.0.2.50\r\ns=call\r\n"
               b"c=IN IP4 192.0.2.50\r\nt=0 0\r\n"
               b"m=audio 49170 RTP/AVP 18 0 8 101\r\n"
               b"a=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\n"
               b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:30\r\n"
               b"m=video 51372 RTP/AVP 31\r\n")
BOX = AudioConfig(address="192.0.2.1", port=40000)


def test_parse_fields():
    sdp = parse_sdp(PHONE_OFFER)
    audio = sdp.media[0]
    assert sdp.connection == "192.0.2.50" and sdp.version == 2890844526
    assert audio.payload_types == [18, 0, 8, 101]
    assert audio.codec(0) == ("PCMU", 8000) and audio.codec(18) == ("G729", 8000)
    assert audio.fmtp == {18: "annexb=no", 101: "0-15"} and audio.ptime == 30
    assert parse_sdp(sdp.to_bytes()).media[0].rtpmap == audio.rtpmap


def test_answer_picks_offerers_first_common_codec_and_refuses_video():
    answer, neg = answer_offer(parse_sdp(PHONE_OFFER), BOX, session_id=7)
    assert (neg.codec, neg.payload_type, neg.telephone_event_pt, neg.ptime) == ("G729", 18, 101, 30)
    assert neg.remote_address == "192.0.2.50" and neg.remote_port == 49170
    assert not neg.g729_annexb and neg.direction == "sendrecv"
    again = parse_sdp(answer.to_bytes())
    assert again.media[0].fmtp[18] == "annexb=no" and again.media[0].fmtp[101] == "0-15"
    assert again.media[1].port == 0  # video refused, m= line kept (RFC 3264 §6)
    assert accept_answer(parse_sdp(PHONE_OFFER), again).codec == "G729"


def test_annexb_yes_when_both_sides_do_it():
    offer = parse_sdp(PHONE_OFFER.replace(b"annexb=no", b"annexb=yes"))
    _, neg = answer_offer(offer, AudioConfig("192.0.2.1", 40000, g729_annexb=True), 1)
    assert neg.g729_annexb
    _, neg = answer_offer(offer, BOX, 1)
    assert not neg.g729_annexb


def test_pcma_only_box_answers_pcma():
    _, neg = answer_offer(parse_sdp(PHONE_OFFER), AudioConfig("192.0.2.1", 4, codecs=("PCMA",)), 1)
    assert (neg.codec, neg.payload_type) == ("PCMA", 8)


def test_no_common_codec_is_488():
    offer = parse_sdp(PHONE_OFFER.replace(b"RTP/AVP 18 0 8 101", b"RTP/AVP 3 101"))
    with pytest.raises(SipError) as info:
        answer_offer(offer, BOX, 1)
    assert info.value.status == 488


@pytest.mark.parametrize("offered,ours", [("sendonly", "recvonly"), ("inactive", "inactive"),
                                          ("recvonly", "sendonly"), ("sendrecv", "sendrecv")])
def test_hold_directions(offered, ours):
    offer = parse_sdp(PHONE_OFFER.replace(b"m=video", f"a={offered}\r\nm=video".encode()))
    _, neg = answer_offer(offer, BOX, 1)
    assert neg.direction == ours
    assert neg.remote_holds == (offered in ("sendonly", "inactive"))


def test_legacy_hold_with_zero_address():
    offer = parse_sdp(PHONE_OFFER.replace(b"c=IN IP4 192.0.2.50", b"c=IN IP4 0.0.0.0"))
    _, neg = answer_offer(offer, BOX, 1)
    assert neg.remote_holds and neg.direction == "recvonly"


def test_our_hold_and_resume_bump_the_version():
    offer = make_offer(BOX, session_id=5)
    held = with_direction(offer, "sendonly")
    assert held.version == offer.version + 1
    answer, _ = answer_offer(parse_sdp(held.to_bytes()), AudioConfig("192.0.2.9", 5000), 9)
    assert accept_answer(held, parse_sdp(answer.to_bytes())).direction == "sendonly"
    resumed = with_direction(held, "sendrecv")
    answer, _ = answer_offer(parse_sdp(resumed.to_bytes()), AudioConfig("192.0.2.9", 5000), 9)
    assert accept_answer(resumed, parse_sdp(answer.to_bytes())).direction == "sendrecv"
    assert resumed.version == offer.version + 2


@pytest.mark.parametrize("broken,where", [
    (b"v=1\r\n", "line 1"),
    (PHONE_OFFER.replace(b"o=phone 2890844526 2890844526 IN IP4 192.0.2.50", b"o=x"), "line 2"),
    (PHONE_OFFER.replace(b"c=IN IP4 192.0.2.50", b"c=IN IP4 999.1.1.1"), "line 4"),
    (PHONE_OFFER.replace(b"m=audio 49170", b"m=audio 99999"), "line 6"),
    (PHONE_OFFER.replace(b"a=rtpmap:18 G729/8000", b"a=rtpmap:18 G729"), "line 7"),
    (PHONE_OFFER.replace(b"c=IN IP4 192.0.2.50\r\n", b""), "no c= line"),
    (b"\xff\xfe", "UTF-8"),
])
def test_broken_sdp_is_a_488_naming_the_line(broken, where):
    with pytest.raises(SipError) as info:
        parse_sdp(broken)
    assert info.value.status == 488 and where in info.value.reason
    assert info.value.phrase.startswith("Bad SDP")

"""Property and mutation tests: no input makes the parser raise anything but a SipError."""

from hypothesis import HealthCheck, given, settings, strategies as st

from firmware.sip.errors import SipError
from firmware.sip.grammar import parse_name_addr, parse_uri, parse_via
from firmware.sip.message import Request, StreamParser, decode, parse_message
from tests.sip import fuzz

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_ten_thousand_mutated_messages_raise_nothing():
    count, failures = fuzz.run(10_000, seed=7)
    assert count == 10_000
    assert failures == []


@FAST
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data):
    result = decode(data)
    assert isinstance(result, (SipError, Request)) or hasattr(result, "status")
    parser = StreamParser()
    parser.feed(data)
    for _ in range(5):
        if not isinstance(parser.next_message(), (Request,)):
            break


_header_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x24F), max_size=60)


@FAST
@given(_header_text)
def test_header_value_parsers_raise_only_sip_errors(text):
    for parse in (parse_uri, lambda t: parse_name_addr(t, "To"), parse_via):
        try:
            parse(text)
        except SipError:
            pass


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-.!%*_+`'~", min_size=1,
                 max_size=12)


@FAST
@given(user=_token.filter(lambda t: "%" not in t), host=st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z]{2,5}){0,2}", fullmatch=True),
       port=st.one_of(st.none(), st.integers(1, 65535)), tag=_token, display=st.text(max_size=20),
       body=st.binary(max_size=200), cseq=st.integers(0, 2**31 - 1))
def test_built_messages_parse_back(user, host, port, tag, display, body, cseq):
    hostport = host if port is None else f"{host}:{port}"
    request = Request(method="INVITE", raw_uri=f"sip:{user}@{hostport}", body=body)
    request.uri = parse_uri(f"sip:{user}@{hostport}")
    request.add("Via", f"SIP/2.0/UDP {hostport};branch=z9hG4bK{tag};rport")
    request.add("From", f'"{display.replace(chr(92), "").replace(chr(34), "")}" <sip:a@{host}>;tag={tag}'
                if display.isprintable() else f"<sip:a@{host}>;tag={tag}")
    request.add("To", f"<sip:{user}@{host}>")
    request.add("Call-ID", f"{tag}@{host}")
    request.add("CSeq", f"{cseq} INVITE")
    again = parse_message(request.to_bytes())
    assert again.uri == request.uri and again.body == body
    assert again.cseq.number == cseq and again.from_.tag == tag


@FAST
@given(st.text(max_size=400))
def test_sdp_parser_raises_only_488(text):
    from firmware.sip.sdp import parse_sdp
    try:
        parse_sdp(text.encode("utf-8", "surrogatepass"))
    except SipError as error:
        assert error.status == 488


@FAST
@given(st.lists(st.sampled_from(["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1",
                                 "t=0 0", "m=audio 4000 RTP/AVP 0 8 18 101", "a=rtpmap:101 telephone-event/8000",
                                 "a=fmtp:18 annexb=no", "a=sendonly", "a=ptime:20", "m=video 0 RTP/AVP 31",
                                 "c=IN IP6 ::1", "a=rtpmap:18 G729/8000", "b=AS:64"]), max_size=14))
def test_sdp_offers_answer_or_refuse_cleanly(lines):
    from firmware.sip.sdp import AudioConfig, answer_offer, parse_sdp
    try:
        offer = parse_sdp(("\r\n".join(lines) + "\r\n").encode())
        answer, negotiated = answer_offer(offer, AudioConfig("192.0.2.9", 5000), 1)
        assert parse_sdp(answer.to_bytes()).media[0].port in (0, 5000)
        assert negotiated.codec in ("PCMA", "PCMU", "G729")
    except SipError as error:
        assert error.status == 488

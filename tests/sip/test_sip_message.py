"""Parsing and building SIP messages: RFC 3261 syntax, RFC 4475 torture and RFC 5118 IPv6."""

import pytest

from firmware.sip.checks import check_request
from firmware.sip.errors import SipError
from firmware.sip.grammar import parse_name_addr, parse_uri, parse_via, split_list
from firmware.sip.message import (Request, Response, StreamParser, decode, error_response,
                                  parse_message)
from firmware.sip.sdp import parse_sdp
from tests.sip.torture import APP_STATUS, IPV6, MESSAGES, RFC5118_AS_PRINTED, VERDICT

INVITE = (b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n"
          b"Max-Forwards: 70\r\n"
          b'To: "Bob" <sip:bob@biloxi.example.com>\r\n'
          b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
          b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
          b"CSeq: 314159 INVITE\r\n"
          b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
          b"Content-Type: application/sdp\r\n"
          b"Content-Length: 4\r\n\r\nv=0\n")


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_rfc4475_verdicts(name):
    result = decode(MESSAGES[name])
    verdict = VERDICT[name]
    if verdict == "accept":
        assert not isinstance(result, SipError), result
        expected_app = APP_STATUS.get(name)
        if isinstance(result, Request):
            problem = check_request(result)
            assert (problem.status if problem else None) == expected_app
    else:
        assert isinstance(result, SipError)
        assert result.reason  # names the fault
        if verdict == "drop":
            assert error_response(MESSAGES[name], result) is None
        else:
            assert result.status == verdict
            answer = error_response(MESSAGES[name], result)
            if name != "insuf":
                assert answer is not None and answer.status == verdict
                assert answer.reason == result.phrase
                assert decode(answer.to_bytes()).status == verdict


@pytest.mark.parametrize("name", sorted(IPV6))
def test_rfc5118_ipv6(name):
    data, verdict = IPV6[name]
    result = decode(data)
    if verdict == "accept":
        assert isinstance(result, Request), result
        assert len(result.body) == int(result.get("Content-Length")) and data.endswith(result.body)
        if result.body:
            sdp = parse_sdp(result.body)
            assert sdp.media and all(sdp.media_address(m) for m in sdp.media)
    else:
        assert isinstance(result, SipError) and result.status == verdict


def test_rfc5118_printed_content_lengths():
    assert decode(RFC5118_AS_PRINTED["ipv6-in-sdp"]).header == "Content-Length"   # too long: 400
    for name, length in (("mult-ip-in-sdp", 181), ("ipv4-mapped-ipv6", 236)):
        short = decode(RFC5118_AS_PRINTED[name])      # too short: the SDP is cut...
        assert len(short.body) == length
        with pytest.raises(SipError) as info:         # ...and answered 488
            parse_sdp(short.body)
        assert info.value.status == 488


def test_rfc5118_addresses():
    via_with = decode(IPV6["via-received-param-with-delim"][0]).top_via
    via_without = decode(IPV6["via-received-param-no-delim"][0]).top_via
    assert via_with.params["received"] == "[2001:db8::9:255]"
    assert via_without.params["received"] == "2001:db8::9:255"
    assert decode(IPV6["port-ambiguous"][0]).uri.host == "[2001:db8::10:5070]"
    assert decode(IPV6["port-ambiguous"][0]).uri.port is None
    assert decode(IPV6["port-unambiguous"][0]).uri.port == 5070
    mapped = decode(IPV6["ipv4-mapped-ipv6"][0])
    assert [v.host for v in mapped.vias] == ["[::ffff:192.0.2.10]", "[::ffff:192.0.2.2]"]


def test_wsinv_fields():
    msg = parse_message(MESSAGES["wsinv"])
    assert msg.method == "INVITE"
    assert msg.uri.params == {"unknownparam": None}
    assert msg.to.tag == "1918181833n"
    assert msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.from_.tag == "98asjd8"
    assert int(msg.get("Max-Forwards")) == 68
    assert (msg.cseq.number, msg.cseq.method) == (9, "INVITE")
    vias = msg.vias
    assert [v.transport for v in vias] == ["UDP", "TCP", "UDP"]
    assert [v.branch for v in vias] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    assert vias[2].host == "192.168.255.111"
    contact = msg.contacts[0]
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert msg.get("Subject") == ""
    assert msg.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.get("unknownheaderwithunusualvalue") == ";;,,;;,;"
    route = parse_name_addr(msg.get("Route"), "Route")
    assert route.uri.params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}
    assert len(msg.body) == 150


def test_escapes_and_unusual_characters():
    esc = parse_message(MESSAGES["esc01"])
    assert esc.uri.user == "sips:user@example.com"
    assert esc.to.uri.user == "user"
    assert esc.from_.uri.user == "I have spaces"
    contact = esc.contacts[0].uri
    assert contact.user == "caller" and contact.params == {"lr": None, "name": "value%41"}
    null = parse_message(MESSAGES["escnull"])
    assert null.to.uri.user == "null-\x00-null"
    assert [c.uri.user for c in null.contacts] == ["\x00", "\x00\x00"]
    weird = parse_message(MESSAGES["intmeth"])
    assert weird.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert weird.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert weird.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert weird.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert weird.from_.params["fromparam''~+*_!.-%"] == "работающий"
    assert weird.get("extensionHeader-!.%*+_`'~").encode("utf-8", "surrogateescape") == \
        b"\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb"
    esc2 = parse_message(MESSAGES["esc02"])
    assert esc2.method == "RE%47IST%45R"
    assert len(esc2.contacts) == 2 and esc2.get("C%6Fntact") is not None
    semi = parse_message(MESSAGES["semiuri"])
    assert semi.uri.user == "user;par=u@example.net" and semi.uri.host == "example.com"
    assert len(semi.get_all("Accept")) == 6


def test_longreq_and_dblreq():
    long = parse_message(MESSAGES["longreq"])
    assert len(long.vias) == 34
    assert long.to.uri.port == 6000
    dbl = parse_message(MESSAGES["dblreq"])
    assert dbl.method == "REGISTER" and dbl.body == b""


def test_responses():
    unreason = parse_message(MESSAGES["unreason"])
    assert isinstance(unreason, Response) and unreason.status == 200
    assert unreason.reason.startswith("= 2**3 * 5**2 но сто")
    assert parse_message(MESSAGES["noreason"]).reason == ""


def test_compact_forms_and_case():
    data = (b"OPTIONS sip:a@b.example SIP/2.0\r\nv: SIP/2.0/UDP h.example;branch=z9hG4bK1\r\n"
            b"f: <sip:x@y.example>;tag=1\r\nt: sip:a@b.example\r\ni: abc\r\nCSEQ: 1 OPTIONS\r\n"
            b"k: timer, 100rel\r\nu: talk\r\no: refer\r\nr: <sip:c@d.example>\r\n"
            b"b: <sip:e@f.example>\r\ne: identity\r\ns: hi\r\nm: <sip:a@1.2.3.4>\r\n"
            b"c: text/plain\r\nl: 2\r\n\r\nhi")
    msg = parse_message(data)
    assert msg.get("Supported") == "timer, 100rel"
    assert msg.option_tags("Supported") == ["timer", "100rel"]
    for name in ("Allow-Events", "Event", "Refer-To", "Referred-By", "Content-Encoding",
                 "Subject", "Contact", "Content-Type", "Call-ID", "From", "To", "Via"):
        assert msg.get(name) is not None, name
    assert msg.body == b"hi"
    rebuilt = parse_message(msg.to_bytes())
    assert rebuilt.get("Refer-To") == "<sip:c@d.example>"
    assert b"\r\nSupported: timer, 100rel\r\n" in msg.to_bytes()


def test_list_splitting_respects_quotes_and_brackets():
    assert split_list('"a, b" <sip:x@y;p=1,2>, <sip:z@w>', "Contact") == \
        ['"a, b" <sip:x@y;p=1,2>', "<sip:z@w>"]
    with pytest.raises(SipError):
        split_list('"unterminated, <sip:x@y>', "Contact")


def test_uri_parsing():
    uri = parse_uri("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi%20there")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == \
        ("sips", "alice", "secret", "[2001:db8::1]", 5061)
    assert uri.params == {"transport": "tcp", "lr": None}
    assert uri.headers == {"subject": "hi there"}
    assert parse_uri(str(uri)) == uri
    assert parse_uri("tel:+4930123").opaque == "+4930123"
    for bad in ("sip:", "sip:a@b:99999", "sip:a@[::1", "sip:a@b;", "sip:%zz@b", "nocolon"):
        with pytest.raises(SipError):
            parse_uri(bad)


def test_via_received_rport():
    via = parse_via("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKx;rport=4000;received=192.0.2.9")
    assert (via.host, via.port, via.params["rport"], via.params["received"]) == \
        ("10.0.0.1", 5062, "4000", "192.0.2.9")
    with pytest.raises(SipError):
        parse_via("SIP/2.0/UDP 10.0.0.1;received=not-an-ip")
    with pytest.raises(SipError):
        parse_via("SIP/2.0/UDP 10.0.0.1;rport=70000")


def test_build_round_trip():
    msg = parse_message(INVITE)
    msg.add("Supported", "100rel")
    msg.body = b"v=0\r\n"
    again = parse_message(msg.to_bytes())
    assert again.get("Content-Length") == "5" and again.body == b"v=0\r\n"
    assert again.from_.display_name == "Alice" and again.to.uri.user == "bob"
    assert again.top_via.params["rport"] is None


def test_error_reasons_name_the_header():
    broken = INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: abc INVITE")
    error = decode(broken)
    assert error.status == 400 and error.header == "CSeq"
    answer = error_response(broken, error)
    assert answer.reason.startswith("Bad CSeq") and answer.get("Call-ID")
    assert decode(INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 256")).header == "Max-Forwards"
    assert decode(INVITE.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1)).status == 505
    assert decode(b"x" * 70000).status == 513
    assert decode(b"\r\n\r\n").status == 400


def test_stream_parser_frames_by_content_length():
    parser = StreamParser()
    two = INVITE + b"\r\n\r\n" + INVITE  # a CRLF keepalive between them
    for i in range(len(two)):  # one byte at a time: incomplete input waits
        parser.feed(two[i:i + 1])
        if i < len(INVITE) - 1:
            assert parser.next_message() is None
    first, second = parser.next_message(), parser.next_message()
    assert isinstance(first, Request) and isinstance(second, Request)
    assert second.body == b"v=0\n" and parser.next_message() is None
    bad = StreamParser()
    bad.feed(INVITE.replace(b"Content-Length: 4\r\n", b""))
    error = bad.next_message()
    assert isinstance(error, SipError) and error.header == "Content-Length"
    huge = StreamParser()
    huge.feed(b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 10000)
    assert huge.next_message().status == 513


def test_udp_without_content_length_takes_the_rest():
    msg = parse_message(INVITE.replace(b"Content-Length: 4\r\n", b""))
    assert msg.body == b"v=0\n"
    assert decode(INVITE.replace(b"Content-Length: 4\r\n", b""), stream=True).status == 400


def test_oversized_bodies_are_413_and_oversized_messages_513():
    assert decode(INVITE.replace(b"Content-Length: 4", b"Content-Length: 70000")).status == 413
    stream = StreamParser()
    stream.feed(INVITE.replace(b"Content-Length: 4", b"Content-Length: 99999999"))
    assert stream.next_message().status == 413

"""RFC 4475 torture messages and RFC 5118 IPv6 cases, as octets, with the verdict each asks for.

Typed from RFC 4475 §3 (<allOneLine> joined, <hex> written as escapes, CRLF as in the
Appendix A archive).  VERDICT: "accept" for a message the parser must take; a status code
for one a server must answer with that status; "drop" for a response that must be discarded.
APP_STATUS: for messages the parser takes but a UAS core must refuse (see check_request).
"""

import base64

SDP_150 = (b"v=0\r\n"
           b"o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n"
           b"s=-\r\n"
           b"c=IN IP4 192.0.2.1\r\n"
           b"t=0 0\r\n"
           b"m=audio 49217 RTP/AVP 0 12\r\n"
           b"m=video 3227 RTP/AVP 31\r\n"
           b"a=rtpmap:31 LPC\r\n")


def _sdp(addr: bytes, t: bytes = b"0 0") -> bytes:
    return (b"v=0\r\no=mhandley 29739 7272939 IN IP4 " + addr + b"\r\ns=-\r\nc=IN IP4 " + addr +
            b"\r\nt=" + t + b"\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\n"
            b"a=rtpmap:31 LPC\r\n")


MESSAGES: dict[str, bytes] = {}

MESSAGES["wsinv"] = (
    b"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n"
    b"TO :\r\n"
    b" sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n"
    b'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n'
    b"  ;\r\n"
    b"  tag = 98asjd8\r\n"
    b"MaX-fOrWaRdS: 0068\r\n"
    b"Call-ID: wsinv.ndaksdj@192.0.2.1\r\n"
    b"Content-Length   : 150\r\n"
    b"cseq: 0009\r\n"
    b"  INVITE\r\n"
    b"Via  : SIP  /   2.0\r\n"
    b" /UDP\r\n"
    b"    192.0.2.2;branch=390skdjuw\r\n"
    b"s :\r\n"
    b"NewFangledHeader:   newfangled value\r\n"
    b" continued newfangled value\r\n"
    b"UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Route:\r\n"
    b" <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\r\n"
    b"v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n"
    b"  branch  =   z9hG4bK9ikj8  ,\r\n"
    b" SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n"
    b" z9hG4bK30239\r\n"
    b'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\r\n'
    b"      newvalue ;\r\n"
    b"  secondparam ; q = 0.33\r\n"
    b"\r\n"
    + _sdp(b"192.0.2.3").replace(b"c=IN IP4 192.0.2.3", b"c=IN IP4 192.0.2.4"))

MESSAGES["intmeth"] = (
    b"!interesting-Method0123456789_*+`.%indeed'~ "
    b"sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    b":&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\r\n"
    b'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" '
    b"<sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\r\n"
    b"From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>"
    b";fromParam''~+*_!.-%="
    b'"\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8\xd0\xb9"'
    b";tag=_token~1'+`*%!-.\r\n"
    b"Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\r\n"
    b"CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r\n"
    b"Max-Forwards: 255\r\n"
    b"extensionHeader-!.%*+_`'~:"
    b"\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n")

MESSAGES["esc01"] = (
    b"INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\r\n"
    b"To: sip:%75se%72@example.com\r\n"
    b"From: <sip:I%20have%20spaces@example.net>;tag=938\r\n"
    b"Max-Forwards: 87\r\n"
    b"i: esc01.239409asdfakjkn23onasd0-3234\r\n"
    b"CSeq: 234234 INVITE\r\n"
    b"Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\r\n"
    b"C: application/sdp\r\n"
    b"Contact:\r\n"
    b"  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\r\n"
    b"Content-Length: 150\r\n"
    b"\r\n" + SDP_150)

MESSAGES["escnull"] = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"To: sip:null-%00-null@example.com\r\n"
    b"From: sip:null-%00-null@example.com;tag=839923423\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\r\n"
    b"CSeq: 14398234 REGISTER\r\n"
    b"Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Contact: <sip:%00@host5.example.com>\r\n"
    b"Contact: <sip:%00%00@host5.example.com>\r\n"
    b"L:0\r\n"
    b"\r\n")

MESSAGES["esc02"] = (
    b"RE%47IST%45R sip:registrar.example.com SIP/2.0\r\n"
    b'To: "%Z%45" <sip:resource@example.com>\r\n'
    b'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23\r\n'
    b"Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf\r\n"
    b"Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234\r\n"
    b"CSeq: 29344 RE%47IST%45R\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:alias1@host1.example.com>\r\n"
    b"C%6Fntact: <sip:alias2@host2.example.com>\r\n"
    b"Contact: <sip:alias3@host3.example.com>\r\n"
    b"l: 0\r\n"
    b"\r\n")

MESSAGES["lwsdisp"] = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: caller<sip:caller@example.com>;tag=323\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID: lwsdisp.1234abcd@funky.example.com\r\n"
    b"CSeq: 60 OPTIONS\r\n"
    b"Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\r\n"
    b"l: 0\r\n"
    b"\r\n")

MESSAGES["longreq"] = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b'To: "I have a user name of ' + b"extreme" * 10 + b' proportion"<sip:user@example.com:6000;'
    b"unknownparam1=very" + b"long" * 20 + b"value;"
    b"longparam" + b"name" * 25 + b"=shortvalue;"
    b"very" + b"long" * 25 + b"ParameterNameWithNoValue>\r\n"
    b"F: sip:" + b"amazinglylongcallername" * 5 + b"@example.net"
    b";tag=12" + b"982" * 50 + b"424"
    b";unknownheaderparam" + b"name" * 20 + b"="
    b"unknowheaderparam" + b"value" * 15 +
    b";unknownValueless" + b"paramname" * 10 + b"\r\n"
    b"Call-ID: longreq.one" + b"really" * 20 + b"longcallid\r\n"
    b"CSeq: 3882340 INVITE\r\n"
    b"Unknown-" + b"Long" * 20 + b"-Name:"
    b"unknown-" + b"long" * 20 + b"-value;"
    b"unknown-" + b"long" * 20 + b"-parameter-name ="
    b"unknown-" + b"long" * 20 + b"-parameter-value\r\n"
    b"Via: SIP/2.0/TCP sip33.example.com\r\n"
    b"v: SIP/2.0/TCP sip32.example.com\r\n"
    b"V: SIP/2.0/TCP sip31.example.com\r\n"
    b"Via: SIP/2.0/TCP sip30.example.com\r\n"
    b"ViA: SIP/2.0/TCP sip29.example.com\r\n"
    b"VIa: SIP/2.0/TCP sip28.example.com\r\n"
    b"VIA: SIP/2.0/TCP sip27.example.com\r\n"
    b"via: SIP/2.0/TCP sip26.example.com\r\n"
    b"viA: SIP/2.0/TCP sip25.example.com\r\n"
    b"vIa: SIP/2.0/TCP sip24.example.com\r\n"
    b"vIA: SIP/2.0/TCP sip23.example.com\r\n"
    b"V :  SIP/2.0/TCP sip22.example.com\r\n"
    b"v :  SIP/2.0/TCP sip21.example.com\r\n"
    b"V  : SIP/2.0/TCP sip20.example.com\r\n"
    b"v  : SIP/2.0/TCP sip19.example.com\r\n"
    b"Via : SIP/2.0/TCP sip18.example.com\r\n"
    b"Via  : SIP/2.0/TCP sip17.example.com\r\n"
    + b"".join(b"Via: SIP/2.0/TCP sip%d.example.com\r\n" % n for n in range(16, 0, -1)) +
    b"Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;"
    b"branch=very" + b"long" * 50 + b"branchvalue\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:" + b"amazinglylongcallername" * 5 + b"@host5.example.net>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"l: 150\r\n"
    b"\r\n" + SDP_150)

MESSAGES["dblreq"] = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:j.user@example.com;tag=43251j3j324\r\n"
    b"Max-Forwards: 8\r\n"
    b"I: dblreq.0ha0isndaksdj99sdfafnl3lk233412\r\n"
    b"Contact: sip:j.user@host.example.com\r\n"
    b"CSeq: 8 REGISTER\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
    b"INVITE sip:joe@example.com SIP/2.0\r\n"
    b"t: sip:joe@example.com\r\n"
    b"From: sip:caller@example.net;tag=141334\r\n"
    b"Max-Forwards: 8\r\n"
    b"Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 150\r\n"
    b"\r\n"
    + _sdp(b"192.0.2.15").replace(b"m=video", b"m =video") + b"\r\n")

MESSAGES["semiuri"] = (
    b"OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\r\n"
    b"To: sip:j_user@example.com\r\n"
    b"From: sip:caller@example.org;tag=33242\r\n"
    b"Max-Forwards: 3\r\n"
    b"Call-ID: semiuri.0ha0isndaksdj\r\n"
    b"CSeq: 8 OPTIONS\r\n"
    b"Accept: application/sdp, application/pkcs7-mime,\r\n"
    b"        multipart/mixed, multipart/signed,\r\n"
    b"        message/sip, message/sipfrag\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\r\n"
    b"l: 0\r\n"
    b"\r\n")

MESSAGES["transports"] = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: <sip:caller@example.com>;tag=323\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID:  transports.kijh4akdnaqjkwendsasfdj\r\n"
    b"Accept: application/sdp\r\n"
    b"CSeq: 60 OPTIONS\r\n"
    b"Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\r\n"
    b"Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\r\n"
    b"Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\r\n"
    b"Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee\r\n"
    b"l: 0\r\n"
    b"\r\n")

# mpart01: the S/MIME signature's octets (the RFC's <hex> block, 342 octets of DER; written here
# as base64 to keep the file readable).  With the text parts the body is the RFC's 553 octets.
_MPART_SIGNATURE = base64.b64decode(
    "MIIBUgYJKoZIhvcNAQcCoIIBQzCCAT8CAQExCTAHBgUrDgMCGjALBgkqhkiG9w0BBwExggEgMIIB"
    "HAIBATB8MHAxCzAJBgNVBAYTAlVTMRMwEQYDVQQIEwpDYWxpZm9ybmlhMREwDwYDVQQHEwhTYW4g"
    "Sm9zZTEOMAwGA1UEChMFc2lwaXQxKTAnBgNVBAsTIFNpcGl0IFRlc3QgQ2VydGlmaWNhdGUgQXV0"
    "aG9yaXR5AggBlQBxAjMBEzAHBgUrDgMCGjANBgkqhkiG9w0BAQEFAASBgI70ZvlI8FIt0uWXjp2V"
    "quny/hWgZllxYpLo2iqo2DUKaM7/rjy9K/8Wdd3VZI5ZPdZHKPJiIPfpQXSeMw2aFe2r25PRDEIQ"
    "LntyidKcwMmuLvvHwM/5Fy87An5PwCfhVG3ktqo6uz5mzMtd1sZLg4MUnLjm/xgtlE/le2W8mdAF")
_MPART_BODY = (
    b"--7a9cbec02ceef655\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Transfer-Encoding: binary\r\n"
    b"\r\n"
    b"Hello\r\n"
    b"--7a9cbec02ceef655\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: binary\r\n"
    b"\r\n" + _MPART_SIGNATURE + b"\r\n"
    b"--7a9cbec02ceef655--\r\n")
MESSAGES["mpart01"] = (
    b"MESSAGE sip:kumiko@example.org SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Route: <sip:127.0.0.1:5080>\r\n"
    b"Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=\r\n"
    b"Contact: <sip:fluffy@127.0.0.1:5070>\r\n"
    b"To: <sip:kumiko@example.org>\r\n"
    b"From: <sip:fluffy@example.com>;tag=2fb0dcc9\r\n"
    b"Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\r\n"
    b"CSeq: 1 MESSAGE\r\n"
    b"Content-Transfer-Encoding: binary\r\n"
    b"Content-Type: multipart/mixed;boundary=7a9cbec02ceef655\r\n"
    b"Date: Sat, 15 Oct 2005 04:44:56 GMT\r\n"
    b"User-Agent: SIPimp.org/0.2.5 (curses)\r\n"
    b"Content-Length: 553\r\n"
    b"\r\n" + _MPART_BODY)

MESSAGES["unreason"] = (
    b"SIP/2.0 200 = 2**3 * 5**2 "
    b"\xd0\xbd\xd0\xbe\x20\xd1\x81\xd1\x82\xd0\xbe\x20\xd0\xb4"
    b"\xd0\xb5\xd0\xb2\xd1\x8f\xd0\xbd\xd0\xbe\xd1\x81\xd1\x82"
    b"\xd0\xbe\x20\xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd1\x82\xd1"
    b"\x8c\x20\x2d\x20\xd0\xbf\xd1\x80\xd0\xbe\xd1\x81\xd1\x82"
    b"\xd0\xbe\xd0\xb5\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n"
    b"Call-ID: unreason.1234ksdfak3j2erwedfsASdf\r\n"
    b"CSeq: 35 INVITE\r\n"
    b"From: sip:user@example.com;tag=11141343\r\n"
    b"To: sip:user@example.edu;tag=2229\r\n"
    b"Content-Length: 154\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Contact: <sip:user@host198.example.com>\r\n"
    b"\r\n" + _sdp(b"192.0.2.198"))

MESSAGES["noreason"] = (
    b"SIP/2.0 100 \r\n"
    b"Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\n"
    b"Call-ID: noreason.asndj203insdf99223ndf\r\n"
    b"CSeq: 35 INVITE\r\n"
    b"From: <sip:user@example.com>;tag=39ansfi3\r\n"
    b"To: <sip:user@example.edu>;tag=902jndnke3\r\n"
    b"Content-Length: 0\r\n"
    b"Contact: <sip:user@host105.example.com>\r\n"
    b"\r\n")

MESSAGES["badinv01"] = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:caller@example.net;tag=134161461246\r\n"
    b"Max-Forwards: 7\r\n"
    b"Call-ID: badinv01.0ha0isndaksdjasdf3234nas\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n"
    b'Contact: "Joe" <sip:joe@example.org>;;;;\r\n'
    b"Content-Length: 152\r\n"
    b"Content-Type: application/sdp\r\n"
    b"\r\n" + _sdp(b"192.0.2.15"))

MESSAGES["clerr"] = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"Max-Forwards: 80\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:caller@example.net;tag=93942939o2\r\n"
    b"Contact: <sip:caller@hungry.example.net>\r\n"
    b"Call-ID: clerr.0ha0isndaksdjweiafasdk3\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 9999\r\n"
    b"\r\n" + _sdp(b"192.0.2.155"))

MESSAGES["ncl"] = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"Max-Forwards: 254\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:caller@example.net;tag=32394234\r\n"
    b"Call-ID: ncl.0ha0isndaksdj2193423r542w35\r\n"
    b"CSeq: 0 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw\r\n"
    b"Contact: <sip:caller@example53.example.net>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: -999\r\n"
    b"\r\n" + _sdp(b"192.0.2.53"))

MESSAGES["scalar02"] = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\r\n"
    b"To: <sip:user@example.com>\r\n"
    b"From: <sip:user@example.com>;tag=239232jh3\r\n"
    b"CSeq: 36893488147419103232 REGISTER\r\n"
    b"Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\r\n"
    b"Max-Forwards: 300\r\n"
    b"Expires: 1" + b"0" * 100 + b"\r\n"
    b"Contact: <sip:user@host129.example.com>\r\n"
    b"  ;expires=280297596632815\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n")

MESSAGES["scalarlg"] = (
    b"SIP/2.0 503 Service Unavailable\r\n"
    b"Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129\r\n"
    b"To: <sip:user@example.com>\r\n"
    b"From: <sip:other@example.net>;tag=2easdjfejw\r\n"
    b"CSeq: 9292394834772304023312 OPTIONS\r\n"
    b"Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r\r\n"
    b"Retry-After: 949302838503028349304023988\r\n"
    b'Warning: 1812 overture "In Progress"\r\n'
    b"Content-Length: 0\r\n"
    b"\r\n")

MESSAGES["quotbal"] = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b'To: "Mr. J. User <sip:j.user@example.com>\r\n'
    b"From: sip:caller@example.net;tag=93334\r\n"
    b"Max-Forwards: 10\r\n"
    b"Call-ID: quotbal.aksdj\r\n"
    b"Contact: <sip:caller@host59.example.net>\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 152\r\n"
    b"\r\n" + _sdp(b"192.0.2.15"))

MESSAGES["ltgtruri"] = (
    b"INVITE <sip:user@example.com> SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=39291\r\n"
    b"Max-Forwards: 23\r\n"
    b"Call-ID: ltgtruri.1@192.0.2.5\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.5\r\n"
    b"Contact: <sip:caller@host5.example.net>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 159\r\n"
    b"\r\n" + _sdp(b"192.0.2.5", b"3149328700 0"))

MESSAGES["lwsruri"] = (
    b"INVITE sip:user@example.com; lr SIP/2.0\r\n"
    b"To: sip:user@example.com;tag=3xfe-9921883-z9f\r\n"
    b"From: sip:caller@example.net;tag=231413434\r\n"
    b"Max-Forwards: 5\r\n"
    b"Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423\r\n"
    b"CSeq: 2130706432 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395\r\n"
    b"Contact: <sip:caller@host1.example.net>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 159\r\n"
    b"\r\n" + _sdp(b"192.0.2.1", b"3149328700 0"))

MESSAGES["lwsstart"] = (
    b"INVITE  sip:user@example.com  SIP/2.0\r\n"
    b"Max-Forwards: 8\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=8814\r\n"
    b"Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com\r\n"
    b"CSeq: 1893884 INVITE\r\n"
    b"Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923\r\n"
    b"Contact: <sip:caller@host1.example.net>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 150\r\n"
    b"\r\n" + SDP_150)

MESSAGES["trws"] = (
    b"OPTIONS sip:remote-target@example.com SIP/2.0  \r\n"
    b"Via: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093\r\n"
    b"To: <sip:remote-target@example.com>\r\n"
    b"From: <sip:local-resource@example.com>;tag=329429089\r\n"
    b"Call-ID: trws.oicu34958239neffasdhr2345r\r\n"
    b"Accept: application/sdp\r\n"
    b"CSeq: 238923 OPTIONS\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n")

MESSAGES["escruri"] = (
    b"INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=341518\r\n"
    b"Max-Forwards: 7\r\n"
    b"Contact: <sip:caller@host39923.example.net>\r\n"
    b"Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5\r\n"
    b"CSeq: 149209342 INVITE\r\n"
    b"Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 150\r\n"
    b"\r\n" + SDP_150)

MESSAGES["baddate"] = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=2234923\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234\r\n"
    b"CSeq: 1392934 INVITE\r\n"
    b"Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Date: Fri, 01 Jan 2010 16:00:00 EST\r\n"
    b"Contact: <sip:caller@host5.example.net>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 150\r\n"
    b"\r\n" + _sdp(b"192.0.2.5"))

MESSAGES["regbadct"] = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:user@example.com;tag=998332\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID: regbadct.k345asrl3fdbv@10.0.0.1\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw\r\n"
    b"Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\r\n"
    b"l: 0\r\n"
    b"\r\n")

MESSAGES["badaspec"] = (
    b"OPTIONS sip:user@example.org SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423\r\n'
    b'To: "Watson, Thomas" < sip:t.watson@example.org >\r\n'
    b"Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3\r\n"
    b"Accept: application/sdp\r\n"
    b"CSeq: 3923239 OPTIONS\r\n"
    b"l: 0\r\n"
    b"\r\n")

MESSAGES["baddn"] = (
    b"OPTIONS sip:t.watson@example.org SIP/2.0\r\n"
    b"Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw\r\n"
    b"Max-Forwards:      70\r\n"
    b"From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43\r\n"
    b"To:      Watson, Thomas <sip:t.watson@example.org>\r\n"
    b"Call-ID: baddn.31415@c.example.com\r\n"
    b"Accept: application/sdp\r\n"
    b"CSeq:    3923239 OPTIONS\r\n"
    b"l: 0\r\n"
    b"\r\n")

MESSAGES["badvers"] = (
    b"OPTIONS sip:t.watson@example.org SIP/7.0\r\n"
    b"Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Max-Forwards:     70\r\n"
    b"From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\r\n"
    b"To:      T. Watson <sip:t.watson@example.org>\r\n"
    b"Call-ID: badvers.31417@c.example.com\r\n"
    b"CSeq:    1 OPTIONS\r\n"
    b"l: 0\r\n"
    b"\r\n")

MESSAGES["mismatch01"] = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:caller@example.net;tag=34525\r\n"
    b"Max-Forwards: 6\r\n"
    b"Call-ID: mismatch01.dj0234sxdfl3\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\r\n"
    b"l: 0\r\n"
    b"\r\n")

MESSAGES["mismatch02"] = (
    b"NEWMETHOD sip:user@example.com SIP/2.0\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:caller@example.net;tag=34525\r\n"
    b"Max-Forwards: 6\r\n"
    b"Call-ID: mismatch02.dj0234sxdfl3\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Contact: <sip:caller@host.example.net>\r\n"
    b"Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw\r\n"
    b"Content-Type: application/sdp\r\n"
    b"l: 138\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n"
    b"c=IN IP4 192.0.2.1\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n")

MESSAGES["bigcode"] = (
    b"SIP/2.0 4294967301 better not break the receiver\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\n"
    b"Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\r\n"
    b"CSeq: 353494 INVITE\r\n"
    b"From: <sip:user@example.com>;tag=39ansfi3\r\n"
    b"To: <sip:user@example.edu>;tag=902jndnke3\r\n"
    b"Content-Length: 0\r\n"
    b"Contact: <sip:user@host105.example.com>\r\n"
    b"\r\n")

MESSAGES["badbranch"] = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.org;tag=33242\r\n"
    b"Max-Forwards: 3\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\r\n"
    b"Accept: application/sdp\r\n"
    b"Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n\r\n"
    b"CSeq: 8 OPTIONS\r\n"
    b"l: 0\r\n"
    b"\r\n")

MESSAGES["insuf"] = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"CSeq: 193942 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\r\n"
    b"Content-Type: application/sdp\r\n"
    b"l: 152\r\n"
    b"\r\n" + _sdp(b"192.0.2.95"))

MESSAGES["unkscm"] = (
    b"OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=384\r\n"
    b"Max-Forwards: 3\r\n"
    b"Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34\r\n"
    b"CSeq: 3923423 OPTIONS\r\n"
    b"Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n")

MESSAGES["novelsc"] = (
    b"OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=384\r\n"
    b"Max-Forwards: 3\r\n"
    b"Call-ID: novelsc.asdfasser0q239nwsdfasdkl34\r\n"
    b"CSeq: 3923423 OPTIONS\r\n"
    b"Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n")

MESSAGES["unksm2"] = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"To: isbn:2983792873\r\n"
    b"From: <http://www.example.com>;tag=3234233\r\n"
    b"Call-ID: unksm2.daksdj@hyphenated-host.example.com\r\n"
    b"CSeq: 234902 REGISTER\r\n"
    b"Max-Forwards: 70\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw\r\n"
    b"Contact: <name:John_Smith>\r\n"
    b"l: 0\r\n"
    b"\r\n")

MESSAGES["bext01"] = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"To: sip:j_user@example.com\r\n"
    b"From: sip:caller@example.net;tag=242etr\r\n"
    b"Max-Forwards: 6\r\n"
    b"Call-ID: bext01.0ha0isndaksdj\r\n"
    b"Require: nothingSupportsThis, nothingSupportsThisEither\r\n"
    b"Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis\r\n"
    b"CSeq: 8 OPTIONS\r\n"
    b"Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n")

MESSAGES["invut"] = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"Contact: <sip:caller@host5.example.net>\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:caller@example.net;tag=8392034\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID: invut.0ha0isndaksdjadsfij34n23d\r\n"
    b"CSeq: 235448 INVITE\r\n"
    b"Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Content-Type: application/unknownformat\r\n"
    b"Content-Length: 40\r\n"
    b"\r\n"
    b"<audio>\r\n"
    b' <pcmu port="443"/>\r\n'
    b"</audio>\r\n")

MESSAGES["regaut01"] = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:j.user@example.com;tag=87321hj23128\r\n"
    b"Max-Forwards: 8\r\n"
    b"Call-ID: regaut01.0ha0isndaksdj\r\n"
    b"CSeq: 9338 REGISTER\r\n"
    b"Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw\r\n"
    b"Authorization: NoOneKnowsThisScheme opaque-data=here\r\n"
    b"Content-Length:0\r\n"
    b"\r\n")

MESSAGES["multi01"] = (
    b"INVITE sip:user@company.com SIP/2.0\r\n"
    b"Contact: <sip:caller@host25.example.net>\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw\r\n"
    b"Max-Forwards: 70\r\n"
    b"CSeq: 5 INVITE\r\n"
    b"Call-ID: multi01.98asdh@192.0.2.1\r\n"
    b"CSeq: 59 INVITE\r\n"
    b"Call-ID: multi01.98asdh@192.0.2.2\r\n"
    b"From: sip:caller@example.com;tag=3413415\r\n"
    b"To: sip:user@example.com\r\n"
    b"To: sip:other@example.net\r\n"
    b"From: sip:caller@example.net;tag=2923420123\r\n"
    b"Content-Type: application/sdp\r\n"
    b"l: 154\r\n"
    b"Contact: <sip:caller@host36.example.net>\r\n"
    b"Max-Forwards: 5\r\n"
    b"\r\n" + _sdp(b"192.0.2.25") + b"\r\n")

MESSAGES["mcl01"] = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:other@example.net;tag=3923942\r\n"
    b"Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf\r\n"
    b"CSeq: 15932 OPTIONS\r\n"
    b"Content-Length: 13\r\n"
    b"Max-Forwards: 60\r\n"
    b"Content-Length: 5\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"There's no way to know how many octets are supposed to be here.\r\n")

MESSAGES["bcast"] = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n"
    b"Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\r\n"
    b"Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf\r\n"
    b"CSeq: 35 INVITE\r\n"
    b"From: sip:user@example.com;tag=11141343\r\n"
    b"To: sip:user@example.edu;tag=2229\r\n"
    b"Content-Length: 154\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Contact: <sip:user@host28.example.com>\r\n"
    b"\r\n" + _sdp(b"192.0.2.198"))

MESSAGES["zeromf"] = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=3ghsd41\r\n"
    b"Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas\r\n"
    b"CSeq: 39234321 OPTIONS\r\n"
    b"Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i\r\n"
    b"Max-Forwards: 0\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n")

MESSAGES["cparam01"] = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe\r\n"
    b"To: sip:watson@example.com\r\n"
    b"Call-ID: cparam01.70710@saturn.example.com\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Contact: sip:+19725552222@gw1.example.net;unknownparam\r\n"
    b"l: 0\r\n"
    b"\r\n")

MESSAGES["cparam02"] = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: sip:watson@example.com;tag=838293\r\n"
    b"To: sip:watson@example.com\r\n"
    b"Call-ID: cparam02.70710@saturn.example.com\r\n"
    b"CSeq: 3 REGISTER\r\n"
    b"Contact: <sip:+19725552222@gw1.example.net;unknownparam>\r\n"
    b"l: 0\r\n"
    b"\r\n")

MESSAGES["regescrt"] = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:user@example.com;tag=8\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID: regescrt.k345asrl3fdbv@192.0.2.1\r\n"
    b"CSeq: 14398234 REGISTER\r\n"
    b"Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\r\n"
    b"M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>\r\n"
    b"L:0\r\n"
    b"\r\n")

MESSAGES["sdp01"] = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"To: sip:j_user@example.com\r\n"
    b"Contact: <sip:caller@host15.example.net>\r\n"
    b"From: sip:caller@example.net;tag=234\r\n"
    b"Max-Forwards: 5\r\n"
    b"Call-ID: sdp01.ndaksdj9342dasdd\r\n"
    b"Accept: text/nobodyKnowsThis\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw\r\n"
    b"Content-Length: 150\r\n"
    b"Content-Type: application/sdp\r\n"
    b"\r\n" + _sdp(b"192.0.2.5"))

MESSAGES["inv2543"] = (
    b"INVITE sip:UserB@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP iftgw.example.com\r\n"
    b"From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n"
    b"Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>\r\n"
    b"To: sip:+16505552222@ss1.example.net;user=phone\r\n"
    b"Call-ID: inv2543.1717@ift.client.example.com\r\n"
    b"CSeq: 56 INVITE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.5\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.5\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0\r\n")

# What the parser must do with each.  lwsstart, trws, escruri and badaspec are messages the
# RFC lets an element reject; this parser does (strict where the RFC allows it).
VERDICT = {
    "wsinv": "accept", "intmeth": "accept", "esc01": "accept", "escnull": "accept",
    "esc02": "accept", "lwsdisp": "accept", "longreq": "accept", "dblreq": "accept",
    "semiuri": "accept", "transports": "accept", "mpart01": "accept", "unreason": "accept",
    "noreason": "accept",
    "badinv01": 400, "clerr": 400, "ncl": 400, "scalar02": 400, "scalarlg": "drop",
    "quotbal": 400, "ltgtruri": 400, "lwsruri": 400, "lwsstart": 400, "trws": 400,
    "escruri": 400, "baddate": "accept", "regbadct": 400, "badaspec": 400, "baddn": 400,
    "badvers": 505, "mismatch01": 400, "mismatch02": 400, "bigcode": "drop",
    "badbranch": "accept", "insuf": 400, "unkscm": 416, "novelsc": 416, "unksm2": "accept",
    "bext01": "accept", "invut": "accept", "regaut01": "accept", "multi01": 400, "mcl01": 400,
    "bcast": "accept", "zeromf": "accept", "cparam01": "accept", "cparam02": "accept",
    "regescrt": "accept", "sdp01": "accept", "inv2543": "accept",
}

# Accepted by the parser, refused by a UAS core's checks (RFC 3261 §8.2.2, §8.2.3).
# Unknown methods get 501, MESSAGE (which this box does not take) 405.
APP_STATUS = {"bext01": 420, "invut": 415, "sdp01": 406, "esc02": 501, "intmeth": 501,
              "mpart01": 405}


# RFC 5118 §4 IPv6 torture messages, as the RFC gives them except for one known fault: the
# Content-Length of the three messages with SDP disagrees with their bodies as printed (268 for
# 251 octets in §4.6, 181 for 189 in §4.8, 236 for 245 in §4.9).  Over UDP a Content-Length
# larger than the body is a 400 (RFC 3261 §18.3) and a smaller one truncates the SDP, so the
# lengths below are the bodies' real ones; RFC5118_AS_PRINTED keeps the printed values.
_V6_COMMON = (b"To: sip:user@example.com\r\n"
              b"From: sip:user@example.com;tag=81x2\r\n"
              b"Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111\r\n"
              b"Call-ID: SSG9559905523997077@hlau_4100\r\n")


def _reg(uri: bytes, contact_first: bool) -> bytes:
    contact = b'Contact: "Caller" <sip:caller@[2001:db8::1]>\r\n'
    middle = (contact + b"Max-Forwards: 70\r\n") if contact_first else (b"Max-Forwards: 70\r\n" + contact)
    return (b"REGISTER " + uri + b" SIP/2.0\r\n" + _V6_COMMON + middle +
            b"CSeq: 98176 REGISTER\r\nContent-Length: 0\r\n\r\n")


IPV6 = {
    "ipv6-good": (_reg(b"sip:[2001:db8::10]", False), "accept"),
    "ipv6-bad": (_reg(b"sip:2001:db8::10", False), 400),
    "port-ambiguous": (_reg(b"sip:[2001:db8::10:5070]", True), "accept"),
    "port-unambiguous": (_reg(b"sip:[2001:db8::10]:5070", True), "accept"),
    "via-received-param-with-delim": (
        b"BYE sip:[2001:db8::10] SIP/2.0\r\n"
        b"To: sip:user@example.com;tag=bd76ya\r\n"
        b"From: sip:user@example.com;tag=81x2\r\n"
        b"Via: SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111\r\n"
        b"Call-ID: SSG9559905523997077@hlau_4100\r\n"
        b"Max-Forwards: 70\r\n"
        b"CSeq: 321 BYE\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n", "accept"),
    "via-received-param-no-delim": (
        b"OPTIONS sip:[2001:db8::10] SIP/2.0\r\n"
        b"To: sip:user@example.com\r\n"
        b"From: sip:user@example.com;tag=81x2\r\n"
        b"Via: SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3\r\n"
        b"Call-ID: SSG95523997077@hlau_4100\r\n"
        b"Max-Forwards: 70\r\n"
        b'Contact: "Caller" <sip:caller@[2001:db8::9:1]>\r\n'
        b"CSeq: 921 OPTIONS\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n", "accept"),
    "ipv6-in-sdp": (
        b"INVITE sip:user@[2001:db8::10] SIP/2.0\r\n"
        b"To: sip:user@[2001:db8::10]\r\n"
        b"From: sip:user@example.com;tag=81x2\r\n"
        b"Via: SIP/2.0/UDP [2001:db8::20];branch=z9hG4bKas3-111\r\n"
        b"Call-ID: SSG9559905523997077@hlau_4100\r\n"
        b'Contact: "Caller" <sip:caller@[2001:db8::20]>\r\n'
        b"CSeq: 8612 INVITE\r\n"
        b"Max-Forwards: 70\r\n"
        b"Content-Type: application/sdp\r\n"
        b"Content-Length: 251\r\n"
        b"\r\n"
        b"v=0\r\n"
        b"o=assistant 971731711378798081 0 IN IP6 2001:db8::20\r\n"
        b"s=Live video feed for today's meeting\r\n"
        b"c=IN IP6 2001:db8::20\r\n"
        b"t=3338481189 3370017201\r\n"
        b"m=audio 6000 RTP/AVP 2\r\n"
        b"a=rtpmap:2 G726-32/8000\r\n"
        b"m=video 6024 RTP/AVP 107\r\n"
        b"a=rtpmap:107 H263-1998/90000\r\n", "accept"),
    "mult-ip-in-header": (
        b"BYE sip:user@host.example.net SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKjhja8781hjuaij65144\r\n"
        b"Via: SIP/2.0/TCP [2001:db8::9:255];branch=z9hG4bK451jj;received=192.0.2.200\r\n"
        b"Call-ID: 997077@lau_4100\r\n"
        b"Max-Forwards: 70\r\n"
        b"CSeq: 89187 BYE\r\n"
        b"To: sip:user@example.net;tag=9817--94\r\n"
        b"From: sip:user@example.com;tag=81x2\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n", "accept"),
    "mult-ip-in-sdp": (
        b"INVITE sip:user@[2001:db8::10] SIP/2.0\r\n"
        b"To: sip:user@[2001:db8::10]\r\n"
        b"From: sip:user@example.com;tag=81x2\r\n"
        b"Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111\r\n"
        b"Call-ID: SSG9559905523997077@hlau_4100\r\n"
        b'Contact: "Caller" <sip:caller@[2001:db8::9:1]>\r\n'
        b"Max-Forwards: 70\r\n"
        b"CSeq: 8912 INVITE\r\n"
        b"Content-Type: application/sdp\r\n"
        b"Content-Length: 189\r\n"
        b"\r\n"
        b"v=0\r\n"
        b"o=bob 280744730 28977631 IN IP4 host.example.com\r\n"
        b"s=\r\n"
        b"t=0 0\r\n"
        b"m=audio 22334 RTP/AVP 0\r\n"
        b"c=IN IP4 192.0.2.1\r\n"
        b"m=video 6024 RTP/AVP 107\r\n"
        b"c=IN IP6 2001:db8::1\r\n"
        b"a=rtpmap:107 H263-1998/90000\r\n", "accept"),
    "ipv4-mapped-ipv6": (
        b"INVITE sip:user@example.com SIP/2.0\r\n"
        b"To: sip:user@example.com\r\n"
        b"From: sip:user@east.example.com;tag=81x2\r\n"
        b"Via: SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh19\r\n"
        b"Via: SIP/2.0/UDP [::ffff:192.0.2.2];branch=z9hG4bKas3-111\r\n"
        b"Call-ID: SSG9559905523997077@hlau_4100\r\n"
        b'Contact: "T. desk phone" <sip:ted@[::ffff:192.0.2.2]>\r\n'
        b"CSeq: 612 INVITE\r\n"
        b"Max-Forwards: 70\r\n"
        b"Content-Type: application/sdp\r\n"
        b"Content-Length: 245\r\n"
        b"\r\n"
        b"v=0\r\n"
        b"o=assistant 971731711378798081 0 IN IP6 ::ffff:192.0.2.2\r\n"
        b"s=Call me soon, please!\r\n"
        b"c=IN IP6 ::ffff:192.0.2.2\r\n"
        b"t=3338481189 3370017201\r\n"
        b"m=audio 6000 RTP/AVP 2\r\n"
        b"a=rtpmap:2 G726-32/8000\r\n"
        b"m=video 6024 RTP/AVP 107\r\n"
        b"a=rtpmap:107 H263-1998/90000\r\n", "accept"),
    "ipv6-bug-abnf-3-colons": (
        b"OPTIONS sip:user@[2001:db8:::192.0.2.1] SIP/2.0\r\n"
        b"To: sip:user@[2001:db8:::192.0.2.1]\r\n"
        b"From: sip:user@example.com;tag=810x2\r\n"
        b"Via: SIP/2.0/UDP lab1.east.example.com;branch=z9hG4bKas3-111\r\n"
        b"Call-ID: G9559905523997077@hlau_4100\r\n"
        b"CSeq: 689 OPTIONS\r\n"
        b"Max-Forwards: 70\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n", 400),
    "ipv6-correct-abnf-2-colons": (
        b"OPTIONS sip:user@[2001:db8::192.0.2.1] SIP/2.0\r\n"
        b"To: sip:user@[2001:db8::192.0.2.1]\r\n"
        b"From: sip:user@example.com;tag=810x2\r\n"
        b"Via: SIP/2.0/UDP lab1.east.example.com;branch=z9hG4bKas3-111\r\n"
        b"Call-ID: G9559905523997077@hlau_4100\r\n"
        b"CSeq: 689 OPTIONS\r\n"
        b"Max-Forwards: 70\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n", "accept"),
}

RFC5118_AS_PRINTED = {
    "ipv6-in-sdp": IPV6["ipv6-in-sdp"][0].replace(b"Content-Length: 251", b"Content-Length: 268"),
    "mult-ip-in-sdp": IPV6["mult-ip-in-sdp"][0].replace(b"Content-Length: 189", b"Content-Length: 181"),
    "ipv4-mapped-ipv6": IPV6["ipv4-mapped-ipv6"][0].replace(b"Content-Length: 245", b"Content-Length: 236"),
}

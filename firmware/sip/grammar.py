"""RFC 3261 §25 pieces: URIs (with RFC 5118 IPv6 references), parameters, name-addr, Via, CSeq.

Every parser here raises SipError naming what was wrong; none loops over characters in Python
where a compiled regex or a split does (the regexes are written so they cannot backtrack
badly: each alternative starts on a different character class).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from firmware.sip.errors import SipError

TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"
_TOKEN = re.compile(rf"[{TOKEN_CHARS}]+\Z")
_TOKEN_LIST = re.compile(rf"[{TOKEN_CHARS}]+(?:[ \t]+[{TOKEN_CHARS}]+)*\Z")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*\Z")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9.])?\Z")
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\Z")
# One item of a comma-separated list: quoted strings and <...> may hold commas.
_LIST_ITEM = re.compile(r'(?:"(?:[^"\\]|\\.)*"|<[^>]*>|[^,"<])*', re.S)
# One item of a semicolon-separated parameter list: quoted strings may hold semicolons.
_PARAM_ITEM = re.compile(r'(?:"(?:[^"\\]|\\.)*"|[^;"])*', re.S)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
_URI_CHARS = re.compile(r"[^\s<>\"]+\Z")

KNOWN_SCHEMES = frozenset({"sip", "sips", "tel"})


def is_token(text: str) -> bool:
    return bool(_TOKEN.match(text))


def quote_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote_string(text: str) -> str:
    return _QUOTED_PAIR.sub(r"\1", text)


def split_list(value: str, header: str) -> list[str]:
    """Split a header value on commas that are not inside quotes or <...>."""
    if '"' not in value and "<" not in value:
        return [item.strip() for item in value.split(",")]
    items, pos, end = [], 0, len(value)
    while True:
        match = _LIST_ITEM.match(value, pos)
        stop = match.end()
        items.append(value[pos:stop].strip())
        if stop == end:
            return items
        if value[stop] != ",":
            what = "unterminated quoted string" if value[stop] == '"' else "unbalanced '<'"
            raise SipError(what, header=header)
        pos = stop + 1


def parse_params(text: str, header: str, what: str = "parameter") -> dict[str, str | None]:
    """';name=value;flag' (leading ';' included) -> {lower-case name: value or None}.

    Values may be tokens, hosts (IPv6 references included) or quoted strings (kept unquoted).
    """
    params: dict[str, str | None] = {}
    text = text.strip()
    if not text:
        return params
    if text[0] != ";":
        raise SipError(f"unexpected {text[:20]!r} before the parameters", header=header)
    pos, end = 1, len(text)
    while True:
        match = _PARAM_ITEM.match(text, pos)
        stop = match.end()
        item = text[pos:stop].strip()
        if stop < end and text[stop] != ";":
            raise SipError(f"unterminated quoted string in a {what}", header=header)
        if not item:
            raise SipError(f"empty {what}", header=header)
        name, eq, value = item.partition("=")
        name = name.strip()
        if not is_token(name):
            raise SipError(f"bad {what} name {name[:30]!r}", header=header)
        if eq:
            value = value.strip()
            if value.startswith('"'):
                quoted = _QUOTED.fullmatch(value)
                if not quoted:
                    raise SipError(f"bad quoted value of {what} {name!r}", header=header)
                value = unquote_string(quoted.group(1))
            elif not value or any(ch in value for ch in ' \t"<>,'):
                raise SipError(f"bad value of {what} {name!r}", header=header)
            params[name.lower()] = value
        else:
            params[name.lower()] = None
        if stop >= end:
            return params
        pos = stop + 1


def format_params(params: dict[str, str | None]) -> str:
    out = []
    for name, value in params.items():
        if value is None:
            out.append(f";{name}")
        elif is_token(value) or _host_like(value):
            out.append(f";{name}={value}")
        else:
            out.append(f";{name}={quote_string(value)}")
    return "".join(out)


def _host_like(value: str) -> bool:
    return bool(re.fullmatch(r"\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+", value))


def parse_host(host: str, header: str | None) -> str:
    """A hostname, IPv4 address or bracketed IPv6 reference (RFC 5118), lower-cased."""
    if host.startswith("["):
        if not host.endswith("]"):
            raise SipError(f"unterminated IPv6 reference {host[:50]!r}", header=header)
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise SipError(f"bad IPv6 reference {host[:50]!r}", header=header) from None
        return host.lower()
    if _IPV4.match(host):
        if any(int(octet) > 255 for octet in host.split(".")):
            raise SipError(f"bad IPv4 address {host!r}", header=header)
        return host
    if not _HOSTNAME.match(host):
        raise SipError(f"bad host {host[:50]!r}", header=header)
    return host.lower()


def parse_port(text: str, header: str | None) -> int:
    if not text.isdigit() or len(text) > 5 or int(text) > 65535:
        raise SipError(f"bad port {text[:20]!r}", header=header)
    return int(text)


def unescape(text: str, header: str | None, what: str) -> str:
    if "%" not in text:
        return text
    if _BAD_ESCAPE.search(text):
        raise SipError(f"bad %-escape in the {what}", header=header)
    return unquote(text, errors="surrogateescape")


@dataclass
class Uri:
    """A SIP/SIPS URI (user, password, host, port, params, headers) or any other absolute URI
    (`opaque` holds what follows the scheme). User and parameter values are unescaped."""

    scheme: str
    host: str = ""
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    opaque: str = ""

    @property
    def is_sip(self) -> bool:
        return self.scheme in ("sip", "sips")

    @property
    def host_port(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def address_of_record(self) -> str:
        """scheme:user@host, the key a registrar files bindings under (RFC 3261 §10.3)."""
        if not self.is_sip:
            return f"{self.scheme}:{self.opaque}"
        user = f"{self.user}@" if self.user is not None else ""
        return f"{self.scheme}:{user}{self.host}"

    def __str__(self) -> str:
        if not self.is_sip:
            return f"{self.scheme}:{self.opaque}"
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(_escape(self.user, _USER_SAFE))
            if self.password is not None:
                out.append(":" + _escape(self.password, _USER_SAFE))
            out.append("@")
        out.append(self.host_port)
        for name, value in self.params.items():
            out.append(f";{_escape(name, _PARAM_SAFE)}")
            if value is not None:
                out.append("=" + _escape(value, _PARAM_SAFE))
        if self.headers:
            out.append("?" + "&".join(f"{_escape(k, _PARAM_SAFE)}={_escape(v, _PARAM_SAFE)}"
                                      for k, v in self.headers.items()))
        return "".join(out)


_USER_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                       "-_.!~*'()&=+$,;?/")
_PARAM_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "-_.!~*'()[]/:&+$")


def _escape(text: str, safe: frozenset) -> str:
    if all(ch in safe for ch in text):
        return text
    return "".join(ch if ch in safe else "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogateescape"))
                   for ch in text)


def parse_uri(text: str, header: str | None = None) -> Uri:
    """Parse any absolute URI; SIP and SIPS URIs are taken apart (RFC 3261 §19.1)."""
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME.match(scheme):
        raise SipError(f"no URI scheme in {text[:60]!r}", header=header)
    if not _URI_CHARS.match(text):
        raise SipError(f"whitespace or <>\" inside the URI {text[:60]!r}", header=header)
    scheme = scheme.lower()
    if scheme not in ("sip", "sips"):
        if not rest:
            raise SipError(f"empty {scheme}: URI", header=header)
        return Uri(scheme=scheme, opaque=rest)
    user = password = None
    at = rest.rfind("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1:]
        if not userinfo:
            raise SipError("empty user part before '@' in the URI", header=header)
        raw_user, has_pw, raw_pw = userinfo.partition(":")
        user = unescape(raw_user, header, "URI user part")
        password = unescape(raw_pw, header, "URI password") if has_pw else None
    hostport, qmark, raw_headers = rest.partition("?")
    hostport, semi, raw_params = hostport.partition(";")
    if hostport.startswith("["):
        close = hostport.find("]")
        host_text, after = (hostport[:close + 1], hostport[close + 1:]) if close > 0 else (hostport, "")
        if after and not after.startswith(":"):
            raise SipError(f"junk after the IPv6 reference {hostport[:60]!r}", header=header)
        port_text = after[1:] if after else None
    else:
        host_text, has_port, port_text = hostport.partition(":")
        port_text = port_text if has_port else None
    if not host_text:
        raise SipError("no host in the SIP URI", header=header)
    host = parse_host(host_text, header)
    port = parse_port(port_text, header) if port_text is not None else None
    params: dict[str, str | None] = {}
    if semi:
        for item in raw_params.split(";"):
            if not item:
                raise SipError("empty URI parameter", header=header)
            name, eq, value = item.partition("=")
            name = unescape(name, header, "URI parameter").lower()
            if not name:
                raise SipError("URI parameter without a name", header=header)
            params[name] = unescape(value, header, "URI parameter") if eq else None
    headers: dict[str, str] = {}
    if qmark:
        for item in raw_headers.split("&"):
            name, eq, value = item.partition("=")
            if not name or not eq:
                raise SipError(f"bad URI header {item[:40]!r}", header=header)
            headers[unescape(name, header, "URI header")] = unescape(value, header, "URI header")
    return Uri(scheme=scheme, host=host, user=user, password=password, port=port,
               params=params, headers=headers)


# name-addr: optional display name (token list or quoted string), then <URI>, then params.
_NAME_ADDR = re.compile(r'[ \t]*(?:"((?:[^"\\]|\\.)*)"[ \t]*|([^"<]*))<([^<>]*)>(.*)\Z', re.S)


@dataclass
class NameAddr:
    """From, To, Contact, Route, Record-Route, Refer-To...: display name, URI, header params."""

    uri: Uri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        name = f"{quote_string(self.display_name)} " if self.display_name else ""
        return f"{name}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(value: str, header: str) -> NameAddr:
    """`"Name" <uri>;params`, `Name <uri>;params` or a bare addr-spec `uri;params`."""
    value = value.strip()
    if not value:
        raise SipError("empty value", header=header)
    if "<" in value or value.startswith('"'):
        match = _NAME_ADDR.match(value)
        if not match:
            if value.count('"') % 2:
                raise SipError("unterminated quoted string", header=header)
            raise SipError("malformed name-addr", header=header)
        quoted, plain, uri_text, rest = match.groups()
        if uri_text != uri_text.strip():
            raise SipError("whitespace inside <...>", header=header)
        display = None
        if quoted is not None:
            display = unquote_string(quoted)
        elif plain and plain.strip():
            plain = plain.strip()
            if not _TOKEN_LIST.match(plain):
                raise SipError(f"display name {plain[:40]!r} must be quoted", header=header)
            display = plain
        uri = parse_uri(uri_text, header)
        return NameAddr(uri=uri, display_name=display, params=parse_params(rest, header))
    # addr-spec without <>: its URI cannot carry ';', '?' or ',' (RFC 3261 §20.10).
    uri_text, semi, rest = value.partition(";")
    uri_text = uri_text.strip()
    if "?" in uri_text:
        raise SipError("a URI with headers must be enclosed in <>", header=header)
    if " " in uri_text or "\t" in uri_text:
        raise SipError("whitespace inside the URI (or an unquoted display name)", header=header)
    uri = parse_uri(uri_text, header)
    return NameAddr(uri=uri, params=parse_params(semi + rest, header))


_VIA = re.compile(
    r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*/[ \t]*"
    r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+(\[[^\]\s]*\]|[^\s;:\[]+)(?:[ \t]*:[ \t]*([^\s;]*))?[ \t]*(.*)\Z",
    re.S)


@dataclass
class Via:
    """One Via value: SIP/2.0/transport sent-by;params (branch, received, rport...)."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"


def parse_via(value: str) -> Via:
    match = _VIA.match(value)
    if not match:
        raise SipError(f"malformed value {value.strip()[:50]!r}", header="Via")
    name, version, transport, host, port, rest = match.groups()
    if name.upper() != "SIP":
        raise SipError(f"protocol {name!r} is not SIP", header="Via")
    host = parse_host(host, "Via")
    port_num = parse_port(port, "Via") if port is not None else None
    params = parse_params(rest, "Via")
    if "branch" in params and not params["branch"]:
        raise SipError("empty branch", header="Via")
    if params.get("rport") is not None:
        parse_port(params["rport"], "Via")
    if params.get("received") is not None:
        received = params["received"]
        try:
            ipaddress.ip_address(received.strip("[]"))
        except ValueError:
            raise SipError(f"received={received[:40]!r} is not an IP address", header="Via") from None
    return Via(transport=transport.upper(), host=host, port=port_num, params=params,
               protocol=f"{name.upper()}/{version}")


@dataclass
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


_CSEQ = re.compile(rf"[ \t]*(\d+)[ \t]+([{TOKEN_CHARS}]+)[ \t]*\Z")


def parse_cseq(value: str) -> CSeq:
    match = _CSEQ.match(value)
    if not match:
        raise SipError(f"malformed value {value.strip()[:40]!r}", header="CSeq")
    number = int(match.group(1)) if len(match.group(1)) < 20 else 1 << 64
    if number >= 1 << 31:  # RFC 3261 §8.1.1.5: less than 2**31
        raise SipError("sequence number too large", header="CSeq")
    return CSeq(number, match.group(2))


def parse_integer(value: str, header: str, limit: int) -> int:
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        raise SipError(f"not a number: {text[:30]!r}", header=header)
    if len(text) > 12 or int(text) > limit:
        raise SipError(f"value {text[:20]} too large", header=header)
    return int(text)


def parse_media_type(value: str, header: str = "Content-Type") -> tuple[str, dict[str, str | None]]:
    """'type/subtype;params' -> ('type/subtype' lower-cased, params)."""
    media, semi, rest = value.strip().partition(";")
    kind, slash, sub = media.strip().partition("/")
    if not slash or not is_token(kind.strip()) or not is_token(sub.strip()):
        raise SipError(f"bad media type {media.strip()[:40]!r}", header=header)
    return f"{kind.strip()}/{sub.strip()}".lower(), parse_params(semi + rest, header)

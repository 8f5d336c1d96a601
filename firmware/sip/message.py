"""SIP messages (RFC 3261 §7, §20): parse from a datagram or a stream, inspect, build.

`parse_message(data)` returns a Request or Response, or raises SipError naming the fault;
`decode(data)` returns either one, never raising.  `StreamParser` frames messages on TCP by
Content-Length.  `error_response(data, error)` builds the answer to a malformed request from
whatever headers of it can be read, or None when no answer can be addressed.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Iterable

from firmware.sip.errors import SipError
from firmware.sip.grammar import (CSeq, NameAddr, Uri, Via, parse_cseq, parse_integer,
                                  parse_media_type, parse_name_addr, parse_uri, parse_via,
                                  split_list, TOKEN_CHARS)

# RFC 3261 §7.3.3 and the IANA registry of compact forms.
COMPACT_FORMS = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
    "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To", "v": "Via",
    "o": "Event", "u": "Allow-Events", "r": "Refer-To", "b": "Referred-By", "a": "Accept-Contact",
    "j": "Reject-Contact", "d": "Request-Disposition", "x": "Session-Expires", "y": "Identity",
    "n": "Identity-Info",
}
_CANONICAL = {name.lower(): name for name in (
    "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
    "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact", "Content-Disposition",
    "Content-Encoding", "Content-Language", "Content-Length", "Content-Type", "CSeq", "Date",
    "Diversion", "Error-Info", "Event", "Expires", "From", "History-Info", "In-Reply-To",
    "Max-Forwards", "Min-Expires", "Min-SE", "MIME-Version", "Organization", "P-Asserted-Identity",
    "P-Preferred-Identity", "Path", "Priority", "Privacy", "Proxy-Authenticate",
    "Proxy-Authorization", "Proxy-Require", "RAck", "Reason", "Record-Route", "Refer-To",
    "Referred-By", "Replaces", "Reply-To", "Require", "Retry-After", "Route", "RSeq", "Server",
    "Service-Route", "Session-Expires", "Subject", "Subscription-State", "Supported", "Timestamp",
    "To", "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate", "Accept-Contact",
    "Reject-Contact", "Request-Disposition", "Identity", "Identity-Info")}
_CANONICAL.update({short: long for short, long in COMPACT_FORMS.items()})

# Headers whose values are comma-separated lists (RFC 3261 §7.3.1); others are never split
# (Date, WWW-Authenticate and friends contain commas of their own).
LIST_HEADERS = frozenset({
    "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
    "Call-Info", "Contact", "Content-Encoding", "Content-Language", "Diversion", "Error-Info",
    "History-Info", "In-Reply-To", "P-Asserted-Identity", "Path", "Proxy-Require", "Reason",
    "Record-Route", "Require", "Route", "Service-Route", "Supported", "Unsupported", "Via",
    "Warning", "Accept-Contact", "Reject-Contact", "Privacy",
})
SINGLE_HEADERS = ("Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Type", "Expires",
                  "Min-Expires", "RSeq", "RAck", "Session-Expires", "Min-SE", "Refer-To")

_SINGLE = frozenset(SINGLE_HEADERS)
_HEADER_NAME = re.compile(rf"[{TOKEN_CHARS}]+\Z")
_FOLD = re.compile(r"\r\n[ \t]+")
_REQUEST_LINE = re.compile(rf"([{TOKEN_CHARS}]+) (\S+) ([Ss][Ii][Pp]/(\d+)\.(\d+))\Z")
_STATUS_LINE = re.compile(r"[Ss][Ii][Pp]/(\d+)\.(\d+) (\d+) ([^\r\n]*)\Z")
_VERSION_ONLY = re.compile(r"\S+ \S+ [Ss][Ii][Pp]/\S*\Z")

MAX_MESSAGE_BYTES = 65535     # the largest UDP datagram; streams obey the same bound
MAX_HEADER_BYTES = 32768


_KNOWN = frozenset(_CANONICAL.values())


def canonical_name(name: str) -> str:
    return _CANONICAL.get(name.lower(), name)


@dataclass
class Message:
    """What requests and responses share: ordered header fields and the body."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    # -- reading ------------------------------------------------------------------------
    def get(self, name: str, default: str | None = None) -> str | None:
        name = canonical_name(name)
        known = name in _KNOWN
        for key, value in self.headers:
            if key == name or not known and key.lower() == name.lower():
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, list headers split on their commas."""
        name = canonical_name(name)
        out: list[str] = []
        known = name in _KNOWN
        for key, value in self.headers:
            if key != name and (known or key.lower() != name.lower()):
                continue
            if name in LIST_HEADERS:
                out.extend(item for item in split_list(value, name) if item)
            else:
                out.append(value)
        return out

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.get_all("Via")]

    @property
    def top_via(self) -> Via:
        return parse_via(self.get_all("Via")[0])

    @property
    def from_(self) -> NameAddr:
        return parse_name_addr(self.get("From") or "", "From")

    @property
    def to(self) -> NameAddr:
        return parse_name_addr(self.get("To") or "", "To")

    @property
    def call_id(self) -> str:
        return (self.get("Call-ID") or "").strip()

    @property
    def cseq(self) -> CSeq:
        return parse_cseq(self.get("CSeq") or "")

    @property
    def contacts(self) -> list[NameAddr]:
        return [parse_name_addr(v, "Contact") for v in self.get_all("Contact") if v != "*"]

    @property
    def content_type(self) -> str | None:
        value = self.get("Content-Type")
        return parse_media_type(value)[0] if value is not None else None

    def option_tags(self, name: str) -> list[str]:
        return [tag.strip().lower() for tag in self.get_all(name)]

    # -- changing -----------------------------------------------------------------------
    def set(self, name: str, value: str) -> None:
        """Replace every value of `name` with one (kept in place of the first)."""
        name = canonical_name(name)
        for i, (key, _) in enumerate(self.headers):
            if key == name:
                self.headers[i] = (name, str(value))
                self.headers = [h for j, h in enumerate(self.headers) if h[0] != name or j == i]
                return
        self.headers.append((name, str(value)))

    def add(self, name: str, value: str, first: bool = False) -> None:
        entry = (canonical_name(name), str(value))
        if first:
            self.headers.insert(0, entry)
        else:
            self.headers.append(entry)

    def remove(self, name: str) -> None:
        name = canonical_name(name)
        self.headers = [h for h in self.headers if h[0] != name]

    # -- building -----------------------------------------------------------------------
    def start_line(self) -> str:
        raise TypeError("only a Request or a Response has a start line")

    def to_bytes(self) -> bytes:
        lines = [self.start_line()]
        lines.extend(f"{name}: {value}" for name, value in self.headers if name != "Content-Length")
        lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()


@dataclass
class Request(Message):
    method: str = "OPTIONS"
    uri: Uri | None = None
    raw_uri: str = ""

    def start_line(self) -> str:
        return f"{self.method} {self.uri if self.uri is not None else self.raw_uri} SIP/2.0"

    def __repr__(self) -> str:
        return f"<Request {self.start_line()} call-id={self.call_id!r}>"


@dataclass
class Response(Message):
    status: int = 200
    reason: str = "OK"

    def start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason!r} call-id={self.call_id!r}>"


# --- parsing ------------------------------------------------------------------------------

def _split_head(data: bytes) -> tuple[bytes, bytes]:
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if data.endswith(b"\r\n"):  # headers ending right at the end of a datagram, no body
            return data[:-2], b""
        raise SipError("no empty line after the header fields")
    return data[:end], data[end + 4:]


def parse_message(data: bytes, stream: bool = False) -> Request | Response:
    """Parse one complete message; on a datagram, octets past Content-Length are discarded."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SipError("a message is bytes")
    data = bytes(data)
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipError("Message Too Large", status=513)
    data = data.lstrip(b"\r\n")
    if not data:
        raise SipError("empty message")
    head_bytes, rest = _split_head(data)
    if len(head_bytes) > MAX_HEADER_BYTES:
        raise SipError("Message Too Large", status=513)
    head = head_bytes.decode("utf-8", "surrogateescape")
    head = _FOLD.sub(" ", head)
    lines = head.split("\r\n")
    start = lines[0]
    headers = _parse_header_lines(lines[1:])
    msg = _parse_start_line(start)
    msg.headers = headers
    msg.body = _frame_body(msg, rest, stream)
    _validate(msg)
    if isinstance(msg, Request) and msg.uri is None:
        raise SipError("Unsupported URI Scheme", status=416)
    return msg


def decode(data: bytes, stream: bool = False) -> Request | Response | SipError:
    """parse_message that returns the SipError instead of raising it."""
    try:
        return parse_message(data, stream)
    except SipError as error:
        return error


def _parse_start_line(start: str) -> Request | Response:
    if start[:4].upper() == "SIP/":
        match = _STATUS_LINE.match(start)
        if not match:
            raise SipError("Malformed Status-Line")
        major, minor, code, reason = match.groups()
        if (major, minor) != ("2", "0"):
            raise SipError("Version Not Supported", status=505)
        if len(code) != 3 or not 100 <= int(code) <= 699:
            raise SipError(f"status code {code[:12]} out of range")
        return Response(status=int(code), reason=reason)
    match = _REQUEST_LINE.match(start)
    if not match:
        if _VERSION_ONLY.match(start) and not start.upper().endswith("SIP/2.0"):
            raise SipError("Version Not Supported", status=505)
        raise SipError("Malformed Request-Line")
    method, uri_text, _, major, minor = match.groups()
    if (major, minor) != ("2", "0"):
        raise SipError("Version Not Supported", status=505)
    if uri_text.startswith("<"):
        raise SipError("Request-URI must not be enclosed in <>")
    scheme = uri_text.partition(":")[0].lower()
    if scheme not in ("sip", "sips", "tel"):
        if ":" not in uri_text:
            raise SipError("Request-URI has no scheme")
        # Answered 416 once the rest of the message has proved well formed.
        return Request(method=method, uri=None, raw_uri=uri_text)
    uri = parse_uri(uri_text, "Request-URI")
    if uri.headers:
        raise SipError("Request-URI must not carry headers")
    return Request(method=method, uri=uri, raw_uri=uri_text)


def _parse_header_lines(lines: Iterable[str]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon:
            raise SipError(f"header line without a colon: {line[:40]!r}")
        name = name.rstrip(" \t")
        if not _HEADER_NAME.match(name):
            raise SipError(f"bad header name {name[:40]!r}")
        headers.append((canonical_name(name), value.strip(" \t")))
    return headers


def _frame_body(msg: Message, rest: bytes, stream: bool) -> bytes:
    lengths = {v.strip() for k, v in msg.headers if k == "Content-Length"}
    if len(lengths) > 1:
        raise SipError("conflicting values", header="Content-Length")
    if not lengths:
        if stream:
            raise SipError("missing on a stream transport", header="Content-Length")
        return rest
    text = lengths.pop()
    if text.startswith("-"):
        raise SipError("negative value", header="Content-Length")
    if text.isdigit() and len(text) < 20 and int(text) > MAX_MESSAGE_BYTES:
        raise SipError("Request Entity Too Large", status=413)
    length = parse_integer(text, "Content-Length", MAX_MESSAGE_BYTES)
    if length > len(rest):
        raise SipError(f"says {length} octets but {len(rest)} arrived", header="Content-Length")
    return rest[:length]


def _validate(msg: Request | Response) -> None:
    for name, value in msg.headers:  # so that get_all() of a parsed message never fails
        if name in LIST_HEADERS:
            split_list(value, name)
    seen: set[str] = set()
    for name, _ in msg.headers:
        if name in _SINGLE and name in seen:
            raise SipError("more than one value", header=name)
        seen.add(name)
    required = ("Via", "From", "To", "Call-ID", "CSeq")
    for name in required:
        if msg.get(name) is None:
            raise SipError("missing", header=name)
    vias = msg.vias
    if not vias:
        raise SipError("missing", header="Via")
    from_, to = msg.from_, msg.to
    if len(msg.get_all("To")) != 1 or len(msg.get_all("From")) != 1:
        raise SipError("more than one value", header="To")
    call_id = msg.call_id
    if not call_id or any(ch.isspace() for ch in call_id):
        raise SipError("empty or contains whitespace", header="Call-ID")
    cseq = msg.cseq
    max_forwards = msg.get("Max-Forwards")
    if max_forwards is not None:
        parse_integer(max_forwards, "Max-Forwards", 255)
    for name in ("Expires", "Min-Expires"):
        value = msg.get(name)
        if value is not None:
            parse_integer(value, name, 2**32 - 1)
    contacts = msg.get_all("Contact")
    if contacts and not (contacts == ["*"]):
        if "*" in contacts:
            raise SipError("'*' mixed with other contacts", header="Contact")
        for value in contacts:
            parse_name_addr(value, "Contact")
    for name in ("Route", "Record-Route"):
        for value in msg.get_all(name):
            parse_name_addr(value, name)
    if msg.get("Content-Type") is not None:
        parse_media_type(msg.get("Content-Type"))
    if isinstance(msg, Request):
        if cseq.method != msg.method:
            raise SipError(f"method {cseq.method!r} differs from the Request-Line's {msg.method!r}",
                           header="CSeq")
    del from_, to


# --- the answer to a message we could not accept -----------------------------------------

_RAW_HEADER = re.compile(r"^([^:\r\n]+?)[ \t]*:[ \t]*(.*)$", re.M)


def error_response(data: bytes, error: SipError) -> Response | None:
    """The response to a rejected request (RFC 3261 §8.2, §21): status and reason from the
    error, Via/From/To/Call-ID/CSeq copied from whatever of the request can be read.
    None when the message was a response (never answered) or no Via can be read."""
    try:
        text = bytes(data).lstrip(b"\r\n")
        head = _FOLD.sub(" ", text.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace"))
        first, _, rest = head.partition("\r\n")
        if first[:4].upper() == "SIP/":
            return None
        copied: list[tuple[str, str]] = []
        for match in _RAW_HEADER.finditer(rest):
            name = canonical_name(match.group(1).strip())
            if name in ("Via", "From", "To", "Call-ID", "CSeq"):
                copied.append((name, match.group(2).strip()))
        if not any(name == "Via" for name, _ in copied):
            return None
        if not any(name == "Call-ID" for name, _ in copied):
            return None
        # A final response outside a dialog carries a To tag (RFC 3261 §8.2.6.2).
        copied = [(name, value if name != "To" or ";tag=" in value.replace(" ", "").lower()
                   else f"{value};tag=e{zlib.crc32(value.encode('utf-8', 'replace')):08x}")
                  for name, value in copied]
        response = Response(status=error.status, reason=error.phrase, headers=copied)
        for name, value in error.extra_headers:
            response.add(name, value)
        return response
    except Exception:  # noqa: BLE001 -- a best-effort answer to junk must never raise
        return None


# --- stream framing (TCP, TLS) -------------------------------------------------------------

_CONTENT_LENGTH = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", re.I)


class StreamParser:
    """Frames SIP messages on a byte stream by Content-Length (RFC 3261 §18.3).

    feed() bytes as they arrive; next_message() gives the next complete Request/Response,
    a SipError for one that cannot be framed or parsed (the connection should then be closed,
    as the stream has lost its framing), or None while more bytes are needed.
    """

    def __init__(self, max_message: int = MAX_MESSAGE_BYTES):
        self._buffer = bytearray()
        self._max = max_message
        self.broken = False

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_message(self) -> Request | Response | SipError | None:
        if self.broken:
            return None
        # CRLF keepalives (RFC 5626 §3.5.1) between messages are not messages.
        while self._buffer[:2] == b"\r\n":
            del self._buffer[:2]
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                return self._fail(SipError("Message Too Large", status=513))
            return None
        head = bytes(self._buffer[:end + 2])
        lengths = {m.group(1).strip() for m in _CONTENT_LENGTH.finditer(head.replace(b"\r\n ", b" "))}
        if len(lengths) != 1:
            what = "missing on a stream transport" if not lengths else "conflicting values"
            return self._fail(SipError(what, header="Content-Length"))
        text = lengths.pop()
        if not text.isdigit() or len(text) > 9:
            return self._fail(SipError(f"bad value {text[:20]!r}", header="Content-Length"))
        total = end + 4 + int(text)
        if int(text) > self._max:
            return self._fail(SipError("Request Entity Too Large", status=413))
        if total > self._max:
            return self._fail(SipError("Message Too Large", status=513))
        if len(self._buffer) < total:
            return None
        data = bytes(self._buffer[:total])
        del self._buffer[:total]
        result = decode(data, stream=True)
        if isinstance(result, SipError):
            result.raw = data
        return result

    def _fail(self, error: SipError) -> SipError:
        self.broken = True
        error.raw = bytes(self._buffer)
        self._buffer.clear()
        return error


# --- building responses and requests ----------------------------------------------------------

REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 413: "Request Entity Too Large",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    421: "Extension Required", 422: "Session Interval Too Small", 423: "Interval Too Brief",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 482: "Loop Detected",
    483: "Too Many Hops", 484: "Address Incomplete", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 500: "Server Internal Error",
    501: "Not Implemented", 503: "Service Unavailable", 504: "Server Time-out",
    505: "Version Not Supported", 513: "Message Too Large", 603: "Decline",
}


def make_response(request: Request, status: int, reason: str | None = None,
                  to_tag: str | None = None) -> Response:
    """A response to `request` (RFC 3261 §8.2.6): Via, From, To, Call-ID, CSeq copied, the To
    tag added when given and not already present; 100 Trying echoes Timestamp."""
    response = Response(status=status, reason=reason or REASONS.get(status, "Unknown"))
    for name, value in request.headers:
        if name in ("Via", "From", "Call-ID", "CSeq") or (name == "Timestamp" and status == 100):
            response.headers.append((name, value))
        elif name == "To":
            if to_tag and ";tag=" not in value.replace(" ", "").lower() and status != 100:
                value = f"{value};tag={to_tag}"
            response.headers.append((name, value))
    return response

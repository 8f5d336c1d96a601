"""SDP (RFC 4566) parse/build and the offer/answer model (RFC 3264) for the box's audio legs.

Codecs: PCMA (8), PCMU (0), G.729 (18, fmtp annexb=yes/no) and telephone-event (RFC 4733).
Hold and resume by direction attributes, and the legacy c=0.0.0.0 hold is recognised.
A broken SDP raises SipError with status 488 naming the line and the fault.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from firmware.sip.errors import SipError

STATIC_PAYLOADS = {0: ("PCMU", 8000), 3: ("GSM", 8000), 4: ("G723", 8000), 8: ("PCMA", 8000),
                   9: ("G722", 8000), 13: ("CN", 8000), 18: ("G729", 8000)}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_REVERSE = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
            "inactive": "inactive"}


def _fail(line_no: int, what: str) -> SipError:
    return SipError(f"line {line_no}: {what}" if line_no else what, status=488, header="SDP")


@dataclass
class Media:
    kind: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None          # address of a media-level c= line
    rtpmap: dict[int, tuple[str, int, int | None]] = field(default_factory=dict)
    fmtp: dict[int, str] = field(default_factory=dict)
    ptime: int | None = None
    direction: str | None = None
    attributes: list[str] = field(default_factory=list)   # other a= lines, as written

    def codec(self, pt: int) -> tuple[str, int] | None:
        if pt in self.rtpmap:
            name, clock, _ = self.rtpmap[pt]
            return name.upper(), clock
        return STATIC_PAYLOADS.get(pt)

    @property
    def payload_types(self) -> list[int]:
        return [int(f) for f in self.formats if f.isdigit()]


@dataclass
class SessionDescription:
    origin: tuple[str, str, str, str, str, str]   # username sess-id version nettype addrtype address
    name: str = "-"
    connection: str | None = None
    timing: str = "0 0"
    media: list[Media] = field(default_factory=list)
    direction: str | None = None
    attributes: list[str] = field(default_factory=list)

    @property
    def version(self) -> int:
        return int(self.origin[2])

    def media_address(self, media: Media) -> str | None:
        return media.connection or self.connection

    def media_direction(self, media: Media) -> str:
        return media.direction or self.direction or "sendrecv"

    def to_bytes(self) -> bytes:
        lines = ["v=0", "o=" + " ".join(self.origin), f"s={self.name or '-'}"]
        if self.connection:
            lines.append(f"c=IN {_addrtype(self.connection)} {self.connection}")
        lines.append(f"t={self.timing}")
        if self.direction:
            lines.append(f"a={self.direction}")
        lines.extend(f"a={a}" for a in self.attributes)
        for m in self.media:
            lines.append(f"m={m.kind} {m.port} {m.proto} {' '.join(m.formats)}")
            if m.connection:
                lines.append(f"c=IN {_addrtype(m.connection)} {m.connection}")
            for pt in m.payload_types:
                if pt in m.rtpmap:
                    name, clock, channels = m.rtpmap[pt]
                    lines.append(f"a=rtpmap:{pt} {name}/{clock}" + (f"/{channels}" if channels else ""))
                if pt in m.fmtp:
                    lines.append(f"a=fmtp:{pt} {m.fmtp[pt]}")
            if m.ptime:
                lines.append(f"a=ptime:{m.ptime}")
            lines.extend(f"a={a}" for a in m.attributes)
            if m.direction:
                lines.append(f"a={m.direction}")
        return ("\r\n".join(lines) + "\r\n").encode()


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def parse_sdp(data: bytes) -> SessionDescription:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(0, "not UTF-8 text") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != "v=0":
        raise _fail(1, "must start with v=0")
    session: SessionDescription | None = None
    seen = set()
    media: Media | None = None
    for number, line in enumerate(lines[1:], start=2):
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise _fail(number, f"not a type=value line: {line[:30]!r}")
        kind, value = line[0], line[2:]
        if kind == "o":
            parts = value.split()
            if len(parts) != 6 or not parts[1].isdigit() or not parts[2].isdigit():
                raise _fail(number, "o= needs username sess-id sess-version IN IP4|IP6 address")
            session = SessionDescription(origin=tuple(parts))
        elif session is None:
            raise _fail(number, "o= must come second")
        elif kind == "s" and media is None:
            session.name = value
        elif kind == "t" and media is None:
            parts = value.split()
            if len(parts) != 2 or not all(p.isdigit() for p in parts):
                raise _fail(number, "t= needs start and stop times")
            session.timing = value
        elif kind == "c":
            address = _parse_connection(value, number)
            if media is None:
                session.connection = address
            else:
                media.connection = address
        elif kind == "m":
            media = _parse_media_line(value, number)
            session.media.append(media)
        elif kind == "a":
            _parse_attribute(value, media, session, number)
        elif kind not in "ibkzeurp":
            raise _fail(number, f"unknown line type {kind!r}")
        seen.add(kind if media is None else "m" + kind)
    if session is None:
        raise _fail(0, "no o= line")
    for required in ("s", "t"):
        if required not in seen:
            raise _fail(0, f"no {required}= line")
    for m in session.media:
        if m.port and session.media_address(m) is None:
            raise _fail(0, f"no c= line for the {m.kind} stream")
    return session


def _parse_connection(value: str, number: int) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise _fail(number, "c= needs IN IP4|IP6 address")
    address = parts[2].split("/")[0]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        if all(ch.isalnum() or ch in "-." for ch in address) and not address.replace(".", "").isdigit():
            return address  # a host name; the caller resolves it
        raise _fail(number, f"bad address {address[:40]!r}") from None
    if (parsed.version == 6) != (parts[1] == "IP6"):
        raise _fail(number, f"address {address} is not {parts[1]}")
    return address


def _parse_media_line(value: str, number: int) -> Media:
    parts = value.split()
    if len(parts) < 4:
        raise _fail(number, "m= needs media port proto formats")
    port_text = parts[1].split("/")[0]
    if not port_text.isdigit() or int(port_text) > 65535:
        raise _fail(number, f"bad port {parts[1][:10]!r}")
    if parts[2].startswith("RTP/") and not all(f.isdigit() and int(f) < 128 for f in parts[3:]):
        raise _fail(number, "RTP payload types are numbers below 128")
    return Media(kind=parts[0], port=int(port_text), proto=parts[2], formats=parts[3:])


def _parse_attribute(value: str, media: Media | None, session: SessionDescription, number: int) -> None:
    name, colon, rest = value.partition(":")
    if name in DIRECTIONS:
        if media is None:
            session.direction = name
        else:
            media.direction = name
        return
    if media is None:
        session.attributes.append(value)
        return
    if name == "rtpmap":
        pt, _, spec = rest.partition(" ")
        fields = spec.strip().split("/")
        if not pt.isdigit() or len(fields) < 2 or not fields[1].isdigit() or \
                (len(fields) > 2 and not fields[2].isdigit()):
            raise _fail(number, f"bad rtpmap {rest[:40]!r}")
        media.rtpmap[int(pt)] = (fields[0], int(fields[1]), int(fields[2]) if len(fields) > 2 else None)
    elif name == "fmtp":
        pt, _, params = rest.partition(" ")
        if not pt.isdigit():
            raise _fail(number, f"bad fmtp {rest[:40]!r}")
        media.fmtp[int(pt)] = params.strip()
    elif name == "ptime":
        if not rest.strip().isdigit() or not 1 <= int(rest) <= 1000:
            raise _fail(number, f"bad ptime {rest[:10]!r}")
        media.ptime = int(rest)
    else:
        media.attributes.append(value)


# --- offer / answer -------------------------------------------------------------------------

CODEC_PAYLOADS = {"PCMU": 0, "PCMA": 8, "G729": 18}


@dataclass
class AudioConfig:
    """What this side offers and accepts, in preference order."""

    address: str
    port: int
    codecs: tuple[str, ...] = ("PCMA", "PCMU", "G729")
    g729_annexb: bool = False
    telephone_event_pt: int | None = 101
    ptime: int = 20


@dataclass
class NegotiatedAudio:
    """The outcome of one offer/answer exchange for the audio stream."""

    remote_address: str
    remote_port: int
    codec: str
    payload_type: int
    telephone_event_pt: int | None
    ptime: int
    direction: str                  # what this side does: sendrecv, sendonly, recvonly, inactive
    g729_annexb: bool = False

    @property
    def remote_holds(self) -> bool:
        return self.direction in ("recvonly", "inactive") or self.remote_address in ("0.0.0.0", "::")


def make_offer(config: AudioConfig, session_id: int, version: int = 1,
               direction: str = "sendrecv") -> SessionDescription:
    formats, rtpmap, fmtp = [], {}, {}
    for name in config.codecs:
        pt = CODEC_PAYLOADS[name]
        formats.append(str(pt))
        rtpmap[pt] = (name, 8000, None)
        if name == "G729":
            fmtp[pt] = "annexb=yes" if config.g729_annexb else "annexb=no"
    if config.telephone_event_pt is not None:
        formats.append(str(config.telephone_event_pt))
        rtpmap[config.telephone_event_pt] = ("telephone-event", 8000, None)
        fmtp[config.telephone_event_pt] = "0-16"
    media = Media(kind="audio", port=config.port, proto="RTP/AVP", formats=formats, rtpmap=rtpmap,
                  fmtp=fmtp, ptime=config.ptime, direction=direction)
    return SessionDescription(origin=("pribox", str(session_id), str(version), "IN",
                                      _addrtype(config.address), config.address),
                              connection=config.address, media=[media])


def with_direction(sdp: SessionDescription, direction: str) -> SessionDescription:
    """The next version of our own description with a new direction (hold, resume)."""
    origin = sdp.origin[:2] + (str(sdp.version + 1),) + sdp.origin[3:]
    return replace(sdp, origin=origin, media=[replace(m, direction=direction) for m in sdp.media])


def _annexb(fmtp: str | None) -> bool:
    for item in (fmtp or "").replace(" ", "").split(";"):
        if item.lower().startswith("annexb="):
            return item.split("=", 1)[1].lower() != "no"
    return True  # RFC 4856: annexb defaults to yes


def answer_offer(offer: SessionDescription, config: AudioConfig, session_id: int,
                 version: int = 1, local_direction: str = "sendrecv"
                 ) -> tuple[SessionDescription, NegotiatedAudio]:
    """Answer every m= line (RFC 3264 §6): the first audio stream with a common codec is taken,
    the rest are refused with port 0.  No usable audio stream -> SipError 488."""
    answer_media: list[Media] = []
    chosen: NegotiatedAudio | None = None
    for m in offer.media:
        refused = Media(kind=m.kind, port=0, proto=m.proto, formats=m.formats[:1])
        if chosen is not None or m.kind != "audio" or m.port == 0 or not m.proto.startswith("RTP/"):
            answer_media.append(refused)
            continue
        codec = None
        for pt in m.payload_types:
            found = m.codec(pt)
            if found and found[0] in config.codecs and found[1] == 8000:
                codec = (found[0], pt)
                break
        if codec is None:
            answer_media.append(refused)
            continue
        name, pt = codec
        event_pt = next((p for p in m.payload_types
                         if (m.codec(p) or ("",))[0] == "TELEPHONE-EVENT"), None)
        if config.telephone_event_pt is None:
            event_pt = None
        annexb = name == "G729" and config.g729_annexb and _annexb(m.fmtp.get(pt))
        offered_direction = offer.media_direction(m)
        address = offer.media_address(m)
        ours = _REVERSE[offered_direction]
        if address in ("0.0.0.0", "::"):  # RFC 2543 hold: the far end will not receive
            ours = "recvonly" if ours == "sendrecv" else ("inactive" if ours == "sendonly" else ours)
        ours = _combine(ours, local_direction)
        ptime = m.ptime or config.ptime
        formats, rtpmap, fmtp = [str(pt)], {pt: (name, 8000, None)}, {}
        if name == "G729":
            fmtp[pt] = "annexb=yes" if annexb else "annexb=no"
        if event_pt is not None:
            formats.append(str(event_pt))
            rtpmap[event_pt] = ("telephone-event", 8000, None)
            fmtp[event_pt] = m.fmtp.get(event_pt, "0-15")
        answer_media.append(Media(kind="audio", port=config.port, proto=m.proto, formats=formats,
                                  rtpmap=rtpmap, fmtp=fmtp, ptime=ptime, direction=ours))
        chosen = NegotiatedAudio(remote_address=address, remote_port=m.port, codec=name,
                                 payload_type=pt, telephone_event_pt=event_pt, ptime=ptime,
                                 direction=ours, g729_annexb=annexb)
    if chosen is None:
        raise SipError("no common audio codec", status=488, header="SDP")
    answer = SessionDescription(origin=("pribox", str(session_id), str(version), "IN",
                                        _addrtype(config.address), config.address),
                                connection=config.address, media=answer_media)
    return answer, chosen


def _combine(allowed: str, wanted: str) -> str:
    """The direction that both what the other side allows and what we want permit."""
    send = allowed in ("sendrecv", "sendonly") and wanted in ("sendrecv", "sendonly")
    recv = allowed in ("sendrecv", "recvonly") and wanted in ("sendrecv", "recvonly")
    return {(True, True): "sendrecv", (True, False): "sendonly", (False, True): "recvonly",
            (False, False): "inactive"}[(send, recv)]


def accept_answer(offer: SessionDescription, answer: SessionDescription) -> NegotiatedAudio:
    """The offerer's view of the answer: what to send, where, and in which direction."""
    if len(answer.media) != len(offer.media):
        raise SipError("answer has a different number of m= lines", status=488, header="SDP")
    for ours, theirs in zip(offer.media, answer.media):
        if theirs.kind != "audio" or theirs.port == 0:
            continue
        for pt in theirs.payload_types:
            found = theirs.codec(pt)
            if found and found[0] in CODEC_PAYLOADS:
                event_pt = next((p for p in theirs.payload_types
                                 if (theirs.codec(p) or ("",))[0] == "TELEPHONE-EVENT"), None)
                direction = _REVERSE[answer.media_direction(theirs)]
                direction = _combine(direction, offer.media_direction(ours))
                return NegotiatedAudio(remote_address=answer.media_address(theirs),
                                       remote_port=theirs.port, codec=found[0], payload_type=pt,
                                       telephone_event_pt=event_pt,
                                       ptime=theirs.ptime or ours.ptime or 20, direction=direction,
                                       g729_annexb=found[0] == "G729" and _annexb(theirs.fmtp.get(pt)))
    raise SipError("answer accepted no audio stream", status=488, header="SDP")

"""SDP (RFC 4566) parse/build and the offer/answer model (RFC 3264) for the box's audio legs.

Codecs: PCMA (8), PCMU (0), G.729 (18, fmtp annexb=yes/no) and telephone-event (RFC 4733).
Hold and resume by direction attributes, and the legacy c=0.0.0.0 hold is recognised.
SRTP keys by SDES (RFC 4568, a=crypto on RTP/SAVP): AES_CM_128_HMAC_SHA1_80.
A broken SDP raises SipError with status 488 naming the line and the fault.
"""

from __future__ import annotations

import base64
import binascii
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


SRTP_SUITE = "AES_CM_128_HMAC_SHA1_80"
SRTP_KEY_OCTETS = 30          # 16 octets of master key, 14 of master salt


@dataclass
class Crypto:
    """One a=crypto line (RFC 4568): its tag, suite and, for the suite the box knows, the key."""

    tag: int
    suite: str
    key: bytes | None             # master key and salt (30 octets) for SRTP_SUITE, else None
    text: str = ""                # the key parameters and session parameters as written

    def line(self) -> str:
        return f"crypto:{self.tag} {self.suite} {self.text}"


def crypto_for(tag: int, key: bytes) -> Crypto:
    return Crypto(tag, SRTP_SUITE, key, "inline:" + base64.b64encode(key).decode())


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
    crypto: list[Crypto] = field(default_factory=list)

    @property
    def secure(self) -> bool:
        return self.proto.upper() in ("RTP/SAVP", "RTP/SAVPF")

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
            lines.extend(f"a={c.line()}" for c in m.crypto)
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
    elif name == "crypto":
        media.crypto.append(_parse_crypto(rest, number))
    else:
        media.attributes.append(value)


def _parse_crypto(value: str, number: int) -> Crypto:
    """a=crypto:<tag> <suite> <key-params> [<session-params>] (RFC 4568 §9.1); the key of
    the suite the box knows is read (inline:<base64 key||salt>[|lifetime][|MKI:length])."""
    parts = value.split()
    if len(parts) < 3 or not parts[0].isdigit() or len(parts[0]) > 9:
        raise _fail(number, f"bad crypto {value[:40]!r}: expected a tag, a suite and key parameters")
    tag, suite, text = int(parts[0]), parts[1], " ".join(parts[2:])
    key = None
    if suite == SRTP_SUITE:
        method, _, inline = parts[2].partition(":")
        if method != "inline" or not inline:
            raise _fail(number, f"bad crypto key {parts[2][:40]!r}: expected inline:<key>")
        encoded = inline.split("|")[0]
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise _fail(number, f"bad crypto key: {encoded[:40]!r} is not base64") from None
        if len(key) != SRTP_KEY_OCTETS:
            raise _fail(number, f"bad crypto key: {len(key)} octets, {SRTP_SUITE} takes {SRTP_KEY_OCTETS}")
        if len(parts) > 3:
            key = None        # session parameters (UNENCRYPTED_SRTP, KDR, ...) the box does not do
    return Crypto(tag, suite, key, text)


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
    srtp: str = "off"             # "off": RTP/AVP only; "optional": SRTP when offered; "mandatory": SRTP only
    srtp_key: bytes | None = None  # our master key and salt, sent by SDES (needed unless srtp is "off")


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
    srtp_send_key: bytes | None = None      # ours: what we send is protected with it
    srtp_receive_key: bytes | None = None   # theirs: what we receive must authenticate under it

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
    secure = config.srtp == "mandatory"
    if secure and config.srtp_key is None:
        raise SipError("SRTP is mandatory but the media has no key", status=500, header="SDP")
    media = Media(kind="audio", port=config.port, proto="RTP/SAVP" if secure else "RTP/AVP", formats=formats,
                  rtpmap=rtpmap, fmtp=fmtp, ptime=config.ptime, direction=direction,
                  crypto=[crypto_for(1, config.srtp_key)] if secure else [])
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
    refusal = "no common audio codec"
    for m in offer.media:
        refused = Media(kind=m.kind, port=0, proto=m.proto, formats=m.formats[:1])
        if chosen is not None or m.kind != "audio" or m.port == 0 or not m.proto.startswith("RTP/"):
            answer_media.append(refused)
            continue
        theirs_crypto = None
        if m.secure:
            theirs_crypto = next((c for c in m.crypto if c.key is not None), None)
            if config.srtp == "off":
                refusal = "SRTP (RTP/SAVP) offered, and SRTP is off here"
            elif theirs_crypto is None:
                refusal = f"SRTP offered without a usable {SRTP_SUITE} a=crypto line"
            elif config.srtp_key is None:
                refusal = "SRTP offered and no local key to answer with"
            if config.srtp == "off" or theirs_crypto is None or config.srtp_key is None:
                answer_media.append(refused)
                continue
        elif config.srtp == "mandatory":
            refusal = f"SRTP is mandatory here and the offer is {m.proto}"
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
        ours_crypto = [crypto_for(theirs_crypto.tag, config.srtp_key)] if theirs_crypto is not None else []
        answer_media.append(Media(kind="audio", port=config.port, proto=m.proto, formats=formats,
                                  rtpmap=rtpmap, fmtp=fmtp, ptime=ptime, direction=ours, crypto=ours_crypto))
        chosen = NegotiatedAudio(remote_address=address, remote_port=m.port, codec=name,
                                 payload_type=pt, telephone_event_pt=event_pt, ptime=ptime,
                                 direction=ours, g729_annexb=annexb,
                                 srtp_send_key=config.srtp_key if theirs_crypto is not None else None,
                                 srtp_receive_key=theirs_crypto.key if theirs_crypto is not None else None)
    if chosen is None:
        raise SipError(refusal, status=488, header="SDP")
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
                send_key = receive_key = None
                if ours.secure:
                    mine = {c.tag: c for c in ours.crypto}
                    theirs_crypto = next((c for c in theirs.crypto if c.key is not None and c.tag in mine), None)
                    if theirs_crypto is None:
                        raise SipError(f"answer to our SRTP offer has no {SRTP_SUITE} a=crypto line with "
                                       f"our tag", status=488, header="SDP")
                    send_key, receive_key = mine[theirs_crypto.tag].key, theirs_crypto.key
                return NegotiatedAudio(remote_address=answer.media_address(theirs),
                                       remote_port=theirs.port, codec=found[0], payload_type=pt,
                                       telephone_event_pt=event_pt,
                                       ptime=theirs.ptime or ours.ptime or 20, direction=direction,
                                       g729_annexb=found[0] == "G729" and _annexb(theirs.fmtp.get(pt)),
                                       srtp_send_key=send_key, srtp_receive_key=receive_key)
    raise SipError("answer accepted no audio stream", status=488, header="SDP")

"""SIP trunks as the user agent uses them, and how a trunk writes and reads numbers.

A `SipTrunk` is one carrier or peer PBX: where it is, how it proves who it is (registration
with digest credentials, or IP authentication by source address), which header carries the
caller (From or P-Asserted-Identity) and the forwarding number (Diversion or History-Info),
the number format on the wire, codecs, DTMF method, keepalive interval and access list.
`trunks_from_config(config)` builds them from the validated `[[sip_trunk]]` entries
(firmware/config/sections/sip_trunk.py).  The gateway's number mapping applies to a SIP trunk
by its name: `GatewayPlan.translate(trunk.name, "in" | "out", ...)`.

Pure functions, no I/O: the user agent calls them on each INVITE.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from .errors import SipError
from .events import (PLAN_ISDN, PRESENTATION_ALLOWED, PRESENTATION_RESTRICTED, REASON_BUSY,
                     REASON_DEFLECTION, REASON_NO_REPLY, REASON_UNCONDITIONAL, REASON_UNKNOWN,
                     TON_INTERNATIONAL, TON_UNKNOWN, Party)
from .grammar import parse_name_addr, parse_uri
from .message import Request

TRANSPORTS = ("udp", "tcp", "tls")
CALLER_HEADERS = ("from", "pai")
FORWARDING_HEADERS = ("diversion", "history-info")
NUMBER_FORMATS = ("as_is", "e164")
DTMF_METHODS = ("rfc4733", "info", "inband")
CODECS = ("PCMA", "PCMU", "G729")
SRTP_MODES = ("off", "optional", "mandatory")   # RTP only; SRTP when the peer offers it; SRTP only


@dataclass(frozen=True)
class SipTrunk:
    name: str
    host: str
    port: int = 5060
    transport: str = "udp"
    username: str | None = None           # digest credentials: registration and challenges
    password: str | None = None
    realm: str | None = None              # answer only this realm's challenges (None: any)
    register: bool = False
    expires: int = 3600
    allowed_sources: tuple = ()           # IP authentication: networks whose INVITEs are ours
    caller_header: str = "from"
    forwarding_header: str = "diversion"
    number_format: str = "as_is"
    codecs: tuple[str, ...] = ("PCMA", "PCMU")
    dtmf: str = "rfc4733"
    keepalive: float = 30.0               # OPTIONS every this many seconds; 0: never
    access_list: tuple = ()               # networks allowed to send anything for this trunk
    direction: str = "both"
    domain: str | None = None             # the host part of From/To toward the trunk (default host)
    srtp: str = "off"                     # SRTP_MODES: media encryption by SDES keys (RFC 4568)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def transport_name(self) -> str:
        return self.transport.upper()

    def admits(self, host: str) -> bool:
        """Does an INVITE from `host` belong to this trunk (IP authentication)?  The allowed
        sources, else the peer's own address; the access list, when given, must also allow it."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if self.access_list and not any(address in net for net in self.access_list):
            return False
        if self.allowed_sources:
            return any(address in net for net in self.allowed_sources)
        return host == self.host

    def allows(self, host: str) -> bool:
        """The access list: may `host` send this trunk anything at all?"""
        if not self.access_list:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in net for net in self.access_list)


def trunks_from_config(config) -> list[SipTrunk]:
    """The `[[sip_trunk]]` entries of a validated configuration as SipTrunk objects."""
    out = []
    for entry in getattr(config, "sip_trunk", ()) or ():
        out.append(SipTrunk(
            name=entry.name, host=entry.host, port=entry.port, transport=entry.transport,
            username=entry.username, password=entry.password, realm=entry.realm,
            register=entry.register if entry.register is not None else entry.username is not None,
            expires=entry.expires,
            allowed_sources=tuple(ipaddress.ip_network(str(n), strict=False) for n in entry.allowed_sources),
            caller_header=entry.caller_header, forwarding_header=entry.forwarding_header,
            number_format=entry.number_format, codecs=tuple(entry.codecs), dtmf=entry.dtmf,
            keepalive=entry.keepalive,
            access_list=tuple(ipaddress.ip_network(str(n), strict=False) for n in entry.access_list),
            direction=entry.direction, domain=entry.domain, srtp=entry.srtp))
    return out


# --- numbers on the wire ----------------------------------------------------------------------

_DIGITS = frozenset("0123456789*#")


def number_of_user(user: str | None) -> tuple[str, int]:
    """The digits and type of number of a URI user part: '+8210…' is international, visual
    separators (RFC 3966: '-', '.', '(', ')') dropped; a user that is not a number is kept
    as written (a name the dial plan may know)."""
    if not user:
        return "", TON_UNKNOWN
    text = unquote(user.split(";")[0])
    cleaned = "".join(ch for ch in text if ch not in "-.()")
    if cleaned.startswith("+") and cleaned[1:] and set(cleaned[1:]) <= _DIGITS:
        return cleaned[1:], TON_INTERNATIONAL
    if cleaned and set(cleaned) <= _DIGITS:
        return cleaned, TON_UNKNOWN
    return text, TON_UNKNOWN


def user_of_number(digits: str, type_of_number: int, number_format: str) -> str:
    """A number as a URI user part for a trunk: e164 puts '+' before an international number."""
    if number_format == "e164" and type_of_number == TON_INTERNATIONAL and not digits.startswith("+"):
        return "+" + digits
    return quote(digits, safe="+*#")


def party_of(value) -> Party | None:
    """A Party from what the call model hands over: a Party, an ISDN number IE (digits,
    type_of_number, ...), a gateway Number, or a plain string of digits."""
    if value is None:
        return None
    if isinstance(value, Party):
        return value
    if isinstance(value, str):
        digits, ton = number_of_user(value)
        return Party(digits, ton)
    return Party(getattr(value, "digits", ""), getattr(value, "type_of_number", TON_UNKNOWN) or TON_UNKNOWN,
                 getattr(value, "numbering_plan", PLAN_ISDN) or PLAN_ISDN,
                 getattr(value, "presentation", PRESENTATION_ALLOWED),
                 reason=getattr(value, "reason", None))


# --- the caller ------------------------------------------------------------------------------

def calling_party(request: Request, caller_header: str) -> Party | None:
    """Who calls: P-Asserted-Identity when the trunk says so (falling back to From), else From;
    Privacy: id (RFC 3325) or an anonymous From makes the number restricted."""
    privacy = {p.strip().lower() for value in request.get_all("Privacy") for p in value.split(";")}
    restricted = "id" in privacy or "user" in privacy
    source = None
    if caller_header == "pai":
        for value in request.get_all("P-Asserted-Identity"):
            name_addr = parse_name_addr(value, "P-Asserted-Identity")
            if name_addr.uri.is_sip or name_addr.uri.scheme == "tel":
                source = name_addr
                break
    if source is None:
        source = request.from_
        if (source.uri.user or "").lower() == "anonymous" or source.uri.host.endswith("anonymous.invalid"):
            return Party("", TON_UNKNOWN, presentation=PRESENTATION_RESTRICTED, display=None)
    user = source.uri.user if source.uri.is_sip else source.uri.opaque
    digits, ton = number_of_user(user)
    return Party(digits, ton, presentation=PRESENTATION_RESTRICTED if restricted else PRESENTATION_ALLOWED,
                 display=source.display_name)


# --- the forwarding number -------------------------------------------------------------------

_DIVERSION_REASONS = {
    "user-busy": REASON_BUSY, "no-answer": REASON_NO_REPLY, "unconditional": REASON_UNCONDITIONAL,
    "deflection": REASON_DEFLECTION, "unavailable": 9, "out-of-service": 9, "unknown": REASON_UNKNOWN,
    "follow-me": 10, "time-of-day": REASON_UNKNOWN, "do-not-disturb": REASON_UNKNOWN, "away": REASON_UNKNOWN,
}
_REASON_NAMES = {REASON_BUSY: "user-busy", REASON_NO_REPLY: "no-answer", REASON_UNCONDITIONAL: "unconditional",
                 REASON_DEFLECTION: "deflection", 9: "unavailable", 10: "follow-me", REASON_UNKNOWN: "unknown"}
# RFC 4458 cause= values in History-Info <-> Q.931 redirection reasons
_HI_CAUSES = {486: REASON_BUSY, 408: REASON_NO_REPLY, 302: REASON_UNCONDITIONAL, 487: REASON_DEFLECTION,
              480: REASON_DEFLECTION, 503: 9, 404: REASON_UNKNOWN}
_HI_CAUSE_OF = {REASON_BUSY: 486, REASON_NO_REPLY: 408, REASON_UNCONDITIONAL: 302, REASON_DEFLECTION: 487,
                9: 503, REASON_UNKNOWN: 404}


def redirecting_party(request: Request, forwarding_header: str) -> Party | None:
    """The number the call was forwarded from: the first Diversion entry (RFC 5806, the most
    recent diversion comes first), or in History-Info (RFC 7044) the entry before the one
    carrying the RFC 4458 cause.  The configured header is read first, the other as a fallback."""
    order = ("diversion", "history-info") if forwarding_header == "diversion" else ("history-info", "diversion")
    for header in order:
        party = _diversion(request) if header == "diversion" else _history_info(request)
        if party is not None:
            return party
    return None


def _diversion(request: Request) -> Party | None:
    values = request.get_all("Diversion")
    if not values:
        return None
    name_addr = parse_name_addr(values[0], "Diversion")
    digits, ton = number_of_user(name_addr.uri.user if name_addr.uri.is_sip else name_addr.uri.opaque)
    reason = _DIVERSION_REASONS.get((name_addr.params.get("reason") or "unknown").strip('"').lower(),
                                    REASON_UNKNOWN)
    privacy = (name_addr.params.get("privacy") or "off").strip('"').lower()
    return Party(digits, ton, presentation=PRESENTATION_RESTRICTED if privacy == "full" else PRESENTATION_ALLOWED,
                 reason=reason)


def _history_info(request: Request) -> Party | None:
    entries = []
    for value in request.get_all("History-Info"):
        name_addr = parse_name_addr(value, "History-Info")
        index = name_addr.params.get("index") or ""
        entries.append((tuple(int(p) for p in index.split(".") if p.isdigit()), name_addr))
    if len(entries) < 2:
        return None
    entries.sort(key=lambda e: e[0])
    for position in range(len(entries) - 1, 0, -1):
        cause = entries[position][1].uri.params.get("cause")
        if cause is not None and cause.isdigit():
            forwarded = entries[position - 1][1]
            digits, ton = number_of_user(forwarded.uri.user if forwarded.uri.is_sip else forwarded.uri.opaque)
            return Party(digits, ton, reason=_HI_CAUSES.get(int(cause), REASON_UNKNOWN))
    return None


def forwarding_headers(redirecting: Party, called_uri: str, host: str, trunk: SipTrunk | None) -> list[tuple[str, str]]:
    """The header(s) that tell the peer the call was forwarded from `redirecting`."""
    fmt = trunk.number_format if trunk else "as_is"
    user = user_of_number(redirecting.digits, redirecting.type_of_number, fmt)
    reason = redirecting.reason if redirecting.reason is not None else REASON_UNKNOWN
    if (trunk.forwarding_header if trunk else "diversion") == "history-info":
        cause = _HI_CAUSE_OF.get(reason, 404)
        target = f"{called_uri};cause={cause}"
        return [("History-Info", f"<sip:{user}@{host}>;index=1"),
                ("History-Info", f"<{target}>;index=1.1")]
    privacy = ";privacy=full" if redirecting.presentation == PRESENTATION_RESTRICTED else ""
    return [("Diversion", f"<sip:{user}@{host}>;reason={_REASON_NAMES.get(reason, 'unknown')};counter=1{privacy}")]


def request_uri_number(request: Request) -> tuple[str, int]:
    """The called number and its type of number: the Request-URI's user part (a tel: URI's
    number); '+' marks an international number."""
    uri = request.uri
    if uri is None:
        raise SipError("no Request-URI", status=400)
    if uri.is_sip:
        return number_of_user(uri.user)
    if uri.scheme == "tel":
        return number_of_user(uri.opaque)
    raise SipError("Unsupported URI Scheme", status=416)

"""Dialogs (RFC 3261 §12) and what lives in them: re-INVITE, UPDATE, CANCEL, PRACK for reliable
provisional responses (RFC 3262), session timers (RFC 4028), OPTIONS answers, REFER (RFC 3515,
Replaces of RFC 3891).  Sans-I/O: these build and check messages; the transaction layer
carries them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from firmware.sip.checks import UasPolicy
from firmware.sip.errors import SipError
from firmware.sip.grammar import NameAddr, Uri, parse_name_addr, parse_uri
from firmware.sip.message import Request, Response, make_response

MAGIC_COOKIE = "z9hG4bK"


def new_branch() -> str:
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


@dataclass
class LocalEndpoint:
    """Where this side is: what goes into Via and Contact."""

    host: str
    port: int = 5060
    transport: str = "UDP"
    user: str | None = None
    tls_port: int | None = None          # where TLS listens (Via and Contact of TLS messages)

    @property
    def transport_port(self) -> int:
        return self.tls_port if self.transport == "TLS" and self.tls_port else self.port

    def via(self, branch: str | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"SIP/2.0/{self.transport} {host}:{self.transport_port};branch={branch or new_branch()};rport"

    def contact(self, secure: bool = False) -> str:
        """Our Contact; `secure` (a SIPS dialog, RFC 3261 §12.1.1) gives a SIPS URI."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        user = f"{self.user}@" if self.user else ""
        if secure:
            return f"<sips:{user}{host}:{self.transport_port}>"
        transport = "" if self.transport == "UDP" else f";transport={self.transport.lower()}"
        return f"<sip:{user}{host}:{self.transport_port}{transport}>"


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str        # the From (ours) / To (theirs) header values without tags
    remote_uri: str
    remote_target: Uri
    route_set: list[str]
    local_seq: int
    remote_seq: int | None
    local: LocalEndpoint
    state: str = "early"               # early, confirmed, terminated
    secure: bool = False
    invite_pending: bool = False       # our own INVITE transaction is open (glare -> 491)
    last_rseq_seen: int = 0            # highest RSeq we PRACKed (UAC side)

    @property
    def id(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def as_uac(cls, request: Request, response: Response, local: LocalEndpoint) -> "Dialog":
        """From our INVITE and a 1xx (with To tag) or 2xx (RFC 3261 §12.1.2)."""
        to = response.to
        if not to.tag:
            raise SipError("response without a To tag cannot create a dialog", header="To")
        contacts = response.contacts
        if not contacts:
            raise SipError("missing in a dialog-creating response", header="Contact")
        routes = list(reversed(response.get_all("Record-Route")))
        return cls(call_id=request.call_id, local_tag=request.from_.tag or "",
                   remote_tag=to.tag, local_uri=_without_tag(request.get("From")),
                   remote_uri=_without_tag(request.get("To")), remote_target=contacts[0].uri,
                   route_set=routes, local_seq=request.cseq.number, remote_seq=None, local=local,
                   state="confirmed" if 200 <= response.status < 300 else "early",
                   secure=request.uri.scheme == "sips" if request.uri else False)

    @classmethod
    def as_uas(cls, request: Request, local: LocalEndpoint, local_tag: str | None = None) -> "Dialog":
        """From a received INVITE (RFC 3261 §12.1.1); the tag goes into our responses."""
        contacts = request.contacts
        if not contacts:
            raise SipError("missing in a dialog-creating request", header="Contact")
        return cls(call_id=request.call_id, local_tag=local_tag or new_tag(),
                   remote_tag=request.from_.tag or "", local_uri=_without_tag(request.get("To")),
                   remote_uri=_without_tag(request.get("From")), remote_target=contacts[0].uri,
                   route_set=request.get_all("Record-Route"), local_seq=0,
                   remote_seq=request.cseq.number, local=local,
                   secure=bool(request.uri and request.uri.scheme == "sips" and local.transport == "TLS"))

    # -- requests we send --------------------------------------------------------------------------
    def new_request(self, method: str, body: bytes = b"", content_type: str | None = None,
                    headers: tuple[tuple[str, str], ...] = (), cseq: int | None = None) -> Request:
        """An in-dialog request (RFC 3261 §12.2.1.1), loose routing, strict-route fallback."""
        if self.state == "terminated":
            raise SipError("dialog is terminated", status=481)
        if cseq is None:
            if method in ("ACK", "CANCEL"):
                raise SipError("ACK and CANCEL take the CSeq of their INVITE", status=500)
            self.local_seq += 1
            cseq = self.local_seq
        routes = list(self.route_set)
        target = self.remote_target
        if routes and "lr" not in parse_name_addr(routes[0], "Route").uri.params:
            target = parse_name_addr(routes.pop(0), "Route").uri   # strict router (RFC 2543)
            routes.append(f"<{self.remote_target}>")
        request = Request(method=method, uri=target, raw_uri=str(target), body=body)
        request.add("Via", self.local.via())
        request.add("Max-Forwards", "70")
        request.add("From", f"{self.local_uri};tag={self.local_tag}")
        request.add("To", f"{self.remote_uri};tag={self.remote_tag}")
        request.add("Call-ID", self.call_id)
        request.add("CSeq", f"{cseq} {method}")
        for route in routes:
            request.add("Route", route)
        if method in ("INVITE", "UPDATE", "SUBSCRIBE", "REFER", "NOTIFY"):
            request.add("Contact", self.local.contact(self.secure))
        for name, value in headers:
            request.add(name, value)
        if body:
            request.add("Content-Type", content_type or "application/sdp")
        if method == "INVITE":
            self.invite_pending = True
        return request

    def ack_for_2xx(self, invite: Request, body: bytes = b"") -> Request:
        """The ACK to a 2xx (RFC 3261 §13.2.2.4): the INVITE's CSeq number, a new branch."""
        return self.new_request("ACK", body=body, cseq=invite.cseq.number)

    def on_response(self, response: Response) -> None:
        """Track a response to one of our in-dialog requests: target refresh, state."""
        if response.cseq.method == "INVITE":
            if response.status >= 200:
                self.invite_pending = False
            if 200 <= response.status < 300:
                self.state = "confirmed"
        if 200 <= response.status < 300 and response.cseq.method in ("INVITE", "UPDATE"):
            contacts = response.contacts
            if contacts:
                self.remote_target = contacts[0].uri
        if response.status in (481, 408) and response.cseq.method != "INVITE":
            self.state = "terminated"  # RFC 3261 §12.2.1.2

    # -- requests we receive ------------------------------------------------------------------------
    def on_request(self, request: Request) -> SipError | None:
        """Check an in-dialog request (RFC 3261 §12.2.2); None when it may proceed."""
        if request.method in ("ACK", "CANCEL"):
            return None
        number = request.cseq.number
        if self.remote_seq is not None and number <= self.remote_seq:
            return SipError("Server Internal Error: CSeq out of order", status=500)
        self.remote_seq = number
        if request.method == "INVITE" and self.invite_pending:
            return SipError("Request Pending", status=491)  # RFC 3261 §14.2 glare
        if request.method in ("INVITE", "UPDATE") and request.contacts:
            self.remote_target = request.contacts[0].uri
        if request.method == "BYE":
            self.state = "terminated"
        return None

    def respond(self, request: Request, status: int, reason: str | None = None,
                body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> Response:
        response = make_response(request, status, reason, to_tag=self.local_tag)
        if request.method in ("INVITE", "UPDATE", "SUBSCRIBE", "REFER") and 100 < status < 300:
            response.add("Contact", self.local.contact(self.secure))
        if request.method in ("INVITE", "SUBSCRIBE", "REFER") and 100 < status < 300 and not request.to.tag:
            # RFC 3261 §12.1.1: a response that makes the dialog carries the proxies' Record-Route
            # back, so the caller's ACK, re-INVITEs and BYE pass through them as ours do
            for route in request.get_all("Record-Route"):
                response.add("Record-Route", route)
        for name, value in headers:
            response.add(name, value)
        if body:
            response.add("Content-Type", "application/sdp")
            response.body = body
        if request.method == "INVITE" and 200 <= status < 300:
            self.state = "confirmed"
        return response

    # -- PRACK (RFC 3262), UAC side ---------------------------------------------------------------
    def prack_for(self, response: Response) -> Request | None:
        """The PRACK for a reliable provisional response, or None for a retransmission or an
        unreliable one."""
        if "100rel" not in response.option_tags("Require") or not 100 < response.status < 200:
            return None
        rseq_text = (response.get("RSeq") or "").strip()
        if not rseq_text.isdigit():
            raise SipError("missing or malformed", header="RSeq")
        rseq = int(rseq_text)
        if rseq <= self.last_rseq_seen:
            return None
        self.last_rseq_seen = rseq
        cseq = response.cseq
        return self.new_request("PRACK", headers=(("RAck", f"{rseq} {cseq.number} {cseq.method}"),))


def _without_tag(value: str | None) -> str:
    if value is None:
        raise SipError("missing", header="From")
    name_addr = parse_name_addr(value, "From")
    name_addr.params.pop("tag", None)
    return str(name_addr)


def dialog_id(message: Request | Response, we_sent_it: bool) -> tuple[str, str, str]:
    """(Call-ID, local tag, remote tag) of the dialog a message belongs to."""
    from_tag, to_tag = message.from_.tag or "", message.to.tag or ""
    if isinstance(message, Request) != we_sent_it:
        return (message.call_id, to_tag, from_tag)
    return (message.call_id, from_tag, to_tag)


# --- reliable provisional responses, UAS side (RFC 3262 §3) ---------------------------------------

class ReliableProvisional:
    """One reliable 1xx in flight: retransmitted at T1, 2T1, 4T1... until PRACKed; after 64*T1
    without a PRACK the UAS should reject the INVITE (5xx).  At most one unacknowledged at a time."""

    def __init__(self, response: Response, now: float, t1: float = 0.5):
        self.response = response
        self.rseq = int(response.get("RSeq"))
        cseq = response.cseq
        self.rack = (self.rseq, cseq.number, cseq.method)
        self.t1 = t1
        self._interval = t1
        self._next = now + t1
        self._give_up = now + 64 * t1
        self.acknowledged = False
        self.failed = False

    def get_timer(self) -> float | None:
        if self.acknowledged or self.failed:
            return None
        return min(self._next, self._give_up)

    def handle_timer(self, now: float) -> Response | None:
        """The response to send again, or None (and `failed` once 64*T1 passed)."""
        if self.acknowledged or self.failed:
            return None
        if now >= self._give_up:
            self.failed = True
            return None
        if now >= self._next:
            self._interval *= 2
            self._next = now + self._interval
            return self.response
        return None

    def on_prack(self, prack: Request) -> bool:
        """True when the PRACK's RAck names this response (then answer it 200; else 481)."""
        parts = (prack.get("RAck") or "").split()
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return False
        if (int(parts[0]), int(parts[1]), parts[2]) != self.rack:
            return False
        self.acknowledged = True
        return True


class RSeqCounter:
    def __init__(self, start: int | None = None):
        self.value = start if start is not None else secrets.randbelow(2**31 - 1) + 1

    def reliable(self, response: Response) -> Response:
        """Mark a 1xx reliable: Require: 100rel and the next RSeq."""
        response.add("Require", "100rel")
        response.add("RSeq", str(self.value))
        self.value += 1
        return response


# --- session timers (RFC 4028) ---------------------------------------------------------------------

@dataclass
class SessionTimer:
    interval: int
    refresher: str            # "uac" or "uas"
    we_refresh: bool

    def refresh_at(self, started: float) -> float:
        """When the refresher sends its re-INVITE/UPDATE: half the interval (§10)."""
        return started + self.interval / 2

    def expire_at(self, started: float) -> float:
        """When the other side, not having seen a refresh, sends BYE (§10)."""
        return started + self.interval - min(32, self.interval / 3)

    def header(self) -> str:
        return f"{self.interval};refresher={self.refresher}"


_SE = re.compile(r"\s*(\d{1,10})\s*(;.*)?\Z")


def _session_expires(message) -> tuple[int, str | None] | None:
    value = message.get("Session-Expires")
    if value is None:
        return None
    match = _SE.match(value)
    if not match:
        raise SipError(f"malformed value {value[:30]!r}", header="Session-Expires")
    refresher = None
    for item in (match.group(2) or "").split(";"):
        name, _, val = item.partition("=")
        if name.strip().lower() == "refresher":
            refresher = val.strip().lower()
            if refresher not in ("uac", "uas"):
                raise SipError(f"refresher {refresher!r}", header="Session-Expires")
    return int(match.group(1)), refresher


def negotiate_session_timer_uas(request: Request, min_se: int = 90, preferred: int = 1800
                                ) -> tuple[SessionTimer | None, tuple[tuple[str, str], ...]]:
    """The UAS side of RFC 4028 §9: the timer (or None) and the headers for our 2xx.
    A Session-Expires under our Min-SE raises SipError 422 carrying our Min-SE."""
    uac_supports = "timer" in request.option_tags("Supported")
    asked = _session_expires(request)
    if asked is None:
        if not uac_supports:
            return None, ()
        timer = SessionTimer(preferred, "uas", True)
        return timer, (("Session-Expires", timer.header()), ("Require", "timer"))
    interval, refresher = asked
    if interval < min_se:
        raise SipError("Session Interval Too Small", status=422,
                       extra_headers=(("Min-SE", str(min_se)),))
    if refresher is None:
        refresher = "uac" if uac_supports else "uas"
    timer = SessionTimer(interval, refresher, refresher == "uas")
    headers = [("Session-Expires", timer.header())]
    if uac_supports:
        headers.append(("Require", "timer"))
    return timer, tuple(headers)


def session_timer_from_2xx(response: Response) -> SessionTimer | None:
    """The UAC's view after the 2xx (§7.2): no Session-Expires means no timer."""
    asked = _session_expires(response)
    if asked is None:
        return None
    interval, refresher = asked
    refresher = refresher or "uac"
    return SessionTimer(interval, refresher, refresher == "uac")


def retry_after_422(request: Request, response: Response) -> Request:
    """Raise our Session-Expires and Min-SE to the 422's Min-SE (§7.4)."""
    value = (response.get("Min-SE") or "").split(";")[0].strip()
    if not value.isdigit():
        raise SipError("missing in a 422", header="Min-SE")
    request.set("Session-Expires", value)
    request.set("Min-SE", value)
    return request


# --- OPTIONS and REFER ---------------------------------------------------------------------------

def answer_options(request: Request, policy: UasPolicy | None = None, to_tag: str | None = None,
                   status: int = 200) -> Response:
    """A 200 (or 486 while busy, as the trunk keepalive expects) listing what we do (§11.2)."""
    policy = policy or UasPolicy()
    response = make_response(request, status, to_tag=to_tag or new_tag())
    response.add("Allow", policy.allow_header())
    response.add("Accept", ", ".join(policy.accept))
    response.add("Accept-Encoding", "identity")
    response.add("Accept-Language", "en")
    response.add("Supported", ", ".join(sorted(policy.supported)))
    return response


@dataclass
class Replaces:
    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False


@dataclass
class Refer:
    target: NameAddr
    replaces: Replaces | None = None
    referred_by: NameAddr | None = None
    no_subscription: bool = False


def parse_replaces(value: str) -> Replaces:
    call_id, *params = value.split(";")
    found = {}
    for item in params:
        name, _, val = item.partition("=")
        found[name.strip().lower()] = val.strip()
    if not call_id.strip() or "to-tag" not in found or "from-tag" not in found:
        raise SipError("needs call-id, to-tag and from-tag", header="Replaces")
    return Replaces(call_id.strip(), found["to-tag"], found["from-tag"], "early-only" in found)


def parse_refer(request: Request) -> Refer:
    """Refer-To (exactly one), an embedded Replaces (attended transfer), Referred-By."""
    values = request.get_all("Refer-To")
    if len(values) != 1:
        raise SipError("exactly one Refer-To is needed", header="Refer-To")
    target = parse_name_addr(values[0], "Refer-To")
    replaces = None
    for name in list(target.uri.headers):
        if name.lower() == "replaces":
            replaces = parse_replaces(target.uri.headers.pop(name))
    referred_by = request.get("Referred-By")
    return Refer(target=target, replaces=replaces,
                 referred_by=parse_name_addr(referred_by, "Referred-By") if referred_by else None,
                 no_subscription="norefersub" in request.option_tags("Require") or
                 (request.get("Refer-Sub") or "").strip().lower() == "false")


def sipfrag(status: int, reason: str) -> bytes:
    """The NOTIFY body reporting a REFER's progress (RFC 3515 §2.4.5)."""
    return f"SIP/2.0 {status} {reason}\r\n".encode()

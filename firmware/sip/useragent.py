"""The SIP call agent: calls to and from trunks and phones, shaped like the ISDN span API.

    ua = SipUserAgent(LocalEndpoint("192.0.2.10", 5060), trunks, registrar=registrar)
    ua.receive(data, source, now, "UDP")           # bytes in
    ua.datagrams_to_send(now)  -> [(bytes, addr, transport)]
    ua.next_event()            -> IncomingCall | Alerting | Answered | Released | ...
    ua.get_timer() / ua.handle_timer(now)
    call_id = ua.setup("0212345678", now, trunk="carrier", calling="07012345678",
                       media=AudioConfig("192.0.2.10", 40000))
    ua.alert(call_id, now, inband=True, media=...)  # 183 + SDP (reliable when the peer does 100rel)
    ua.answer(call_id, now, media=...)              # 200 + SDP, retransmitted until the ACK
    ua.disconnect(call_id, now, cause=17)           # 486 / CANCEL / BYE with Reason: Q.850

Sans-I/O over the transaction layer (transaction.py) and dialogs (dialog.py): nothing here opens
a socket or reads a clock.  Media is plain data: the caller passes the local RTP address, port
and codecs (`sdp.AudioConfig`); the events carry what was negotiated (`sdp.NegotiatedAudio`).

Security: an INVITE is taken only from an address a trunk admits (IP authentication, access
list) or from a phone that passes digest authentication against the registrar's users;
failures are logged, counted, published as AuthenticationFailed and limited per source.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import secrets
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable

from .checks import UasPolicy, check_request
from .dialog import (Dialog, LocalEndpoint, ReliableProvisional, RSeqCounter, SessionTimer, answer_options,
                     negotiate_session_timer_uas, new_branch, new_tag, session_timer_from_2xx)
from .digest import DigestChallenger, DigestClient, parse_auth_header
from .errors import SipError
from .grammar import parse_name_addr, parse_uri
from .events import (Alerting, Answered, Bearer, AuthenticationFailed, CallProceeding, Disconnected, DtmfDigit,
                     IncomingCall, MediaChanged, Party, Progress, Released, TrunkRegistered,
                     TrunkStateChanged, PRESENTATION_RESTRICTED)
from .message import Request, Response, make_response
from .q850 import cause_from_reason, cause_of_status, reason_header, sip_status
from .registrar import FailureLimiter, Registrar
from .sdp import (SRTP_KEY_OCTETS, AudioConfig, NegotiatedAudio, SessionDescription, accept_answer, answer_offer,
                  make_offer, parse_sdp, with_direction)
from .transaction import (ClientTransaction, MessageRejected, RequestReceived, ResponseReceived,
                          ServerTransaction, Timers, TransactionLayer, TransactionTerminated,
                          TransactionTimeout, TransportFailed)
from .trunks import (SipTrunk, calling_party, forwarding_headers, number_of_user, party_of, redirecting_party,
                     request_uri_number, user_of_number)

log = logging.getLogger("pribox.sip.ua")
Address = tuple[str, int]

NORMAL_CLEARING = 16
RECOVERY_ON_TIMER_EXPIRY = 102
TEMPORARY_FAILURE = 41
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE, INFO, REGISTER"
DTMF_EVENTS = "0123456789*#ABCD"
REGISTER_RETRY_SECONDS = 60.0


class SipCallStateError(ValueError):
    """A call method the call's state does not allow (or an unknown call id)."""


@dataclass
class SipCall:
    id: int
    direction: str                       # "in" or "out"
    trunk: SipTrunk | None
    phone: str | None
    peer: Address
    transport: str
    invite: Request
    state: str = "init"                  # calling, proceeding, early, answering, active, clearing, released
    server_tx: ServerTransaction | None = None
    client_tx: ClientTransaction | None = None
    dialog: Dialog | None = None
    local_tag: str = ""
    media: AudioConfig | None = None
    remote_offer: SessionDescription | None = None
    local_sdp: SessionDescription | None = None
    negotiated: NegotiatedAudio | None = None
    answer_sent_reliably: bool = False
    peer_100rel: bool = False
    peer_requires_100rel: bool = False
    reliable: ReliableProvisional | None = None
    rseq: RSeqCounter | None = None
    answer_waits_for_prack: bool = False
    session_timer: SessionTimer | None = None
    session_headers: tuple = ()
    ok_response: Response | None = None  # our 2xx, retransmitted until the ACK
    ok_tx: ServerTransaction | None = None
    ok_interval: float = 0.0
    ack: Request | None = None           # our ACK to their 2xx, sent again on a retransmission
    cancel_pending: bool = False
    clear_cause: int = NORMAL_CLEARING
    auth_tried: int = 0
    held: bool = False
    peer_allow: set = field(default_factory=set)
    pending_reinvite: ClientTransaction | None = None
    timers: dict[str, float] = field(default_factory=dict)


class _CallTimers(dict):
    """A call's timers by name.  Each one set is also pushed on its agent's heap, so finding the
    next deadline does not walk every call; entries made stale by a pop or a reset are skipped
    there (the transaction layer's timers work the same way)."""

    __slots__ = ("_push", "_call")

    def __init__(self, push, call):
        super().__init__()
        self._push, self._call = push, call

    def __setitem__(self, name: str, when: float) -> None:
        super().__setitem__(name, when)
        self._push(when, name, self._call)


@dataclass
class TrunkStatus:
    trunk: SipTrunk
    up: bool | None = None
    registered: bool = False
    options_tx: ClientTransaction | None = None
    register_tx: ClientTransaction | None = None
    register_call_id: str = ""
    register_cseq: int = 0
    register_auth_tries: int = 0
    digest: DigestClient | None = None
    timers: dict[str, float] = field(default_factory=dict)


class SipUserAgent:
    def __init__(self, local: LocalEndpoint, trunks=(), *, registrar: Registrar | None = None,
                 challenger: DigestChallenger | None = None, timers: Timers | None = None,
                 media_for: Callable[[int], AudioConfig] | None = None, session_expires: int = 1800,
                 min_se: int = 90, limiter: FailureLimiter | None = None, user_agent: str = "pribox",
                 phone_keepalive: float | None = None):
        self.local = local
        self.layer = TransactionLayer(timers)
        self.trunks: dict[str, SipTrunk] = {t.name: t for t in trunks}
        self.registrar = registrar
        self.challenger = challenger or (registrar.challenger if registrar is not None else None)
        self.media_for = media_for
        self.session_expires = session_expires
        self.min_se = min_se
        self.limiter = limiter or (registrar.limiter if registrar is not None else FailureLimiter())
        self.user_agent = user_agent
        self.policy = UasPolicy()
        self.calls: dict[int, SipCall] = {}
        self._call_timers: list = []              # (when, order, name, call): a heap, stale entries skipped
        self._reliable: dict[int, SipCall] = {}   # calls with a reliable provisional (100rel) in flight
        self._timer_order = itertools.count()
        self._ids = itertools.count(1)
        self._dialogs: dict[tuple[str, str], SipCall] = {}      # (Call-ID, our tag) -> call
        self._server_txs: dict[int, SipCall] = {}               # id(INVITE server tx) -> call
        self._client_txs: dict[int, tuple[str, object]] = {}    # id(client tx) -> (what, owner)
        self._events: deque = deque()
        self.status = {name: TrunkStatus(t, digest=DigestClient(t.username, t.password or "")
                                         if t.username else None) for name, t in self.trunks.items()}
        self.counters = {"auth_failures": 0, "refused_sources": 0, "calls_in": 0, "calls_out": 0,
                         "rejected_sdp": 0, "dropped": 0, "malformed": 0, "refused_requests": 0}
        # OPTIONS to registered phones not heard from for this long (NAT bindings, presence)
        self.phone_keepalive = phone_keepalive
        self.phone_srtp = "optional"     # SRTP_MODES for phones' calls ([sip] phone_srtp)
        self._phone_ping_at: float | None = None
        self._phone_pings: dict[int, Address] = {}

    # == the sans-I/O surface ===================================================================
    def start(self, now: float) -> None:
        """Begin keepalives and registrations of the trunks."""
        for status in self.status.values():
            trunk = status.trunk
            if trunk.register and trunk.username:
                status.timers["register"] = now
            if trunk.keepalive > 0:
                status.timers["options"] = now
        if self.phone_keepalive and self.registrar is not None:
            self._phone_ping_at = now + self.phone_keepalive
        self.handle_timer(now)

    def receive(self, data, source: Address, now: float, transport: str = "UDP") -> None:
        try:
            self.layer.receive(data, source, now, transport)
        except SipError as error:   # the layer refuses what it cannot route; nothing escapes
            self.counters["dropped"] += 1
            log.warning("SIP message from %s:%s dropped: %s", source[0], source[1], error.phrase)
        self._drain(now)

    def datagrams_to_send(self, now: float | None = None) -> list[tuple[bytes, Address, str]]:
        return self.layer.datagrams_to_send(now)

    def next_event(self):
        return self._events.popleft() if self._events else None

    def _push_call_timer(self, when: float, name: str, call: SipCall) -> None:
        heap = self._call_timers
        if len(heap) > 8 * len(self.calls) + 256:
            # Stale entries of ended calls would keep them alive until their far deadlines
            # (a session refresh minutes away): drop them all now and then.
            heap[:] = [entry for entry in heap if self._live_call_timer(entry)]
            heapq.heapify(heap)
        heapq.heappush(heap, (when, next(self._timer_order), name, call))

    def _live_call_timer(self, entry) -> bool:
        when, _, name, call = entry
        return self.calls.get(call.id) is call and call.timers.get(name) == when

    def get_timer(self) -> float | None:
        deadlines = [t for t in (self.layer.get_timer(),) if t is not None]
        heap = self._call_timers
        while heap and not self._live_call_timer(heap[0]):
            heapq.heappop(heap)
        if heap:
            deadlines.append(heap[0][0])
        for call in list(self._reliable.values()):
            if call.reliable is None or self.calls.get(call.id) is not call:
                del self._reliable[call.id]
            elif call.reliable.get_timer() is not None:
                deadlines.append(call.reliable.get_timer())
        for status in self.status.values():
            deadlines.extend(status.timers.values())
        if self.registrar is not None:
            deadlines.extend(t for t in (self.registrar.get_timer(), self._phone_ping_at) if t is not None)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        self.layer.handle_timer(now)
        self._drain(now)
        for call in list(self._reliable.values()):
            if call.reliable is not None and self.calls.get(call.id) is call:
                again = call.reliable.handle_timer(now)
                if again is not None and call.server_tx is not None:
                    self._respond(call.server_tx, again, now)
                elif call.reliable.failed and call.state in ("early", "answering"):
                    call.reliable = None
                    self._fail_incoming(call, now, 504, RECOVERY_ON_TIMER_EXPIRY, "no PRACK")
        heap = self._call_timers
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._live_call_timer(entry):
                _, _, name, call = entry
                del call.timers[name]
                self._call_timer(call, name, now)
        for status in self.status.values():
            for name, when in list(status.timers.items()):
                if when <= now:
                    del status.timers[name]
                    if name == "options":
                        self._send_options(status, now)
                    elif name == "register":
                        self._send_register(status, now)
        if self.registrar is not None:
            due = self.registrar.get_timer()
            if due is not None and due <= now:
                self.registrar.handle_timer(now)     # bindings expire, presence changes
            if self._phone_ping_at is not None and self._phone_ping_at <= now:
                self._phone_ping_at = now + self.phone_keepalive
                self._ping_phones(now)
        self._drain(now)

    # == the call API (shaped like IsdnSpan, with `now`) ==========================================
    def setup(self, called: str, now: float, *, trunk: str | None = None, phone: str | None = None,
              calling=None, redirecting=None, media: AudioConfig | None = None,
              display: str | None = None, contact: str | None = None, **_ignored) -> int:
        """Place a call to `called` on a trunk (by name; the only one when not given) or to a
        registered phone (its address of record: its first contact, or the registered
        `contact` URI given, to ring each of several); the call id.  Keywords the ISDN span
        takes and SIP has no use for (law, timeslot, ...) are accepted and ignored."""
        calling_p, redirecting_p = party_of(calling), party_of(redirecting)
        target_trunk = None
        if phone is not None:
            if self.registrar is None:
                raise SipCallStateError("no registrar: the box has no phones to call")
            aor = self._aor_of(phone)
            bindings = self.registrar.lookup(aor, now)
            if not bindings:
                raise SipCallStateError(f"phone {phone} is not registered (cause 20, subscriber absent)")
            binding = bindings[0]
            if contact is not None:
                binding = next((b for b in bindings if str(b.uri) == contact), None)
                if binding is None:
                    raise SipCallStateError(f"phone {phone}: contact {contact} is not registered (cause 20)")
            request_uri, peer, transport = str(binding.uri), binding.source, binding.transport
            to_uri = aor
            host = self.local.host
        else:
            target_trunk = self._pick_trunk(trunk)
            if target_trunk.direction == "in":
                raise SipCallStateError(f'trunk "{target_trunk.name}" takes incoming calls only')
            if self.status[target_trunk.name].up is False:
                # the keepalives say the peer is gone: let the call model try another route now
                raise SipCallStateError(f'trunk "{target_trunk.name}" is down (OPTIONS unanswered): '
                                        f'cause 38, network out of order')
            host = target_trunk.domain or target_trunk.host
            user = user_of_number(*_digits_ton(called), target_trunk.number_format)
            phone_param = ";user=phone" if target_trunk.number_format == "e164" else ""
            request_uri = f"sip:{user}@{host}" + (f":{target_trunk.port}" if target_trunk.port != 5060 else "") + phone_param
            peer, transport = target_trunk.address, target_trunk.transport_name
            to_uri = request_uri
        call_id = next(self._ids)
        config = self._media(call_id, media, target_trunk)
        local_tag = new_tag()
        invite = Request(method="INVITE", uri=parse_uri(request_uri, "Request-URI"), raw_uri=request_uri)
        local = replace(self.local, transport=transport)
        invite.add("Via", local.via())
        invite.add("Max-Forwards", "70")
        fmt = target_trunk.number_format if target_trunk else "as_is"
        if calling_p is not None and calling_p.presentation == PRESENTATION_RESTRICTED:
            invite.add("From", f'"Anonymous" <sip:anonymous@anonymous.invalid>;tag={local_tag}')
        else:
            user = user_of_number(calling_p.digits, calling_p.type_of_number, fmt) if calling_p and calling_p.digits else "pribox"
            name = f'"{display}" ' if display else ""
            invite.add("From", f"{name}<sip:{user}@{host}>;tag={local_tag}")
        invite.add("To", f"<{to_uri}>")
        invite.add("Call-ID", f"{secrets.token_hex(12)}@{self.local.host}")
        invite.add("CSeq", "1 INVITE")
        invite.add("Contact", local.contact())
        if calling_p is not None and calling_p.digits and (
                (target_trunk and target_trunk.caller_header == "pai") or calling_p.presentation == PRESENTATION_RESTRICTED):
            invite.add("P-Asserted-Identity",
                       f"<sip:{user_of_number(calling_p.digits, calling_p.type_of_number, fmt)}@{host}>")
        if calling_p is not None and calling_p.presentation == PRESENTATION_RESTRICTED:
            invite.add("Privacy", "id")
        if redirecting_p is not None and redirecting_p.digits:
            for name, value in forwarding_headers(redirecting_p, request_uri, host, target_trunk):
                invite.add(name, value)
        invite.add("Allow", ALLOW)
        invite.add("Supported", "100rel, timer, replaces")
        invite.add("Session-Expires", str(self.session_expires))
        invite.add("Min-SE", str(self.min_se))
        invite.add("User-Agent", self.user_agent)
        offer = make_offer(config, _session_id())
        invite.add("Content-Type", "application/sdp")
        invite.body = offer.to_bytes()
        call = SipCall(call_id, "out", target_trunk, phone, peer, transport, invite, state="calling",
                       local_tag=local_tag, media=config, local_sdp=offer)
        call.timers = _CallTimers(self._push_call_timer, call)
        self.calls[call_id] = call
        self.counters["calls_out"] += 1
        call.client_tx = self.layer.send_request(invite, peer, now, transport)
        self._client_txs[id(call.client_tx)] = ("invite", call)
        self._drain(now)
        return call_id

    def proceed(self, call_id: int, now: float) -> None:
        call = self._incoming(call_id, "proceed", ("offered",))
        call.state = "proceeding"   # the transaction layer sent 100 Trying already

    def alert(self, call_id: int, now: float, inband: bool = False, media: AudioConfig | None = None, **_ignored) -> None:
        """180 Ringing, or with `inband` 183 Session Progress carrying our SDP (early media;
        reliable when the caller supports 100rel)."""
        call = self._incoming(call_id, "alert", ("offered", "proceeding", "early"))
        if inband:
            self._early_media(call, now, 183, media)
        else:
            self._provisional(call, now, 180)
        self._drain(now)

    def progress(self, call_id: int, now: float, description: int = 8, media: AudioConfig | None = None) -> None:
        """183 Session Progress with SDP: in-band information (progress indicator 8) follows."""
        call = self._incoming(call_id, "progress", ("offered", "proceeding", "early"))
        self._early_media(call, now, 183, media)
        self._drain(now)

    def answer(self, call_id: int, now: float, media: AudioConfig | None = None, **_ignored) -> None:
        call = self._incoming(call_id, "answer", ("offered", "proceeding", "early"))
        if media is not None or call.media is None:
            call.media = self._media(call.id, media, call.trunk)
        if call.reliable is not None and not call.reliable.acknowledged:
            call.answer_waits_for_prack = True   # RFC 3262 §3: the 2xx follows the PRACK
            call.state = "answering"
            return
        self._send_ok(call, now)
        self._drain(now)

    def disconnect(self, call_id: int, now: float, cause: int = NORMAL_CLEARING, **_ignored) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state in ("clearing", "released"):
            raise SipCallStateError(f"disconnect: call {call_id} is "
                                    f"{'gone' if call is None else call.state}")
        call.clear_cause = cause
        if call.direction == "in" and call.state in ("offered", "proceeding", "early", "answering"):
            self._reject(call, now, sip_status(cause), cause)
        elif call.direction == "out" and call.state in ("calling", "proceeding", "early"):
            call.state = "clearing"
            if call.client_tx is not None and call.client_tx.state == "Proceeding":
                self._send_cancel(call, now)
            else:
                call.cancel_pending = True   # RFC 3261 §9.1: no CANCEL before a provisional response
                call.timers["cancel_wait"] = now + 64 * self.layer.timers.t1
        else:
            self._send_bye(call, now, cause)
        self._drain(now)

    def try_disconnect(self, call_id: int, now: float, cause: int) -> bool:
        try:
            self.disconnect(call_id, now, cause)
            return True
        except SipCallStateError:
            return False

    def hold(self, call_id: int, now: float) -> None:
        self._reinvite(self._active(call_id, "hold"), now, "sendonly")

    def resume(self, call_id: int, now: float) -> None:
        self._reinvite(self._active(call_id, "resume"), now, "sendrecv")

    def send_dtmf(self, call_id: int, digit: str, now: float, duration_ms: int = 160) -> None:
        """A digit by SIP INFO (application/dtmf-relay), for trunks whose dtmf is "info"."""
        call = self._active(call_id, "send_dtmf")
        if len(digit) != 1 or digit.upper() not in DTMF_EVENTS:
            raise ValueError(f"send_dtmf: {digit!r} is not one DTMF digit (0-9 * # A-D)")
        body = f"Signal={digit.upper()}\r\nDuration={duration_ms}\r\n".encode()
        request = call.dialog.new_request("INFO", body=body, content_type="application/dtmf-relay")
        tx = self.layer.send_request(request, call.peer, now, call.transport)
        self._client_txs[id(tx)] = ("info", call)
        self._drain(now)

    def unregister(self, name: str, now: float) -> None:
        """Withdraw the trunk's registration (REGISTER with Expires: 0, answering a challenge) and
        stop refreshing it: what a phone does when it goes away."""
        status = self.status.get(name)
        if status is None:
            raise SipCallStateError(f'unregister: no SIP trunk "{name}"')
        status.timers.pop("register", None)
        status.trunk = replace(status.trunk, expires=0, register=False)
        self._send_register(status, now)

    def law_of(self, call_id: int) -> str:
        """"alaw" / "ulaw" for a G.711 call, "g729" for G.729 (what the media plane decodes)."""
        call = self.calls.get(call_id)
        if call is None or call.negotiated is None:
            raise SipCallStateError(f"law_of: call {call_id} has no negotiated media")
        return {"PCMA": "alaw", "PCMU": "ulaw"}.get(call.negotiated.codec, call.negotiated.codec.lower())

    def media_of(self, call_id: int) -> NegotiatedAudio | None:
        call = self.calls.get(call_id)
        return None if call is None else call.negotiated

    def active_calls(self) -> int:
        return sum(1 for c in self.calls.values() if c.state != "released")

    def trunk_up(self, name: str) -> bool | None:
        return self.status[name].up

    def security_counters(self, now: float) -> dict:
        """What bad input and failed authentication did since the start: the console's
        `show sip counters` (the registrar's part when there is one)."""
        out = dict(self.counters)
        limiter = self.registrar.limiter if self.registrar is not None else self.limiter
        if self.registrar is not None:
            out["register_auth_failures"] = self.registrar.auth_failures
            out["register_blocked_refusals"] = self.registrar.blocked_refusals
        out["blocked_sources"] = limiter.blocked_sources(now)
        return out

    def _malformed(self, event: MessageRejected) -> None:
        self.counters["malformed"] += 1
        log.warning("malformed SIP from %s:%s refused: %s", *event.source, event.error.phrase)

    # == incoming messages =======================================================================
    def _drain(self, now: float) -> None:
        while (event := self.layer.next_event()) is not None:
            try:
                self._on_layer_event(event, now)
            except SipError as error:
                log.warning("SIP message refused: %s", error.phrase)
                if isinstance(event, RequestReceived) and event.transaction is not None and \
                        event.transaction.state in ("Trying", "Proceeding"):
                    self._respond(event.transaction, _error(event.request, error), now)

    def _on_layer_event(self, event, now: float) -> None:
        if isinstance(event, RequestReceived):
            self._on_request(event, now)
        elif isinstance(event, ResponseReceived):
            self._on_response(event, now)
        elif isinstance(event, (TransactionTimeout, TransportFailed)):
            self._on_failure(event.transaction, now)
        elif isinstance(event, TransactionTerminated):
            self._client_txs.pop(id(event.transaction), None)
            self._server_txs.pop(id(event.transaction), None)
        elif isinstance(event, MessageRejected):
            self._malformed(event)

    def _on_request(self, event: RequestReceived, now: float) -> None:
        request, tx = event.request, event.transaction
        method = request.method
        if method == "ACK":
            self._on_ack(request, now)
            return
        if method == "CANCEL":
            self._on_cancel(event, now)
            return
        to_tag = request.to.tag
        if to_tag:
            call = self._dialogs.get((request.call_id, to_tag))
            if call is None:
                self._respond(tx, make_response(request, 481), now)
                return
            self._in_dialog(call, request, tx, event.source, now)
            return
        problem = check_request(request, self.policy)
        if problem is not None:
            self.counters["refused_requests"] += 1
            log.info("%s from %s:%s refused: %d %s", method, *event.source, problem.status, problem.phrase)
            self._respond(tx, _error(request, problem), now)
            return
        if method == "INVITE":
            self._on_invite(request, tx, event.source, event.transport, now)
        elif method == "OPTIONS":
            self._note_alive(event.source, now)
            self._respond(tx, answer_options(request, self.policy), now)
        elif method == "REGISTER" and self.registrar is not None:
            self._respond(tx, self.registrar.handle_register(request, event.source, event.transport, now,
                                                             to_tag=new_tag()), now)
        elif method in ("BYE", "PRACK", "UPDATE", "INFO", "NOTIFY", "REFER"):
            self._respond(tx, make_response(request, 481, to_tag=new_tag()), now)
        else:
            self._respond(tx, make_response(request, 405, to_tag=new_tag()), now)

    # -- a new call ---------------------------------------------------------------------------
    def _on_invite(self, request: Request, tx: ServerTransaction, source: Address, transport: str,
                   now: float) -> None:
        trunk, phone = self._authorise(request, tx, source, now)
        if trunk is None and phone is None:
            return
        offer = None
        negotiated = None
        if request.body:
            try:
                offer = parse_sdp(request.body)
                probe = self._media_probe(trunk)
                _, negotiated = answer_offer(offer, probe, 0)
            except SipError as error:
                self.counters["rejected_sdp"] += 1
                log.warning("INVITE from %s:%s refused: %s", *source, error.phrase)
                self._respond(tx, _error(request, error, new_tag()), now)
                return
        try:
            timer, session_headers = negotiate_session_timer_uas(request, self.min_se, self.session_expires)
        except SipError as error:
            self._respond(tx, _error(request, error, new_tag()), now)
            return
        try:
            called, called_type = request_uri_number(request)
        except SipError as error:
            self._respond(tx, _error(request, error, new_tag()), now)
            return
        caller_header = trunk.caller_header if trunk else "from"
        calling = calling_party(request, caller_header)
        redirecting = redirecting_party(request, trunk.forwarding_header if trunk else "diversion")
        call_id = next(self._ids)
        local = replace(self.local, transport=transport)
        dialog = Dialog.as_uas(request, local)
        call = SipCall(call_id, "in", trunk, phone, source, transport, request, state="offered",
                       peer_allow={v.strip().upper() for v in request.get_all("Allow")},
                       server_tx=tx, dialog=dialog, local_tag=dialog.local_tag, remote_offer=offer,
                       negotiated=negotiated, session_timer=timer, session_headers=session_headers,
                       peer_100rel="100rel" in request.option_tags("Supported") + request.option_tags("Require"),
                       peer_requires_100rel="100rel" in request.option_tags("Require"))
        call.timers = _CallTimers(self._push_call_timer, call)
        self.calls[call_id] = call
        self._dialogs[(request.call_id, dialog.local_tag)] = call
        self._server_txs[id(tx)] = call
        self.counters["calls_in"] += 1
        law = {"PCMA": "alaw", "PCMU": "ulaw"}.get(negotiated.codec) if negotiated else None
        self._emit(IncomingCall(now, call_id, called, calling, redirecting, trunk.name if trunk else None,
                                phone, negotiated, source, called_number=Party(called, called_type),
                                display=calling.display if calling else None, law=law,
                                bearer=Bearer(0, {"alaw": 3, "ulaw": 2}.get(law))))

    def _authorise(self, request: Request, tx: ServerTransaction, source: Address, now: float):
        """(trunk, None) for an INVITE from a trunk's address, (None, user) for a phone that
        passed digest authentication, (None, None) once answered with 401/403."""
        host = source[0]
        for trunk in self.trunks.values():
            if trunk.admits(host):
                if trunk.direction == "out":
                    self._respond(tx, make_response(request, 403, "Forbidden: trunk takes no incoming calls",
                                                    to_tag=new_tag()), now)
                    return None, None
                return trunk, None
        if self.limiter.blocked(host, now):
            self._respond(tx, make_response(request, 403, "Forbidden: too many failed authentications",
                                            to_tag=new_tag()), now)
            return None, None
        if self.challenger is None or self.registrar is None:
            self.counters["refused_sources"] += 1
            self._auth_failed(source, request, None, "not a trunk address", now)
            self._respond(tx, make_response(request, 403, "Forbidden: not a trunk address", to_tag=new_tag()), now)
            return None, None
        result = self.challenger.verify(request, now, self.registrar.password_of)
        if result.ok:
            return None, result.username
        if result.reason != "no credentials" and not result.stale:
            if self._auth_failed(source, request, result.username, result.reason, now):
                self._respond(tx, make_response(request, 403, "Forbidden: too many failed authentications",
                                                to_tag=new_tag()), now)
                return None, None
        self._respond(tx, self.challenger.challenge(request, now, stale=result.stale, to_tag=new_tag()), now)
        return None, None

    def _auth_failed(self, source: Address, request: Request, user: str | None, reason: str, now: float) -> bool:
        self.counters["auth_failures"] += 1
        blocked = self.limiter.record_failure(source[0], now)
        log.warning("%s from %s:%s refused (%s)%s: %s", request.method, source[0], source[1], user or "no user",
                    " -- source blocked" if blocked else "", reason)
        self._emit(AuthenticationFailed(now, source, request.method, user, reason, blocked))
        return blocked

    # -- answering an incoming call ---------------------------------------------------------------
    def _incoming(self, call_id: int, what: str, states: tuple[str, ...]) -> SipCall:
        call = self.calls.get(call_id)
        if call is None:
            raise SipCallStateError(f"{what}: no call {call_id} (it was released or never existed)")
        if call.direction != "in" or call.state not in states:
            raise SipCallStateError(f"{what}: call {call_id} is {call.direction} and {call.state}")
        return call

    def _active(self, call_id: int, what: str) -> SipCall:
        call = self.calls.get(call_id)
        if call is None or call.state != "active" or call.dialog is None:
            raise SipCallStateError(f"{what}: call {call_id} is "
                                    f"{'gone' if call is None else call.state}, not active")
        return call

    def _local_answer(self, call: SipCall, media: AudioConfig | None) -> bytes:
        """Our SDP for the call: the answer to their offer, or our offer when they sent none."""
        if call.local_sdp is not None:
            return call.local_sdp.to_bytes()
        call.media = self._media(call.id, media, call.trunk) if media is not None or call.media is None else call.media
        if call.remote_offer is not None:
            call.local_sdp, call.negotiated = answer_offer(call.remote_offer, call.media, _session_id())
        else:
            call.local_sdp = make_offer(call.media, _session_id())
        return call.local_sdp.to_bytes()

    def _provisional(self, call: SipCall, now: float, status: int, body: bytes = b"") -> None:
        response = call.dialog.respond(call.invite, status, body=body)
        # RFC 3262 §3: with Require: 100rel every provisional is reliable; with Supported, the
        # ones carrying SDP are (early media must not be lost).
        reliable = call.peer_requires_100rel or (bool(body) and call.peer_100rel)
        if reliable:
            if call.reliable is not None and not call.reliable.acknowledged:
                return  # one unacknowledged reliable provisional at a time (RFC 3262 §3)
            call.rseq = call.rseq or RSeqCounter()
            call.rseq.reliable(response)
            call.reliable = ReliableProvisional(response, now, self.layer.timers.t1)
            self._reliable[call.id] = call
            call.answer_sent_reliably = True
        self._respond(call.server_tx, response, now)
        if call.state in ("offered", "proceeding"):
            call.state = "early"

    def _early_media(self, call: SipCall, now: float, status: int, media: AudioConfig | None) -> None:
        try:
            body = self._local_answer(call, media)
        except SipError as error:
            self._fail_incoming(call, now, error.status, 65, error.reason)
            return
        self._provisional(call, now, status, body)

    def _send_ok(self, call: SipCall, now: float) -> None:
        try:
            body = self._local_answer(call, None)
        except SipError as error:
            self._fail_incoming(call, now, error.status, 65, error.reason)
            return
        if call.answer_sent_reliably:
            body = b""   # the answer went in a PRACKed 18x: the exchange is complete (RFC 6337 §3.1)
        headers = list(call.session_headers)
        headers.append(("Allow", ALLOW))
        headers.append(("Supported", "100rel, timer, replaces"))
        ok = call.dialog.respond(call.invite, 200, body=body, headers=tuple(headers))
        call.ok_response, call.ok_interval, call.ok_tx = ok, self.layer.timers.t1, call.server_tx
        call.timers["ok_retransmit"] = now + self.layer.timers.t1
        call.timers["ack_wait"] = now + 64 * self.layer.timers.t1
        self._respond(call.server_tx, ok, now)
        call.state = "active"
        self._start_session_timer(call, now)

    def _reject(self, call: SipCall, now: float, status: int, cause: int) -> None:
        response = call.dialog.respond(call.invite, status, headers=(("Reason", reason_header(cause)),))
        self._respond(call.server_tx, response, now)
        self._release(call, cause, now)

    def _fail_incoming(self, call: SipCall, now: float, status: int, cause: int, why: str) -> None:
        log.warning("call %d: %s: answering %d", call.id, why, status)
        response = call.dialog.respond(call.invite, status)
        self._respond(call.server_tx, response, now)
        self._emit(Disconnected(now, call.id, cause, status=status))
        self._release(call, cause, now)

    # -- requests in a dialog -----------------------------------------------------------------
    def _in_dialog(self, call: SipCall, request: Request, tx: ServerTransaction, source: Address,
                   now: float) -> None:
        method = request.method
        refused = call.dialog.on_request(request)
        if refused is not None:
            self._respond(tx, call.dialog.respond(request, refused.status, refused.phrase), now)
            return
        if method == "BYE":
            self._respond(tx, call.dialog.respond(request, 200), now)
            if call.state in ("clearing", "released"):
                return
            if call.direction == "in" and call.state in ("offered", "proceeding", "early", "answering"):
                # a BYE in the early dialog: the INVITE still needs its final answer (RFC 3261 §15.1.2)
                self._respond(call.server_tx, call.dialog.respond(call.invite, 487), now)
            cause = cause_from_reason(request) or NORMAL_CLEARING
            self._emit(Disconnected(now, call.id, cause))
            self._release(call, cause, now)
        elif method == "PRACK":
            if call.reliable is not None and call.reliable.on_prack(request):
                if request.body and call.remote_offer is None and call.local_sdp is not None:
                    # our offer went in the reliable 18x (an INVITE without SDP): the answer is here
                    try:
                        call.negotiated = accept_answer(call.local_sdp, parse_sdp(request.body))
                        self._emit(MediaChanged(now, call.id, call.negotiated, call.negotiated.remote_holds))
                    except SipError as error:
                        log.warning("call %d: unusable SDP answer in the PRACK: %s", call.id, error.phrase)
                self._respond(tx, call.dialog.respond(request, 200), now)
                if call.answer_waits_for_prack:
                    call.answer_waits_for_prack = False
                    self._send_ok(call, now)
            else:
                self._respond(tx, call.dialog.respond(request, 481), now)
        elif method in ("INVITE", "UPDATE"):
            self._on_reoffer(call, request, tx, now)
        elif method == "INFO":
            self._on_info(call, request, tx, now)
        elif method == "OPTIONS":
            self._respond(tx, answer_options(request, self.policy, to_tag=call.local_tag), now)
        else:
            self._respond(tx, call.dialog.respond(request, 405 if method in ("REFER", "NOTIFY") else 501,
                                                  headers=(("Allow", ALLOW),)), now)

    def _on_reoffer(self, call: SipCall, request: Request, tx: ServerTransaction, now: float) -> None:
        """A re-INVITE or UPDATE: a new offer (hold, resume, new address) and/or a session refresh."""
        if call.state not in ("active", "early", "answering") and request.method == "INVITE":
            self._respond(tx, call.dialog.respond(request, 491), now)
            return
        body = b""
        if request.body and call.media is None:
            # an offer before the call model gave us media (an early UPDATE): not yet (RFC 3311 §5.2)
            self._respond(tx, call.dialog.respond(request, 500, "Server Internal Error: media not ready",
                                                  headers=(("Retry-After", "1"),)), now)
            return
        if request.body:
            try:
                offer = parse_sdp(request.body)
                version = (call.local_sdp.version + 1) if call.local_sdp else 1
                answer, negotiated = answer_offer(offer, call.media, _session_id(call), version)
            except SipError as error:
                self._respond(tx, _error(request, error, call.local_tag), now)
                return
            call.local_sdp, call.negotiated = answer, negotiated
            body = answer.to_bytes()
            call.held = negotiated.remote_holds
            self._emit(MediaChanged(now, call.id, negotiated, call.held))
        elif request.method == "INVITE" and call.local_sdp is not None:
            body = call.local_sdp.to_bytes()  # an offerless re-INVITE: our offer, their answer in the ACK
        headers = []
        if call.session_timer is not None:
            asked = request.get("Session-Expires")
            interval = int(asked.split(";")[0]) if asked and asked.split(";")[0].strip().isdigit() else call.session_timer.interval
            call.session_timer = SessionTimer(max(interval, self.min_se), call.session_timer.refresher, call.session_timer.we_refresh)
            refresher = "uas" if call.session_timer.we_refresh else "uac"
            headers = [("Session-Expires", f"{call.session_timer.interval};refresher={refresher}"), ("Require", "timer")]
            self._start_session_timer(call, now)
        response = call.dialog.respond(request, 200, body=body, headers=tuple(headers))
        self._respond(tx, response, now)
        if request.method == "INVITE":
            call.ok_response, call.ok_interval, call.ok_tx = response, self.layer.timers.t1, tx
            call.timers["ok_retransmit"] = now + self.layer.timers.t1
            call.timers["ack_wait"] = now + 64 * self.layer.timers.t1

    def _on_info(self, call: SipCall, request: Request, tx: ServerTransaction, now: float) -> None:
        content_type = request.content_type or ""
        text = request.body.decode("utf-8", "replace")
        digit, duration = None, None
        if content_type == "application/dtmf-relay":
            for line in text.splitlines():
                name, _, value = line.partition("=")
                if name.strip().lower() == "signal":
                    digit = value.strip()
                elif name.strip().lower() == "duration" and value.strip().isdigit():
                    duration = int(value.strip())
        elif content_type == "application/dtmf":
            digit = text.strip()
        if digit is not None:
            digit = {"10": "*", "11": "#"}.get(digit, digit).upper()
            if len(digit) != 1 or digit not in DTMF_EVENTS:
                self._respond(tx, call.dialog.respond(request, 400, f"Bad INFO body: signal {digit[:8]!r}"), now)
                return
            self._emit(DtmfDigit(now, call.id, digit, duration))
        self._respond(tx, call.dialog.respond(request, 200), now)

    def _on_ack(self, request: Request, now: float) -> None:
        call = self._dialogs.get((request.call_id, request.to.tag or ""))
        if call is None:
            return
        call.timers.pop("ok_retransmit", None)
        call.timers.pop("ack_wait", None)
        call.ok_response = None
        if request.body and call.local_sdp is not None:
            try:
                answer = parse_sdp(request.body)
                call.negotiated = accept_answer(call.local_sdp, answer)
            except SipError as error:
                log.warning("call %d: the SDP answer in the ACK is unusable (%s): clearing", call.id, error.phrase)
                self._emit(Disconnected(now, call.id, 65))
                self._send_bye(call, now, 65)
                return
            self._emit(MediaChanged(now, call.id, call.negotiated, call.negotiated.remote_holds))

    def _on_cancel(self, event: RequestReceived, now: float) -> None:
        request, tx = event.request, event.transaction
        invite_tx = event.cancels
        call = self._server_txs.get(id(invite_tx)) if invite_tx is not None else None
        if call is None or call.state not in ("offered", "proceeding", "early", "answering"):
            self._respond(tx, make_response(request, 481 if invite_tx is None else 200, to_tag=new_tag()), now)
            return
        self._respond(tx, make_response(request, 200, to_tag=call.local_tag), now)
        cause = cause_from_reason(request) or NORMAL_CLEARING
        response = call.dialog.respond(call.invite, 487)
        self._respond(call.server_tx, response, now)
        self._emit(Disconnected(now, call.id, cause))
        self._release(call, cause, now)

    # == responses to what we sent ===============================================================
    def _on_response(self, event: ResponseReceived, now: float) -> None:
        response, tx = event.response, event.transaction
        if tx is None:
            self._stray_response(response, now)
            return
        what, owner = self._client_txs.get(id(tx), (None, None))
        if what == "invite":
            self._on_invite_response(owner, tx, response, now)
        elif what == "reinvite":
            self._on_reinvite_response(owner, tx, response, now)
        elif what in ("bye", "cancel_bye"):
            if response.status >= 200:
                self._release(owner, owner.clear_cause, now)
        elif what in ("update", "info", "prack", "cancel"):
            if what == "update" and response.status >= 200:
                self._on_refresh_answered(owner, response, now)
        elif what == "options":
            if response.status >= 200:
                self._trunk_state(owner, response.status != 503, f"OPTIONS answered {response.status}", now)
        elif what == "register":
            self._on_register_response(owner, tx, response, now)
        elif what == "phone_ping" and response.status >= 200 and self.registrar is not None:
            self.registrar.keepalive(owner, now)

    def _stray_response(self, response: Response, now: float) -> None:
        """A 2xx retransmission after its transaction ended: ACK it again."""
        if response.cseq.method != "INVITE" or not 200 <= response.status < 300:
            return
        for call in self.calls.values():
            if call.ack is not None and call.invite.call_id == response.call_id:
                self.layer.send_stateless(call.ack, call.peer, call.transport)
                return

    def _on_invite_response(self, call: SipCall, tx: ClientTransaction, response: Response, now: float) -> None:
        status = response.status
        if call.state == "released":
            if 200 <= status < 300 and call.dialog is None:
                self._ack_and_bye(call, response, now)
            return
        if status < 200:
            if call.cancel_pending:
                call.cancel_pending = False
                call.timers.pop("cancel_wait", None)
                self._send_cancel(call, now)
                return
            if status == 100:
                if call.state == "calling":
                    call.state = "proceeding"
                    self._emit(CallProceeding(now, call.id))
                return
            if response.to.tag and response.contacts and call.dialog is None:
                call.dialog = Dialog.as_uac(call.invite, response, replace(self.local, transport=call.transport))
                self._dialogs[(call.invite.call_id, call.local_tag)] = call
            media = self._answer_in(call, response, now)
            if call.dialog is not None and "100rel" in response.option_tags("Require"):
                prack = call.dialog.prack_for(response)
                if prack is not None:
                    ptx = self.layer.send_request(prack, call.peer, now, call.transport)
                    self._client_txs[id(ptx)] = ("prack", call)
            if call.state == "clearing":
                return
            if status == 180:
                call.state = "early"
                self._emit(Alerting(now, call.id, inband=media is not None, media=media))
            elif status == 183 and media is not None:
                call.state = "early"
                self._emit(Progress(now, call.id, 8, media))
            elif call.state == "calling":
                call.state = "proceeding"
                self._emit(CallProceeding(now, call.id))
            return
        if status < 300:
            if call.dialog is None or call.dialog.state == "early":
                if call.dialog is None:
                    call.dialog = Dialog.as_uac(call.invite, response, replace(self.local, transport=call.transport))
                    self._dialogs[(call.invite.call_id, call.local_tag)] = call
                call.dialog.remote_tag = response.to.tag or call.dialog.remote_tag
                call.dialog.on_response(response)
            if call.ack is not None:
                self.layer.send_stateless(call.ack, call.peer, call.transport)   # a retransmission
                return
            call.ack = call.dialog.ack_for_2xx(call.invite)
            self.layer.send_stateless(call.ack, call.peer, call.transport)
            if call.state == "clearing":
                self._send_bye(call, now, call.clear_cause)
                return
            media = self._answer_in(call, response, now)
            call.state = "active"
            call.peer_allow = {v.strip().upper() for v in response.get_all("Allow")}
            call.timers.pop("cancel_wait", None)
            try:
                call.session_timer = session_timer_from_2xx(response)
            except SipError:
                call.session_timer = None
            self._start_session_timer(call, now)
            self._emit(Answered(now, call.id, _connected(response), media or call.negotiated))
            return
        if status in (401, 407) and call.trunk is not None and call.trunk.username and call.auth_tried < 2 \
                and call.state != "clearing":
            if self._retry_with_credentials(call, response, now):
                return
        cause = cause_from_reason(response) or cause_of_status(status)
        if call.state == "clearing":
            self._release(call, call.clear_cause, now)
            return
        self._emit(Disconnected(now, call.id, cause, status=status))
        self._release(call, cause, now)

    def _answer_in(self, call: SipCall, response: Response, now: float) -> NegotiatedAudio | None:
        if not response.body or call.local_sdp is None:
            return None
        try:
            call.negotiated = accept_answer(call.local_sdp, parse_sdp(response.body))
        except SipError as error:
            log.warning("call %d: unusable SDP in %d: %s", call.id, response.status, error.phrase)
            return None
        return call.negotiated

    def _retry_with_credentials(self, call: SipCall, challenge: Response, now: float) -> bool:
        trunk = call.trunk
        name = "Proxy-Authenticate" if challenge.status == 407 else "WWW-Authenticate"
        offers = challenge.get_all(name)
        if trunk.realm is not None and not any(
                parse_auth_header(v, name)[1].get("realm") == trunk.realm for v in offers):
            log.warning("call %d: trunk %s challenged for another realm than %r", call.id, trunk.name, trunk.realm)
            return False
        call.auth_tried += 1
        invite = Request(method="INVITE", uri=call.invite.uri, raw_uri=call.invite.raw_uri, body=call.invite.body,
                         headers=[h for h in call.invite.headers if h[0] not in ("Via", "CSeq")])
        invite.add("Via", replace(self.local, transport=call.transport).via(), first=True)
        invite.set("CSeq", f"{call.invite.cseq.number + 1} INVITE")
        digest = self.status[trunk.name].digest
        try:
            digest.authorize(invite, challenge)
        except SipError as error:
            log.warning("call %d: cannot answer trunk %s's challenge: %s", call.id, trunk.name, error.phrase)
            return False
        call.invite = invite
        call.client_tx = self.layer.send_request(invite, call.peer, now, call.transport)
        self._client_txs[id(call.client_tx)] = ("invite", call)
        return True

    def _ack_and_bye(self, call: SipCall, response: Response, now: float) -> None:
        """A 2xx that crossed our CANCEL: confirm the dialog and end it at once (RFC 3261 §15)."""
        dialog = Dialog.as_uac(call.invite, response, replace(self.local, transport=call.transport))
        self.layer.send_stateless(dialog.ack_for_2xx(call.invite), call.peer, call.transport)
        bye = dialog.new_request("BYE", headers=(("Reason", reason_header(call.clear_cause)),))
        tx = self.layer.send_request(bye, call.peer, now, call.transport)
        self._client_txs[id(tx)] = ("done", call)

    def _on_reinvite_response(self, call: SipCall, tx: ClientTransaction, response: Response, now: float) -> None:
        if response.status < 200:
            return
        call.pending_reinvite = None
        if call.dialog is not None:
            call.dialog.on_response(response)
        if 200 <= response.status < 300:
            ack = call.dialog.ack_for_2xx(tx.request)
            self.layer.send_stateless(ack, call.peer, call.transport)
            if response.body and call.local_sdp is not None and tx.request.body:
                try:
                    call.negotiated = accept_answer(call.local_sdp, parse_sdp(response.body))
                    self._emit(MediaChanged(now, call.id, call.negotiated, call.held))
                except SipError as error:
                    log.warning("call %d: unusable SDP answer to our re-INVITE: %s", call.id, error.phrase)
            self._on_refresh_answered(call, response, now)
        elif response.status in (408, 481):
            self._remote_gone(call, now, RECOVERY_ON_TIMER_EXPIRY if response.status == 408 else TEMPORARY_FAILURE)

    def _on_refresh_answered(self, call: SipCall, response: Response, now: float) -> None:
        if response.status in (408, 481):
            self._remote_gone(call, now, RECOVERY_ON_TIMER_EXPIRY)
            return
        if 200 <= response.status < 300 and call.session_timer is not None:
            try:
                timer = session_timer_from_2xx(response)
            except SipError:
                timer = None
            if timer is not None:
                call.session_timer = timer
            self._start_session_timer(call, now)

    def _on_failure(self, tx, now: float) -> None:
        what, owner = self._client_txs.pop(id(tx), (None, None))
        if owner is None:
            return
        if what == "invite" and owner.state not in ("released",):
            if owner.state == "clearing":
                self._release(owner, owner.clear_cause, now)
            else:
                self._emit(Disconnected(now, owner.id, RECOVERY_ON_TIMER_EXPIRY, status=408))
                self._release(owner, RECOVERY_ON_TIMER_EXPIRY, now)
        elif what in ("bye", "cancel_bye"):
            self._release(owner, owner.clear_cause, now)
        elif what in ("reinvite", "update"):
            self._remote_gone(owner, now, RECOVERY_ON_TIMER_EXPIRY)
        elif what == "options":
            self._trunk_state(owner, False, "OPTIONS unanswered", now)
        elif what == "register":
            owner.registered = False
            self._emit(TrunkRegistered(now, owner.trunk.name, False, 0, "REGISTER unanswered"))
            owner.timers["register"] = now + REGISTER_RETRY_SECONDS

    # == leaving a call ==========================================================================
    def _send_cancel(self, call: SipCall, now: float) -> None:
        cancel = call.client_tx.cancel_request()
        cancel.add("Reason", reason_header(call.clear_cause))
        tx = self.layer.send_request(cancel, call.peer, now, call.transport)
        self._client_txs[id(tx)] = ("cancel", call)
        # the INVITE's 487 (or its timeout) releases the call

    def _send_bye(self, call: SipCall, now: float, cause: int) -> None:
        call.state = "clearing"
        call.clear_cause = cause
        for name in ("ok_retransmit", "ack_wait", "refresh", "expire"):
            call.timers.pop(name, None)
        if call.dialog is None or call.dialog.state == "terminated":
            self._release(call, cause, now)
            return
        bye = call.dialog.new_request("BYE", headers=(("Reason", reason_header(cause)),))
        tx = self.layer.send_request(bye, call.peer, now, call.transport)
        self._client_txs[id(tx)] = ("bye", call)

    def _remote_gone(self, call: SipCall, now: float, cause: int) -> None:
        """The far end stopped answering in the dialog: tell the call model, then BYE."""
        if call.state in ("clearing", "released"):
            return
        self._emit(Disconnected(now, call.id, cause))
        self._send_bye(call, now, cause)

    def _release(self, call: SipCall, cause: int, now: float) -> None:
        if call.state == "released":
            return
        call.state = "released"
        call.timers.clear()
        call.reliable = None
        self.calls.pop(call.id, None)
        self._dialogs.pop((call.invite.call_id, call.local_tag), None)
        self._emit(Released(now, call.id, cause))

    # == timers of calls =========================================================================
    def _call_timer(self, call: SipCall, name: str, now: float) -> None:
        t = self.layer.timers
        if name == "ok_retransmit" and call.ok_response is not None:
            call.ok_interval = min(2 * call.ok_interval, t.t2)
            call.timers["ok_retransmit"] = now + call.ok_interval
            if call.ok_tx is not None and call.ok_tx.state == "Accepted":
                self._respond(call.ok_tx, call.ok_response, now)
            else:
                self.layer.send_stateless(call.ok_response, call.peer, call.transport)
        elif name == "ack_wait":
            call.ok_response = None
            call.timers.pop("ok_retransmit", None)
            log.warning("call %d: no ACK for our 200 OK within 64*T1: ending it", call.id)
            self._remote_gone(call, now, RECOVERY_ON_TIMER_EXPIRY)
        elif name == "refresh" and call.state == "active":
            self._refresh(call, now)
        elif name == "expire" and call.state == "active":
            log.warning("call %d: session expired without a refresh (RFC 4028)", call.id)
            self._remote_gone(call, now, RECOVERY_ON_TIMER_EXPIRY)
        elif name == "cancel_wait" and call.state == "clearing":
            self._release(call, call.clear_cause, now)

    def _start_session_timer(self, call: SipCall, now: float) -> None:
        call.timers.pop("refresh", None)
        call.timers.pop("expire", None)
        timer = call.session_timer
        if timer is None:
            return
        if timer.we_refresh:
            call.timers["refresh"] = timer.refresh_at(now)
        else:
            call.timers["expire"] = timer.expire_at(now)

    def _refresh(self, call: SipCall, now: float) -> None:
        """A session refresh (RFC 4028 §7.4, §8): UPDATE when the peer allows it, else re-INVITE
        with our current SDP unchanged."""
        peer_allows = self._peer_allows(call)
        interval = call.session_timer.interval
        headers = (("Session-Expires", f"{interval};refresher=uac"), ("Supported", "timer"))
        # The refresher of the session is now the UAC of this request: us.
        call.session_timer = SessionTimer(interval, "uac", True)
        if "UPDATE" in peer_allows:
            request = call.dialog.new_request("UPDATE", headers=headers)
            tx = self.layer.send_request(request, call.peer, now, call.transport)
            self._client_txs[id(tx)] = ("update", call)
        else:
            body = call.local_sdp.to_bytes() if call.local_sdp is not None else b""
            request = call.dialog.new_request("INVITE", body=body, headers=headers)
            tx = self.layer.send_request(request, call.peer, now, call.transport)
            self._client_txs[id(tx)] = ("reinvite", call)
            call.pending_reinvite = tx
        call.timers["refresh"] = now + interval / 2   # until the answer sets it again

    def _peer_allows(self, call: SipCall) -> set[str]:
        """The methods the peer listed in Allow: its INVITE, or its 2xx to ours."""
        return call.peer_allow

    def _reinvite(self, call: SipCall, now: float, direction: str) -> None:
        if call.pending_reinvite is not None:
            raise SipCallStateError(f"call {call.id}: a re-INVITE is already pending")
        if call.local_sdp is None:
            raise SipCallStateError(f"call {call.id}: no SDP to change")
        call.local_sdp = with_direction(call.local_sdp, direction)
        call.held = direction != "sendrecv"
        request = call.dialog.new_request("INVITE", body=call.local_sdp.to_bytes())
        tx = self.layer.send_request(request, call.peer, now, call.transport)
        self._client_txs[id(tx)] = ("reinvite", call)
        call.pending_reinvite = tx
        self._drain(now)

    # == trunks: keepalives and registration ======================================================
    def _send_options(self, status: TrunkStatus, now: float) -> None:
        trunk = status.trunk
        status.timers["options"] = now + trunk.keepalive
        if status.options_tx is not None and status.options_tx.state not in ("Terminated", "Completed"):
            return
        request = self._out_of_dialog("OPTIONS", trunk, f"sip:{trunk.host}:{trunk.port}")
        status.options_tx = self.layer.send_request(request, trunk.address, now, trunk.transport_name)
        self._client_txs[id(status.options_tx)] = ("options", status)

    def _out_of_dialog(self, method: str, trunk: SipTrunk, uri: str, user: str = "pribox",
                       call_id: str | None = None, cseq: int = 1) -> Request:
        request = Request(method=method, uri=parse_uri(uri, "Request-URI"), raw_uri=uri)
        local = replace(self.local, transport=trunk.transport_name)
        domain = trunk.domain or trunk.host
        request.add("Via", local.via())
        request.add("Max-Forwards", "70")
        request.add("From", f"<sip:{user}@{domain}>;tag={new_tag()}")
        request.add("To", f"<sip:{user}@{domain}>" if method == "REGISTER" else f"<{uri}>")
        request.add("Call-ID", call_id or f"{secrets.token_hex(12)}@{self.local.host}")
        request.add("CSeq", f"{cseq} {method}")
        request.add("User-Agent", self.user_agent)
        return request

    def _ping_phones(self, now: float) -> None:
        """OPTIONS to each registered contact not heard from for `phone_keepalive` seconds; an
        answer counts as a sign of life for the registrar (presence, NAT binding)."""
        for binding in self.registrar.keepalive_due(now, self.phone_keepalive):
            uri = str(binding.uri)
            request = Request(method="OPTIONS", uri=binding.uri, raw_uri=uri)
            request.add("Via", replace(self.local, transport=binding.transport).via())
            request.add("Max-Forwards", "70")
            request.add("From", f"<sip:pribox@{self.local.host}>;tag={new_tag()}")
            request.add("To", f"<{binding.aor}>")
            request.add("Call-ID", f"{secrets.token_hex(12)}@{self.local.host}")
            request.add("CSeq", "1 OPTIONS")
            tx = self.layer.send_request(request, binding.source, now, binding.transport)
            self._client_txs[id(tx)] = ("phone_ping", binding.source)

    def _trunk_state(self, status: TrunkStatus, up: bool, detail: str, now: float) -> None:
        if status.up == up:
            return
        status.up = up
        log.log(logging.INFO if up else logging.WARNING, "SIP trunk %s %s (%s)", status.trunk.name,
                "up" if up else "down", detail)
        self._emit(TrunkStateChanged(now, status.trunk.name, up, detail))

    def _note_alive(self, source: Address, now: float) -> None:
        for status in self.status.values():
            if status.trunk.admits(source[0]) and status.up is False:
                self._trunk_state(status, True, "OPTIONS from the peer", now)
        if self.registrar is not None:
            self.registrar.keepalive(source, now)

    def _send_register(self, status: TrunkStatus, now: float, challenge: Response | None = None) -> None:
        trunk = status.trunk
        if not status.register_call_id:
            status.register_call_id = f"{secrets.token_hex(12)}@{self.local.host}"
        status.register_cseq += 1
        request = self._out_of_dialog("REGISTER", trunk, f"sip:{trunk.domain or trunk.host}" +
                                      (f":{trunk.port}" if trunk.port != 5060 and not trunk.domain else ""),
                                      trunk.username, status.register_call_id, status.register_cseq)
        request.add("Contact", replace(self.local, transport=trunk.transport_name, user=trunk.username).contact())
        request.add("Expires", str(trunk.expires))
        if challenge is not None:
            status.digest.authorize(request, challenge)
        status.register_tx = self.layer.send_request(request, trunk.address, now, trunk.transport_name)
        self._client_txs[id(status.register_tx)] = ("register", status)

    def _on_register_response(self, status: TrunkStatus, tx: ClientTransaction, response: Response, now: float) -> None:
        if response.status < 200:
            return
        trunk = status.trunk
        if response.status in (401, 407) and status.register_auth_tries < 2 and status.digest is not None:
            status.register_auth_tries += 1
            try:
                self._send_register(status, now, response)
                return
            except SipError as error:
                detail = f"cannot answer the challenge: {error.phrase}"
        elif 200 <= response.status < 300 and not trunk.register:
            status.register_auth_tries = 0
            status.registered = False
            self._emit(TrunkRegistered(now, trunk.name, False, 0, "unregistered"))
            return
        elif 200 <= response.status < 300:
            status.register_auth_tries = 0
            expires = trunk.expires
            for contact in response.contacts:
                if contact.uri.user == trunk.username and (contact.params.get("expires") or "").isdigit():
                    expires = int(contact.params["expires"])
            if response.get("Expires", "").strip().isdigit() and not response.contacts:
                expires = int(response.get("Expires").strip())
            status.registered = True
            status.timers["register"] = now + max(expires * 0.8, min(expires, 30))
            self._emit(TrunkRegistered(now, trunk.name, True, expires, f"registered for {expires} s"))
            self._trunk_state(status, True, "registered", now)
            return
        else:
            detail = f"REGISTER refused: {response.status} {response.reason}"
        status.register_auth_tries = 0
        status.registered = False
        log.warning("SIP trunk %s: %s", trunk.name, detail)
        self._emit(TrunkRegistered(now, trunk.name, False, 0, detail))
        status.timers["register"] = now + REGISTER_RETRY_SECONDS

    # == lookups and small pieces =======================================================
    def _pick_trunk(self, name: str | None) -> SipTrunk:
        if name is None:
            if len(self.trunks) == 1:
                return next(iter(self.trunks.values()))
            raise SipCallStateError(f"setup: name a trunk ({', '.join(sorted(self.trunks)) or 'none configured'})")
        trunk = self.trunks.get(name)
        if trunk is None:
            raise SipCallStateError(f'setup: no SIP trunk "{name}" (trunks: {", ".join(sorted(self.trunks)) or "none"})')
        return trunk

    def _aor_of(self, phone: str) -> str:
        """A phone's address of record: as given ("sip:100@box", "100@box"), or the one
        registered AOR whose user part is `phone` ("100")."""
        if phone.startswith("sip:") or phone.startswith("sips:"):
            return phone
        if "@" in phone:
            return f"sip:{phone}"
        found = [aor for aor in self.registrar.aors() if aor.split(":", 1)[1].split("@")[0] == phone]
        return found[0] if found else f"sip:{phone}@{self.local.host}"

    def _media(self, call_id: int, media: AudioConfig | None, trunk: SipTrunk | None) -> AudioConfig:
        if media is None and self.media_for is not None:
            media = self.media_for(call_id)
        if media is None:
            raise SipCallStateError(f"call {call_id}: no media description (local RTP address and port)")
        if trunk is not None:
            codecs = tuple(c for c in trunk.codecs if c in media.codecs) or media.codecs
            media = replace(media, codecs=codecs,
                            telephone_event_pt=media.telephone_event_pt if trunk.dtmf == "rfc4733" else None)
            media = _with_srtp(media, trunk.srtp)
        else:
            media = _with_srtp(media, self.phone_srtp)
        return media

    def _media_probe(self, trunk: SipTrunk | None) -> AudioConfig:
        """What we would accept, to vet an offer before the call model gives us a port."""
        codecs = trunk.codecs if trunk is not None else ("PCMA", "PCMU", "G729")
        return AudioConfig(self.local.host, 9, codecs=codecs,
                           telephone_event_pt=None if trunk is not None and trunk.dtmf != "rfc4733" else 101,
                           srtp=trunk.srtp if trunk is not None else self.phone_srtp,
                           srtp_key=bytes(SRTP_KEY_OCTETS))   # never sent: the probe's answer is dropped

    def _respond(self, tx: ServerTransaction | None, response: Response, now: float) -> None:
        if tx is None or tx.state in ("Completed", "Confirmed", "Terminated"):
            return
        if response.status >= 100 and self.user_agent and not response.has("Server"):
            response.add("Server", self.user_agent)
        self.layer.send_response(tx, response, now)

    def _emit(self, event) -> None:
        self._events.append(event)


def _error(request: Request, error: SipError, to_tag: str | None = None) -> Response:
    response = make_response(request, error.status, error.phrase, to_tag=to_tag or new_tag())
    for name, value in error.extra_headers:
        response.add(name, value)
    return response


def _with_srtp(media: AudioConfig, mode: str) -> AudioConfig:
    """The trunk's SRTP mode on the media, with a fresh key when SRTP may be used and the caller
    gave none (an outgoing call: the keys come back in the Answered event's media)."""
    key = media.srtp_key
    if mode != "off" and key is None:
        key = secrets.token_bytes(SRTP_KEY_OCTETS)
    return replace(media, srtp=mode, srtp_key=key if mode != "off" else None)


def _digits_ton(called) -> tuple[str, int]:
    party = party_of(called)
    return party.digits, party.type_of_number


def _connected(response: Response) -> Party | None:
    pai = response.get("P-Asserted-Identity")
    try:
        source = response.to if pai is None else None
        if pai is not None:
            source = parse_name_addr(pai.split(",")[0], "P-Asserted-Identity")
        digits, ton = number_of_user(source.uri.user if source.uri.is_sip else source.uri.opaque)
        return Party(digits, ton) if digits else None
    except SipError:
        return None


def _session_id(call: SipCall | None = None) -> int:
    if call is not None and call.local_sdp is not None:
        return int(call.local_sdp.origin[1])
    return secrets.randbelow(2**31)

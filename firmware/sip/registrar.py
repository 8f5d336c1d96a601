"""Registrar and location service (RFC 3261 §10.3), sans-I/O.

`Registrar.handle_register(request, source, transport, now)` returns the response to send;
bindings expire on `handle_timer(now)` (`get_timer()` says when).  Keepalives (CRLF pings,
OPTIONS answers, re-REGISTERs) refresh `last_seen`; `presence(now)` is the CTI's view of which
agents' phones are reachable, and every change is also an AorPresenceChanged event (on the bus
when one is given, and from `next_event()`).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from runtime.bus import Event, EventBus
from firmware.sip.digest import DigestChallenger
from firmware.sip.errors import SipError
from firmware.sip.grammar import NameAddr, Uri, parse_name_addr
from firmware.sip.message import Request, Response, make_response

Address = tuple[str, int]
log = logging.getLogger("pribox.sip.registrar")


class FailureLimiter:
    """Per-source limit on failed authentications: after `max_failures` within `window`
    seconds the source is refused outright (403, no new challenge) for `block` seconds."""

    def __init__(self, max_failures: int = 5, window: float = 60.0, block: float = 300.0):
        self.max_failures = max_failures
        self.window = window
        self.block = block
        self._failures: dict[str, list[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def blocked(self, host: str, now: float) -> bool:
        until = self._blocked_until.get(host)
        if until is None:
            return False
        if now >= until:
            del self._blocked_until[host]
            return False
        return True

    def blocked_sources(self, now: float) -> dict[str, float]:
        """Sources refused right now, with the seconds each has left."""
        return {host: until - now for host, until in self._blocked_until.items() if until > now}

    def record_failure(self, host: str, now: float) -> bool:
        """Count one failure; True when it makes the source blocked."""
        recent = [t for t in self._failures.get(host, []) if now - t < self.window] + [now]
        self._failures[host] = recent
        if len(recent) >= self.max_failures:
            self._blocked_until[host] = now + self.block
            self._failures.pop(host, None)
            return True
        return False


@dataclass
class Binding:
    aor: str
    contact: NameAddr
    expires_at: float
    q: float
    call_id: str
    cseq: int
    source: Address
    transport: str
    registered_at: float
    last_seen: float
    instance: str | None = None

    @property
    def uri(self) -> Uri:
        return self.contact.uri

    def key(self) -> str:
        return uri_key(self.contact.uri)


def uri_key(uri: Uri) -> str:
    """Compare contact URIs as RFC 3261 §19.1.4 does for what matters here: scheme, user
    (case-sensitive), host (case-insensitive), port, transport."""
    transport = (uri.params.get("transport") or "").lower()
    return f"{uri.scheme}:{uri.user or ''}@{uri.host.lower()}:{uri.port or ''};{transport}"


@dataclass(frozen=True)
class AorPresenceChanged(Event):
    aor: str
    reachable: bool
    contacts: tuple[str, ...]


@dataclass
class Presence:
    aor: str
    reachable: bool
    contacts: list[str] = field(default_factory=list)
    last_seen: float | None = None


class Registrar:
    def __init__(self, domains: tuple[str, ...], challenger: DigestChallenger | None = None,
                 password_of: Callable[[str], str | None] | None = None,
                 default_expires: int = 3600, min_expires: int = 60, max_expires: int = 7200,
                 max_contacts: int = 10, keepalive_timeout: float | None = None,
                 bus: EventBus | None = None, limiter: FailureLimiter | None = None):
        self.domains = {d.lower() for d in domains}
        self.challenger = challenger
        self.password_of = password_of or (lambda user: None)
        self.default_expires = default_expires
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.max_contacts = max_contacts
        self.keepalive_timeout = keepalive_timeout
        self.bus = bus
        self._bindings: dict[str, dict[str, Binding]] = {}
        self._events: deque = deque()
        self._reachable: dict[str, bool] = {}
        self.auth_failures = 0
        self.blocked_refusals = 0        # REGISTERs refused outright from a blocked source
        self.limiter = limiter or FailureLimiter()

    # -- REGISTER ------------------------------------------------------------------------------
    def handle_register(self, request: Request, source: Address, transport: str,
                        now: float, to_tag: str = "reg") -> Response:
        try:
            return self._register(request, source, transport.upper(), now, to_tag)
        except SipError as error:
            response = make_response(request, error.status, error.phrase, to_tag=to_tag)
            for name, value in error.extra_headers:
                response.add(name, value)
            return response

    def _register(self, request, source, transport, now, to_tag) -> Response:
        if request.uri is None or request.uri.host.lower() not in self.domains:
            raise SipError("Not Found", status=404)
        to = request.to
        if not to.uri.is_sip:
            raise SipError("Unsupported URI Scheme", status=416)
        aor = to.uri.address_of_record.lower()
        if self.challenger is not None:
            host = source[0]
            if self.limiter.blocked(host, now):
                self.blocked_refusals += 1
                raise SipError("Forbidden: too many failed authentications", status=403)
            result = self.challenger.verify(request, now, self.password_of)
            if not result.ok:
                if result.reason != "no credentials" and not result.stale:
                    self.auth_failures += 1
                    log.warning("REGISTER for %s from %s:%s failed authentication: %s",
                                aor, host, source[1], result.reason)
                    if self.limiter.record_failure(host, now):
                        log.warning("%s blocked for %.0f s after repeated failures", host,
                                    self.limiter.block)
                        raise SipError("Forbidden: too many failed authentications", status=403)
                return self.challenger.challenge(request, now, stale=result.stale, to_tag=to_tag)
            if result.username != to.uri.user:
                raise SipError("Forbidden", status=403)
        call_id, cseq = request.call_id, request.cseq.number
        raw_contacts = request.get_all("Contact")
        header_expires = request.get("Expires")
        current = self._bindings.setdefault(aor, {})
        if raw_contacts == ["*"]:
            if header_expires is None or int(header_expires) != 0:
                raise SipError("'*' needs Expires: 0", header="Contact")
            for binding in list(current.values()):
                if binding.call_id == call_id and cseq <= binding.cseq:
                    raise SipError("Server Internal Error: CSeq out of order", status=500)
            current.clear()
        else:
            updates = []
            for value in raw_contacts:
                contact = parse_name_addr(value, "Contact")
                expires = contact.params.get("expires", header_expires)
                seconds = self.default_expires if expires is None else _seconds(expires)
                if 0 < seconds < self.min_expires:
                    raise SipError("Interval Too Brief", status=423,
                                   extra_headers=(("Min-Expires", str(self.min_expires)),))
                updates.append((contact, min(seconds, self.max_expires)))
            for contact, seconds in updates:
                key = uri_key(contact.uri)
                old = current.get(key)
                if old is not None and old.call_id == call_id and cseq <= old.cseq:
                    raise SipError("Server Internal Error: CSeq out of order", status=500)
                if seconds == 0:
                    current.pop(key, None)
                    continue
                q = _q(contact.params.get("q"))
                instance = contact.params.get("+sip.instance")
                current[key] = Binding(aor=aor, contact=contact, expires_at=now + seconds, q=q,
                                       call_id=call_id, cseq=cseq, source=source,
                                       transport=transport,
                                       registered_at=old.registered_at if old else now,
                                       last_seen=now, instance=instance)
            if len(current) > self.max_contacts:
                raise SipError("Forbidden: too many contacts", status=403)
        if not current:
            del self._bindings[aor]
        self._note_change(aor, now)
        response = make_response(request, 200, to_tag=to_tag)
        for binding in self.lookup(aor, now):
            params = dict(binding.contact.params)
            params["expires"] = str(max(0, int(binding.expires_at - now)))
            response.add("Contact", str(NameAddr(binding.uri, binding.contact.display_name, params)))
        return response

    # -- location ------------------------------------------------------------------------------
    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Live bindings of an AOR, highest q first (RFC 3261 §16.6 ordering)."""
        live = [b for b in self._bindings.get(aor.lower(), {}).values() if b.expires_at > now]
        return sorted(live, key=lambda b: (-b.q, -b.registered_at))

    def aors(self) -> list[str]:
        return sorted(self._bindings)

    # -- keepalives and presence -------------------------------------------------------------------
    def keepalive(self, source: Address, now: float) -> int:
        """A sign of life from `source` (CRLF ping, OPTIONS answer): refresh its bindings."""
        touched = 0
        for aor, bindings in self._bindings.items():
            for binding in bindings.values():
                if binding.source == source:
                    binding.last_seen = now
                    touched += 1
                    self._note_change(aor, now)
        return touched

    def keepalive_due(self, now: float, interval: float) -> list[Binding]:
        """Bindings not heard from for `interval` seconds: the ones to ping with OPTIONS."""
        return [b for bindings in self._bindings.values() for b in bindings.values()
                if now - b.last_seen >= interval and b.expires_at > now]

    def _binding_alive(self, binding: Binding, now: float) -> bool:
        if binding.expires_at <= now:
            return False
        return self.keepalive_timeout is None or now - binding.last_seen <= self.keepalive_timeout

    def presence(self, now: float) -> dict[str, Presence]:
        view = {}
        for aor, bindings in self._bindings.items():
            alive = [b for b in bindings.values() if self._binding_alive(b, now)]
            view[aor] = Presence(aor, bool(alive), [str(b.uri) for b in alive],
                                 max((b.last_seen for b in bindings.values()), default=None))
        return view

    def _note_change(self, aor: str, now: float) -> None:
        bindings = self._bindings.get(aor, {})
        alive = [b for b in bindings.values() if self._binding_alive(b, now)]
        reachable = bool(alive)
        if self._reachable.get(aor, False) == reachable:
            return  # only changes are news
        self._reachable[aor] = reachable
        event = AorPresenceChanged(now, aor, reachable, tuple(str(b.uri) for b in alive))
        self._events.append(event)
        if self.bus is not None:
            self.bus.publish(event)

    def next_event(self) -> AorPresenceChanged | None:
        return self._events.popleft() if self._events else None

    # -- time ----------------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        deadlines = [b.expires_at for bs in self._bindings.values() for b in bs.values()]
        if self.keepalive_timeout is not None:
            deadlines += [b.last_seen + self.keepalive_timeout + 1e-6
                          for bs in self._bindings.values() for b in bs.values()
                          if self._reachable.get(b.aor)]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        for aor in list(self._bindings):
            bindings = self._bindings[aor]
            for key in [k for k, b in bindings.items() if b.expires_at <= now]:
                del bindings[key]
            if not bindings:
                del self._bindings[aor]
            self._note_change(aor, now)


def _seconds(text: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise SipError(f"bad expires {text[:20]!r}", header="Contact")
    return min(int(text), 2**32 - 1)  # RFC 3261 §20.19: treat oversized values as the maximum


def _q(text: str | None) -> float:
    if text is None:
        return 1.0
    try:
        q = float(text)
    except ValueError:
        raise SipError(f"bad q {text[:10]!r}", header="Contact") from None
    if not 0 <= q <= 1:
        raise SipError(f"q {text} out of 0..1", header="Contact")
    return q

"""Digest authentication (RFC 7616 with RFC 2617/3261 compatibility), both ways.

`DigestChallenger` is the server side (registrar, trunk from a phone): it issues nonces that
carry their own issue time and an HMAC (so any box restart invalidates them), answers a late
but otherwise correct response with stale=true, and refuses a nonce-count it has seen before.
`DigestClient` answers a carrier's or a PBX's 401/407.  MD5 and SHA-256, qop=auth, and the
qop-less RFC 2069 form a few old phones still send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass
from typing import Callable

from firmware.sip.errors import SipError
from firmware.sip.grammar import quote_string
from firmware.sip.message import Request, Response, make_response

ALGORITHMS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
_AUTH_PARAM = re.compile(r'\s*([A-Za-z0-9\-_]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*(?:,|\Z)', re.S)


def parse_auth_header(value: str, header: str = "Authorization") -> tuple[str, dict[str, str]]:
    """'Digest realm="x", nonce="y", qop=auth' -> ("Digest", {"realm": "x", ...})."""
    scheme, _, rest = value.strip().partition(" ")
    if not scheme:
        raise SipError("no scheme", header=header)
    params: dict[str, str] = {}
    pos, rest = 0, rest.strip()
    while pos < len(rest):
        match = _AUTH_PARAM.match(rest, pos)
        if not match or match.end() == pos:
            raise SipError(f"bad parameter near {rest[pos:pos + 20]!r}", header=header)
        name, raw = match.group(1).lower(), match.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[name] = raw
        pos = match.end()
    return scheme, params


def _h(algorithm: str, text: str) -> str:
    return ALGORITHMS[algorithm](text.encode("utf-8")).hexdigest()


def digest_response(algorithm: str, username: str, realm: str, password: str, method: str,
                    uri: str, nonce: str, nc: str | None = None, cnonce: str | None = None,
                    qop: str | None = None) -> str:
    """request-digest of RFC 7616 §3.4.1 (qop=auth) or RFC 2069 (no qop)."""
    base = algorithm.upper().removesuffix("-SESS")
    if base not in ALGORITHMS:
        raise SipError(f"algorithm {algorithm!r} not supported", header="Authorization")
    ha1 = _h(base, f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = _h(base, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _h(base, f"{method}:{uri}")
    if qop:
        return _h(base, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(base, f"{ha1}:{nonce}:{ha2}")


@dataclass
class AuthResult:
    ok: bool
    username: str | None = None
    stale: bool = False
    reason: str = ""


class DigestChallenger:
    """Issues challenges and checks answers for one realm."""

    def __init__(self, realm: str, secret: bytes | None = None, nonce_lifetime: float = 300.0,
                 algorithms: tuple[str, ...] = ("SHA-256", "MD5"), max_tracked_nonces: int = 10000):
        self.realm = realm
        self._secret = secret or secrets.token_bytes(32)
        self.nonce_lifetime = nonce_lifetime
        self.algorithms = algorithms
        self._nonce_counts: dict[str, int] = {}
        self._max_tracked = max_tracked_nonces
        self.opaque = secrets.token_hex(8)

    # -- nonces ------------------------------------------------------------------------------
    def make_nonce(self, now: float) -> str:
        stamp = struct.pack(">d", now) + secrets.token_bytes(8)
        mac = hmac.new(self._secret, stamp, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(stamp + mac).decode().rstrip("=")

    def _nonce_time(self, nonce: str) -> float | None:
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != 32:
            return None
        stamp, mac = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, hmac.new(self._secret, stamp, hashlib.sha256).digest()[:16]):
            return None
        return struct.unpack(">d", stamp[:8])[0]

    # -- challenging ---------------------------------------------------------------------------
    def challenge_values(self, now: float, stale: bool = False) -> list[str]:
        """One WWW-/Proxy-Authenticate value per algorithm, preferred first (RFC 7616 §3.7)."""
        nonce = self.make_nonce(now)
        values = []
        for algorithm in self.algorithms:
            value = (f"Digest realm={quote_string(self.realm)}, nonce={quote_string(nonce)}, "
                     f"opaque={quote_string(self.opaque)}, algorithm={algorithm}, qop=\"auth\"")
            if stale:
                value += ", stale=true"
            values.append(value)
        return values

    def challenge(self, request: Request, now: float, stale: bool = False, proxy: bool = False,
                  to_tag: str | None = None) -> Response:
        response = make_response(request, 407 if proxy else 401, to_tag=to_tag)
        for value in self.challenge_values(now, stale):
            response.add("Proxy-Authenticate" if proxy else "WWW-Authenticate", value)
        return response

    # -- verifying -----------------------------------------------------------------------------
    def verify(self, request: Request, now: float, password_of: Callable[[str], str | None],
               proxy: bool = False) -> AuthResult:
        header = "Proxy-Authorization" if proxy else "Authorization"
        values = request.get_all(header)
        if not values:
            return AuthResult(False, reason="no credentials")
        last = AuthResult(False, reason="no credentials for this realm")
        for value in values:
            try:
                scheme, params = parse_auth_header(value, header)
            except SipError as error:
                last = AuthResult(False, reason=error.reason)
                continue
            if scheme.lower() != "digest":
                last = AuthResult(False, reason=f"unknown scheme {scheme[:20]!r}")
                continue
            if params.get("realm") != self.realm:
                continue
            return self._verify_one(request, params, now, password_of)
        return last

    def _verify_one(self, request, params, now, password_of) -> AuthResult:
        username = params.get("username")
        nonce, uri, answer = params.get("nonce", ""), params.get("uri"), params.get("response", "")
        algorithm = params.get("algorithm", "MD5").upper()
        if not username or not uri or not answer:
            return AuthResult(False, username, reason="incomplete credentials")
        if algorithm.removesuffix("-SESS") not in self.algorithms:
            return AuthResult(False, username, reason=f"algorithm {algorithm} not offered")
        if request.uri is not None and uri != request.raw_uri and uri != str(request.uri):
            return AuthResult(False, username, reason="uri differs from the Request-URI")
        issued = self._nonce_time(nonce)
        if issued is None:
            return AuthResult(False, username, reason="nonce not ours")
        password = password_of(username)
        if password is None:
            return AuthResult(False, username, reason="unknown user")
        qop = params.get("qop")
        nc = params.get("nc")
        if qop is not None and (qop != "auth" or not nc or not re.fullmatch(r"[0-9a-fA-F]{8}", nc)):
            return AuthResult(False, username, reason="bad qop or nonce-count")
        expected = digest_response(algorithm, username, self.realm, password, request.method, uri,
                                   nonce, nc, params.get("cnonce"), qop)
        if not hmac.compare_digest(expected, answer.lower()):
            return AuthResult(False, username, reason="wrong password")
        if now - issued > self.nonce_lifetime or issued > now + 1:
            return AuthResult(False, username, stale=True, reason="nonce expired")
        count = int(nc, 16) if nc else 0
        if qop is not None:
            if count <= self._nonce_counts.get(nonce, 0):
                return AuthResult(False, username, reason="nonce-count replayed")
            if len(self._nonce_counts) >= self._max_tracked:
                self._expire_counts(now)
            self._nonce_counts[nonce] = count
        return AuthResult(True, username)

    def _expire_counts(self, now: float) -> None:
        for nonce in list(self._nonce_counts):
            issued = self._nonce_time(nonce)
            if issued is None or now - issued > self.nonce_lifetime:
                del self._nonce_counts[nonce]
        while len(self._nonce_counts) >= self._max_tracked:
            self._nonce_counts.pop(next(iter(self._nonce_counts)))


class DigestClient:
    """Answers challenges with one user's credentials, counting nonce uses."""

    def __init__(self, username: str, password: str, cnonce: Callable[[], str] | None = None):
        self.username = username
        self.password = password
        self._cnonce = cnonce or (lambda: secrets.token_hex(8))
        self._counts: dict[str, int] = {}

    def credentials(self, method: str, uri: str, challenge: str) -> str:
        """The Authorization value answering one WWW-/Proxy-Authenticate value."""
        scheme, params = parse_auth_header(challenge, "WWW-Authenticate")
        if scheme.lower() != "digest":
            raise SipError(f"cannot answer scheme {scheme[:20]!r}", header="WWW-Authenticate")
        realm, nonce = params.get("realm", ""), params.get("nonce", "")
        algorithm = params.get("algorithm", "MD5")
        qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
        qop = "auth" if "auth" in qops else None
        if qops and qop is None:
            raise SipError("only qop=auth-int offered", header="WWW-Authenticate")
        parts = [f"Digest username={quote_string(self.username)}", f"realm={quote_string(realm)}",
                 f"nonce={quote_string(nonce)}", f"uri={quote_string(uri)}"]
        if qop:
            count = self._counts.get(nonce, 0) + 1
            self._counts[nonce] = count
            nc, cnonce = f"{count:08x}", self._cnonce()
            answer = digest_response(algorithm, self.username, realm, self.password, method, uri,
                                     nonce, nc, cnonce, qop)
            parts += [f"response={quote_string(answer)}", f"algorithm={algorithm}",
                      f"cnonce={quote_string(cnonce)}", "qop=auth", f"nc={nc}"]
        else:
            answer = digest_response(algorithm, self.username, realm, self.password, method, uri, nonce)
            parts += [f"response={quote_string(answer)}", f"algorithm={algorithm}"]
        if "opaque" in params:
            parts.append(f"opaque={quote_string(params['opaque'])}")
        return ", ".join(parts)

    def authorize(self, request: Request, challenge_response: Response) -> Request:
        """Add credentials answering a 401/407 to `request` (the caller bumps CSeq and Via
        branch).  The strongest algorithm offered wins: SHA-256 over MD5."""
        proxy = challenge_response.status == 407
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        offers = challenge_response.get_all(name)
        if not offers:
            raise SipError("missing in the challenge", header=name)
        ranked = sorted(offers, key=lambda v: 0 if "SHA-256" in v.upper() else 1)
        uri = request.raw_uri if request.uri is None else str(request.uri)
        request.remove("Proxy-Authorization" if proxy else "Authorization")
        request.add("Proxy-Authorization" if proxy else "Authorization",
                    self.credentials(request.method, uri, ranked[0]))
        return request

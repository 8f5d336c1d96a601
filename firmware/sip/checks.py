"""What a UAS core checks of a well-formed request before acting on it (RFC 3261 §8.2.1-3).

`check_request` returns None when the request may proceed, or the SipError (405/501, 415,
420, 406) whose status, reason and extra headers make the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware.sip.errors import SipError
from firmware.sip.message import Request

KNOWN_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK",
                           "UPDATE", "INFO", "REFER", "NOTIFY", "SUBSCRIBE", "MESSAGE", "PUBLISH"})


@dataclass
class UasPolicy:
    """What this user agent implements; phones, trunks and the registrar each have one."""

    methods: frozenset[str] = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "PRACK",
                                         "UPDATE", "INFO", "REFER", "NOTIFY", "REGISTER"})
    supported: frozenset[str] = frozenset({"100rel", "timer", "replaces", "norefersub"})
    accept: tuple[str, ...] = ("application/sdp",)
    encodings: frozenset[str] = frozenset({"identity"})
    extra_accept: dict[str, tuple[str, ...]] = field(default_factory=lambda: {
        "INFO": ("application/dtmf-relay", "application/dtmf"),
        "NOTIFY": ("message/sipfrag",),
    })

    def allow_header(self) -> str:
        return ", ".join(sorted(self.methods))


def check_request(request: Request, policy: UasPolicy | None = None) -> SipError | None:
    try:
        return _check(request, policy or UasPolicy())
    except SipError as error:  # a header the checks read is itself malformed
        return error


def _check(request: Request, policy: UasPolicy) -> SipError | None:
    method = request.method
    if method not in policy.methods:
        if method in KNOWN_METHODS:
            return SipError("Method Not Allowed", status=405,
                            extra_headers=(("Allow", policy.allow_header()),))
        return SipError("Not Implemented", status=501,
                        extra_headers=(("Allow", policy.allow_header()),))
    if method not in ("ACK", "CANCEL"):
        unsupported = [tag for tag in request.get_all("Require")
                       if tag.strip().lower() not in policy.supported]
        if unsupported:
            return SipError("Bad Extension", status=420,
                            extra_headers=(("Unsupported", ", ".join(unsupported)),))
    accepted = policy.accept + policy.extra_accept.get(method, ())
    if request.body:  # RFC 3261 §8.2.3: a body we must read, in a type or coding we don't
        content_type = request.content_type or "application/sdp"
        encodings = [e.strip().lower() for e in request.get_all("Content-Encoding")]
        if content_type not in accepted and not content_type.startswith("multipart/") or \
                any(e not in policy.encodings for e in encodings):
            return SipError("Unsupported Media Type", status=415,
                            extra_headers=(("Accept", ", ".join(accepted)),
                                           ("Accept-Encoding", "identity")))
    if method == "INVITE" and request.get("Accept") is not None:
        offered = {a.split(";")[0].strip().lower() for a in request.get_all("Accept")}
        if not offered & {"application/sdp", "application/*", "*/*"}:
            return SipError("Not Acceptable", status=406)
    return None

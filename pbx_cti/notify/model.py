"""What a notification is, how a request for one is checked, and what a provider answers.

A request names a kind ("alimtalk" or "sms"), a recipient, an approved template with its
parameters (or, for an SMS, free text), and who asked (the call and the agent).  `validate`
turns the raw request into a `Message` or raises `NotifyInputError` naming the field that is
wrong, so the API answers 400 with that field and the IVR logs it; nothing half-checked is ever
stored.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

KINDS = ("alimtalk", "sms")

# AlimTalk template texts are at most 1,000 characters (Kakao's rule for approved templates).
ALIMTALK_MAX_CHARS = 1000
# Our own bound for an SMS/LMS body: long enough for any LMS a provider takes, short enough
# that a runaway request cannot fill the outbox.
SMS_MAX_CHARS = 2000
PARAM_MAX_CHARS = 400
TEMPLATE_CODE = r"[A-Za-z0-9_.-]{1,20}"   # providers take template codes of up to 20 characters
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
PLACEHOLDER = re.compile(r"#\{([^{}#]*)\}")
PLACEHOLDER_NAME = re.compile(r"[^\s{}#]{1,40}")

# Korean mobile numbers: 010, 011, 016, 017, 018, 019 and 7 or 8 more digits.
_MOBILE = re.compile(r"01[016789][0-9]{7,8}")


class NotifyInputError(ValueError):
    """A request that cannot be sent as written; `field` names what is wrong."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.reason = message


class UnknownMessage(LookupError):
    pass


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def mobile_number(value: Any, field_name: str = "to") -> str:
    """A Korean mobile number as providers take it (digits only, national form: 01012345678).
    Spaces and dashes are dropped; +82 10..., 82 10... and 10... (a calling number as the
    carrier sends it, without the trunk prefix) are brought to 010..."""
    if not isinstance(value, str):
        raise NotifyInputError(field_name, f"expected a mobile number as a string, got {_shown(value)}")
    digits = re.sub(r"[\s-]", "", value)
    if digits.startswith("+82"):
        digits = "0" + digits[3:].lstrip("0")
    elif digits.startswith("82") and len(digits) >= 11:
        digits = "0" + digits[2:].lstrip("0")       # international, as ISDN delivers it (no "+")
    elif _MOBILE.fullmatch("0" + digits):
        digits = "0" + digits                      # national significant, without the trunk prefix
    if not digits.isdigit() or not _MOBILE.fullmatch(digits):
        raise NotifyInputError(field_name, "expected a Korean mobile number (010, 011, 016-019 and 7 or 8 digits, "
                                           f"e.g. 010-1234-5678), got {_shown(value)}")
    return digits


def masked(number: str) -> str:
    """A number as logs show it: enough to tell calls apart, not enough to spam someone."""
    return number[:3] + "*" * max(0, len(number) - 7) + number[-4:] if len(number) > 7 else "*" * len(number)


def placeholders(text: str) -> list[str]:
    return [m.group(1) for m in PLACEHOLDER.finditer(text)]


def template_problem(text: str) -> str | None:
    """Why a template text cannot be used (None when fine): placeholder syntax and length."""
    if len(text) > ALIMTALK_MAX_CHARS:
        return f"an AlimTalk template is at most {ALIMTALK_MAX_CHARS} characters, this one has {len(text)}"
    for name in placeholders(text):
        if not PLACEHOLDER_NAME.fullmatch(name):
            return f'"#{{{name}}}" is not a placeholder (a name of 1 to 40 characters without spaces, braces or #)'
    rest = PLACEHOLDER.sub("", text)
    if "#{" in rest:
        return 'an unclosed "#{" (placeholders are written #{name})'
    return None


def render(text: str, params: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: params[m.group(1)], text)


class Outcome(enum.Enum):
    """What a provider made of one send."""
    ACCEPTED = "accepted"          # taken for delivery (or already taken under this idempotency key)
    PERMANENT = "permanent"        # refused; sending it again would be refused again
    TEMPORARY = "temporary"        # not taken this time (outage, timeout, 5xx): try again later
    UNDELIVERABLE = "undeliverable"  # the AlimTalk cannot reach this recipient: send the SMS instead


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    reason: str = ""
    provider_id: str = ""          # the provider's id of the request, when it gave one

    @classmethod
    def accepted(cls, provider_id: str = "", reason: str = "") -> "SendResult":
        return cls(Outcome.ACCEPTED, reason, provider_id)

    @classmethod
    def permanent(cls, reason: str) -> "SendResult":
        return cls(Outcome.PERMANENT, reason)

    @classmethod
    def temporary(cls, reason: str) -> "SendResult":
        return cls(Outcome.TEMPORARY, reason)

    @classmethod
    def undeliverable(cls, reason: str) -> "SendResult":
        return cls(Outcome.UNDELIVERABLE, reason)


@dataclass(frozen=True)
class Message:
    """One notification as it is stored and handed to a provider.

    `channel` is what goes out now: "alimtalk", or "sms" (an SMS request, or an AlimTalk that
    fell back).  `text` is the rendered template (what the recipient reads); `fallback_text`
    the SMS sent when the AlimTalk is undeliverable ("" for none)."""

    id: str
    kind: str
    to: str
    template: str
    params: Mapping[str, str]
    text: str
    fallback_text: str
    call_id: str
    agent: str
    idempotency_key: str
    channel: str = ""

    def __post_init__(self):
        if not self.channel:
            object.__setattr__(self, "channel", self.kind)

    def send_key(self) -> str:
        """The idempotency key of what goes out now: the SMS after a fallback is a new request
        to the provider, so it gets its own key (derived, so a retry of it is still the same)."""
        return self.idempotency_key if self.channel == self.kind else f"{self.idempotency_key}:sms"


class MessageState(enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class MessageStatus:
    """What `Notifier.status()` and the API show of a message."""
    id: str
    state: MessageState
    kind: str
    channel: str
    to: str
    template: str
    call_id: str
    agent: str
    attempts: int
    created: float          # wall clock, epoch seconds
    updated: float
    next_attempt: float | None
    reason: str
    fallback: bool

    def as_json(self) -> dict:
        return {"id": self.id, "state": self.state.value, "kind": self.kind, "channel": self.channel,
                "to": masked(self.to), "template": self.template, "call_id": self.call_id, "agent": self.agent,
                "attempts": self.attempts, "created": self.created, "updated": self.updated,
                "next_attempt": self.next_attempt, "reason": self.reason, "fallback": self.fallback}


@dataclass(frozen=True)
class Request:
    """A request as checked against the configured templates, before it gets an id."""
    kind: str
    to: str
    template: str
    params: dict[str, str] = field(default_factory=dict)
    text: str = ""
    fallback_text: str = ""
    call_id: str = ""
    agent: str = ""
    idempotency_key: str | None = None


def _optional_text(value: Any, field_name: str, limit: int = 128) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise NotifyInputError(field_name, f"expected a string, got {_shown(value)}")
    if len(value) > limit:
        raise NotifyInputError(field_name, f"expected at most {limit} characters, got {len(value)}")
    return value


def validate(templates: Mapping[str, str], *, kind: Any, to: Any, template: Any = None, params: Any = None,
             text: Any = None, call_id: Any = None, agent: Any = None, idempotency_key: Any = None,
             sms_fallback: bool = True) -> Request:
    """Check a request against the configured templates; raise NotifyInputError naming the field.

    alimtalk: `template` (a configured code) and `params` filling every #{placeholder} of it;
    `text` is the SMS sent instead when the AlimTalk is undeliverable (default: the rendered
    template).  sms: `text`, or a `template` with `params` rendered as the text."""
    if kind not in KINDS:
        raise NotifyInputError("kind", f'expected "alimtalk" or "sms", got {_shown(kind)}')
    number = mobile_number(to)
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise NotifyInputError("params", f"expected an object of name: text, got {_shown(params)}")
    clean: dict[str, str] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not PLACEHOLDER_NAME.fullmatch(name):
            raise NotifyInputError("params", f"{_shown(name)} is not a placeholder name")
        if not isinstance(value, str):
            raise NotifyInputError(f"params.{name}", f"expected a string, got {_shown(value)} "
                                                     "(write numbers as text, e.g. \"1200\")")
        if len(value) > PARAM_MAX_CHARS:
            raise NotifyInputError(f"params.{name}", f"expected at most {PARAM_MAX_CHARS} characters, got {len(value)}")
        clean[name] = value
    body = ""
    if template is not None:
        if not isinstance(template, str):
            raise NotifyInputError("template", f"expected a template code, got {_shown(template)}")
        if template not in templates:
            known = ", ".join(sorted(templates)) or "none configured in [notify] templates"
            raise NotifyInputError("template", f"unknown template {template!r} (templates: {known})")
        wanted = placeholders(templates[template])
        for name in wanted:
            if name not in clean:
                raise NotifyInputError(f"params.{name}", f"missing: template {template!r} has #{{{name}}}")
        for name in clean:
            if name not in wanted:
                raise NotifyInputError(f"params.{name}", f"template {template!r} has no #{{{name}}} "
                                                         f"(it has: {', '.join(wanted) or 'no placeholders'})")
        body = render(templates[template], clean)
        if kind == "alimtalk" and len(body) > ALIMTALK_MAX_CHARS:
            raise NotifyInputError("params", f"the filled template is {len(body)} characters; an AlimTalk is at most "
                                             f"{ALIMTALK_MAX_CHARS}")
    elif kind == "alimtalk":
        raise NotifyInputError("template", "an AlimTalk needs a template (only approved templates can be sent)")
    elif clean:
        raise NotifyInputError("params", "parameters need a template to fill")
    extra = _optional_text(text, "text", SMS_MAX_CHARS)
    if kind == "sms":
        if template is not None and extra:
            raise NotifyInputError("text", "give either a template or a text for an SMS, not both")
        body = body or extra
        if not body.strip():
            raise NotifyInputError("text", "an SMS needs a text (or a template)")
        fallback = ""
    else:
        fallback = (extra or body) if sms_fallback else ""
        if extra and not sms_fallback:
            raise NotifyInputError("text", "SMS fallback is off ([notify] sms_fallback = false): no text is sent")
    if idempotency_key is not None and (not isinstance(idempotency_key, str)
                                        or not IDEMPOTENCY_KEY.fullmatch(idempotency_key)):
        raise NotifyInputError("idempotency_key", "expected 1 to 128 letters, digits or _ . : @ -, "
                                                  f"got {_shown(idempotency_key)}")
    return Request(kind, number, template or "", clean, body, fallback,
                   _optional_text(call_id, "call_id"), _optional_text(agent, "agent"), idempotency_key)

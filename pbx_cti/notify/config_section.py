"""[notify]: where SMS and KakaoTalk AlimTalk messages go, the approved templates, and how hard
the box tries.

    [notify]
    provider = "http"                          # "outbox" (default): a local file, nothing leaves the box
    url = "https://alimtalk.example/alimtalk/v2/appkeys/KEY/messages"
    sms_url = "https://sms.example/sms/v3/appKeys/KEY/sender/sms"
    sender_key = "..."                         # the KakaoTalk channel's sender key
    sender_number = "15881234"                 # the number SMS are sent from (registered with the provider)
    app_key = "..."                            # secret: sent as X-Secret-Key (or a bearer token)
    max_attempts = 10
    max_age = 3600                             # seconds after which a message is no longer worth sending
    backoff = 2                                # first retry after about 2 s, doubling up to backoff_max
    [notify.templates]
    balance = "#{name}님, 계좌 #{account}의 잔액 안내입니다."

Every problem names its key (`notify.url: required with provider = "http"`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from firmware.config.errors import ConfigIssue
from firmware.config.registry import register_section
from firmware.config.schema import (Bool, Enum, Field, Int, ListOf, MapOf, OPTIONAL, Section, Seconds, Str, Table,
                                    _suggest)

from .model import TEMPLATE_CODE, placeholders, template_problem

URL = Str(r"https?://[^\s/]+(/\S*)?", "an http:// or https:// URL")
CODE = Str(r"-?[0-9A-Za-z_]{1,16}", "a provider result code such as \"-1005\"")


def _check(record, path, checker) -> None:
    if record.provider == "http":
        if record.url is None:
            checker.report(path + ("url",), 'required with provider = "http" (the AlimTalk send endpoint)')
        if not record.sender_key:
            checker.report(path + ("sender_key",), 'required with provider = "http" (the KakaoTalk channel\'s sender key)')
        if record.auth != "none" and not record.app_key:
            checker.report(path + ("app_key",), f'required with provider = "http" and auth = "{record.auth}"')
        if record.sms_url is None and record.sms_fallback and record.fallback_by == "box":
            checker.report(path + ("sms_url",), 'required with provider = "http" when the box sends the SMS '
                                                'fallback itself (sms_fallback = true, fallback_by = "box")')
        if record.sms_url is not None and not record.sender_number:
            checker.report(path + ("sender_number",), "required to send SMS (the number registered with the provider)")
    if record.backoff_max < record.backoff:
        checker.report(path + ("backoff_max",), f"must be at least backoff ({record.backoff:g} s)")
    overlap = set(record.undeliverable_codes) & (set(record.duplicate_codes) | set(record.temporary_codes))
    if overlap:
        checker.report(path + ("undeliverable_codes",), f"code(s) {', '.join(sorted(overlap))} also listed as "
                                                        "duplicate or temporary")


def check_flow_templates(config, checker) -> None:
    """A section check: every IVR notify node names a template of [notify] templates and fills
    exactly its placeholders, reported at the flow file's own line (a flow that does not load
    is reported by [ivr]'s own check)."""
    from pbx_cti.ivr.config import config_dir
    from pbx_cti.ivr.flow import FlowError, NotifyNode, load_flow_file

    if config.ivr is None or config.notify is None:
        return
    templates = dict(config.notify.templates)
    for written in config.ivr.flows:
        path = config_dir(config) / written
        if not path.is_file():
            continue
        try:
            flow = load_flow_file(path)
        except FlowError:
            continue
        for node in flow.nodes.values():
            if not isinstance(node, NotifyNode):
                continue
            where = f'node "{node.name}"'
            if not config.notify.enabled:
                checker.report_elsewhere(ConfigIssue(flow.source, node.line, None, where,
                                                     "sends a notification but [notify] enabled = false"))
            if node.template is None:
                continue
            if node.template not in templates:
                known = ", ".join(sorted(templates)) or "none"
                checker.report_elsewhere(ConfigIssue(
                    flow.source, node.line, None, f'{where}: field "template"',
                    f'no template "{node.template}" in [notify] templates{_suggest(node.template, templates)} '
                    f"(templates: {known})"))
                continue
            wanted = placeholders(templates[node.template])
            missing = [name for name in wanted if name not in node.params]
            extra = [name for name in node.params if name not in wanted]
            if missing or extra:
                has = ", ".join(f"#{{{name}}}" for name in wanted) or "no placeholders"
                problem = "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                                      f"not in the template: {', '.join(extra)}" if extra else "")
                                    if part)
                checker.report_elsewhere(ConfigIssue(flow.source, node.line, None, f'{where}: field "params"',
                                                     f'template "{node.template}" has {has}: {problem}'))


NOTIFY = register_section(Section("notify", Table({
    "enabled": Field(Bool(), True, "run the notification service"),
    "provider": Field(Enum("outbox", "http"), "outbox", "outbox: append to a local file; http: an AlimTalk/SMS API"),
    "url": Field(URL, OPTIONAL, "the AlimTalk send endpoint"),
    "sms_url": Field(URL, OPTIONAL, "the SMS send endpoint"),
    "sender_key": Field(Str(max_len=128), "", "the KakaoTalk channel's sender key"),
    "sender_number": Field(Str(r"[0-9]{0,16}", "digits of the sending number"), "", "SMS sending number"),
    "app_key": Field(Str(max_len=512), "", "secret: the provider's key"),
    "auth": Field(Enum("secret-key", "bearer", "none"), "secret-key",
                  "secret-key: X-Secret-Key header; bearer: Authorization: Bearer"),
    "idempotency_header": Field(Str(r"[A-Za-z0-9-]{1,64}", "an HTTP header name"), "X-NC-API-IDEMPOTENCY-KEY"),
    "timeout": Field(Seconds(min=0.1, max=120), 10.0, "seconds one HTTP request may take"),
    "sms_fallback": Field(Bool(), True, "send an AlimTalk that cannot be delivered as an SMS"),
    "fallback_by": Field(Enum("box", "provider"), "box",
                         "box: the box sends the SMS on an undeliverable answer; provider: the request asks the "
                         "provider to fall back"),
    "undeliverable_codes": Field(ListOf(CODE), (), "result codes meaning the AlimTalk cannot reach the recipient"),
    "duplicate_codes": Field(ListOf(CODE), ("-1005",), "result codes meaning this idempotency key was sent already"),
    "temporary_codes": Field(ListOf(CODE), ("-1017",), "result codes worth retrying later"),
    "max_attempts": Field(Int(1, 100), 10),
    "max_age": Field(Seconds(min=1, max=7 * 86400), 3600.0, "seconds after which a message is given up"),
    "backoff": Field(Seconds(min=0.01, max=3600), 2.0, "seconds before the first retry (doubling, with jitter)"),
    "backoff_max": Field(Seconds(min=0.01, max=86400), 300.0, "the longest wait between two attempts"),
    "parallel": Field(Int(1, 32), 4, "messages sent at once"),
    "templates": Field(MapOf(Str(what="a template text with #{name} placeholders", min_len=1, check=template_problem),
                             key=Str(TEMPLATE_CODE, "a template code of 1..20 letters, digits, _ . -")), {}),
}, checks=[_check]), doc="SMS and KakaoTalk AlimTalk notifications", checks=[check_flow_templates]))


@dataclass(frozen=True)
class NotifySettings:
    """[notify] as the notifier and the providers use it."""

    provider: str = "outbox"
    url: str | None = None
    sms_url: str | None = None
    sender_key: str = ""
    sender_number: str = ""
    app_key: str = field(default="", repr=False)  # never in logs or reprs
    auth: str = "secret-key"
    idempotency_header: str = "X-NC-API-IDEMPOTENCY-KEY"
    timeout: float = 10.0
    sms_fallback: bool = True
    fallback_by: str = "box"
    undeliverable_codes: tuple[str, ...] = ()
    duplicate_codes: tuple[str, ...] = ("-1005",)
    temporary_codes: tuple[str, ...] = ("-1017",)
    max_attempts: int = 10
    max_age: float = 3600.0
    backoff: float = 2.0
    backoff_max: float = 300.0
    parallel: int = 4
    templates: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_section(cls, section) -> "NotifySettings":
        values = {name: section[name] for name in cls.__dataclass_fields__}
        values["templates"] = dict(section.templates)
        for name in ("undeliverable_codes", "duplicate_codes", "temporary_codes"):
            values[name] = tuple(values[name])
        return cls(**values)

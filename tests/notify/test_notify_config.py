"""[notify] in the box's file: the defaults (the local outbox), an HTTP provider's settings, and
every mistake reported with the key that is wrong — in the box's file, and in an IVR flow whose
notify node names a template [notify] does not have."""

import pytest

from firmware.cli import main
from firmware.config.loader import ConfigError, load_text
from pbx_cti.notify.config_section import NotifySettings

HTTP = '''
[notify]
provider = "http"
url = "https://alimtalk.example/alimtalk/v2.3/appkeys/KEY/messages"
sms_url = "https://sms.example/sms/v3.0/appKeys/KEY/sender/sms"
sender_key = "0123456789abcdef0123456789abcdef01234567"
sender_number = "15881234"
app_key = "secret-value"
undeliverable_codes = ["3018"]
max_attempts = 5
max_age = 600
backoff = 1.5
backoff_max = 60
[notify.templates]
balance = "#{name}님, 계좌 #{account} 잔액 안내입니다."
callback = "상담 전화를 #{time}에 드리겠습니다."
'''


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(text)
    return [f"{i.path}: {i.message}" for i in caught.value.issues]


def test_the_default_is_the_local_outbox_with_no_templates():
    settings = NotifySettings.from_section(load_text("").notify)
    assert settings.provider == "outbox" and settings.templates == {} and settings.max_attempts == 10
    assert settings.duplicate_codes == ("-1005",) and settings.idempotency_header == "X-NC-API-IDEMPOTENCY-KEY"


def test_an_http_provider_loads_and_keeps_its_secret_out_of_reprs():
    settings = NotifySettings.from_section(load_text(HTTP).notify)
    assert settings.provider == "http" and settings.sender_number == "15881234"
    assert settings.templates["callback"] == "상담 전화를 #{time}에 드리겠습니다."
    assert (settings.max_attempts, settings.max_age, settings.backoff, settings.backoff_max) == (5, 600.0, 1.5, 60.0)
    assert settings.undeliverable_codes == ("3018",) and settings.app_key == "secret-value"
    assert "secret-value" not in repr(settings)


@pytest.mark.parametrize("change, expected", [
    (('provider = "http"', 'provider = "kakao"'), 'notify.provider: expected one of "outbox", "http", got "kakao"'),
    (('url = "https://alimtalk.example/alimtalk/v2.3/appkeys/KEY/messages"', ''),
     'notify.url: required with provider = "http"'),
    (('url = "https://alimtalk.example/alimtalk/v2.3/appkeys/KEY/messages"', 'url = "ftp://x"'),
     "notify.url: expected an http:// or https:// URL"),
    (('sender_key = "0123456789abcdef0123456789abcdef01234567"', ''), "notify.sender_key: required"),
    (('app_key = "secret-value"', ''), 'notify.app_key: required with provider = "http" and auth = "secret-key"'),
    (('sms_url = "https://sms.example/sms/v3.0/appKeys/KEY/sender/sms"', ''),
     "notify.sms_url: required with provider = \"http\" when the box sends the SMS fallback itself"),
    (('sender_number = "15881234"', ''), "notify.sender_number: required to send SMS"),
    (('sender_number = "15881234"', 'sender_number = "1588-1234"'), "notify.sender_number: expected digits"),
    (("max_attempts = 5", "max_attempts = 0"), "notify.max_attempts: expected an integer 1..100, got 0"),
    (("max_age = 600", "max_age = -1"), "notify.max_age: expected a number of seconds"),
    (("backoff_max = 60", "backoff_max = 1"), "notify.backoff_max: must be at least backoff (1.5 s)"),
    (('undeliverable_codes = ["3018"]', 'undeliverable_codes = ["-1005"]'),
     "notify.undeliverable_codes: code(s) -1005 also listed as duplicate or temporary"),
    (("max_age = 600", "max_ages = 600"), 'notify.max_ages: unknown key (did you mean "max_age"?)'),
    (('balance = "', 'this-code-is-far-too-long-for-kakao = "'), "notify.templates.this-code-is-far-too-long-for-kakao: "
                                                                "expected a key that is a template code"),
    (("#{time}에", "#{time 에"), 'notify.templates.callback: an unclosed "#{"'),
    (("#{time}에", "#{two words}에"), 'notify.templates.callback: "#{two words}" is not a placeholder'),
    (('callback = "상담', 'callback = "' + "가" * 1001 + '상담'),
     "notify.templates.callback: an AlimTalk template is at most 1000 characters"),
])
def test_mistakes_are_reported_with_the_key_that_is_wrong(change, expected):
    old, new = change
    assert old in HTTP
    found = problems(HTTP.replace(old, new, 1))
    assert any(expected in p for p in found), found


def test_auth_takes_a_secret_key_header_a_bearer_token_or_nothing():
    for auth in ("secret-key", "bearer", "none"):
        assert load_text(HTTP.replace("[notify]\n", f'[notify]\nauth = "{auth}"\n', 1)).notify.auth == auth
    no_key = HTTP.replace('app_key = "secret-value"', 'auth = "none"')
    assert load_text(no_key).notify.app_key == ""
    found = problems(HTTP.replace("[notify]\n", '[notify]\nauth = "basic"\n', 1))
    assert any('notify.auth: expected one of "secret-key", "bearer", "none", got "basic"' in p for p in found), found


FLOW = '''[flow]
entry = "send"
[nodes.send]
type = "notify"
template = "TEMPLATE"
params = PARAMS
next = "bye"
[nodes.bye]
type = "hangup"
'''


def check_box(capsys, tmp_path, template: str, params: str, notify: str = "") -> tuple[int, str]:
    (tmp_path / "flows").mkdir(exist_ok=True)
    (tmp_path / "flows" / "main.toml").write_text(FLOW.replace("TEMPLATE", template).replace("PARAMS", params),
                                                  encoding="utf-8")
    box = tmp_path / "box.toml"
    box.write_text('[ivr]\nflows = ["flows/main.toml"]\n' + notify +
                   '[notify.templates]\nbalance = "#{name}님, 계좌 #{account} 안내"\n', encoding="utf-8")
    code = main(["config", "check", str(box)])
    out, err = capsys.readouterr()
    return code, out + err


def test_config_check_names_a_notify_node_whose_template_is_not_configured(capsys, tmp_path):
    flow = tmp_path / "flows" / "main.toml"
    code, out = check_box(capsys, tmp_path, "balance", '{ name = "고객", account = "${calling}" }')
    assert code == 0, out
    code, out = check_box(capsys, tmp_path, "balanse", '{ name = "고객" }')
    assert code == 1 and (f'{flow}:3: node "send": field "template": no template "balanse" in [notify] templates '
                          '(did you mean "balance"?) (templates: balance)') in out, out
    code, out = check_box(capsys, tmp_path, "balance", '{ name = "고객", acount = "${calling}" }')
    assert code == 1 and (f'{flow}:3: node "send": field "params": template "balance" has #{{name}}, #{{account}}: '
                          'missing account; not in the template: acount') in out, out
    code, out = check_box(capsys, tmp_path, "balance", '{ name = "고객", account = "1" }', "[notify]\nenabled = false\n")
    assert code == 1 and "sends a notification but [notify] enabled = false" in out, out

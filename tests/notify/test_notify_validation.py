"""A notification request checked field by field: Korean mobile numbers in the ways people write
them, templates and their placeholders, parameters that must be text; anything else is one
NotifyInputError naming the field (fuzzed: no other exception, whatever comes in)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from pbx_cti.notify.model import (Message, NotifyInputError, mobile_number, placeholders, render, template_problem,
                                  validate)
from pbx_cti.notify.providers import sms_type

TEMPLATES = {"balance": "#{name}님, 계좌 #{account} 잔액은 #{amount}원입니다.", "hello": "안녕하세요"}


@pytest.mark.parametrize("written, number", [
    ("01012345678", "01012345678"), ("010-1234-5678", "01012345678"), ("010 1234 5678", "01012345678"),
    ("+82 10-1234-5678", "01012345678"), ("+821012345678", "01012345678"), ("+82 010 1234 5678", "01012345678"),
    ("821012345678", "01012345678"), ("1012345678", "01012345678"), ("112345678", "0112345678"),
    ("011-234-5678", "0112345678"), ("016-9876-5432", "01698765432"), ("019-123-4567", "0191234567"),
])
def test_mobile_numbers_as_people_write_them(written, number):
    assert mobile_number(written) == number


@pytest.mark.parametrize("written", ["02-1234-5678", "1588-1234", "070-1234-5678", "012-1234-5678", "010-123-456",
                                     "010-1234-56789", "01O12345678", "", "+1 650 555 1234", "010#1234#5678",
                                     "16441234", "15881234", "8221234567"])
def test_what_is_not_a_korean_mobile_number_is_refused_by_name(written):
    with pytest.raises(NotifyInputError) as caught:
        mobile_number(written)
    assert caught.value.field == "to" and "expected a Korean mobile number" in str(caught.value)


@given(digits=st.from_regex(r"01[016789][0-9]{7,8}", fullmatch=True), style=st.sampled_from(["plain", "dash", "+82"]))
def test_any_mobile_number_in_any_style_comes_back_the_same(digits, style):
    if style == "dash":
        written = f"{digits[:3]}-{digits[3:-4]}-{digits[-4:]}"
    elif style == "+82":
        written = "+82 " + digits[1:]
    else:
        written = digits
    assert mobile_number(written) == digits


ANYTHING = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                        max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(kind=st.one_of(st.sampled_from(["alimtalk", "sms"]), ANYTHING), to=st.one_of(st.just("01012345678"), ANYTHING),
       template=st.one_of(st.sampled_from(["balance", "hello", None]), ANYTHING),
       params=st.one_of(st.just({"name": "a", "account": "1", "amount": "2"}), ANYTHING),
       text=st.one_of(st.none(), ANYTHING), key=st.one_of(st.none(), ANYTHING))
def test_whatever_arrives_is_either_a_request_or_one_error_naming_a_field(kind, to, template, params, text, key):
    fields = {"kind", "to", "template", "params", "text", "idempotency_key", "call_id", "agent"}
    try:
        request = validate(TEMPLATES, kind=kind, to=to, template=template, params=params, text=text,
                           idempotency_key=key)
    except NotifyInputError as exc:
        assert exc.field.split(".")[0] in fields and str(exc).startswith(exc.field + ": ")
        return
    assert request.kind in ("alimtalk", "sms") and request.to == "01012345678"
    assert request.text if request.kind == "sms" else request.template in TEMPLATES


def test_an_alimtalk_renders_its_template_and_falls_back_to_it_as_sms():
    request = validate(TEMPLATES, kind="alimtalk", to="010-1111-2222", template="balance",
                       params={"name": "홍길동", "account": "123", "amount": "5,000"}, call_id="c1", agent="alice")
    assert request.text == "홍길동님, 계좌 123 잔액은 5,000원입니다." and request.fallback_text == request.text
    assert (request.call_id, request.agent, request.idempotency_key) == ("c1", "alice", None)
    own = validate(TEMPLATES, kind="alimtalk", to="01011112222", template="hello", text="앱을 확인하세요")
    assert own.text == "안녕하세요" and own.fallback_text == "앱을 확인하세요"
    off = validate(TEMPLATES, kind="alimtalk", to="01011112222", template="hello", sms_fallback=False)
    assert off.fallback_text == ""
    with pytest.raises(NotifyInputError, match="^text: SMS fallback is off"):
        validate(TEMPLATES, kind="alimtalk", to="01011112222", template="hello", text="x", sms_fallback=False)


@pytest.mark.parametrize("request_, field, words", [
    (dict(kind="alimtalk", template=None), "template", "only approved templates"),
    (dict(kind="alimtalk", template="balanse"), "template", "unknown template 'balanse' (templates: balance, hello)"),
    (dict(kind="alimtalk", template="balance", params={"name": "a", "account": "1"}), "params.amount", "missing"),
    (dict(kind="alimtalk", template="balance", params={"name": "a", "account": "1", "amount": 2}), "params.amount",
     'write numbers as text, e.g. "1200"'),
    (dict(kind="alimtalk", template="hello", params={"x": "1"}), "params.x", "has no #{x}"),
    (dict(kind="alimtalk", template="hello", params=["x"]), "params", "expected an object"),
    (dict(kind="alimtalk", template="hello", params={"a b": "1"}), "params", "is not a placeholder name"),
    (dict(kind="alimtalk", template="hello", params={}, agent=7), "agent", "expected a string"),
    (dict(kind="alimtalk", template="hello", call_id="x" * 200), "call_id", "at most 128 characters"),
    (dict(kind="sms", text=""), "text", "an SMS needs a text"),
    (dict(kind="sms", template="hello", text="x"), "text", "not both"),
    (dict(kind="sms", params={"a": "b"}), "params", "need a template"),
    (dict(kind="sms", text="가" * 2001), "text", "at most 2000 characters"),
    (dict(kind="kakao", template="hello"), "kind", 'expected "alimtalk" or "sms"'),
    (dict(kind="alimtalk", template="balance", params={"name": "가" * 400, "account": "나" * 400, "amount": "1" * 400}),
     "params", "the filled template is 1216 characters; an AlimTalk is at most 1000"),
    (dict(kind="sms", text="x", idempotency_key=""), "idempotency_key", "expected 1 to 128"),
])
def test_each_mistake_names_its_field(request_, field, words):
    with pytest.raises(NotifyInputError) as caught:
        validate(TEMPLATES, to="01012345678", **request_)
    assert caught.value.field == field and words in str(caught.value), str(caught.value)


def test_templates_placeholders_and_sms_sizes():
    assert placeholders(TEMPLATES["balance"]) == ["name", "account", "amount"]
    assert render("#{a}-#{a}-#{b}", {"a": "1", "b": "#{a}"}) == "1-1-#{a}"   # values are not templates
    assert template_problem("fine #{x}") is None
    assert "unclosed" in template_problem("oops #{x")
    assert "at most 1000" in template_problem("가" * 1001)
    assert sms_type("가" * 45) == "SMS" and sms_type("가" * 46) == "LMS" and sms_type("a" * 90) == "SMS"


def test_a_fallen_back_message_sends_under_a_key_of_its_own():
    message = Message("m1", "alimtalk", "01012345678", "hello", {}, "안녕하세요", "fallback", "", "", "k1")
    assert message.channel == "alimtalk" and message.send_key() == "k1"
    sms = Message("m1", "alimtalk", "01012345678", "hello", {}, "안녕하세요", "fallback", "", "", "k1", channel="sms")
    assert sms.send_key() == "k1:sms"

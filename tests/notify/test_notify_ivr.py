"""The IVR's `notify` node: it sends a template filled from the call's data (the account number
the caller keyed in) and goes straight on — the caller never waits for delivery; its mistakes
are named at load; the IVR runner hands the action to the notification service, or logs and
carries on when there is none."""

from __future__ import annotations

import asyncio
import json
import logging
import textwrap

import pytest

from dsp.prompts import PromptStore
from firmware.cli import main
from firmware.config.loader import load_text
from firmware.appliance.services import ServiceContext, StopReason
from pbx_cti.ivr.actions import Hangup, Notify, Play, StartCollect, StopPlayback
from pbx_cti.ivr.flow import FlowError, NotifyNode, load_flow_text
from pbx_cti.ivr.session import IvrSession
from pbx_cti.ivr.trace import IvrNodeEntered
from pbx_cti.notify.providers import DELIVERED_FILE
from pbx_cti.notify.service import NotifyService, notify_from_ivr
from pbx_cti.pbx.ivr_runner import IvrRunner
from runtime.bus import EventBus
from runtime.clock import LoopClock, ManualClock
from tests.support.ivr_driver import Driver

FLOW = """
[flow]
entry = "account"
[nodes.account]
type = "collect"
prompts = ["enter_account"]
min_digits = 4
max_digits = 8
into = "account"
next = "send"
on_max_retries = "bye"
[nodes.send]
type = "notify"
template = "balance"
params = { account = "${account}", name = "고객" }
text = "계좌 ${account} 안내는 앱에서 확인하세요"
next = "thanks"
[nodes.thanks]
type = "play"
prompts = ["sent"]
next = "bye"
[nodes.bye]
type = "hangup"
"""


def flow(text: str):
    return load_flow_text(textwrap.dedent(text), "flows/main.toml")


def errors(text: str) -> list[str]:
    with pytest.raises(FlowError) as caught:
        flow(text)
    return [str(issue) for issue in caught.value.issues]


def test_the_node_sends_the_collected_account_and_the_flow_goes_on_at_once():
    d = Driver(flow(FLOW), {"call_id": "c42", "calling": "010-3333-4444"})
    assert d.take() == [Play(1, ("enter_account",), True), StartCollect("account", 8, "#")]
    assert d.press("12345") == [StopPlayback(1)]
    actions = d.press("6#")
    # The notify action and the next node's prompt come out of the same key press: no waiting.
    assert actions == [Notify("alimtalk", "010-3333-4444", "balance", {"account": "123456", "name": "고객"},
                              "계좌 123456 안내는 앱에서 확인하세요", "c42"),
                       Play(2, ("sent",), False)]
    assert d.session.path == ["account", "send", "thanks"]
    assert IvrNodeEntered(d.clock.now(), "c42", "send", "notify") in d.trace
    assert d.finish_prompt() == [Hangup(16)]


def test_an_sms_node_with_text_and_the_default_recipient():
    node = flow("""
        [flow]
        entry = "sms"
        [nodes.sms]
        type = "notify"
        kind = "sms"
        text = "${called} 고객센터입니다. 문의 감사합니다."
        next = "bye"
        [nodes.bye]
        type = "hangup"
        """).nodes["sms"]
    assert isinstance(node, NotifyNode) and node.to == "${calling}" and node.template is None
    session = IvrSession(flow("""
        [flow]
        entry = "sms"
        [nodes.sms]
        type = "notify"
        kind = "sms"
        text = "${called} 고객센터입니다."
        next = "bye"
        [nodes.bye]
        type = "hangup"
        """), {"call_id": "c1", "calling": "01099998888", "called": "15881234"}, 0.0)
    assert session.next_action() == Notify("sms", "01099998888", "", {}, "15881234 고객센터입니다.", "c1")
    assert session.next_action() == Hangup(16)


@pytest.mark.parametrize("node, expected", [
    ('type = "notify"\nnext = "bye"', 'flows/main.toml:3: node "n": field "template": missing field "template" '
                                      '(an AlimTalk is always a template)'),
    ('type = "notify"\nkind = "sms"\nnext = "bye"', 'node "n": expected exactly one of "template" or "text" for kind = "sms"'),
    ('type = "notify"\nkind = "sms"\ntemplate = "t"\ntext = "x"\nnext = "bye"',
     'expected exactly one of "template" or "text"'),
    ('type = "notify"\nkind = "sms"\ntext = "x"\nparams = { a = "b" }\nnext = "bye"',
     'node "n": field "params": params fill a template: give "template" too'),
    ('type = "notify"\nkind = "fax"\ntemplate = "t"\nnext = "bye"', 'field "kind": expected one of "alimtalk", "sms"'),
    ('type = "notify"\ntemplate = "t"\nparams = { a = "${account}" }\nnext = "bye"',
     'node "n": field "params.a": unknown variable "account"'),
    ('type = "notify"\ntemplate = "t"\nto = "${mobile}"\nnext = "bye"', 'field "to": unknown variable "mobile"'),
    ('type = "notify"\ntemplate = "a template code far too long"\nnext = "bye"',
     'field "template": expected a template code'),
    ('type = "notify"\ntemplate = "t"\nnext = "nowhere"', 'field "next": no node "nowhere"'),
])
def test_mistakes_in_a_notify_node_are_named(node, expected):
    text = f'[flow]\nentry = "n"\n[nodes.n]\n{node}\n[nodes.bye]\ntype = "hangup"\n'
    found = errors(text)
    assert any(expected in e for e in found), found


NOTIFY_THEN_HANG_UP = """
[flow]
entry = "send"
[nodes.send]
type = "notify"
template = "balance"
params = { account = "${calling}", name = "고객" }
next = "bye"
[nodes.bye]
type = "hangup"
cause = 16
"""


def runner_for(clock, on_notify, hangups):
    session = IvrSession(flow(NOTIFY_THEN_HANG_UP), {"call_id": "c5", "calling": "01055554444"}, clock.now())
    return IvrRunner(session, None, PromptStore(), clock, on_route=None, on_transfer=None,
                     on_hangup=hangups.append, on_progress=lambda fields: None, on_notify=on_notify)


def test_the_runner_hands_the_action_on_or_logs_and_carries_on_without_a_service(caplog):
    clock = ManualClock()
    seen, hangups = [], []
    runner_for(clock, seen.append, hangups).start()
    assert seen == [Notify("alimtalk", "01055554444", "balance", {"account": "01055554444", "name": "고객"}, "", "c5")]
    assert hangups == [16]
    hangups.clear()
    with caplog.at_level(logging.WARNING, logger="pribox.ivr"):
        runner_for(clock, None, hangups).start()
    assert hangups == [16] and "no notification service wired; alimtalk balance not sent" in caplog.text


def test_a_call_through_the_runner_is_delivered_by_the_running_service(tmp_path):
    config = load_text('[notify]\n[notify.templates]\nbalance = "#{name}님 계좌 #{account} 안내"\n')

    async def scenario():
        bus = EventBus()
        service = NotifyService(config)
        await service.start(ServiceContext(config, LoopClock(), bus, str(tmp_path)))
        hangups = []
        runner_for(LoopClock(), lambda action: notify_from_ivr(bus, action), hangups).start()
        assert hangups == [16]            # the call is over before anything was sent
        for _ in range(200):
            if service.notifier.counts.get("sent") == 1:
                break
            await asyncio.sleep(0.01)
        line, = (tmp_path / DELIVERED_FILE).read_text(encoding="utf-8").splitlines()
        record = json.loads(line)
        assert (record["call_id"], record["to"], record["text"]) == ("c5", "01055554444", "고객님 계좌 01055554444 안내")
        await service.stop(StopReason.SHUTDOWN)

    asyncio.run(scenario())


def test_simulate_shows_what_would_be_queued(capsys, tmp_path):
    path = tmp_path / "main.toml"
    path.write_text(FLOW, encoding="utf-8")
    assert main(["ivr", "simulate", str(path), "--keys", "5555#", "--calling", "01012345678"]) == 0
    out = capsys.readouterr().out
    assert "(a alimtalk balance to 01012345678 would be queued)" in out
    assert out.endswith("path: account > send > thanks > bye\ndigits: 5555#   outcome: hangup (cause 16)\n")

"""The IVR interpreter on a ManualClock: every node type, timeouts, retries, barge-in, and the
caller hanging up at every step."""

import textwrap
from pathlib import Path

import pytest

from tests.support.ivr_driver import Driver
from pbx_cti.ivr.actions import (
    Hangup, Lookup, LookupFailure, Play, Record, RequestCallback, RouteToSkill, StartCollect, StopPlayback, StopRecording, Transfer,
)
from pbx_cti.ivr.flow import load_flow_file, load_flow_text
from pbx_cti.ivr.trace import IvrCollectResult, IvrEnded, IvrTrace

DEFAULT_FLOW = Path(__file__).resolve().parents[2] / "pbx_cti" / "ivr" / "default" / "main.toml"


def flow(text: str):
    return load_flow_text(textwrap.dedent(text), "test.toml")


MENU = """
[flow]
entry = "menu"
[nodes.menu]
type = "collect"
prompts = ["menu"]
min_digits = 2
max_digits = 4
first_digit_timeout = 5
inter_digit_timeout = 3
terminator = "#"
valid = "1[0-9]*"
into = "account"
no_input_retries = 1
invalid_retries = 2
no_input_prompts = ["no_input"]
invalid_prompts = ["invalid"]
next = "done"
on_max_retries = "sorry"
[nodes.done]
type = "hangup"
cause = 16
[nodes.sorry]
type = "hangup"
prompts = ["sorry"]
cause = 31
"""


def test_default_flow_greeting_menu_route_then_all_busy():
    d = Driver(load_flow_file(DEFAULT_FLOW), {"call_id": "c7", "calling": "01012345678", "called": "7000"})
    assert d.take() == [Play(1, ("greeting",), True)]
    assert d.finish_prompt() == [Play(2, ("menu",), True), StartCollect("menu", 1, "#")]
    assert d.session.get_timer() is None  # the first-digit timer starts when the menu has been said
    d.advance(2.0)
    assert d.finish_prompt() == []
    assert d.session.get_timer() == pytest.approx(107.0)
    d.advance(1.0)
    actions = d.press("3")
    assert actions[0] == Play(3, ("connecting",), False)
    assert d.finish_prompt() == [RouteToSkill("incident_report", {
        "call_id": "c7", "calling": "01012345678", "called": "7000", "redirecting": "", "trunk": "",
        "digits": "3", "menu_choice": "3", "queue_skill": "incident_report", "service": "사고 신고"}, 10)]
    # Nobody of the group is logged in: straight to the all-busy announcement.
    d.session.route_failed("nobody logged in", d.clock.now(), no_agents=True)
    d._pump()
    assert d.take() == [Play(4, ("all_busy",), False)]
    assert d.finish_prompt() == [Hangup(16)]
    s = d.session
    assert s.ended and s.outcome == "hangup" and s.hangup_cause == 16
    assert s.path == ["greeting", "menu", "service", "incident", "incident_report", "all_busy"]
    assert s.digits == "3" and s.collected == {"menu": "3"}
    assert [v.time for v in s.visits] == [100.0, 100.0, 103.0, 103.0, 103.0, 103.0]
    assert all(isinstance(e, IvrTrace) and e.call == "c7" for e in d.trace)


def test_default_flow_busy_options_keep_waiting_or_book_a_callback():
    for key, expected in (("1", RouteToSkill), ("2", RequestCallback)):
        d = Driver(load_flow_file(DEFAULT_FLOW), {"call_id": "c8", "calling": "01012345678", "called": "7000"})
        d.take()
        d.press("2")
        d.finish_prompt()                         # connecting, then the route
        actions = d.event("route_failed", "every agent busy")
        assert isinstance(actions[0], Play) and actions[0].prompts == ("all_busy_options",)
        d.finish_prompt()
        actions = d.press(key)
        actions += d.finish_prompt()
        found = next(a for a in actions if isinstance(a, expected))
        assert found.skill == "account_transfer" and found.data["service"] == "이체"
        if key == "1":
            assert found.wait                     # queued though nobody is free
            assert d.event("handed_off") == [] and d.session.outcome == "routed"
        else:
            assert found.number == "01012345678"
            assert d.session.path[-3:] == ["busy_choice", "book_callback", "callback_booked"]


def test_barge_in_on_the_greeting_carries_the_key_into_the_menu():
    d = Driver(load_flow_file(DEFAULT_FLOW))
    d.take()
    actions = d.press("1")
    assert actions[:3] == [StopPlayback(1), StartCollect("menu", 1, "#"), Play(2, ("connecting",), False)]
    assert d.session.path == ["greeting", "menu", "service", "deposit", "deposit_inquiry"]
    assert d.finish_prompt()[0].skill == "deposit_inquiry"
    assert d.event("handed_off") == []
    assert d.session.ended and d.session.outcome == "routed"


def test_digits_during_a_prompt_without_barge_in_are_ignored():
    d = Driver(flow("""
        [flow]
        entry = "hello"
        [nodes.hello]
        type = "play"
        prompts = ["a", "b"]
        next = "ask"
        [nodes.ask]
        type = "collect"
        prompts = ["q"]
        barge_in = false
        next = "bye"
        on_max_retries = "bye"
        [nodes.bye]
        type = "hangup"
    """))
    assert d.take() == [Play(1, ("a", "b"), False)]
    assert d.press("5") == []
    assert d.finish_prompt() == [Play(2, ("q",), False)]
    assert d.press("7") == []                       # still talking, no barge-in
    assert d.finish_prompt() == [StartCollect("ask", 1, "#")]
    assert d.press("8") == [Hangup(16)]
    assert d.session.digits == "578" and d.session.collected == {"ask": "8"}


def test_collect_max_digits_terminator_and_inter_digit_timeout():
    d = Driver(flow(MENU))
    d.take()
    d.finish_prompt()
    assert d.press("1234") == [Hangup(16)]           # max_digits reached
    assert d.session.variables["account"] == "1234"

    d = Driver(flow(MENU))
    d.finish_prompt()
    d.take()
    assert d.press("12") == [] and d.press("#") == [Hangup(16)]   # terminator ends early
    assert d.session.variables["account"] == "12"

    d = Driver(flow(MENU))
    d.finish_prompt()
    d.take()
    d.press("123")
    assert d.advance(2.9) == []
    assert d.advance(0.1) == [Hangup(16)]           # inter-digit timeout: what we have is enough
    assert d.session.variables["digits"] == "123"


def test_no_input_and_invalid_have_their_own_counters_then_max_retries():
    d = Driver(flow(MENU))
    d.finish_prompt()
    d.take()
    # No input: re-prompt with the no-input prompt first.
    assert d.advance(5.0) == [Play(2, ("no_input", "menu"), True), StartCollect("menu", 4, "#")]
    d.finish_prompt()
    # Invalid twice (pattern, then too short): each time the invalid prompt.
    assert d.press("2222") == [Play(3, ("invalid", "menu"), True), StartCollect("menu", 4, "#")]
    d.press("#")
    assert d.take() == []
    assert d.last(Play) == Play(4, ("invalid", "menu"), True)
    results = [(e.outcome, e.no_input_count, e.invalid_count) for e in d.trace if isinstance(e, IvrCollectResult)]
    assert results == [("no input", 1, 0), ("invalid", 1, 1), ("invalid", 1, 2)]
    # A third invalid passes invalid_retries = 2: on_max_retries.
    assert d.press("9#") == [StopPlayback(4), Play(5, ("sorry",), False)]
    assert d.finish_prompt() == [Hangup(31)]
    assert d.session.path == ["menu", "sorry"]


def test_second_no_input_exceeds_its_own_limit():
    d = Driver(flow(MENU))
    d.finish_prompt()
    d.advance(5.0)
    d.finish_prompt()
    d.take()
    assert d.advance(4.9) == []
    assert d.advance(0.1) == [Play(3, ("sorry",), False)]


def test_on_no_input_and_on_invalid_go_elsewhere_and_counters_persist():
    text = MENU.replace('on_max_retries = "sorry"', 'on_max_retries = "sorry"\non_invalid = "explain"') + """
[nodes.explain]
type = "play"
prompts = ["explain"]
next = "menu"
"""
    d = Driver(flow(text))
    d.finish_prompt()
    assert d.press("55#")[-1] == Play(2, ("explain",), False)
    assert d.finish_prompt()[0] == Play(3, ("menu",), True)   # back in the menu, no invalid prompt: explain said it
    d.finish_prompt()
    d.press("55#")
    d.finish_prompt()
    d.finish_prompt()
    assert d.press("66#")[-1] == Play(6, ("sorry",), False)  # third invalid overall
    assert d.session.path == ["menu", "explain", "menu", "explain", "menu", "sorry"]


def test_lookup_success_not_found_error_and_timeout():
    text = """
        [flow]
        entry = "find"
        [nodes.find]
        type = "lookup"
        source = "http"
        method = "POST"
        url = "http://crm.example/customers/${calling}"
        headers = { Authorization = "Bearer ${token}" }
        body = { ani = "${calling}" }
        timeout = 2
        result = { name = "customer.name", tier = "customer.tiers.0" }
        next = "route"
        on_error = "fallback"
        on_not_found = "stranger"
        [vars]
        token = "t0"
        [nodes.route]
        type = "route"
        skill = "vip_${tier}"
        [nodes.fallback]
        type = "hangup"
        cause = 41
        [nodes.stranger]
        type = "hangup"
        cause = 1
    """
    d = Driver(flow(text), {"calling": "0299"})
    (lookup,) = d.take()
    assert isinstance(lookup, Lookup) and lookup.request.url == "http://crm.example/customers/0299"
    assert lookup.request.method == "POST" and lookup.request.body == {"ani": "0299"}
    assert lookup.request.headers == {"Authorization": "Bearer t0"}
    assert d.session.get_timer() == pytest.approx(103.0)
    route = d.event("lookup_result", lookup.id, {"customer": {"name": "김철수", "tiers": ["gold"]}})
    assert route == [RouteToSkill("vip_gold", {**d.session.variables}, 0)]
    assert d.session.variables["name"] == "김철수"

    d = Driver(flow(text), {"calling": "02#9&x=1 김"})
    assert d.take()[0].request.url == "http://crm.example/customers/02%239%26x%3D1%20%EA%B9%80"  # data, not URL syntax
    assert d.event("lookup_result", 1, LookupFailure("HTTP 404", not_found=True)) == [Hangup(1)]
    d = Driver(flow(text), {"calling": "0299"})
    assert d.event("lookup_result", d.take()[0].id, LookupFailure("connection refused")) == [Hangup(41)]
    d = Driver(flow(text), {"calling": "0299"})
    assert d.event("lookup_result", d.take()[0].id, {"customer": {}}) == [Hangup(41)]   # field missing
    d = Driver(flow(text), {"calling": "0299"})
    lookup = d.take()[0]
    assert d.advance(2.9) == []
    assert d.advance(0.1) == [Hangup(41)]            # the adapter never answered
    assert d.event("lookup_result", lookup.id, {"customer": {"name": "late", "tiers": ["x"]}}) == []


def test_set_branch_and_operators():
    text = """
        [flow]
        entry = "init"
        inputs = ["amount", "code"]
        [nodes.init]
        type = "set"
        values = { label = "${code}-x", cost = "$$${amount}" }
        next = "check"
        [nodes.check]
        type = "branch"
        otherwise = "other"
        [[nodes.check.case]]
        var = "amount"
        greater_than = 1000
        next = "big"
        [[nodes.check.case]]
        var = "code"
        in = ["A", "B"]
        next = "ab"
        [[nodes.check.case]]
        var = "label"
        matches = "Z.*"
        next = "z"
        [nodes.big]
        type = "transfer"
        extension = "2001"
        [nodes.ab]
        type = "transfer"
        number = "+8221234567"
        on_failure = "other"
        [nodes.z]
        type = "hangup"
        cause = 3
        [nodes.other]
        type = "hangup"
        cause = 4
    """
    assert Driver(flow(text), {"amount": "5000", "code": "A"}).take() == [
        Transfer("2001", "extension", {"amount": "5000", "code": "A", "label": "A-x", "cost": "$5000"})]
    d = Driver(flow(text), {"amount": "12", "code": "B"})
    assert d.take()[0].target == "+8221234567"
    assert d.event("transfer_failed", "busy", None) == [Hangup(4)]
    assert Driver(flow(text), {"amount": "x", "code": "Z"}).take() == [Hangup(3)]
    assert Driver(flow(text), {"amount": "1", "code": "C"}).take() == [Hangup(4)]


def test_record_ends_by_terminator_or_guard_and_keeps_the_reference():
    text = """
        [flow]
        entry = "rec"
        [nodes.rec]
        type = "record"
        prompts = ["leave_message"]
        max_length = 30
        beep = true
        terminator = "#"
        into = "message"
        next = "thanks"
        [nodes.thanks]
        type = "hangup"
        prompts = ["thanks"]
    """
    d = Driver(flow(text))
    d.take()
    assert d.finish_prompt() == [Record(2, 30.0, True, "#")]
    assert d.press("5") == []
    assert d.press("#") == [StopRecording(2)]
    assert d.event("record_finished", 2, "voicemail/c1.wav") == [Play(3, ("thanks",), False)]
    assert d.session.variables["message"] == "voicemail/c1.wav"

    d = Driver(flow(text))
    d.finish_prompt()
    d.take()
    assert d.advance(31.9) == []
    assert d.advance(0.1) == [StopRecording(2)]     # the media did not stop at max_length
    assert d.event("record_finished", 2, "m.wav") == [Play(3, ("thanks",), False)]


def test_hang_up_while_recording_keeps_the_message():
    d = Driver(flow("""
        [flow]
        entry = "rec"
        [nodes.rec]
        type = "record"
        into = "message"
        next = "bye"
        [nodes.bye]
        type = "hangup"
    """))
    assert d.take() == [Record(1, 60.0, True, "#")]
    assert d.event("caller_hung_up") == [StopRecording(1)]
    assert d.event("record_finished", 1, "vm/1.wav") == []
    assert d.session.recordings == ["vm/1.wav"] and d.session.variables["message"] == "vm/1.wav"
    assert d.session.outcome == "caller hung up"


def test_route_without_busy_path_and_transfer_without_failure_path_clear_with_a_cause():
    d = Driver(flow('[flow]\nentry = "r"\n[nodes.r]\ntype = "route"\nskill = "s"\n'))
    d.take()
    assert d.event("route_failed", "closed") == [Hangup(34)]
    d = Driver(flow('[flow]\nentry = "t"\n[nodes.t]\ntype = "transfer"\nnumber = "0200"\n'))
    d.take()
    assert d.event("transfer_failed", "no answer", 19) == [Hangup(19)]


def test_a_flow_that_loops_without_waiting_is_cut_with_a_cause():
    d = Driver(flow("""
        [flow]
        entry = "a"
        [nodes.a]
        type = "set"
        values = { x = "1" }
        next = "b"
        [nodes.b]
        type = "branch"
        otherwise = "a"
        [[nodes.b.case]]
        var = "x"
        equals = "never"
        next = "a"
    """))
    assert d.take() == [Hangup(41)]
    assert "looped" in d.session.end_reason


# Hang up at every step of the seed's flow: (steps to get there, phase it is in).
STEPS = [
    ([], "greeting playing"),
    (["prompt"], "menu playing"),
    (["prompt", "prompt"], "menu waiting for a key"),
    (["prompt", "prompt", "wait5"], "no-input prompt"),
    (["prompt", "prompt", "key9"], "invalid prompt"),
    (["prompt", "key2"], "connecting prompt"),
    (["prompt", "key2", "prompt"], "waiting for an agent"),
    (["prompt", "key2", "prompt", "busy"], "all-busy announcement"),
]


@pytest.mark.parametrize("steps,where", STEPS, ids=[w for _, w in STEPS])
def test_caller_hangs_up_at_every_step(steps, where):
    d = Driver(load_flow_file(DEFAULT_FLOW))
    for step in steps:
        if step == "prompt":
            d.finish_prompt()
        elif step == "wait5":
            d.advance(5.0)
        elif step.startswith("key"):
            d.press(step[3:])
        elif step == "busy":
            d.event("route_failed", "all busy")
    d.take()
    node = d.session.current_node
    assert d.event("caller_hung_up") == []
    s = d.session
    assert s.ended and s.outcome == "caller hung up" and s.get_timer() is None
    assert isinstance(d.trace[-1], IvrEnded) and node in d.trace[-1].reason
    # Nothing that comes late does anything.
    d.press("1")
    d.finish_prompt()
    d.event("route_failed", "x")
    d.event("handed_off")
    d.advance(60)
    assert d.take() == [] and s.path == s.path and s.current_node == node
    assert d.event("caller_hung_up") == []


def test_bad_keys_and_stale_events_are_ignored():
    d = Driver(flow(MENU))
    d.take()
    assert d.event("digit", "x") == [] and d.event("digit", "12") == []
    assert d.event("prompt_finished", 99) == []
    assert d.event("lookup_result", 1, {}) == []
    assert d.event("record_finished", 1, "r") == []
    assert d.session.digits == "" and not d.session.ended

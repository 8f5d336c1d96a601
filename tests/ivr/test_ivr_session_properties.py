"""Any order of events, in any phase, keeps the interpreter consistent: it never raises, it
gives nothing after it ended, its timer is never in the past, and it ends only once."""

import textwrap
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.ivr_driver import Driver
from pbx_cti.ivr.actions import Hangup, Lookup, LookupFailure, Play, Record
from pbx_cti.ivr.flow import load_flow_file, load_flow_text
from pbx_cti.ivr.trace import IvrEnded

DEFAULT_FLOW = load_flow_file(Path(__file__).resolve().parents[2] / "pbx_cti" / "ivr" / "default" / "main.toml")
EVERY_NODE = load_flow_text(textwrap.dedent("""
    [flow]
    entry = "hello"
    [nodes.hello]
    type = "play"
    prompts = ["hello"]
    barge_in = true
    next = "ask"
    [nodes.ask]
    type = "collect"
    prompts = ["ask"]
    max_digits = 3
    valid = "[0-9]+"
    into = "code"
    no_input_retries = 1
    invalid_retries = 1
    next = "find"
    on_max_retries = "bye"
    [nodes.find]
    type = "lookup"
    source = "http"
    url = "http://crm.example/${code}"
    result = { tier = "tier" }
    next = "label"
    on_error = "msg"
    [nodes.label]
    type = "set"
    values = { label = "${tier}-${code}" }
    next = "pick"
    [nodes.pick]
    type = "branch"
    otherwise = "agent"
    [[nodes.pick.case]]
    var = "tier"
    equals = "gold"
    next = "vip"
    [nodes.vip]
    type = "transfer"
    extension = "2001"
    on_failure = "msg"
    [nodes.agent]
    type = "route"
    skill = "general"
    on_busy = "msg"
    [nodes.msg]
    type = "record"
    prompts = ["leave"]
    max_length = 5
    next = "bye"
    [nodes.bye]
    type = "hangup"
    prompts = ["bye"]
"""), "every.toml")

EVENTS = st.one_of(
    st.tuples(st.just("digit"), st.sampled_from("0123456789*#")),
    st.tuples(st.just("prompt"), st.booleans()),
    st.tuples(st.just("advance"), st.floats(0.0, 8.0)),
    st.tuples(st.just("lookup"), st.sampled_from([{"tier": "gold"}, {"tier": "x"}, {}, "fail", "notfound"])),
    st.tuples(st.just("record"), st.just("rec.wav")),
    st.tuples(st.just("route_failed"), st.just("busy")),
    st.tuples(st.just("transfer_failed"), st.just("no answer")),
    st.tuples(st.just("handed_off"), st.just(None)),
    st.tuples(st.just("hangup"), st.just(None)),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([DEFAULT_FLOW, EVERY_NODE]), st.lists(EVENTS, max_size=40))
def test_any_sequence_of_events_keeps_the_session_consistent(flow, events):
    d = Driver(flow)
    for kind, value in events:
        ended_before = d.session.ended
        given_before = len(d.seen)
        if kind == "digit":
            d.press(value)
        elif kind == "prompt":
            plays = [a for a in d.seen if isinstance(a, Play)]
            d.event("prompt_finished", plays[-1].id if plays and value else 999)
        elif kind == "advance":
            d.advance(value)
        elif kind == "lookup":
            lookups = [a for a in d.seen if isinstance(a, Lookup)]
            result = {"fail": LookupFailure("boom"), "notfound": LookupFailure("404", True)}.get(value, value) \
                if isinstance(value, str) else value
            d.event("lookup_result", lookups[-1].id if lookups else 1, result)
        elif kind == "record":
            records = [a for a in d.seen if isinstance(a, Record)]
            d.event("record_finished", records[-1].id if records else 1, value)
        elif kind == "transfer_failed":
            d.event("transfer_failed", value, None)
        elif kind == "route_failed":
            d.event(kind, value)
        elif kind == "handed_off":
            d.event("handed_off")
        else:
            d.event("caller_hung_up")
        if ended_before:
            assert len(d.seen) == given_before  # nothing after the end
        s = d.session
        timer = s.get_timer()
        assert timer is None or timer >= d.clock.now()
        assert (timer is None) if s.ended else True
        assert all(node in flow.nodes for node in s.path)
    d.take()
    plays = [a.id for a in d.seen if isinstance(a, Play)]
    assert len(plays) == len(set(plays))
    assert sum(isinstance(e, IvrEnded) for e in d.trace) == (1 if d.session.ended else 0)
    assert sum(isinstance(a, Hangup) for a in d.seen) <= 1

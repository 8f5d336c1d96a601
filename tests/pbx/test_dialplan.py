"""The dial plan on its own: patterns, targets, schedules and holidays in the box's timezone, and
what `config check` says about a bad one."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings, strategies as st

from firmware.config.errors import ConfigError
from firmware.config.loader import default_text, load_text
from pbx_cti.pbx.dialplan import DialPlanError, Schedule, compile_pattern, parse_target


@pytest.mark.parametrize("pattern, number, matches", [
    ("7000", "7000", True), ("7000", "70001", False), ("_7XXX", "7123", True), ("_7XXX", "712", False),
    ("_Z.", "1588", True), ("_Z.", "0588", False), ("_N!", "2", True), ("_0[1-5]X", "023", True),
    ("_0[1-5]X", "063", False), ("_1588.", "15881234", True), ("_1588.", "1588", False),
])
def test_patterns(pattern, number, matches):
    assert bool(compile_pattern(pattern).fullmatch(number)) is matches


@pytest.mark.parametrize("pattern, message", [
    ("", "an empty pattern"), ("70a0", "a plain pattern is digits"), ("_7Q", "'Q' at position 3"),
    ("_7[1-", "a set is digits and ranges"), ("_7.1", "'.' at position 3"),
])
def test_bad_patterns_say_what_is_wrong(pattern, message):
    with pytest.raises(DialPlanError, match=message):
        compile_pattern(pattern)


@given(st.text(alphabet="0123456789XZN.!_[]-*#", max_size=12))
@settings(max_examples=300, deadline=None)
def test_any_pattern_compiles_or_is_refused_with_a_reason(pattern):
    try:
        regex = compile_pattern(pattern)
    except DialPlanError as exc:
        assert str(exc)
    else:
        regex.fullmatch("15881234")


def test_targets():
    assert parse_target("ivr:main") == ("ivr", "main")
    assert parse_target("reject:17") == ("reject", "17")
    for bad in ("ivr", "queue:x", "reject:0", "reject:x", "extension:abc"):
        with pytest.raises(DialPlanError):
            parse_target(bad)


def test_schedules_with_holidays_and_overlaps():
    office = Schedule.parse("office", ["mon-fri 09:00-18:00", "sat 09:00-13:00"], [datetime.date(2026, 12, 25)])
    assert office.is_open(datetime.datetime(2026, 12, 7, 9, 0))          # a Monday
    assert not office.is_open(datetime.datetime(2026, 12, 7, 18, 0))
    assert office.is_open(datetime.datetime(2026, 12, 12, 12, 59))       # Saturday
    assert not office.is_open(datetime.datetime(2026, 12, 13, 10, 0))    # Sunday
    assert not office.is_open(datetime.datetime(2026, 12, 25, 10, 0))    # a Friday, but a holiday
    with pytest.raises(DialPlanError, match="overlaps another window on tue"):
        Schedule.parse("x", ["mon-fri 09:00-18:00", "tue 17:00-20:00"], [])
    with pytest.raises(DialPlanError, match="run forward"):
        Schedule.parse("x", ["mon 18:00-09:00"], [])
    with pytest.raises(DialPlanError, match='expected "mon-fri 09:00-18:00"'):
        Schedule.parse("x", ["monday 09:00-18:00"], [])
    with pytest.raises(DialPlanError, match="a range runs forward"):
        Schedule.parse("x", ["fri-mon 09:00-18:00"], [])


def test_config_check_names_file_line_and_key_for_each_dial_plan_fault():
    text = default_text() + '''
[[schedule]]
name = "office"
hours = ["mon-fri 09:00-18:00", "fri 17:00-19:00"]

[[dialplan]]
pattern = "_7Q"
target = "queue:sales"

[[dialplan]]
pattern = "8000"
target = "trunk:nowhere"
schedule = "night"
'''
    with pytest.raises(ConfigError) as caught:
        load_text(text, "box.toml")
    problems = str(caught.value)
    assert 'dialplan[1].target: "queue:sales": expected one of ivr:..., extension:..., trunk:...' in problems
    lines = text.splitlines()
    target_line = next(i for i, line in enumerate(lines, 1) if line == 'target = "queue:sales"')
    assert f"box.toml:{target_line}:" in problems
    # With the kinds right, the references are checked across sections.
    text = text.replace('target = "queue:sales"', 'target = "ivr:main"').replace('pattern = "_7Q"', 'pattern = "_7X"')
    with pytest.raises(ConfigError) as caught:
        load_text(text, "box.toml")
    problems = str(caught.value)
    assert 'no [[trunk_group]] named "nowhere"' in problems
    assert 'no [[schedule]] named "night"' in problems
    assert 'overlaps another window on fri' in problems


def test_settled_numbers_for_overlap_receiving():
    config = load_text(default_text() + '''
[[dialplan]]
pattern = "_2XXX"
target = "reject:17"

[[dialplan]]
pattern = "_9."
target = "reject:17"
''', "box.toml")
    from pbx_cti.pbx.dialplan import DialPlan
    plan = DialPlan.from_config(config)
    assert not plan.settled("70") and plan.settled("7000")     # the route point
    assert not plan.settled("200") and plan.settled("2001")
    assert not plan.settled("9") and not plan.settled("912345")  # open-ended: only Sending complete or the timeout
    assert not plan.settled("5")                               # nothing matches yet

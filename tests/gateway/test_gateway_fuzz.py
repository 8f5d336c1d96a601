"""Whatever an engineer writes in a translation rule, `config check` either accepts it or names
the problem; what it accepts builds a plan that maps any number without raising."""

import json

from hypothesis import HealthCheck, event, given, settings, strategies as st

from firmware.config import ConfigError, load_text
from firmware.config.loader import default_text
from firmware.gateway.causes import edge_cause
from firmware.gateway.numbers import Number
from firmware.gateway.plan import GatewayPlan
from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.ies import Presentation, TypeOfNumber

PATTERN_TEXT = st.text(alphabet=st.sampled_from(list("0123456789*#+()[]{}^$.?|\\/-,dxa ")), max_size=16)
GOOD_MATCHES = st.sampled_from(["/^15881234$/", r"/^0\(1[016-9]\)\(.*\)/", "^9", r"(\d{3})(\d*)", "/.*/", "^$",
                                 r"/\+82/", "#31#", r"^(\d{3})+$", "[0-4]"])
GOOD_REPLACES = st.sampled_from(["/7000/", r"/+82\1\2/", "//", r"\0\0", r"/\1/", "*"])
RULE_VALUES = {
    "match": GOOD_MATCHES | GOOD_MATCHES | PATTERN_TEXT,
    "replace": GOOD_REPLACES | GOOD_REPLACES | PATTERN_TEXT,
    "prefix": st.text(alphabet="0123456789*#", max_size=4) | st.text(alphabet="0123456789+*#ax", max_size=4),
    "strip": st.integers(0, 12) | st.integers(-2, 40),
    "normalize": st.sampled_from(["national", "national_significant", "international", "e164"] * 3 + ["local"]),
    "set_type": st.sampled_from(["unknown", "international", "national", "subscriber"] * 3 + ["nat"]),
    "match_type": st.sampled_from(["unknown", "international", "national"]),
    "set_presentation": st.sampled_from(["allowed", "restricted"]),
    "reject": st.sampled_from([False] * 4 + [True]),
}
rules = st.lists(st.fixed_dictionaries({}, optional=RULE_VALUES), min_size=1, max_size=4)
numbers = st.text(alphabet="0123456789*#", max_size=32) | st.from_regex(r"\A\+[0-9]{0,31}\Z")


def toml_value(value):
    return json.dumps(value) if isinstance(value, str) else str(value).lower()


def config_with(rule_list):
    text = default_text() + '\n[[translation_rule]]\nname = "fuzz"\n'
    for rule in rule_list:
        text += "\n[[translation_rule.rule]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in rule.items())
    text = text.replace('calling = "to-national"', 'calling = "fuzz"')
    if not any("set_presentation" in rule for rule in rule_list):   # a called number has none
        text = text.replace('called = "carrier-called"', 'called = "fuzz"')
    return text


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_list=rules, called=numbers, calling=numbers, ton=st.sampled_from(list(TypeOfNumber)),
       presentation=st.sampled_from(list(Presentation)))
def test_rule_tables_are_accepted_or_named_and_accepted_ones_never_raise(rule_list, called, calling, ton, presentation):
    try:
        config = load_text(config_with(rule_list), "fuzz.toml")
    except ConfigError as exc:
        for issue in exc.issues:
            assert issue.file == "fuzz.toml" and issue.line is not None and issue.message
        event("refused")
        return
    event("accepted")
    plan = GatewayPlan.from_config(config)
    result = plan.translate("carrier", "in", Number(called, ton), Number(calling, ton, presentation=presentation))
    for mapping in result.mapping.numbers.values():
        assert isinstance(mapping.after.digits, str)


def test_edge_causes_come_from_the_one_cause_table():
    assert edge_cause("rejected_by_rule") is Cause.CALL_REJECTED
    assert edge_cause("no_channel") is Cause.NO_CIRCUIT_AVAILABLE
    assert edge_cause("unknown_number") is Cause.UNALLOCATED_NUMBER
    try:
        edge_cause("bogus")
    except KeyError as exc:
        assert "known: " in str(exc) and "no_channel" in str(exc)
    else:
        raise AssertionError("an unknown reason must not get a cause")

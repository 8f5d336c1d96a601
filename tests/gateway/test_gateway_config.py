"""The gateway's sections in the box's file: the seed's mapping in the default, and every
mistake named by file:line:column and key at `config check`."""

import textwrap

import pytest

from firmware.config import ConfigError, load_text
from firmware.config.loader import default_text
from firmware.gateway.numbers import Number
from firmware.gateway.plan import GatewayError, GatewayPlan
from firmware.isdn.q931.channels import Hunting
from firmware.isdn.q931.ies import Presentation, TypeOfNumber

SPANS = """
[[span]]
id = 1
driver = "emulated"
side = "te"
clock = "line"
law = "alaw"
wire = "/run/w1"
wire_role = "connect"

[[span]]
id = 2
driver = "emulated"
side = "te"
clock = "line"
law = "alaw"
wire = "/run/w2"
wire_role = "connect"
"""

GOOD = SPANS + """
[[trunk_group]]
name = "carrier"
spans = [1, 2]
hunting = "round_robin"
translation_in = "in"
translation_out = "out"

[[translation_profile]]
name = "in"
called = "called-in"

[[translation_profile]]
name = "out"
calling = "calling-out"

[[translation_rule]]
name = "called-in"

[[translation_rule.rule]]
match = '/^15881234$/'
replace = '/7000/'

[[translation_rule.rule]]
match = '/^0\\(70\\)\\(.*\\)/'
replace = '/\\1\\2/'

[[translation_rule]]
name = "calling-out"

[[translation_rule.rule]]
match = '/^7\\d\\d\\d$/'
replace = '/15881234/'
set_type = "national"
"""


def issues_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(text, "box.toml")
    return [str(issue) for issue in info.value.issues]


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return lines[occurrence - 1]


def test_the_default_carries_the_seed_mapping_for_the_carrier_trunk_group_on_span_1():
    config = load_text(default_text(), "default.toml")
    plan = GatewayPlan.from_config(config)
    assert plan.trunk_of_span(1).name == "carrier"
    assert plan.trunk_of_span(2) is None            # the carrier simulator's own side
    result = plan.translate(None, "in", Number("15881234"),
                            Number("821012345678", TypeOfNumber.INTERNATIONAL, presentation=Presentation.ALLOWED),
                            Number("07012345678"))
    numbers = result.mapping.numbers
    assert numbers["called"].after.digits == "7000"
    assert numbers["calling"].after.digits == "01012345678"
    assert numbers["redirecting"].after.digits == "07012345678"
    # The rest of the default is what it was: two spans on one wire, ISDN on both.
    assert [s.id for s in config.span] == [1, 2, 3, 4] and [i.span for i in config.isdn] == [1, 2, 3, 4]


def test_a_file_without_gateway_sections_is_valid_and_maps_nothing():
    config = load_text(SPANS, "box.toml")
    assert config.trunk_group == () and config.gateway.country_code == "82"
    with pytest.raises(GatewayError, match=r"no \[\[trunk_group\]\] in box.toml"):
        GatewayPlan.from_config(config).trunk(None)


def test_a_good_file_builds_the_plan_with_rule_lines():
    plan = GatewayPlan.from_config(load_text(GOOD, "box.toml"))
    group = plan.trunk("carrier")
    assert group.spans == (1, 2) and group.hunting is Hunting.ROUND_ROBIN
    rules = plan.rule_sets["called-in"].rules
    assert rules[1].line == line_of(GOOD, "[[translation_rule.rule]]", 2)
    out = plan.translate("carrier", "out", Number("1"), Number("7001")).mapping.numbers["calling"].after
    assert (out.digits, out.type_of_number) == ("15881234", TypeOfNumber.NATIONAL)
    assert plan.translate("carrier", "in", Number("07012345678")).mapping.numbers["called"].after.digits == "7012345678"


def test_a_regex_that_does_not_compile_is_named_with_its_error_position_and_line():
    text = GOOD.replace("'/^15881234$/'", "'/^1588(1234$/'")
    assert issues_of(text) == [
        f'box.toml:{line_of(text, "^1588(1234")}:1: translation_rule[0].rule[0].match: regular expression '
        f'"^1588(1234$" does not compile: missing ), unterminated subpattern at position 6']


def test_letters_in_a_pattern_a_prefix_or_a_replacement_are_refused():
    text = GOOD.replace("'/^15881234$/'", "'/^1588abcd$/'").replace("'/15881234/'", "'/1588O234/'")
    assert issues_of(text) == [
        f'box.toml:{line_of(text, "1588abcd")}:1: translation_rule[0].rule[0].match: match pattern '
        f'"^1588abcd$" has the letter \'a\' at position 6; a number pattern has no letters',
        f'box.toml:{line_of(text, "1588O234")}:1: translation_rule[1].rule[0].replace: replace '
        f'"1588O234" has the letter \'O\' at position 5; a replacement is digits, \'+\', \'*\', \'#\' and \\1..\\9']


def test_a_group_reference_beyond_the_pattern_and_a_rule_that_does_nothing():
    text = GOOD.replace("'/\\1\\2/'", "'/\\1\\3/'") + '\n[[translation_rule]]\nname = "empty"\n\n[[translation_rule.rule]]\nmatch = "/^1/"\n'
    issues = issues_of(text)
    assert issues[0] == (f'box.toml:{line_of(text, "replace = ", 2)}:1: translation_rule[0].rule[1].replace: '
                         f'replace "\\1\\3" uses \\3 at position 3 but the match pattern has 2 groups')
    assert issues[1].startswith(f"box.toml:{line_of(text, '[[translation_rule.rule]]', 4)}:1: "
                                f"translation_rule[2].rule[0]: the rule does nothing; give one of replace, strip")


def test_unknown_references_and_duplicate_names():
    text = GOOD.replace('translation_in = "in"', 'translation_in = "inn"').replace(
        'calling = "calling-out"', 'calling = "calling-ou"').replace('name = "calling-out"', 'name = "called-in"')
    issues = issues_of(text)
    dup = line_of(text, 'name = "called-in"', 2)
    assert issues == [f'box.toml:{dup}:1: translation_rule[1].name: '
                      f'duplicate translation_rule name "called-in" (already used by translation_rule[0])']
    text = GOOD.replace('translation_in = "in"', 'translation_in = "inn"').replace(
        'calling = "calling-out"', 'calling = "calling-ou"')
    assert issues_of(text) == [
        f'box.toml:{line_of(text, "translation_in")}:1: trunk_group[0].translation_in: no [[translation_profile]] '
        f'named "inn" (did you mean "in"?) (profiles: "in", "out")',
        f'box.toml:{line_of(text, "calling = ")}:1: translation_profile[1].calling: no [[translation_rule]] named '
        f'"calling-ou" (did you mean "calling-out"?) (rule sets: "called-in", "calling-out")']


def test_spans_of_trunk_groups_exist_and_belong_to_one_group():
    text = GOOD + '\n[[trunk_group]]\nname = "second"\nspans = [2, 9]\n'
    line = line_of(text, "spans = [2, 9]")
    assert issues_of(text) == [
        f'box.toml:{line}:1: trunk_group[1].spans[0]: span 2 is already in trunk group "carrier"; a span belongs to one group',
        f'box.toml:{line}:1: trunk_group[1].spans[1]: no [[span]] with id 9 (span ids: 1, 2)']
    text = GOOD + '\n[[trunk_group]]\nname = "carrier"\nspans = []\nhunting = "random"\n'
    issues = issues_of(text)
    assert any('trunk_group[1].name: duplicate trunk_group name "carrier"' in i for i in issues)
    assert any("trunk_group[1].spans: expected 1..64 entries, got 0" in i for i in issues)
    assert any('trunk_group[1].hunting: expected one of "ascending", "descending", "round_robin", '
               '"least_used", got "random"' in i for i in issues)


def test_type_plan_and_presentation_names_and_mixed_actions():
    text = GOOD.replace('set_type = "national"', 'set_type = "nationl"\nreject = true')
    issues = issues_of(text)
    assert issues == [f'box.toml:{line_of(text, "set_type")}:1: translation_rule[1].rule[0].set_type: expected one '
                      f'of "unknown", "international", "national", "network_specific", "subscriber", "abbreviated", '
                      f'got "nationl" (did you mean "national"?)']
    text = GOOD.replace('set_type = "national"', 'reject = true')
    assert issues_of(text) == [f'box.toml:{line_of(text, "reject")}:1: translation_rule[1].rule[0].reject: a rejecting '
                               f'rule changes nothing: drop replace, or drop reject = true']
    text = GOOD.replace('set_type = "national"', 'set_presentation = "restricted"').replace(
        'called = "called-in"', 'called = "calling-out"')
    assert issues_of(text) == [f'box.toml:{line_of(text, "called = ")}:1: translation_profile[0].called: rule set '
                               f'"calling-out" sets a presentation, which a called number does not have']


def test_a_replace_without_match_and_an_unclosed_slash():
    text = GOOD.replace("match = '/^15881234$/'\n", "").replace("'/^0\\(70\\)\\(.*\\)/'", "'/^0\\(70\\)'")
    issues = issues_of(text)
    assert f"box.toml:{line_of(text, 'match = ')}:1: translation_rule[0].rule[1].match: match " \
           f'"/^0\\(70\\)" starts with \'/\' but does not end with one (write /pattern/ or the pattern alone)' in issues
    assert any("translation_rule[0].rule[0].replace: replace needs a match pattern" in i for i in issues)


def test_gateway_numbering_section():
    config = load_text(SPANS + '[gateway]\ncountry_code = "44"\ntrunk_prefix = "0"\ninternational_prefix = "00"\n')
    assert GatewayPlan.from_config(config).numbering.country_code == "44"
    issues = issues_of(SPANS + '[gateway]\ncountry_code = "+82"\n')
    assert issues == [f'box.toml:{SPANS.count(chr(10)) + 2}:1: gateway.country_code: expected a country calling '
                      f'code such as "82", got "+82"']


def test_a_profile_for_a_direction_the_group_does_not_carry_is_refused():
    text = GOOD.replace('hunting = "round_robin"', 'hunting = "round_robin"\ndirection = "in"')
    assert issues_of(text) == [f'box.toml:{line_of(text, "translation_out")}:1: trunk_group[0].translation_out: '
                               f'the group carries incoming calls only (direction = "in"), so translation_out '
                               f'would never apply']

"""Translation rules, one feature at a time, and properties over any digit string."""

import pytest
from hypothesis import given, settings, strategies as st

from firmware.gateway.numbers import (NumberError, Number, PLAN_NAMES, PRESENTATION_NAMES, TYPE_NAMES,
                                      check_number)
from firmware.gateway.patterns import PatternError, compile_digits, compile_match, compile_replace
from firmware.gateway.rules import (Numbering, Profile, Rule, RuleSet, normalise, translate_call,
                                    translate_number)
from firmware.isdn.q931.ies import NumberingPlan, Presentation, TypeOfNumber

KR = Numbering("82", "0", "001")
INTL, NATL, UNK = TypeOfNumber.INTERNATIONAL, TypeOfNumber.NATIONAL, TypeOfNumber.UNKNOWN


def rule(match=None, replace=None, **kw):
    m = compile_match(match) if match is not None else None
    r = compile_replace(replace, m.groups if m else 0) if replace is not None else None
    return Rule(where="test", match=m, replace=r, **kw)


def run(rules, digits, **number):
    return translate_number("called", Number(digits, **number), RuleSet("set", tuple(rules)), KR)


# -- patterns ---------------------------------------------------------------------------------

def test_cisco_slashes_and_escaped_groups_compile_like_plain_ones():
    cisco = compile_match(r"/^0\(1[016-9]\)\(.*\)/")
    plain = compile_match(r"^0(1[016-9])(.*)")
    assert cisco.groups == plain.groups == 2
    assert cisco.regex.pattern == plain.regex.pattern


def test_a_regex_that_does_not_compile_names_the_error_and_its_position_as_written():
    with pytest.raises(PatternError, match=r'"\^1588\(1234\$" does not compile: missing \), unterminated subpattern at position 6'):
        compile_match("/^1588(1234$/")
    # Positions count the \( of Cisco syntax as written: the bad [ is the 9th character.
    with pytest.raises(PatternError, match="at position 9"):
        compile_match(r"/\(0\)\(1[/")


def test_letters_in_patterns_and_prefixes_are_refused_with_their_position():
    with pytest.raises(PatternError, match="has the letter 'a' at position 4"):
        compile_match("/^15a8/")
    with pytest.raises(PatternError, match=r"'\\w' at position 2"):
        compile_match(r"^\w")
    assert compile_match(r"^\d{4}$").regex.fullmatch("1234")
    with pytest.raises(PatternError, match="the letter 'x' at position 2"):
        compile_digits("9x", "prefix")
    with pytest.raises(PatternError, match="starts with '/' but does not end with one"):
        compile_match("/^9")


def test_replacements_refer_to_existing_groups_only():
    with pytest.raises(PatternError, match=r"uses \\3 at position 6 but the match pattern has 2 groups"):
        compile_replace(r"/+82\1\3/", 2)
    with pytest.raises(PatternError, match="the letter 'a'"):
        compile_replace("/7a/", 0)
    with pytest.raises(PatternError, match=r"'\\n' at position 1"):
        compile_replace(r"\n", 0)
    assert compile_replace(r"/\+\1/", 1).parts == ("+", 1)


def test_numbers_with_letters_or_misplaced_plus_are_refused():
    assert check_number("+821012345678") == "+821012345678"
    assert check_number("*21#") == "*21#"
    with pytest.raises(NumberError, match="letter 'a' at position 3"):
        check_number("15a81234")
    with pytest.raises(NumberError, match="'\\+' at position 3"):
        check_number("01+2")
    with pytest.raises(NumberError, match="at most 32 digits"):
        check_number("1" * 40)


# -- rule features ----------------------------------------------------------------------------

def test_seed_called_number_becomes_route_point_7000():
    mapping = run([rule("/^15881234$/", "/7000/")], "15881234")
    assert mapping.after.digits == "7000"
    assert mapping.applied.position == 1


def test_only_the_matched_part_is_replaced_and_the_rest_kept():
    assert run([rule("/^9/", "//")], "9021234567").after.digits == "021234567"
    assert run([rule("/555/", "/777/")], "0255512345").after.digits == "0277712345"


def test_capture_groups_rearrange_digits():
    mapping = run([rule(r"/^0\(1[016-9]\)\(.*\)/", r"/+82\1\2/")], "01012345678")
    assert mapping.after.digits == "+821012345678"
    assert run([rule(r"^(\d{3})(\d+)$", r"\2\0")], "1234").after.digits == "41234"


def test_strip_and_prefix_apply_after_the_replacement():
    assert run([rule(strip=2)], "9901012345678").after.digits == "01012345678"
    assert run([rule(prefix="0")], "212345678").after.digits == "0212345678"
    assert run([rule("/^#31#/", "//", prefix="9")], "#31#0212345678").after.digits == "90212345678"
    assert run([rule(strip=40)], "123").after.digits == ""


def test_first_matching_rule_wins_and_a_number_no_rule_matches_passes_unchanged():
    rules = [rule("/^1588/", "/8/"), rule("/^15/", "/5/"), rule("/.*/", "/0/")]
    mapping = run(rules, "15881234")
    assert mapping.after.digits == "81234"
    assert [a.matched for a in mapping.attempts] == [True]
    mapping = run(rules[:2], "0212345678")
    assert mapping.after.digits == "0212345678" and mapping.applied is None
    assert [a.reason for a in mapping.attempts] == ["0212345678 does not match /^1588/",
                                                    "0212345678 does not match /^15/"]


def test_type_and_plan_are_matched_and_set():
    rules = [rule("/^/", "/0/", match_type=TYPE_NAMES["national"], set_type=TYPE_NAMES["unknown"]),
             rule(match_plan=PLAN_NAMES["private"], prefix="8", set_plan=PLAN_NAMES["isdn"])]
    national = run(rules, "212345678", type_of_number=NATL)
    assert (national.after.digits, national.after.type_of_number) == ("0212345678", UNK)
    unknown = run(rules, "212345678", type_of_number=UNK)
    assert unknown.applied is None
    assert unknown.attempts[0].reason == "type is unknown, not national"
    private = run(rules, "4000", numbering_plan=NumberingPlan.PRIVATE)
    assert (private.after.digits, private.after.numbering_plan) == ("84000", NumberingPlan.ISDN)


def test_a_rejecting_rule_rejects_and_stops_the_call_mapping():
    rules = [rule("/^060/", reject=True), rule("/.*/", "/1/")]
    profile = Profile("p", called=RuleSet("c", tuple(rules)), calling=RuleSet("x", (rule(prefix="9"),)))
    mapping = translate_call(profile, KR, Number("0601234"), Number("0212345678"))
    assert mapping.rejected is mapping.numbers["called"]
    assert "calling" not in mapping.numbers


def test_restricted_and_unavailable_callers_are_delivered_as_anonymous_before_any_rule():
    leak = RuleSet("leak", (rule("/^/", "/9/"),))
    profile = Profile("p", calling=leak, redirecting=leak)
    for presentation in (Presentation.RESTRICTED, Presentation.NOT_AVAILABLE):
        mapping = translate_call(profile, KR, Number("7000"), Number("01012345678", presentation=presentation),
                                 Number("07012345678", presentation=presentation))
        for role in ("calling", "redirecting"):
            after = mapping.numbers[role].after
            assert after.anonymous and after.digits == "" and after.presentation == presentation
            assert "delivered as anonymous" in mapping.numbers[role].note
            assert mapping.numbers[role].before.digits != ""   # kept for the CDR
    kept = translate_call(Profile("k", calling=leak, restricted="keep"), KR, Number("7000"),
                          Number("0101", presentation=Presentation.RESTRICTED))
    assert kept.numbers["calling"].after == Number("90101", presentation=Presentation.RESTRICTED)


def test_presentation_is_set_by_a_rule():
    mapping = translate_number("calling", Number("7000", presentation=Presentation.ALLOWED),
                               RuleSet("s", (rule(set_presentation=PRESENTATION_NAMES["restricted"]),)), KR)
    assert mapping.after.presentation == Presentation.RESTRICTED


def test_no_profile_or_no_rule_set_passes_numbers_unchanged():
    mapping = translate_call(None, KR, Number("15881234"), Number("0212345678"))
    assert all(m.after == m.before for m in mapping.numbers.values())
    mapping = translate_call(Profile("p"), KR, Number("15881234"))
    assert mapping.numbers["called"].after.digits == "15881234"


# -- national / international -----------------------------------------------------------------

@pytest.mark.parametrize("digits, ton, form, expected, expected_ton", [
    ("+821012345678", UNK, "national", "01012345678", UNK),
    ("821012345678", INTL, "national", "01012345678", UNK),
    ("+8221234567", UNK, "national", "021234567", UNK),
    ("1012345678", NATL, "national", "01012345678", UNK),
    ("01012345678", NATL, "national", "01012345678", UNK),   # trunk prefix sent with type national
    ("01012345678", UNK, "e164", "+821012345678", INTL),
    ("021234567", UNK, "international", "8221234567", INTL),
    ("021234567", UNK, "national_significant", "21234567", NATL),
    ("00112125551234", UNK, "e164", "+12125551234", INTL),
    ("+12125551234", UNK, "national", "00112125551234", UNK),
    ("12125551234", INTL, "national_significant", "12125551234", INTL),
    ("15881234", UNK, "e164", "15881234", UNK),               # a service number stays as it is
    ("7000", UNK, "national", "7000", UNK),
])
def test_normalisation(digits, ton, form, expected, expected_ton):
    out = normalise(Number(digits, ton), form, KR)
    assert (out.digits, out.type_of_number) == (expected, expected_ton)


national_significant = st.from_regex(r"\A[1-9][0-9]{1,12}\Z")


@given(nsn=national_significant)
def test_national_and_international_forms_round_trip(nsn):
    national = Number("0" + nsn)
    for form in ("e164", "international", "national_significant"):
        there = normalise(national, form, KR)
        assert normalise(there, "national", KR) == national
    e164 = Number("+82" + nsn, INTL)
    assert normalise(normalise(e164, "national", KR), "e164", KR) == e164
    wire = Number("82" + nsn, INTL)
    assert normalise(normalise(wire, "national_significant", KR), "international", KR) == wire


digit_strings = st.text(alphabet="0123456789*#", max_size=32) | st.builds(lambda s: "+" + s, st.text("0123456789", max_size=31))
RULE_SET = RuleSet("all", (
    rule("/^15881234$/", "/7000/"),
    rule(r"/^0\(1[016-9]\)\(.*\)/", r"/+82\1\2/", match_type=UNK),
    rule("/^#31#/", reject=True),
    rule(r"/\(\d*\)\(\*\)\(\d*\)$/", r"/\3\2\1/", strip=1, prefix="9"),
    rule(match_plan=NumberingPlan.PRIVATE, normalize="national"),
    rule(normalize="e164", set_type=TYPE_NAMES["subscriber"]),
))


@settings(max_examples=400)
@given(digits=digit_strings, ton=st.sampled_from(list(TypeOfNumber)), plan=st.sampled_from(list(NumberingPlan)),
       presentation=st.sampled_from([None, *Presentation]), form=st.sampled_from(["national", "national_significant",
                                                                                   "international", "e164"]))
def test_a_rule_set_never_raises_on_any_number(digits, ton, plan, presentation, form):
    number = Number(digits, ton, plan, presentation)
    mapping = translate_call(Profile("p", RULE_SET, RULE_SET, RULE_SET), KR, number, number, number)
    for result in mapping.numbers.values():
        assert check_number(result.after.digits) == result.after.digits or result.after.anonymous
    normalise(number, form, KR)


def test_a_repeated_variable_repetition_is_refused_because_it_backtracks_exponentially():
    for pattern in (r"/^\(0+\)+1$/", r"(\d+)+\*", r"^(0*)*1$", r"(\d{2,3})+"):
        with pytest.raises(PatternError, match="repeats a variable repetition"):
            compile_match(pattern)
    for pattern in (r"^(\d{3}){2}$", r"^(\d{3})+$", r"^0\(1[016-9]\)\(.*\)"):
        compile_match(pattern)


@settings(max_examples=500)
@given(text=st.text(alphabet=st.sampled_from(list("0123456789*#+()[]{}^$.?|\\/-,:dDa")), max_size=30))
def test_any_pattern_text_compiles_or_gets_a_pattern_error(text):
    try:
        compiled = compile_match(text)
    except PatternError as exc:
        assert str(exc)
        return
    try:
        compile_replace(text, compiled.groups)
    except PatternError as exc:
        assert str(exc)


def test_a_rule_that_lengthens_a_number_past_32_digits_leaves_it_unchanged_and_says_why():
    number = Number("0" * 32, UNK)
    mapping = translate_call(Profile("p", RULE_SET), KR, number)
    called = mapping.numbers["called"]
    assert called.after == number and not called.rejected
    assert "gives called number" in called.note and "at most 32 digits" in called.note
    assert called.note.endswith("left unchanged")

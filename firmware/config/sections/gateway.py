"""[gateway], [[trunk_group]], [[translation_profile]] and [[translation_rule]]: number mapping
and trunk groups of the voice gateway (firmware/gateway/README.md has the whole story).

Modelled on Cisco IOS: `[[translation_rule]]` is `voice translation-rule` (ordered rules, the
first match applies), `[[translation_profile]]` is `voice translation-profile` (which rule set
maps the called, calling and redirecting number), and a `[[trunk_group]]` names a profile for
each direction as `translation-profile incoming|outgoing` does."""

from __future__ import annotations

from firmware.gateway.numbers import MAX_DIGITS, PLAN_NAMES, PRESENTATION_NAMES, TYPE_NAMES
from firmware.gateway.patterns import PatternError, compile_digits, compile_match, compile_replace
from firmware.gateway.rules import NORMAL_FORMS
from firmware.gateway.trunks import DIRECTIONS
from firmware.isdn.q931.channels import Hunting

from ..registry import register_section
from ..schema import OPTIONAL, _suggest, Bool, Checker, Enum, Field, Int, ListOf, Section, Str, Table, TableList

NAME = Str(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", what="a name of letters, digits, '_', '.', '-' (at most 32)")


def _problem(compile_, *args):
    def check(text: str) -> str | None:
        try:
            compile_(text, *args)
        except PatternError as exc:
            return str(exc)
        return None
    return check


def _digit_string(what: str, max_len: int):
    return Str(what=what, max_len=max_len, check=_problem(compile_digits, what))


GATEWAY = Table({
    "country_code": Field(Str(r"[1-9][0-9]{0,2}", what="a country calling code such as \"82\""), "82"),
    "trunk_prefix": Field(Str(r"[0-9]{0,3}", what="the national trunk prefix such as \"0\" (\"\" for none)"), "0"),
    "international_prefix": Field(Str(r"[0-9]{1,5}", what="the international access prefix such as \"001\""), "001"),
})

_RULE_ACTIONS = ("replace", "strip", "prefix", "normalize", "set_type", "set_plan", "set_presentation", "reject")


def _rule_is_whole(rule, path: tuple, checker: Checker) -> None:
    if rule.replace is not None:
        if rule.match is None:
            checker.report(path + ("replace",), "replace needs a match pattern (write match = '/.../')")
        else:
            groups = compile_match(rule.match).groups
            try:
                compile_replace(rule.replace, groups)
            except PatternError as exc:
                checker.report(path + ("replace",), str(exc))
    doing = [name for name in _RULE_ACTIONS if rule[name] not in (None, 0, "", False)]
    changes = [name for name in doing if name != "reject"]
    if rule.reject and changes:
        checker.report(path + ("reject",), f"a rejecting rule changes nothing: drop {', '.join(changes)}, "
                                           f"or drop reject = true")
    elif not doing:
        checker.report(path, f"the rule does nothing; give one of {', '.join(_RULE_ACTIONS)}")


RULE = Table({
    "match": Field(Str(what="a regular expression such as '/^0\\(.*\\)/'", min_len=1, max_len=200,
                       check=_problem(compile_match)), OPTIONAL),
    "replace": Field(Str(what="a replacement such as '/+82\\1/'", max_len=64), OPTIONAL),
    "match_type": Field(Enum(*TYPE_NAMES), OPTIONAL),
    "match_plan": Field(Enum(*PLAN_NAMES), OPTIONAL),
    "strip": Field(Int(0, MAX_DIGITS), 0),
    "prefix": Field(_digit_string("prefix", 16), ""),
    "normalize": Field(Enum(*NORMAL_FORMS), OPTIONAL),
    "set_type": Field(Enum(*TYPE_NAMES), OPTIONAL),
    "set_plan": Field(Enum(*PLAN_NAMES), OPTIONAL),
    "set_presentation": Field(Enum(*PRESENTATION_NAMES), OPTIONAL),
    "reject": Field(Bool(), False),
}, checks=[_rule_is_whole])

TRANSLATION_RULE = Table({
    "name": Field(NAME),
    "rule": Field(TableList(RULE, min_len=1, max_len=100, noun="rule")),
})

TRANSLATION_PROFILE = Table({
    "name": Field(NAME),
    "called": Field(NAME, OPTIONAL, "rule set for the called number"),
    "calling": Field(NAME, OPTIONAL, "rule set for the calling number"),
    "redirecting": Field(NAME, OPTIONAL, "rule set for the redirecting number"),
    "restricted": Field(Enum("anonymous", "keep"), "anonymous",
                        "a caller with presentation restricted: anonymous, or keep the digits"),
})

TRUNK_GROUP = Table({
    "name": Field(NAME),
    "spans": Field(ListOf(Int(min=1), min_len=1, max_len=64, unique=True)),
    "hunting": Field(Enum(*(h.value for h in Hunting)), Hunting.DESCENDING.value),
    "direction": Field(Enum(*DIRECTIONS), "both"),
    "translation_in": Field(NAME, OPTIONAL, "profile for calls from the trunk"),
    "translation_out": Field(NAME, OPTIONAL, "profile for calls to the trunk"),
})


def _known(names) -> str:
    return ", ".join(f'"{n}"' for n in names) or "none"


def _check_trunk_groups(config, checker: Checker) -> None:
    span_ids = {span.id for span in config.span}
    profiles = [p.name for p in config.translation_profile]
    owner: dict[int, str] = {}
    for index, group in enumerate(config.trunk_group):
        for position, span in enumerate(group.spans):
            if span not in span_ids:
                known = ", ".join(str(i) for i in sorted(span_ids)) or "none"
                checker.report(("trunk_group", index, "spans", position), f"no [[span]] with id {span} (span ids: {known})")
            elif span in owner:
                checker.report(("trunk_group", index, "spans", position),
                               f'span {span} is already in trunk group "{owner[span]}"; a span belongs to one group')
            else:
                owner[span] = group.name
        for key, unused_when in (("translation_in", "out"), ("translation_out", "in")):
            if group[key] is not None and group.direction == unused_when:
                checker.report(("trunk_group", index, key),
                               f'the group carries {"outgoing" if unused_when == "out" else "incoming"} calls only '
                               f'(direction = "{group.direction}"), so {key} would never apply')
            elif group[key] is not None and group[key] not in profiles:
                checker.report(("trunk_group", index, key),
                               f'no [[translation_profile]] named "{group[key]}"{_suggest(group[key], profiles)} '
                               f'(profiles: {_known(profiles)})')


def _check_profiles(config, checker: Checker) -> None:
    sets = {s.name: s for s in config.translation_rule}
    for index, profile in enumerate(config.translation_profile):
        for role in ("called", "calling", "redirecting"):
            name = profile[role]
            if name is None:
                continue
            if name not in sets:
                checker.report(("translation_profile", index, role),
                               f'no [[translation_rule]] named "{name}"{_suggest(name, sets)} (rule sets: {_known(sets)})')
            elif role == "called" and any(r.set_presentation is not None for r in sets[name].rule):
                checker.report(("translation_profile", index, role),
                               f'rule set "{name}" sets a presentation, which a called number does not have')


register_section(Section("gateway", GATEWAY, doc="numbering of the country the box sits in"))
register_section(Section("translation_rule", TableList(TRANSLATION_RULE, unique=("name",), noun="translation_rule"),
                         doc="ordered number translation rules (Cisco voice translation-rule)"))
register_section(Section("translation_profile", TableList(TRANSLATION_PROFILE, unique=("name",),
                                                          noun="translation_profile"),
                         doc="rule sets for called, calling and redirecting numbers", checks=[_check_profiles]))
register_section(Section("trunk_group", TableList(TRUNK_GROUP, unique=("name",), noun="trunk_group"),
                         doc="spans toward one carrier, their hunting and translation profiles",
                         checks=[_check_trunk_groups]))

"""Translation rules and profiles: pure functions from a number to a number, with the trace of
what was tried.

A rule set (Cisco `voice translation-rule`) is an ordered list of rules; the first rule that
matches a number is applied and the others are not tried.  A number no rule matches passes
unchanged.  A profile (Cisco `voice translation-profile`) names the rule set for the called,
calling and redirecting number; a trunk group names a profile per direction.

A rule matches on all of: `match_type`, `match_plan` (when given) and the `match` regex (when
given).  Applied, it does, in this order: reject the call; replace the matched part; strip
digits from the front; add a prefix; normalise (national / international form); set the type,
plan and presentation.  Nothing here raises on a number that passed `check_number`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware.isdn.q931.ies import NumberingPlan, Presentation, TypeOfNumber

from .numbers import Number, number_problem, plan_name, presentation_name, type_name
from .patterns import MatchPattern, Replacement

NORMAL_FORMS = ("national", "national_significant", "international", "e164")


@dataclass(frozen=True)
class Numbering:
    """The country the box sits in: `+82 10…` <-> `010…` takes country code 82 and trunk prefix 0."""

    country_code: str = "82"
    trunk_prefix: str = "0"
    international_prefix: str = "001"


def _significant(number: Number, numbering: Numbering) -> tuple[str, str] | None:
    """("international", digits after the country-code boundary) or ("national", national
    significant number), or None for a number that is neither (a short or service number)."""
    digits, ton = number.digits, number.type_of_number
    if digits.startswith("+"):
        return "international", digits[1:]
    if ton == TypeOfNumber.INTERNATIONAL:
        return "international", digits
    if ton == TypeOfNumber.NATIONAL:
        # Some carriers send the trunk prefix with type national; a national significant number
        # never starts with it.
        if numbering.trunk_prefix and digits.startswith(numbering.trunk_prefix):
            digits = digits[len(numbering.trunk_prefix):]
        return "national", digits
    if ton == TypeOfNumber.UNKNOWN:
        ip, tp = numbering.international_prefix, numbering.trunk_prefix
        if ip and digits.startswith(ip) and len(digits) > len(ip):
            return "international", digits[len(ip):]
        if tp and digits.startswith(tp) and len(digits) > len(tp):
            return "national", digits[len(tp):]
    return None


def normalise(number: Number, form: str, numbering: Numbering) -> Number:
    """The number in one of NORMAL_FORMS; a number that is neither national nor international
    (1588 service numbers, extensions) is returned unchanged.

    national:             010… type unknown (what a PBX user dials), foreign 001… type unknown
    national_significant: 10…  type national (the wire form without the trunk prefix)
    international:        8210… type international (the wire form)
    e164:                 +8210… type international (the form inside the box and toward SIP)
    """
    found = _significant(number, numbering)
    if found is None:
        return number
    kind, digits = found
    cc = numbering.country_code
    if kind == "international" and digits.startswith(cc) and form in ("national", "national_significant"):
        kind, digits = "national", digits[len(cc):]
    if kind == "national" and form in ("international", "e164"):
        kind, digits = "international", cc + digits
    if kind == "international":
        if form == "e164":
            return number.with_digits("+" + digits, type_of_number=TypeOfNumber.INTERNATIONAL)
        if form == "national":
            return number.with_digits(numbering.international_prefix + digits, type_of_number=TypeOfNumber.UNKNOWN)
        return number.with_digits(digits, type_of_number=TypeOfNumber.INTERNATIONAL)
    if form == "national":
        return number.with_digits(numbering.trunk_prefix + digits, type_of_number=TypeOfNumber.UNKNOWN)
    return number.with_digits(digits, type_of_number=TypeOfNumber.NATIONAL)


@dataclass(frozen=True)
class Rule:
    where: str                          # "translation_rule[0].rule[1]", for traces
    match: MatchPattern | None = None
    replace: Replacement | None = None
    match_type: int | None = None
    match_plan: int | None = None
    strip: int = 0
    prefix: str = ""
    normalize: str | None = None
    set_type: int | None = None
    set_plan: int | None = None
    set_presentation: int | None = None
    reject: bool = False
    line: int | None = None             # where it is written in the file, when known

    def describe(self) -> str:
        parts = []
        if self.match is not None:
            parts.append(f"match {self.match.text}")
        if self.match_type is not None:
            parts.append(f"type {type_name(self.match_type)}")
        if self.match_plan is not None:
            parts.append(f"plan {plan_name(self.match_plan)}")
        if not parts:
            parts.append("any number")
        actions = []
        if self.reject:
            actions.append("reject")
        if self.replace is not None:
            actions.append(f"replace {self.replace.text}")
        if self.strip:
            actions.append(f"strip {self.strip}")
        if self.prefix:
            actions.append(f"prefix {self.prefix}")
        if self.normalize:
            actions.append(f"normalize {self.normalize}")
        if self.set_type is not None:
            actions.append(f"set type {type_name(self.set_type)}")
        if self.set_plan is not None:
            actions.append(f"set plan {plan_name(self.set_plan)}")
        if self.set_presentation is not None:
            actions.append(f"set presentation {presentation_name(self.set_presentation)}")
        return " ".join(parts) + " -> " + ", ".join(actions)

    def why_not(self, number: Number) -> str | None:
        """None when this rule matches `number`, else why not (for the trace)."""
        if self.match_type is not None and number.type_of_number != self.match_type:
            return f"type is {type_name(number.type_of_number)}, not {type_name(self.match_type)}"
        if self.match_plan is not None and number.numbering_plan != self.match_plan:
            return f"plan is {plan_name(number.numbering_plan)}, not {plan_name(self.match_plan)}"
        if self.match is not None and self.match.regex.search(number.digits) is None:
            return f"{number.digits or '(no digits)'} does not match {self.match.text}"
        return None

    def apply(self, number: Number, numbering: Numbering) -> Number:
        digits = number.digits
        if self.replace is not None and self.match is not None:
            found = self.match.regex.search(digits)
            if found is not None:
                digits = digits[:found.start()] + self.replace.expand(found) + digits[found.end():]
        if self.strip:
            digits = digits[self.strip:]
        digits = self.prefix + digits
        out = number.with_digits(digits)
        if self.normalize:
            out = normalise(out, self.normalize, numbering)
        changes = {}
        if self.set_type is not None:
            changes["type_of_number"] = self.set_type
        if self.set_plan is not None:
            changes["numbering_plan"] = self.set_plan
        if self.set_presentation is not None:
            changes["presentation"] = self.set_presentation
        return out.with_digits(out.digits, **changes) if changes else out


@dataclass(frozen=True)
class RuleSet:
    name: str
    rules: tuple[Rule, ...]
    where: str = ""


@dataclass(frozen=True)
class Attempt:
    rule: Rule
    position: int                       # 1-based, as Cisco numbers its rules
    matched: bool
    reason: str = ""                    # why it did not match


@dataclass(frozen=True)
class NumberMapping:
    """What happened to one number: before, after, the rules tried and the one applied."""

    role: str                           # "called", "calling", "redirecting"
    before: Number
    after: Number
    rule_set: str | None
    attempts: tuple[Attempt, ...] = ()
    rejected: bool = False
    note: str = ""                      # e.g. "presentation restricted: delivered as anonymous"

    @property
    def applied(self) -> Attempt | None:
        return next((a for a in self.attempts if a.matched), None)


def translate_number(role: str, number: Number, rule_set: RuleSet | None, numbering: Numbering) -> NumberMapping:
    if rule_set is None:
        return NumberMapping(role, number, number, None)
    attempts = []
    for position, rule in enumerate(rule_set.rules, start=1):
        reason = rule.why_not(number)
        if reason is not None:
            attempts.append(Attempt(rule, position, False, reason))
            continue
        attempts.append(Attempt(rule, position, True))
        if rule.reject:
            return NumberMapping(role, number, number, rule_set.name, tuple(attempts), rejected=True)
        after = rule.apply(number, numbering)
        # A rule (or its normalisation) can lengthen a number past what a party number may be;
        # the call keeps the number it came with rather than carry one no peer would accept.
        problem = number_problem(after.digits, f"{rule.where} gives {role} number")
        if problem is not None:
            return NumberMapping(role, number, number, rule_set.name, tuple(attempts),
                                 note=f"{problem}: left unchanged")
        return NumberMapping(role, number, after, rule_set.name, tuple(attempts))
    return NumberMapping(role, number, number, rule_set.name, tuple(attempts))


@dataclass(frozen=True)
class Profile:
    """Cisco `voice translation-profile`: a rule set per number, and what to do with a caller
    who asked not to be shown."""

    name: str
    called: RuleSet | None = None
    calling: RuleSet | None = None
    redirecting: RuleSet | None = None
    restricted: str = "anonymous"       # "anonymous" or "keep"
    where: str = ""

    def rule_set(self, role: str) -> RuleSet | None:
        return getattr(self, role)


def hide_if_restricted(role: str, number: Number, policy: str) -> NumberMapping | None:
    """A caller (or forwarding party) whose presentation is restricted or not available is
    delivered as anonymous under the "anonymous" policy; its rules are not even tried, so no
    rule can leak the digits."""
    if policy != "anonymous" or number.presentation not in (Presentation.RESTRICTED, Presentation.NOT_AVAILABLE):
        return None
    hidden = Number("", TypeOfNumber.UNKNOWN, NumberingPlan.UNKNOWN, number.presentation, anonymous=True)
    why = presentation_name(number.presentation).replace("_", " ")
    return NumberMapping(role, number, hidden, None, note=f"presentation {why}: delivered as anonymous")


@dataclass(frozen=True)
class Mapping:
    """The three numbers of one call through one profile."""

    profile: str | None
    numbers: dict[str, NumberMapping] = field(default_factory=dict)

    @property
    def rejected(self) -> NumberMapping | None:
        return next((m for m in self.numbers.values() if m.rejected), None)


def translate_call(profile: Profile | None, numbering: Numbering, called: Number,
                   calling: Number | None = None, redirecting: Number | None = None) -> Mapping:
    numbers: dict[str, NumberMapping] = {}
    for role, number in (("called", called), ("calling", calling), ("redirecting", redirecting)):
        if number is None:
            continue
        if profile is None:
            numbers[role] = NumberMapping(role, number, number, None)
            continue
        if role != "called":
            hidden = hide_if_restricted(role, number, profile.restricted)
            if hidden is not None:
                numbers[role] = hidden
                continue
        numbers[role] = translate_number(role, number, profile.rule_set(role), numbering)
        if numbers[role].rejected:
            break
    return Mapping(profile.name if profile else None, numbers)

"""What `pribox numbers test` and the console's `test number` print: for each number the rules
tried, the one that matched, and the result with type, plan and presentation."""

from __future__ import annotations

from firmware.isdn.q931.causes import cause_name

from .causes import cause_for_rejection
from .plan import GatewayPlan, Translation
from .rules import NumberMapping


def format_translation(plan: GatewayPlan, result: Translation) -> list[str]:
    group = result.trunk
    spans = ", ".join(str(s) for s in group.spans)
    profile = result.mapping.profile
    lines = [f"Trunk group {group.name} (span{'s' if len(group.spans) != 1 else ''} {spans}, "
             f"hunting {group.hunting.value}), direction {result.direction}: "
             + (f"translation profile {profile}" if profile else "no translation profile, numbers pass unchanged")]
    if plan.source:
        lines[0] += f"  [{plan.source}]"
    for role in ("called", "calling", "redirecting"):
        mapping = result.mapping.numbers.get(role)
        if mapping is not None:
            lines += _number_lines(plan, mapping)
    rejected = result.mapping.rejected
    if rejected is not None:
        cause = cause_for_rejection()
        lines.append(f"Call rejected by {rejected.applied.rule.where} of rule set {rejected.rule_set}: "
                     f"cause {int(cause)} ({cause_name(cause)})")
    return lines


def _number_lines(plan: GatewayPlan, mapping: NumberMapping) -> list[str]:
    lines = [f"{mapping.role.capitalize()} number {mapping.before.describe()}"]
    if mapping.rule_set is None:
        lines.append(f"  {mapping.note}" if mapping.note else "  no rule set for this number: unchanged")
    else:
        lines.append(f"  rule set {mapping.rule_set}:")
        for attempt in mapping.attempts:
            rule = attempt.rule
            where = rule.where + (f" (line {rule.line})" if rule.line else "")
            state = "MATCHED" if attempt.matched else f"no match: {attempt.reason}"
            lines.append(f"    rule {attempt.position}  {rule.describe()}")
            lines.append(f"            {where}: {state}")
        if mapping.applied is None:
            lines.append("    no rule matched: unchanged")
        if mapping.note:
            lines.append(f"  {mapping.note}")
    if not mapping.rejected:
        lines.append(f"  result {mapping.after.describe()}")
    return lines

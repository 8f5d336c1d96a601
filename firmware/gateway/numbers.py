"""A party number as the gateway maps it: digits with type of number, numbering plan and
presentation, the names an integrator writes for them, and the check that a string is a number.

The codes are Q.931's (firmware/isdn/q931/ies.py); the names are what the config file and the
`numbers test` output use.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from firmware.isdn.q931.ies import NumberingPlan, Presentation, TypeOfNumber

# Longer than any E.164 number with access prefixes; also bounds a rule's regex work.
MAX_DIGITS = 32
NUMBER_CHARACTERS = frozenset("0123456789*#")

TYPE_NAMES: dict[str, int] = {
    "unknown": TypeOfNumber.UNKNOWN, "international": TypeOfNumber.INTERNATIONAL,
    "national": TypeOfNumber.NATIONAL, "network_specific": TypeOfNumber.NETWORK_SPECIFIC,
    "subscriber": TypeOfNumber.SUBSCRIBER, "abbreviated": TypeOfNumber.ABBREVIATED,
}
PLAN_NAMES: dict[str, int] = {
    "unknown": NumberingPlan.UNKNOWN, "isdn": NumberingPlan.ISDN, "data": NumberingPlan.DATA,
    "telex": NumberingPlan.TELEX, "national": NumberingPlan.NATIONAL, "private": NumberingPlan.PRIVATE,
}
PRESENTATION_NAMES: dict[str, int] = {
    "allowed": Presentation.ALLOWED, "restricted": Presentation.RESTRICTED,
    "not_available": Presentation.NOT_AVAILABLE,
}


def type_name(code: int) -> str:
    return next((n for n, c in TYPE_NAMES.items() if c == code), f"type {code}")


def plan_name(code: int) -> str:
    return next((n for n, c in PLAN_NAMES.items() if c == code), f"plan {code}")


def presentation_name(code: int | None) -> str:
    if code is None:
        return "allowed"
    return next((n for n, c in PRESENTATION_NAMES.items() if c == code), f"presentation {code}")


class NumberError(ValueError):
    """A string that is not a party number; the message says which character and where."""


def number_problem(text: str, what: str = "number") -> str | None:
    """Why `text` is not a party number (digits, * and #, an optional leading +), or None."""
    if len(text) > MAX_DIGITS + 1:
        return f"{what} {text[:40]!r} is {len(text)} characters long; at most {MAX_DIGITS} digits"
    for position, char in enumerate(text):
        if char in NUMBER_CHARACTERS or (char == "+" and position == 0):
            continue
        if char.isalpha():
            return f"{what} {text!r} has the letter {char!r} at position {position + 1}; a number is digits, * and #"
        if char == "+":
            return f"{what} {text!r} has a '+' at position {position + 1}; '+' may only lead the number"
        return f"{what} {text!r} has {char!r} at position {position + 1}; a number is digits, * and #"
    return None


def check_number(text: str, what: str = "number") -> str:
    problem = number_problem(text, what)
    if problem:
        raise NumberError(problem)
    return text


@dataclass(frozen=True)
class Number:
    """A called, calling or redirecting number.  `digits` may start with '+' (E.164 form inside
    the box); `anonymous` marks a caller whose number must not be delivered."""

    digits: str
    type_of_number: int = TypeOfNumber.UNKNOWN
    numbering_plan: int = NumberingPlan.ISDN
    presentation: int | None = None
    anonymous: bool = False

    def with_digits(self, digits: str, **changes) -> "Number":
        return replace(self, digits=digits, **changes)

    def describe(self) -> str:
        shown = "anonymous" if self.anonymous else (self.digits or "(no digits)")
        text = f"{shown} (type {type_name(self.type_of_number)}, plan {plan_name(self.numbering_plan)}"
        if self.presentation is not None:
            text += f", presentation {presentation_name(self.presentation)}"
        return text + ")"

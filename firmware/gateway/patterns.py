"""Match and replace patterns of a translation rule, written as on a Cisco voice gateway.

    match   = '/^0\\(1[016789]\\)\\(.*\\)/'     a regular expression between slashes (or bare)
    replace = '/+82\\1\\2/'                     digits, '+', '*', '#' and \\1..\\9 (\\0: the whole match)

Groups are written Cisco's way, `\\(` `\\)`, or plainly `(` `)`; numbers hold no parentheses,
so both mean a group.  `\\+`, `\\*` match a literal '+' or '*'; `\\d` is any digit.  A
pattern holds no letters besides `\\d` and `\\D`: a letter in a number pattern is a typing
mistake.  As on Cisco, the first match is replaced and the rest of the number is kept
(`/^9/ //` strips a leading 9).
"""

from __future__ import annotations

import re
import warnings
import re._parser as _re_parser  # the parsed form, to find nested repeats (stable since 3.11)
from dataclasses import dataclass


class PatternError(ValueError):
    """A pattern that cannot be used; the message names the problem and its position."""


def _q(text: str) -> str:
    """A pattern quoted as written (repr would double every backslash)."""
    return '"' + text + '"'


def _unslash(text: str, what: str) -> str:
    if text.startswith("/"):
        if len(text) < 2 or not text.endswith("/"):
            raise PatternError(f"{what} {_q(text)} starts with '/' but does not end with one "
                               f"(write /pattern/ or the pattern alone)")
        return text[1:-1]
    return text


def _letter_problem(body: str, what: str, allowed_escapes: str) -> None:
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            escaped = body[i + 1]
            if escaped.isalpha() and escaped not in allowed_escapes:
                raise PatternError(f"{what} {_q(body)} has '\\{escaped}' at position {i + 1}; a number "
                                   f"pattern has no letters (\\d is the only class)")
            i += 2
            continue
        if char.isalpha():
            raise PatternError(f"{what} {_q(body)} has the letter {char!r} at position {i + 1}; "
                               f"a number pattern has no letters")
        i += 1


@dataclass(frozen=True)
class MatchPattern:
    text: str              # as written, for traces
    regex: re.Pattern

    @property
    def groups(self) -> int:
        return self.regex.groups


def compile_match(text: str) -> MatchPattern:
    body = _unslash(text, "match")
    _letter_problem(body, "match pattern", "dD")
    python = body.replace("\\(", "(").replace("\\)", ")")
    try:
        with warnings.catch_warnings():
            # "Possible nested set" and the like: a pattern whose meaning a later Python changes.
            warnings.simplefilter("error", FutureWarning)
            regex = re.compile(python)
    except FutureWarning as exc:
        raise PatternError(f"regular expression {_q(body)} is ambiguous: {exc} (escape the character)") from None
    except re.error as exc:
        # Positions refer to what was written: every \( or \) before the error is one more char.
        position = exc.pos if exc.pos is not None else 0
        written = _written_position(body, position)
        raise PatternError(f"regular expression {_q(body)} does not compile: {exc.msg} at position "
                           f"{written + 1}") from None
    except (OverflowError, RecursionError) as exc:   # a repeat count or nesting beyond re's limits
        raise PatternError(f"regular expression {_q(body)} does not compile: {exc}") from None
    if _has_nested_repeat(_re_parser.parse(python)):
        raise PatternError(f"regular expression {_q(body)} repeats a variable repetition (like \\(\\d+\\)+), "
                           f"which takes exponential time on a long number that does not match; "
                           f"repeat once (\\d+) or give fixed counts (\\d{{3}})")
    return MatchPattern(text, regex)


_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


def _has_nested_repeat(items, inside_repeat: bool = False) -> bool:
    """True when a repeat of more than one step holds a repeat of variable length: the shape
    that makes a backtracking matcher try exponentially many splits of the digits.  Fixed counts
    inside (`(\\d{3}){2}`) split one way only and pass."""
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            low, high, sub = arg
            if inside_repeat and low != high:
                return True
            if _has_nested_repeat(sub, inside_repeat or high > 1):
                return True
        elif name == "SUBPATTERN":
            if _has_nested_repeat(arg[-1], inside_repeat):
                return True
        elif name == "BRANCH":
            if any(_has_nested_repeat(branch, inside_repeat) for branch in arg[1]):
                return True
        elif name in ("ASSERT", "ASSERT_NOT"):
            if _has_nested_repeat(arg[1], inside_repeat):
                return True
    return False


def _written_position(body: str, python_position: int) -> int:
    """The index in `body` of the character that is at `python_position` after \\( -> (."""
    written = python = 0
    while written < len(body) and python < python_position:
        if body.startswith(("\\(", "\\)"), written):
            written += 2
        else:
            written += 1
        python += 1
    return written


@dataclass(frozen=True)
class Replacement:
    text: str                           # as written
    parts: tuple[str | int, ...]        # literal text, or a group number

    def expand(self, match: re.Match) -> str:
        return "".join(p if isinstance(p, str) else (match.group(p) or "") for p in self.parts)

    @property
    def highest_group(self) -> int:
        return max((p for p in self.parts if isinstance(p, int)), default=0)


REPLACE_CHARACTERS = frozenset("0123456789*#+")


def compile_replace(text: str, groups: int | None = None) -> Replacement:
    """`groups`: how many groups the match pattern has, to refuse \\N beyond them."""
    body = _unslash(text, "replace")
    parts: list[str | int] = []
    literal = ""
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            if i + 1 >= len(body):
                raise PatternError(f"replace {_q(body)} ends with a lone '\\' (write \\1..\\9 for a group)")
            escaped = body[i + 1]
            if escaped.isdigit():
                if literal:
                    parts.append(literal)
                    literal = ""
                group = int(escaped)
                if groups is not None and group > groups:
                    have = f"{groups} group" + ("" if groups == 1 else "s")
                    raise PatternError(f"replace {_q(body)} uses \\{group} at position {i + 1} but the match "
                                       f"pattern has {have}")
                parts.append(group)
            elif escaped in REPLACE_CHARACTERS:
                literal += escaped
            else:
                raise PatternError(f"replace {_q(body)} has '\\{escaped}' at position {i + 1}; "
                                   f"only \\0..\\9 name a group")
            i += 2
            continue
        if char not in REPLACE_CHARACTERS:
            kind = "the letter" if char.isalpha() else "the character"
            raise PatternError(f"replace {_q(body)} has {kind} {char!r} at position {i + 1}; "
                               f"a replacement is digits, '+', '*', '#' and \\1..\\9")
        literal += char
        i += 1
    if literal:
        parts.append(literal)
    return Replacement(text, tuple(parts))


def compile_digits(text: str, what: str) -> str:
    """A literal digit string (a prefix to add): digits, * and #, with '+' only leading."""
    for position, char in enumerate(text):
        if char in "0123456789*#" or (char == "+" and position == 0):
            continue
        kind = "the letter" if char.isalpha() else "the character"
        raise PatternError(f"{what} {_q(text)} has {kind} {char!r} at position {position + 1}; "
                           f"expected digits, * and # (and a leading +)")
    return text

"""[[isdn]]: the PRI D-channel stack of a span (Q.921 LAPD + Q.931), one entry per span.

Timer defaults are libpri's where libpri sets one (T200 1 s, N200 3, T203 10 s, T303 4 s,
T305 30 s, T308 4 s, T309 6 s, T310 10 s, T313 4 s) and Q.931's otherwise (T301 180 s,
T316 120 s).  `role` left out follows the span's side: te -> user, nt -> network."""

from __future__ import annotations

from ..registry import register_section
from ..schema import OPTIONAL, Checker, Enum, Field, Int, Section, Seconds, Table, TableList

TIMER_DEFAULTS = {
    "t200": 1.0, "t203": 10.0, "t301": 180.0, "t303": 4.0, "t305": 30.0, "t308": 4.0,
    "t309": 6.0, "t310": 10.0, "t313": 4.0, "t316": 120.0,
}

ISDN = Table({
    "span": Field(Int(min=1)),
    "switchtype": Field(Enum("euroisdn_e1"), "euroisdn_e1"),
    "role": Field(Enum("user", "network"), OPTIONAL),
    "n200": Field(Int(1, 16), 3),
    **{name: Field(Seconds(min=0.1, max=3600), default) for name, default in TIMER_DEFAULTS.items()},
})


def _check_spans_exist(config, checker: Checker) -> None:
    span_ids = {span.id for span in config.span}
    for index, entry in enumerate(config.isdn):
        if entry.span not in span_ids:
            known = ", ".join(str(i) for i in sorted(span_ids)) or "none"
            checker.report(("isdn", index, "span"), f"no [[span]] with id {entry.span} (span ids: {known})")


ISDN_SECTION = register_section(Section(
    "isdn", TableList(ISDN, unique=("span",), noun="isdn"),
    doc="ISDN PRI stack per span", checks=[_check_spans_exist]))


def isdn_role(config, entry) -> str:
    """The effective role of an [[isdn]] entry: as written, or from its span's side."""
    if entry.role is not None:
        return entry.role
    for span in config.span:
        if span.id == entry.span:
            return "user" if span.side == "te" else "network"
    raise KeyError(f"no span with id {entry.span}")

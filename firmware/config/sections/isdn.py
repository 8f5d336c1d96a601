"""[[isdn]]: the PRI D-channel stack of a span (Q.921 LAPD + Q.931), one entry per span.

Keys and defaults mirror the stack's own LapdTimers and Q931Timers (branches lapd and q931):
libpri's values where libpri sets one (T200 1 s, N200 3, k 7, T203 10 s, T303 4 s, T305 30 s,
T308 4 s, T309 6 s, T313 4 s), EN 300 403-1's otherwise (T301 180 s, T302 15 s, T304 30 s,
T310 30 s, T316 120 s, N316 2).  A Q.931 timer set to false is switched off.  `role` left out
follows the span's side: te -> user, nt -> network.

`restart_on_first_link_up` (default true): the first time the D-channel comes up after the
service starts, the box sends RESTART for its B-channels, so that no channel stays held by a
call the far end still remembers from before a crash; and when the D-channel comes back after
a loss, it restarts the channels whose calls it cleared meanwhile (T309, cause 27), which the far
end could not be told about.  `restart_scope` "interface" (default)
restarts the whole interface in one message and falls back to one per channel when the far end
refuses; "channels" sends one RESTART per B-channel from the start (switches that refuse the
interface-wide class).

`hunting` picks the B-channel of a call the box places when nothing names one: ascending,
descending, round_robin or least_used (see firmware/isdn/q931/channels.py); left out, the user
side hunts down and the network side up, so that both choosing at once rarely meet."""

from __future__ import annotations

from ..registry import register_section
from ..schema import OPTIONAL, Bool, Checker, Enum, Field, Int, Section, Seconds, Table, TableList

LAPD_TIMERS = {"t200": 1.0, "t203": 10.0}
Q931_TIMERS = {
    "t301": 180.0, "t302": 15.0, "t303": 4.0, "t304": 30.0, "t305": 30.0, "t308": 4.0,
    "t309": 6.0, "t310": 30.0, "t313": 4.0, "t316": 120.0,
}
TIMER_DEFAULTS = {**LAPD_TIMERS, **Q931_TIMERS}
# The values of firmware/isdn/q931/channels.py's Hunting, spelt out: config imports no layer above.
HUNTINGS = ("ascending", "descending", "round_robin", "least_used")

ISDN = Table({
    "span": Field(Int(min=1)),
    "switchtype": Field(Enum("euroisdn_e1"), "euroisdn_e1"),
    "role": Field(Enum("user", "network"), OPTIONAL),
    "n200": Field(Int(1, 100), 3, "LAPD retransmissions"),
    "k": Field(Int(1, 127), 7, "LAPD window"),
    **{name: Field(Seconds(min=0.1, max=3600), default) for name, default in LAPD_TIMERS.items()},
    **{name: Field(Seconds(min=0.1, max=3600, can_be_off=True), default) for name, default in Q931_TIMERS.items()},
    "n316": Field(Int(0, 10), 2, "RESTART retransmissions"),
    "handler": Field(Enum("pbx", "answer", "none"), "answer",
                     "who takes the span's calls: the PBX, answer-and-listen (bring-up), or nobody "
                     "until a simulator attaches"),
    "restart_on_first_link_up": Field(Bool(), True, "RESTART the B-channels at the first link-up"),
    "restart_scope": Field(Enum("interface", "channels"), "interface", "one RESTART or one per channel"),
    "hunting": Field(Enum(*HUNTINGS), OPTIONAL, "B-channel hunting of outbound calls"),
})


def _check_spans_exist(config, checker: Checker) -> None:
    span_ids = {span.id for span in config.span}
    for index, entry in enumerate(config.isdn):
        if entry.span not in span_ids:
            known = ", ".join(str(i) for i in sorted(span_ids)) or "none"
            checker.report(("isdn", index, "span"), f"no [[span]] with id {entry.span} (span ids: {known})")
        elif any(span.id == entry.span and span.framing == "cas" for span in config.span):
            checker.report(("isdn", index, "span"), f"span {entry.span} has CAS framing: ISDN PRI needs "
                                                    f'framing "ccs" (a D-channel on timeslot 16)')


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


def lapd_timer_values(entry) -> dict:
    """Keyword arguments for the stack's LapdTimers."""
    return {"t200": entry.t200, "n200": entry.n200, "t203": entry.t203, "k": entry.k}


def q931_timer_values(entry) -> dict:
    """Keyword arguments for the stack's Q931Timers (None: switched off)."""
    return {name: entry[name] for name in Q931_TIMERS} | {"n316": entry.n316}

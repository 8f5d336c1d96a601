"""[pbx], [[dialplan]] and [[schedule]]: where the box sends the calls it takes (definitions
and matching live with the PBX, pbx_cti/pbx/dialplan.py; this checks them at `config check`).

    [pbx]
    ring_seconds = 0                 # answer at once (IVR), or after this much ringback
    unknown_number = "reject:1"      # or "announcement:<prompt>"

    [[schedule]]
    name = "office"
    hours = ["mon-fri 09:00-18:00", "sat 09:00-13:00"]
    holidays = [2026-12-25, 2027-01-01]

    [[dialplan]]
    pattern = "7000"                 # the route point the carrier's 15881234 maps to
    target = "ivr:main"
    schedule = "office"
    after_hours = "announcement:closed"
"""

from __future__ import annotations

import datetime

from pbx_cti.pbx.dialplan import DialPlanError, Schedule, compile_pattern, parse_target

from firmware.config.registry import register_section
from firmware.config.schema import INVALID, OPTIONAL, Checker, Field, ListOf, Section, Seconds, Str, Table, TableList, Type, describe


class Date(Type):
    expected = "a date such as 2026-12-25"

    def convert(self, value, path, checker):
        if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
            return self.wrong(value, path, checker)
        return value


def _check(parse):
    def check(text: str) -> str | None:
        try:
            parse(text)
        except DialPlanError as exc:
            return str(exc)
        return None
    return check


TARGET = Str(what="a target such as ivr:main, extension:2001, trunk:pbx, announcement:closed, reject:1",
             check=_check(parse_target))

PBX = register_section(Section("pbx", Table({
    "ring_seconds": Field(Seconds(min=0, max=60), 0.0, "ringback before the IVR answers"),
    "unknown_number": Field(TARGET, "reject:1", "where a number the dial plan does not know goes"),
    "extension_trunk": Field(Str(what="a trunk group name"), OPTIONAL,
                             "the trunk group toward the center's PBX, where agents' extensions are"),
}), doc="the PBX", checks=[]))


def _check_extension_trunk(config, checker: Checker) -> None:
    name = config.pbx.extension_trunk if config.pbx is not None else None
    trunks = {t.name for t in getattr(config, "trunk_group", None) or ()}
    if name is not None and name not in trunks:
        checker.report(("pbx", "extension_trunk"), f'no [[trunk_group]] named "{name}" '
                                                   f"(trunk groups: {', '.join(sorted(trunks)) or 'none'})")
    uses_extensions = any(e.target.startswith("extension:") or (e.after_hours or "").startswith("extension:")
                          for e in config.dialplan or ())
    if uses_extensions and name is None:
        checker.report(("pbx", "extension_trunk"), "the dial plan names extensions: say which trunk group "
                                                   "reaches them (extension_trunk)")


PBX.checks.append(_check_extension_trunk)

SCHEDULE = register_section(Section("schedule", TableList(Table({
    "name": Field(Str(r"[A-Za-z0-9_.-]+", "a name of letters, digits, _ . -")),
    "hours": Field(ListOf(Str(what='hours such as "mon-fri 09:00-18:00"')), ()),
    "holidays": Field(ListOf(Date()), ()),
}), unique=("name",), noun="schedule"), doc="office hours and holidays",
    checks=[]))


def _check_schedules(config, checker: Checker) -> None:
    for index, schedule in enumerate(config.schedule or ()):
        try:
            Schedule.parse(schedule.name, list(schedule.hours), list(schedule.holidays))
        except DialPlanError as exc:
            checker.report(("schedule", index, "hours"), str(exc))


def _check_dialplan(config, checker: Checker) -> None:
    schedules = {s.name for s in config.schedule or ()}
    trunks = {t.name for t in getattr(config, "trunk_group", None) or ()} | \
        {t.name for t in getattr(config, "sip_trunk", None) or ()}     # a route may go out over SIP
    for index, entry in enumerate(config.dialplan or ()):
        try:
            compile_pattern(entry.pattern)
        except DialPlanError as exc:
            checker.report(("dialplan", index, "pattern"), str(exc))
        for key in ("target", "after_hours"):
            value = entry[key]
            if value is None or value is INVALID:
                continue
            kind, target = parse_target(value)
            if kind == "trunk" and target not in trunks:
                checker.report(("dialplan", index, key), f'no [[trunk_group]] named "{target}", nor a [[sip_trunk]] '
                                                         f"(trunks: {', '.join(sorted(trunks)) or 'none'})")
        if entry.schedule is not None and entry.schedule not in schedules:
            checker.report(("dialplan", index, "schedule"), f'no [[schedule]] named "{entry.schedule}" '
                                                            f"(schedules: {', '.join(sorted(schedules)) or 'none'})")
        if entry.after_hours is not None and entry.schedule is None:
            checker.report(("dialplan", index, "after_hours"), "after_hours needs a schedule to be outside of")


DIALPLAN = register_section(Section("dialplan", TableList(Table({
    "name": Field(Str(what="a name"), OPTIONAL),
    "pattern": Field(Str(what="a number or an _X/Z/N/[..]/. pattern", min_len=1, max_len=64)),
    "target": Field(TARGET),
    "schedule": Field(Str(what="a schedule name"), OPTIONAL),
    "after_hours": Field(TARGET, OPTIONAL),
}), noun="dialplan"), doc="the dial plan: numbers to IVR flows, extensions, trunks",
    checks=[_check_dialplan, _check_schedules]))

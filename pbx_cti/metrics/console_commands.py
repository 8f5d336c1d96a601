"""`show queues` and `show agents` on the console, from the daemon's `api` service.

The commands find the running CTI as `ctx.services.api.figures` (wiring.py); today's figures
are read from the event log in a worker thread (`OffLoop`), the engine's state on the loop.
The module registers the commands when imported: the api service module imports it, so every
daemon's console has them and says so plainly when the CTI is not running.
"""

from __future__ import annotations

import time

from firmware.console.commands import CommandTree, registry
from firmware.console.session import OffLoop
from pbx_cti.cti.eventlog import EventLogError

from .figures import DayFigures, agent_views, queue_views

NOT_RUNNING = ("The contact center (CTI) is not running: no [cti] agents in the configuration, "
               "or the api service is down (show services)")


def _figures(ctx):
    return getattr(getattr(ctx.services, "api", None), "figures", None)


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _utc(when: float, day_start: float | None) -> str:
    form = "%H:%M:%S" if day_start is not None and day_start <= when < day_start + 86400 else "%Y-%m-%d %H:%M"
    return time.strftime(form, time.gmtime(when))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _table(header: list[str], rows: list[list[str]], numbers: range) -> list[str]:
    """Columns sized to their content; the `numbers` columns right-aligned, the others left."""
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    return ["  ".join(c.rjust(w) if i in numbers else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in [header] + rows]


def _read_today(figures, now: float):
    """The worker thread's part: today's figures, or the reason they could not be read."""
    try:
        return figures.today.refresh(now)
    except EventLogError as exc:
        return str(exc)


def _heading(day: DayFigures | str, what: str) -> list[str]:
    if isinstance(day, str):
        return [f"% Today's figures are not available: {day}"]
    s = day.settings
    return [f"Today ({what}) from 00:00 UTC; SL int: {s.interval / 60:g} min from "
            f"{_utc(day.interval_start, None)[-5:]}",
            f"SL: answered within {s.sl_threshold:g} s / answered"]


def render_queues(engine, now: float, day: DayFigures | str) -> str:
    figures = day if isinstance(day, DayFigures) else None
    views = queue_views(engine, now, figures)
    if not views:
        return "No queues are configured ([[cti.queue]])"
    rows = []
    for v in views:
        a = v.agents
        rows.append([v.queue, str(v.waiting), _clock(v.longest_wait) if v.waiting else "-",
                     str(a["READY"]), str(a["TALKING"] + a["HOLD"]), str(a["WRAP_UP"]), str(a["NOT_READY"]),
                     str(v.today.offered), str(v.today.answered), str(v.today.abandoned),
                     _pct(v.today.service_level()), _pct(v.interval.service_level())])
    # Narrow enough for an 80-column terminal; RESERVED (ringing) agents show in show agents.
    header = ["Queue", "Wait", "Longest", "Rdy", "Talk", "Wrap", "NRdy", "Offer", "Ans", "Aband", "SL day", "SL int"]
    return "\n".join(_heading(day, "Offer Ans Aband SL day") + _table(header, rows, range(1, len(header))))


def render_agents(engine, now: float, day: DayFigures | str) -> str:
    figures = day if isinstance(day, DayFigures) else None
    views = agent_views(engine, figures)
    if not views:
        return "No agents are configured ([[cti.agent]])"
    day_start = figures.day_start if figures is not None else now - now % 86400
    rows = []
    for v in views:
        logged_in = v.state != "LOGGED_OUT"
        caller = f"{v.caller} ({v.queue})" if v.caller and v.queue else v.caller or "-"
        rows.append([v.agent, v.state, v.reason or "-", v.extension or "-",
                     _utc(v.since, day_start) if v.since is not None else "-",
                     _clock(now - v.since) if v.since is not None and logged_in else "-",
                     str(v.calls_today), caller if logged_in else "-"])
    header = ["Agent", "State", "Reason", "Extension", "Since (UTC)", "For", "Calls today", "Caller"]
    lines = _heading(day, "Calls answered")[:1] if isinstance(day, str) else []
    return "\n".join(lines + _table(header, rows, range(4, 7)))


def _show(render):
    def handler(ctx, args: dict):
        figures = _figures(ctx)
        if figures is None:
            return NOT_RUNNING
        runner = figures.runner
        return OffLoop(work=lambda now=runner.wall_now(): _read_today(figures, now),
                       then=lambda day: render(runner.engine, runner.wall_now(), day))
    return handler


show_queues = _show(render_queues)
show_agents = _show(render_agents)


def install(tree: CommandTree = registry) -> None:
    tree.add("show queues", show_queues,
             help="Contact-center queues: callers waiting, agents by state, today's calls and service level")
    tree.add("show agents", show_agents,
             help="Contact-center agents: state, reason, since when, calls today, current caller")


install()

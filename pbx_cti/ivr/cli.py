"""`pribox ivr`: check flow files and walk a call through one without a box.

    pribox ivr check flows/main.toml [--prompt-dir DIR]
    pribox ivr simulate flows/main.toml --keys 2 [--calling 0212345678] [--route busy|answer]

`simulate` plays the caller: every prompt ends at once unless a key of --keys barges in, the
next key is pressed whenever the flow listens for one, and when the keys run out the flow's
timers run (no input).  Lookups really run (HTTP and SQLite, as on the box); a route to a skill
group is answered or, as on a box without the CTI, finds every agent busy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .actions import (Hangup, Lookup, Notify, Play, Record, RequestCallback, RouteToSkill, StartCollect, StopRecording,
                      Transfer)
from .flow import FlowError, load_flow_file
from .lookups import http_lookup, sqlite_lookup
from .session import IvrSession

MAX_STEPS = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate flow files (with their prompts when --prompt-dir is given)")
    check.add_argument("files", type=Path, nargs="+", metavar="FLOW")
    check.add_argument("--prompt-dir", type=Path, help="the prompt directory the flows' prompts must be in")
    sim = sub.add_parser("simulate", help="walk a call through a flow, printing each step")
    sim.add_argument("file", type=Path, metavar="FLOW")
    sim.add_argument("--keys", default="", help="the keys the caller presses, in order (e.g. 2 or 1234#)")
    sim.add_argument("--calling", default="0212345678", help="the caller's number")
    sim.add_argument("--called", default="15881234", help="the number dialled")
    sim.add_argument("--route", choices=("busy", "answer"), default="busy",
                     help="what a skill group does with the call (default busy: no CTI yet)")
    sim.add_argument("--prompt-dir", type=Path)


def run(args: argparse.Namespace) -> int:
    if args.action == "check":
        failed = 0
        for path in args.files:
            try:
                flow = load_flow_file(path, prompt_dir=args.prompt_dir)
            except FlowError as exc:
                print(exc, file=sys.stderr)
                failed += 1
                continue
            for warning in flow.warnings:
                print(warning, file=sys.stderr)
            print(f"{path}: OK ({len(flow.nodes)} nodes, entry {flow.entry})")
        return 1 if failed else 0
    try:
        flow = load_flow_file(args.file, prompt_dir=args.prompt_dir)
    except FlowError as exc:
        print(exc, file=sys.stderr)
        return 1
    session = simulate(flow, args.keys, {"call_id": "sim", "calling": args.calling, "called": args.called},
                       args.route, print)
    print(f"path: {' > '.join(session.path)}")
    print(f"digits: {session.digits or '-'}   outcome: {session.outcome}"
          + (f" (cause {session.hangup_cause})" if session.hangup_cause else ""))
    return 0


def simulate(flow, keys: str, call_data: dict, route: str = "busy", show=print) -> IvrSession:
    now = 0.0
    keys = list(keys)
    session = IvrSession(flow, call_data, now, trace=lambda event: show(f"{event.time:7.1f}  {event.text}"))
    playing: int | None = None
    barge_in = False
    for _ in range(MAX_STEPS):
        if session.ended:
            break
        action = session.next_action()
        if action is None:
            if keys and (barge_in or playing is None):
                session.digit(keys.pop(0), now)
            elif playing is not None:
                finished, playing = playing, None
                session.prompt_finished(finished, now)
            elif session.get_timer() is not None:
                now = max(now, session.get_timer())
                session.handle_timer(now)
            else:
                show(f"{now:7.1f}  (the flow waits for nothing more)")
                break
            continue
        if isinstance(action, Play):
            playing, barge_in = action.id, action.barge_in
        elif isinstance(action, StartCollect):
            barge_in = True
        elif isinstance(action, Lookup):
            run_it = http_lookup if action.request.source == "http" else sqlite_lookup
            session.lookup_result(action.id, run_it(action.request), now)
        elif isinstance(action, RouteToSkill):
            if route == "answer":
                session.handed_off(now)
            else:
                session.route_failed("every agent of the group is busy", now)
        elif isinstance(action, Transfer):
            session.handed_off(now)
        elif isinstance(action, Record):
            now += 3.0
            session.record_finished(action.id, f"simulated-{action.id}.wav", now)
        elif isinstance(action, (StopRecording, Hangup)):
            pass
        elif isinstance(action, Notify):
            show(f"{now:7.1f}  (a {action.kind} {action.template or 'text'} to {action.to} would be queued)")
        elif isinstance(action, RequestCallback):
            show(f"{now:7.1f}  (a callback to {action.number} would be booked with skill group {action.skill})")
        else:  # StopPlayback
            playing = None
    return session

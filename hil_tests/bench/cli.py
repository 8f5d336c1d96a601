"""`pribox bench run | soak | report` (also `python -m hil_tests.bench ...`).

    pribox bench run [--spans 1,4,8] [--soak-hours 24] [--report DIR] [--quick]
        load at each span count (real time), the faults, the soak (virtual clock), the audio;
        writes DIR/index.html (plots) and DIR/results.json; the last line printed is the
        summary as one JSON object.  Exit 0 when every goal held, 1 when one did not.
    pribox bench soak [--hours 24] [--busy-hour-calls 300]
        the soak alone on the virtual clock (`make soak`)
    pribox bench soak --real-time [--minutes 60] [--rate 1.0]
        the real-time soak with libpri as the carrier (`make soak-libpri`), never in `run`
    pribox bench report RESULTS.json [MORE.json ...] --report DIR
        the HTML report again from a results file (or parts of several runs)
    pribox bench box-config --spans N --dir DIR > box.toml
        the load's box configuration, for a box in another process facing
        `python -m hil_tests.bench.far_end --wires DIR ...`
"""

from __future__ import annotations

import argparse
import json
import sys

GOALS = {"completion_ratio": 0.999, "late_ticks": 0, "leaked": 0}


def _span_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--spans: expected numbers separated by commas (e.g. 1,4,8), got {text!r}")
    if not counts or any(not 1 <= n <= 30 for n in counts):
        raise argparse.ArgumentTypeError(f"--spans: each span count must be 1..30, got {text!r}")
    return counts


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser("run", help="load, faults, soak and audio against the emulated box, and the report")
    run.add_argument("--spans", type=_span_counts, default=(1, 4, 8), help="carrier span counts to load (default 1,4,8)")
    run.add_argument("--ramp", type=_positive, default=20.0, help="seconds the arrival rate climbs (default 20)")
    run.add_argument("--sustain", type=_positive, default=40.0, help="seconds the top rate holds (default 40)")
    run.add_argument("--talk-mean", type=_positive, default=12.0, help="mean talk time with an agent, s (default 12)")
    run.add_argument("--soak-hours", type=_positive, default=24.0, help="virtual hours of soak (default 24; 0: none)")
    run.add_argument("--no-refill", action="store_true",
                     help="the sustain is the Poisson stream alone (default: each call that clears is followed "
                          "at once by a new one, so every channel stays held)")
    run.add_argument("--no-faults", action="store_true", help="leave the faults out")
    run.add_argument("--no-audio", action="store_true", help="leave the audio measurement out")
    run.add_argument("--quick", action="store_true",
                     help="a smoke run: 1 span, 2 s ramp, 2 s sustain, 3 min of soak from 10:00, the quick faults and audio")
    run.add_argument("--report", default="out/bench-report", metavar="DIR",
                     help="where the report goes (default out/bench-report)")
    soak = actions.add_parser("soak", help="the soak alone: a day on the virtual clock, or --real-time with libpri")
    soak.add_argument("--hours", type=_positive, default=24.0, help="virtual hours (default 24)")
    soak.add_argument("--busy-hour-calls", type=int, default=300, help="arrivals in the busiest hour (default 300)")
    soak.add_argument("--real-time", action="store_true", help="real time, libpri as the carrier")
    soak.add_argument("--minutes", type=_positive, default=60.0, help="with --real-time: minutes (default 60)")
    soak.add_argument("--rate", type=_positive, default=1.0, help="with --real-time: calls per second (default 1)")
    soak.add_argument("--report", metavar="DIR", help="also write DIR/results.json and the HTML report of the soak "
                                                      "(`bench report` combines it with a run's)")
    layout = actions.add_parser("box-config", help="write the load's box configuration for a box run in another "
                                                   "process (its flow and wire sockets in DIR) and print it")
    layout.add_argument("--spans", type=int, default=1, help="carrier spans (as many center spans again; default 1)")
    layout.add_argument("--dir", required=True, metavar="DIR", help="where the wire sockets and the IVR flow live")
    report = actions.add_parser("report", help="write the HTML report again from a results.json")
    report.add_argument("results", nargs="+",
                        help="results.json files written by `bench run`; with several, each part (load, faults, "
                             "soak, audio) comes from the first file that has it")
    report.add_argument("--report", default="out/bench-report", metavar="DIR")


def goals_met(summary: dict) -> list[str]:
    """The goals a summary missed, named."""
    missed = []
    if summary.get("completion_ratio", 0) < GOALS["completion_ratio"]:
        missed.append(f"completion ratio {summary.get('completion_ratio')} < {GOALS['completion_ratio']}")
    for key in ("late_ticks", "leaked"):
        if summary.get(key, 0) > GOALS[key]:
            missed.append(f"{key} {summary.get(key)} > {GOALS[key]}")
    left = [f"{key}: {value['console_left']}" for key, value in summary.items()
            if key.startswith("spans_") and isinstance(value, dict) and value.get("console_left")]
    if left:
        missed.append("the console shows calls or channels left after the run (" + ", ".join(left) + ")")
    crashed = [f"{key}: {', '.join(f'{name} {n}' for name, n in value['service_crashes'].items())}"
               for key, value in summary.items()
               if key.startswith("spans_") and isinstance(value, dict) and value.get("service_crashes")]
    if crashed:
        missed.append("services crashed and were restarted during a load run (" + "; ".join(crashed) + ")")
    if summary.get("faults_total") and summary.get("faults_passed") != summary.get("faults_total"):
        missed.append(f"faults: {summary['faults_passed']} of {summary['faults_total']} passed")
    return missed


def run(args: argparse.Namespace) -> int:
    from .report import write_report

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if args.action == "report":
        from .run import combine
        parts = []
        for path in args.results:
            try:
                with open(path, encoding="utf-8") as f:
                    parts.append(json.load(f))
            except (OSError, json.JSONDecodeError) as exc:
                print(f"pribox bench report: {path}: {exc}", file=sys.stderr)
                return 2
        print(write_report(combine(parts, args.results), args.report))
        return 0
    if args.action == "box-config":
        from pathlib import Path

        from .load import FLOW_TEXT, box_config, prompt_directory
        if not 1 <= args.spans <= 30:
            print(f"pribox bench box-config: --spans must be 1..30, got {args.spans}", file=sys.stderr)
            return 2
        directory = Path(args.dir).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        flow = directory / "load.toml"
        flow.write_text(FLOW_TEXT)
        print(box_config(str(directory), args.spans, prompt_directory(str(directory)), str(flow)))
        return 0
    if args.action == "soak":
        from .soak import SoakSettings, run_libpri_hour, run_soak
        if args.real_time:
            result = run_libpri_hour(minutes=args.minutes, rate=args.rate, progress=say)
        else:
            result = run_soak(SoakSettings(hours=args.hours, busy_hour_calls=args.busy_hour_calls),
                              progress=lambda s: say(f"hour {s[0]:g}: {s[1]} calls held, rss {s[3]} MiB, cpu {s[4]} s"))
        if args.report and not args.real_time:
            from .run import summary
            results = {"soak": result}
            results["summary"] = summary(results)
            say(f"report: {write_report(results, args.report)}")
        result.pop("series", None)
        print(json.dumps(result))
        return 0 if result["leaked"] == 0 and result["completion_ratio"] >= GOALS["completion_ratio"] else 1
    from .load import LoadSettings
    from .run import BenchPlan, run_bench
    from .soak import SoakSettings
    if args.quick:
        plan = BenchPlan(span_counts=(1,), load=LoadSettings(ramp=2.0, sustain=2.0, talk_mean=1.0, drain=30.0),
                         soak=SoakSettings(hours=0.05, busy_hour_calls=1200, talk_mean=20.0, start_hour=10),
                         faults=not args.no_faults,
                         audio=not args.no_audio, quick=True)
    else:
        plan = BenchPlan(span_counts=args.spans,
                         load=LoadSettings(ramp=args.ramp, sustain=args.sustain, talk_mean=args.talk_mean,
                                           refill=not args.no_refill),
                         soak=SoakSettings(hours=args.soak_hours), faults=not args.no_faults, audio=not args.no_audio)
    results = run_bench(plan, progress=say)
    say(f"report: {write_report(results, args.report)}")
    missed = goals_met(results["summary"])
    for line in missed:
        say(f"goal missed: {line}")
    print(json.dumps(results["summary"]))
    return 1 if missed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hil_tests.bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))

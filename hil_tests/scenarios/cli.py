"""`pribox scenario run FILE…` and `pribox scenario check FILE…`.

`run` runs each scenario file against a box: by default a box on the embedded default started
in this process with the simulator on the far end of its E1 (real time, or `--virtual`);
with `--wire PATH` (once per carrier span) the simulator runs here alone, facing a box that
runs elsewhere.  `--engine` picks the simulator's PRI stack: `pribox` (ours, any clock) or
`libpri` (real time only).  Exit code 0 only when every expectation of every file held; 1 when
one failed; 2 when a file or an argument is wrong (every mistake named with file, line, field).
"""

from __future__ import annotations

import argparse
import json
import logging

from firmware.config.errors import ConfigError

from .api import ENGINES, run_files
from .bench import box_config, layout
from .format import load_scenario


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run_parser = actions.add_parser("run", help="run scenario files against the box")
    check_parser = actions.add_parser("check", help="only check scenario files (every mistake with file, line, field)")
    for sub in (run_parser, check_parser):
        sub.add_argument("files", nargs="+", metavar="FILE", help="scenario files (TOML)")
    layout_parser = actions.add_parser("box-config", help="print a box configuration whose spans face the "
                                                          "simulator's wires (for a box run in another process)")
    layout_parser.add_argument("--carrier-spans", type=int, default=1, help="spans toward the carrier (default 1)")
    layout_parser.add_argument("--pbx-spans", type=int, default=0, help="spans toward the center's PBX (default 0)")
    layout_parser.add_argument("--wire-dir", default="/run/pribox", help="where the wire sockets live")
    layout_parser.add_argument("--handler", choices=["pbx", "answer"], default="pbx",
                               help="who takes the calls: the PBX (default: number mapping, dial plan, IVR) "
                                    "or the bring-up handler that answers and listens")
    run_parser.add_argument("--engine", choices=ENGINES, default="pribox",
                            help="the simulator's PRI stack: pribox (ours, default) or libpri (real time only)")
    run_parser.add_argument("--virtual", action="store_true",
                            help="run on the virtual clock (in process, pribox engine): faster than real time")
    run_parser.add_argument("--wire", action="append", default=[], metavar="PATH",
                            help="an emulated E1 wire socket facing the running box's carrier span (repeat per "
                                 "span); without it the box runs in this process")
    run_parser.add_argument("--pbx-wire", action="append", default=[], metavar="PATH",
                            help="a wire facing the box's span toward the center's PBX (the phones; repeat per span)")
    run_parser.add_argument("--wire-role", choices=["listen", "connect"], default="listen",
                            help="the simulator's end of each wire (default listen: the box connects)")
    run_parser.add_argument("--dchannel-export", action="append", default=[], metavar="PATH",
                            help="with --engine libpri on the wire: where each carrier span exports its D-channel")
    run_parser.add_argument("--cdr-database", metavar="PATH", help="the box's SQLite database with CDR rows")
    run_parser.add_argument("--json", action="store_true", help="print one JSON object with every result")
    run_parser.add_argument("--quiet", action="store_true", help="no ladders in the report, only the checks")


def run(args: argparse.Namespace, out=print) -> int:
    if args.action == "box-config":
        if not 1 <= args.carrier_spans <= 8 or not 0 <= args.pbx_spans <= 8:
            out("pribox scenario: --carrier-spans must be 1..8 and --pbx-spans 0..8")
            return 2
        lay = layout(args.wire_dir, args.carrier_spans, args.pbx_spans)
        out(box_config(lay, handler=args.handler).rstrip("\n"))
        return 0
    try:
        scenarios = [load_scenario(path) for path in args.files]
    except ConfigError as exc:
        out(f"pribox scenario: {len(exc.issues)} problem(s):\n{exc}")
        return 2
    if args.action == "check":
        for scenario in scenarios:
            out(f"{scenario.path}: {scenario.name}: {len(scenario.calls)} call(s), {len(scenario.phones)} phone(s)"
                + (f", load of {scenario.load.calls} calls" if scenario.load else "") + ": ok")
        return 0
    if args.virtual and args.wire:
        out("pribox scenario: --virtual runs the box in this process; it cannot face a box on --wire")
        return 2
    if args.pbx_wire and not args.wire:
        out("pribox scenario: --pbx-wire needs --wire too (the simulator faces a box elsewhere)")
        return 2
    logging.basicConfig(format="%(name)s %(levelname)s %(message)s")
    pribox_logger = logging.getLogger("pribox")
    saved = pribox_logger.level
    try:
        reports = run_files(scenarios, engine=args.engine, virtual=args.virtual, wire=args.wire or None,
                            pbx_wire=args.pbx_wire, wire_role=args.wire_role, exports=args.dchannel_export or None,
                            cdr_database=args.cdr_database)
    except (ValueError, RuntimeError) as exc:
        out(f"pribox scenario: {exc}")
        return 2
    finally:
        pribox_logger.setLevel(saved)
    passed = all(report.passed for report in reports)
    if args.json:
        out(json.dumps({"passed": passed, "engine": args.engine, "scenarios": [r.as_dict() for r in reports]}))
    else:
        for report in reports:
            out(report.text(ladders=not args.quiet))
        failed = sum(not r.passed for r in reports)
        out(f"{len(reports) - failed} of {len(reports)} scenario(s) passed with {args.engine}")
    return 0 if passed else 1

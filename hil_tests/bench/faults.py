"""The bench's faults, each with the outcome the standards and the design promise asserted:
line faults on the virtual clock (hil_tests/bench/line_faults.py), box faults in real time
(hil_tests/bench/box_faults.py), peer faults (hil_tests/bench/peer_faults.py).

    run_faults(quick=False) -> [FaultResult(name, expected, observed, passed, figures), ...]

`quick` runs every fault with shorter exposures (what the test suite and a CI-sized bench run
use); the full run holds the errors, slips and outages longer.  From the shell:

    python -m hil_tests.bench.faults [--quick] [--only WORD]

prints one line per fault and, last, one JSON object: {"faults": [...], "passed": n, "failed": n}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from hil_tests.bench import box_faults, line_faults, peer_faults
from hil_tests.bench.fault_result import FaultResult

__all__ = ["FaultResult", "fault_plan", "run_faults"]


def fault_plan(quick: bool = False) -> list[tuple]:
    """(function, args) of every fault, in the order they run."""
    plan = list(line_faults.LINE_FAULTS)
    if not quick:
        plan += [(line_faults.ber_burst, (1e-3, 60.0)), (line_faults.slips, (50.0, 120.0)),
                 (line_faults.slips, (100.0, 60.0))]
    plan += [(box_faults.kill9_with_every_store_open, (1.0 if quick else 3.0,)),
             (box_faults.cdr_database_locked, (1.0 if quick else 5.0,)),
             (box_faults.disk_full, ()),
             (box_faults.provider_down, (10 if quick else 50,)),
             (box_faults.daemon_kill9_mid_call, (2 if quick else 10,)),
             # 29: the span's 30 channels less one for the call placed after the commit
             (box_faults.console_work_during_calls, (6, 64) if quick else (29, 1024))]
    plan += list(peer_faults.PEER_FAULTS)
    return plan


def run_faults(quick: bool = False, only: str | None = None, progress=None) -> list[FaultResult]:
    """Run every fault (or those whose function's name holds `only`); a fault that crashes is a failed result,
    never an exception out of here.  `progress(result, seconds)` is called after each."""
    results = []
    for fault, args in fault_plan(quick):
        if only and only.lower() not in fault.__name__.lower():
            continue
        started = time.monotonic()
        try:
            result = fault(*args)
        except Exception as exc:
            result = FaultResult(f"{fault.__name__}{args}", "runs", f"raised {type(exc).__name__}: {exc}", False)
        result.figures.setdefault("run_seconds", round(time.monotonic() - started, 2))
        results.append(result)
        if progress is not None:
            progress(result, time.monotonic() - started)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hil_tests.bench.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter exposures (the CI-sized run)")
    parser.add_argument("--only", help="run only the faults whose function's name holds this word "
                                           "(los, ais, slips, ber, restart, glare, dchannel, kill9, disk, ...)")
    args = parser.parse_args(argv)

    def show(result: FaultResult, seconds: float) -> None:
        print(f"{'PASS' if result.passed else 'FAIL'}  {result.name}  ({seconds:.1f} s)\n"
              f"      expected: {result.expected}\n      observed: {result.observed}", flush=True)

    results = run_faults(args.quick, args.only, show)
    passed = sum(r.passed for r in results)
    print(json.dumps({"faults": [r.as_dict() for r in results], "passed": passed, "failed": len(results) - passed},
                     ensure_ascii=False, default=str))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())

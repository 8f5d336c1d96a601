"""Benchmark: the test bench's whole measurement against the emulated box — every channel of 1, 4
and 8 carrier spans busy at once in real time with calls through the IVR, a queue and an agent
(the far ends, carrier and the center's PBX, in their own process on the emulated wire), the
faults, a day of a center's traffic on the virtual clock, and the audio paths' listening quality.

    .venv/bin/python bench/hil.py [--spans 1,4,8] [--soak-hours 24] [--report DIR] [--quick]

Figures (the last line printed is one JSON object):

    spans, calls             the most carrier spans loaded, and the most calls held at once on
                             them (goal 8 spans, 240 calls).  The sustain keeps every channel
                             held: each call that clears is followed at once by a new one, on
                             top of the Poisson stream (`refills`; --no-refill for the stream
                             alone).  offered_erlangs_poisson is the stream's offered traffic;
                             carried_erlangs_sustain the calls held, averaged over the sustain
    completion_ratio         calls the box completed (answered, through IVR and queue to an
                             agent who answered, cleared by the box with cause 16) / calls
                             placed, the worst span count (goal >= 0.999).  Arrivals that found
                             every carrier channel busy are the carrier's blocking (`blocked`
                             per span count), not placed
    post_dial_delay_p99_ms   SETUP -> ALERTING at the carrier, p99, at the most spans; SETUP ->
                             CONNECT as post_dial_delay_connect_p99_ms (the box rings 0.5 s
                             before its IVR answers)
    late_ticks               the box's line thread's ticks that began more than one period
                             late, plus slips, over every load run (goal 0).  Beside it, each
                             of the thread's late ticks by cause (hil_tests/bench/late_ticks.py):
                             late_ticks_beside_steal (the hypervisor's steal grew around it),
                             late_ticks_waited_in_guest (runnable, held off by this kernel),
                             late_ticks_unexplained (neither seen), and cpu_steal_ms
    leaked                   channels + calls + timers + tasks + fds + threads left after each
                             run (and the soak), counted from the daemon's tables and /proc,
                             plus 1 for resident memory grown beyond its stated bound (goal 0)
    pesq_g711, pesq_g729     the audio module's scores (its model named in the report)
    spans_<N>                each span count's figures: calls, completion, post-dial delays,
                             late ticks, event loop lag, CPU and memory per call

The machine is shared: the load average before and after is in the report (machine_before,
machine).  --quick is the suite's smoke run: one span for a few seconds, a few minutes of soak.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root, not bench/

from hil_tests.bench.cli import main as bench_main  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return bench_main(["run", *argv])


if __name__ == "__main__":
    sys.exit(main())

"""Sequential call setup + clear through our sans-I/O PRI stack (LAPD + Q.931), network side
calling the user side in one process, beside libpri doing the same calls in the same run.

Each call: SETUP, CALL PROCEEDING, CONNECT, CONNECT ACKNOWLEDGE, DISCONNECT (caller), RELEASE,
RELEASE COMPLETE, with LAPD acknowledgements — the sequence lp_bench_calls() runs in libpri.
Last line: one JSON object with calls_per_s and libpri_calls_per_s."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware.isdn.q931 import ies as ie  # noqa: E402
from firmware.isdn.q931.events import Answered, IncomingCall, Released  # noqa: E402
from firmware.isdn.stack import PriStack  # noqa: E402

GOAL = 3000.0


def our_calls(count: int) -> tuple[float, float, int]:
    net, user = PriStack("network"), PriStack("user")
    now = 0.0
    net.start(now)
    user.start(now)

    def pump() -> None:
        moved = True
        while moved:
            moved = False
            for frame in net.frames_to_send():
                moved = True
                user.receive_frame(frame, now)
            for frame in user.frames_to_send():
                moved = True
                net.receive_frame(frame, now)

    pump()
    while net.next_event() or user.next_event():
        pass
    calling = ie.CallingNumber("0212345678", ie.TypeOfNumber.NATIONAL)
    done = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(count):
        ts = 1 + i % 30
        ts += ts >= 16
        call = net.setup("15881234", now, calling=calling, timeslot=ts)
        pump()
        released = 0
        while True:
            ev = user.next_event()
            if ev is None:
                ev = net.next_event()
                if ev is None:
                    if released == 2:
                        break
                    pump()
                    if not (user._events or net._events):
                        raise RuntimeError(f"call {i} stalled: user {user.calls} network {net.calls}")
                    continue
            kind = type(ev)
            if kind is IncomingCall:
                user.proceed(ev.call_id, now)
                user.answer(ev.call_id, now)
            elif kind is Answered:
                net.disconnect(call, now)
            elif kind is Released:
                released += 1
        done += 1
        now += 0.001        # let LAPD's T203/T200 see time pass, as on a line
        if net.get_timer() is not None and net.get_timer() <= now:
            net.handle_timer(now)
        if user.get_timer() is not None and user.get_timer() <= now:
            user.handle_timer(now)
    return time.perf_counter() - start, time.process_time() - cpu_start, done


def libpri_calls(count: int) -> tuple[float, int]:
    from hil_tests.peers._libpri import ffi, lib
    completed = ffi.new("int *")
    seconds = lib.lp_bench_calls(count, completed)
    if seconds < 0:
        raise RuntimeError(f"libpri stalled after {completed[0]} calls")
    return seconds, completed[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per round for our stack (default 3000)")
    parser.add_argument("--libpri-calls", type=int, default=10000, help="calls per round for libpri (default 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best of each side counts (default 3)")
    args = parser.parse_args()
    our_calls(200)                                   # warm up
    ours, cpu, theirs = [], [], []
    for _ in range(args.rounds):                     # interleaved, so both see the same machine load
        wall, cpu_s, n = our_calls(args.calls)
        ours.append(n / wall)
        cpu.append(n / cpu_s if cpu_s > 0 else 0.0)
        seconds, m = libpri_calls(args.libpri_calls)
        theirs.append(m / seconds)
    best, best_libpri = max(ours), max(theirs)
    result = {
        "calls_per_round": args.calls,
        "rounds": args.rounds,
        "calls_per_s": round(best, 1),
        "cpu_calls_per_s": round(max(cpu), 1),
        "libpri_calls_per_s": round(best_libpri, 1),
        "ratio_to_libpri": round(best / best_libpri, 3),
        "goal_calls_per_s": GOAL,
        "meets_goal": best >= GOAL,
    }
    print("pribox Q.931+LAPD calls/s per round: " + ", ".join(f"{r:.0f}" for r in ours)
          + "; libpri: " + ", ".join(f"{r:.0f}" for r in theirs), file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

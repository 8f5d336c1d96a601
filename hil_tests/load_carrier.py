"""The carrier simulator as a process of its own, placing a center's load on the box's spans over
the emulated wire: `python -m hil_tests.load_carrier --wires DIR --spans 4 --calls 120 ...`.

Each span is our network-side stack (PriStack "network") on an NT span in this process's own
line thread, connected to the box's TE span at DIR/span<N>.wire.  Calls arrive as a Poisson
stream (exponential gaps) spread over the spans, each to the center's number; once answered,
the caller presses its key after `--key-after` seconds and then listens until the box clears.
The last line printed is one JSON object: per-call post-dial delay (SETUP -> CONNECT), causes,
and the most calls held at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time

import numpy as np

from drivers.config import SpanConfig
from drivers.emulated import EmulatedSpan
from drivers.realtime import LineThreadPacer
from dsp.dtmf import DtmfGenerator
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.stack import PriStack
from runtime.bus import EventBus
from runtime.clock import LoopClock

from .carrier import StackCarrier


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wires", required=True, help="directory of the box's span wires (span<N>.wire)")
    parser.add_argument("--spans", type=int, default=4)
    parser.add_argument("--calls", type=int, default=120)
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which the calls arrive")
    parser.add_argument("--key", default="2", help="the key the caller presses at the menu")
    parser.add_argument("--key-after", type=float, default=4.0, help="seconds after answer the key is pressed")
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=1)


async def load(args) -> dict:
    clock, bus = LoopClock(), EventBus()
    spans, stacks, carriers = [], [], []
    for n in range(1, args.spans + 1):
        config = SpanConfig(id=n, driver="emulated", side="nt", clock="internal", law="alaw", crc4=True,
                            wire=f"{args.wires}/span{n}.wire", wire_role="connect", frames_per_datagram=8)
        span = EmulatedSpan(config, clock=clock, bus=bus)
        span.open()
        spans.append(span)
    pacer = LineThreadPacer(clock, spans)
    pacer.start()
    for span in spans:
        isdn = IsdnSpan(span, PriStack("network"), clock=clock, bus=bus)
        carriers.append(StackCarrier(isdn, digits="", tone_seconds=0.0, hangup_after_audio=False))
        isdn.start()
        stacks.append(isdn)
    result = {"spans": args.spans, "calls_placed": 0}
    try:
        deadline = time.monotonic() + 20
        while not all(s.in_service for s in stacks):
            if time.monotonic() > deadline:
                raise RuntimeError("the D-channels toward the box did not come up")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        rng = random.Random(args.seed)
        gaps = [rng.expovariate(args.calls / args.ramp) for _ in range(args.calls)]
        placed = []
        held_max = 0
        next_at = time.monotonic()
        for n, gap in enumerate(gaps):
            next_at += gap
            while time.monotonic() < next_at:
                held_max = max(held_max, _held(placed))
                await asyncio.sleep(min(0.01, max(0.0, next_at - time.monotonic())))
            carrier = carriers[n % len(carriers)]
            free = carrier.isdn.stack.channels
            timeslot = next((ts for ts in free.timeslots if free.is_idle(ts)), None)
            if timeslot is None:
                continue
            call = carrier.place_call(timeslot=timeslot)
            placed.append((carrier, call, clock.now(), False))
        result["calls_placed"] = len(placed)
        end = time.monotonic() + args.timeout
        while time.monotonic() < end:
            held_max = max(held_max, _held(placed))
            for i, (carrier, call, at, pressed) in enumerate(placed):
                if not pressed and call.answered_at is not None and clock.now() >= call.answered_at + args.key_after \
                        and not call.done:
                    keys = DtmfGenerator(level_dbm0=-10.0, on_ms=100, off_ms=100)
                    keys.put(args.key)
                    carrier.bearer.play(call.timeslot, keys)
                    placed[i] = (carrier, call, at, True)
            if all(call.done for _, call, _, _ in placed):
                break
            await asyncio.sleep(0.02)
        pdd = [(call.answered_at - at) * 1000 for _, call, at, _ in placed if call.answered_at is not None]
        causes: dict[str, int] = {}
        for _, call, _, _ in placed:
            key = str(call.cause_received if call.done else "not cleared")
            causes[key] = causes.get(key, 0) + 1
        result.update({
            "calls_answered": len(pdd), "calls_cleared_16": causes.get("16", 0), "causes": causes,
            "held_max": held_max,
            "post_dial_delay_p50_ms": round(float(np.percentile(pdd, 50)), 2) if pdd else None,
            "post_dial_delay_p99_ms": round(float(np.percentile(pdd, 99)), 2) if pdd else None,
            "post_dial_delay_max_ms": round(max(pdd), 2) if pdd else None,
            "carrier_line_thread": pacer.stats(),
            "carrier_slips": sum(s.counters()["slips"] for s in spans),
        })
    finally:
        for isdn in stacks:
            isdn.stop()
        pacer.stop()
        for span in spans:
            span.close()
    return result


def _held(placed) -> int:
    return sum(1 for _, call, _, _ in placed if call.answered_at is not None and not call.done)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    result = asyncio.run(load(args))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

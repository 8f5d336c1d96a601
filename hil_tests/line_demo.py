"""`pribox demo`: two emulated E1 spans, one NT and one TE, joined by a real Unix SEQPACKET wire.

Shows each side reaching frame and CRC-4 multiframe alignment (with the time it took on the
one clock), then prints each side's layer-1 state and counters as `show controllers e1` does.
A thin script over the span API: later issues grow it into the full call demo.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile

from drivers import make_span
from drivers.config import SpanConfig
from drivers.events import SpanAlarmsChanged, SpanAlignmentChanged, SpanEvent
from drivers.pacing import SpanPacer
from drivers.show import show_controller
from runtime.bus import EventBus
from runtime.clock import LoopClock, virtual_time_loop


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="how long to run the line (default 3)")
    parser.add_argument("--virtual", action="store_true",
                        help="run on the virtual clock: the same line, faster than real time")
    parser.add_argument("--no-crc4", dest="crc4", action="store_false",
                        help="frame without CRC-4 multiframe")
    parser.add_argument("--ppm", type=float, default=0.0,
                        help="clock offset of the NT side in ppm (the TE side follows it on line clock)")
    parser.add_argument("--wire-dir", default=None,
                        help="directory for the wire socket (default: a fresh temporary directory)")


def span_configs(wire: str, crc4: bool) -> tuple[SpanConfig, SpanConfig]:
    nt = SpanConfig(id=1, driver="emulated", side="nt", clock="internal", law="alaw",
                    crc4=crc4, wire=wire, wire_role="listen")
    te = SpanConfig(id=2, driver="emulated", side="te", clock="line", law="alaw",
                    crc4=crc4, wire=wire, wire_role="connect")
    return nt, te


def _describe(event: SpanEvent, opened_at: float) -> str | None:
    at = f"{(event.time - opened_at) * 1000:8.1f} ms"
    if isinstance(event, SpanAlignmentChanged):
        if event.multiframe_aligned:
            what = "frame and CRC-4 multiframe aligned"
        elif event.frame_aligned:
            what = f"frame aligned, CRC-4 {event.crc4}"
        else:
            what = "searching for frame alignment"
        return f"{at}  span {event.span_id}: {what}"
    if isinstance(event, SpanAlarmsChanged):
        now = ", ".join(sorted(event.alarms)) or "none"
        return f"{at}  span {event.span_id}: alarms {now}"
    return None


async def run_line(seconds: float, wire_dir: str, crc4: bool, ppm: float, out=print) -> list:
    clock = LoopClock()
    bus = EventBus()
    nt_config, te_config = span_configs(os.path.join(wire_dir, "e1.wire"), crc4)
    nt = make_span(nt_config, clock=clock, bus=bus, ppm=ppm)
    te = make_span(te_config, clock=clock, bus=bus)
    start = clock.now()
    bus.subscribe(SpanEvent, lambda e: (line := _describe(e, start)) and out(line))
    out(f"wire {nt_config.wire}: span 1 (NT, internal clock{f', {ppm:+g} ppm' if ppm else ''}) listens, "
        f"span 2 (TE, line clock) connects")
    spans = [nt, te]
    for span in spans:
        span.open()
    pacer = SpanPacer(clock, spans, period=0.001)
    pacer.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        pacer.stop()
    for span in spans:  # bring both up to the same instant, closing their last whole second
        span.tick(clock.now())
    out("")
    for span in spans:
        out(show_controller(span))
        out("")
    for span in spans:
        span.close()
    return spans


def run(args: argparse.Namespace) -> int:
    if args.seconds <= 0:
        print(f"pribox demo: --seconds must be more than 0, got {args.seconds}")
        return 2
    with tempfile.TemporaryDirectory(prefix="pribox-demo-") as scratch:
        wire_dir = args.wire_dir or scratch
        coroutine = run_line(args.seconds, wire_dir, args.crc4, args.ppm)
        if args.virtual:
            loop = virtual_time_loop()
            try:
                spans = loop.run_until_complete(coroutine)
            finally:
                loop.close()
        else:
            spans = asyncio.run(coroutine)
    aligned = all(s.aligned_at is not None and (not args.crc4 or s.multiframe_aligned_at is not None)
                  for s in spans)
    print("every span aligned" if aligned else "a span did not reach alignment")
    return 0 if aligned else 1

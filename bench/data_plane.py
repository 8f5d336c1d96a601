"""Benchmark: the data plane — how long the control plane may stall with the line unharmed, and
how many channels one core carries through the line and the media plane.

1. `max_control_stall_ms_survived`: two spans of the embedded kind (TE with line clock, NT with
   internal clock) joined by a real Unix SOCK_SEQPACKET wire run in the line's own thread, with
   our LAPD/Q.931 stacks on both D-channels on the asyncio loop (real time).  Once both
   D-channels are up, the loop is blocked (time.sleep in a control-plane callback) for 100, 200,
   500, 1000 and 2000 ms in turn, with a second of normal running after each.  A stall is
   survived when the line shows no slip and no frame alignment loss, and neither D-channel went
   down, across it.  The figure is the longest stall survived.
2. `media_plane_channels_per_core`: span pairs back to back on the in-process wire, advanced on
   a virtual clock as fast as one core goes, every B-channel of every span open in the media
   plane with a prompt playing and a DTMF receiver on it (and a recorder tap on none):
   channels (30 per span, both ends counted) x virtual seconds / CPU seconds.
3. `line_only_channels_per_core` from the same run with the media plane off (the line, pacing,
   framer, HDLC and bearer rings), to compare with bench/e1_line.py's spans x 30.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root, not bench/

import numpy as np

from drivers.config import SpanConfig
from drivers.emulated import EmulatedSpan
from drivers.events import SpanAlarmsChanged
from drivers.realtime import LineThreadPacer
from dsp import lib
from dsp.line_port import LinePort, PortMedia, WireEnd
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.stack import DataLinkDown, DataLinkUp, PriStack
from runtime.bus import EventBus
from runtime.clock import LoopClock

STALLS_MS = (100, 200, 500, 1000, 2000)


async def stall_run(stalls_ms, wire_dir: str) -> dict:
    clock, bus = LoopClock(), EventBus()
    common = dict(driver="emulated", law="alaw", crc4=True, wire=f"{wire_dir}/e1.wire", frames_per_datagram=8)
    nt = EmulatedSpan(SpanConfig(id=2, side="nt", clock="internal", wire_role="listen", **common), clock=clock, bus=bus)
    te = EmulatedSpan(SpanConfig(id=1, side="te", clock="line", wire_role="connect", **common), clock=clock, bus=bus)
    downs = []
    from firmware.isdn.events import IsdnEvent
    bus.subscribe(IsdnEvent, lambda e: downs.append(e) if isinstance(e.event, DataLinkDown) else None)
    alarms = []
    bus.subscribe(SpanAlarmsChanged, lambda e: alarms.append(e))
    nt.open()
    te.open()
    pacer = LineThreadPacer(clock, [nt, te])
    pacer.start()
    stacks = [IsdnSpan(nt, PriStack("network"), clock=clock, bus=bus), IsdnSpan(te, PriStack("user"), clock=clock, bus=bus)]
    for s in stacks:
        s.start()
    results = {}
    try:
        deadline = clock.now() + 10
        while not all(s.layer2_up for s in stacks):
            if clock.now() > deadline:
                raise RuntimeError("the D-channels did not come up")
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        for ms in stalls_ms:
            before = {s.id: (s.counters()["slips"], s.counters()["frame_alignment_losses"]) for s in (nt, te)}
            downs_before = len(downs)
            time.sleep(ms / 1000)          # the control plane blocked, as a hashing or a GC would
            await asyncio.sleep(1.5)
            after = {s.id: (s.counters()["slips"], s.counters()["frame_alignment_losses"]) for s in (nt, te)}
            survived = after == before and len(downs) == downs_before and all(s.layer2_up for s in stacks)
            results[ms] = {"survived": survived, "slips": sum(a[0] - before[k][0] for k, a in after.items()),
                           "frame_alignment_losses": sum(a[1] - before[k][1] for k, a in after.items()),
                           "dchannel_downs": len(downs) - downs_before}
        results["thread"] = pacer.stats()
    finally:
        for s in stacks:
            s.stop()
        pacer.stop()
        te.close()
        nt.close()
    return results


def channels_per_core(pairs: int, seconds: float, media: bool) -> float:
    ports, medias = [], []
    prompt = (np.sin(np.arange(8000) * 2 * np.pi * 425 / 8000) * 8000).astype(np.int16)
    for _ in range(pairs):
        a, b = WireEnd.pair(8)
        pa, pb = LinePort(a, clock_line=False), LinePort(b, clock_line=True)
        pa.start(0.0)
        pb.start(0.0)
        ports += [pa, pb]
    now = 0.0
    for _ in range(300):                    # alignment and CRC-4 multiframe first
        now += 0.001
        for p in ports:
            p.advance(now)
    if media:
        for p in ports:
            m = PortMedia(p)
            for ch in range(30):
                m.open(ch, lib.MEDIA_CODEC_ALAW)
                m.play(ch, prompt, loops=0)
            medias.append(m)
    ticks = int(seconds / 0.001)
    start = time.process_time()
    for _ in range(ticks):
        now += 0.001
        for p in ports:
            p.advance(now)
    cpu = time.process_time() - start
    for p in ports:
        st = p.status()
        if not st.frame_aligned:
            raise RuntimeError("a span lost alignment during the measurement")
    if media and not all(m.blocks > 0 for m in medias):
        raise RuntimeError("the media plane did not run")
    return len(ports) * 30 * seconds / cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8, help="span pairs for the per-core figures")
    parser.add_argument("--seconds", type=float, default=2.0, help="virtual seconds for the per-core figures")
    parser.add_argument("--stalls", type=str, default=",".join(map(str, STALLS_MS)), help="stalls to try, ms")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as wire_dir:
        stalls = asyncio.run(stall_run([int(s) for s in args.stalls.split(",")], wire_dir))
    for ms in sorted(k for k in stalls if isinstance(k, int)):
        print(f"stall {ms:5d} ms: {stalls[ms]}")
    survived = [ms for ms in stalls if isinstance(ms, int) and stalls[ms]["survived"]]
    thread = stalls["thread"]
    print(f"line thread: {thread}")
    line_only = channels_per_core(args.pairs, args.seconds, media=False)
    media = channels_per_core(args.pairs, args.seconds, media=True)
    result = {
        "max_control_stall_ms_survived": max(survived) if survived else 0,
        "media_plane_channels_per_core": int(media),
        "line_only_channels_per_core": int(line_only),
        "line_thread_late_ticks": thread["late_ticks"],
        "line_thread_max_late_ms": round(thread["max_late_ns"] / 1e6, 3),
        "line_thread_realtime_priority": bool(thread["realtime_priority"]),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

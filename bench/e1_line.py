"""Benchmark: how many E1 spans one core keeps in real time.

Pairs of spans (a near end and a far end, both counted) run back to back through the batch
entry point: every tick writes 30 B-channels into each span, receives the far end's frames
(frame/multiframe alignment, CRC-4 check, HDLC decode, demux), transmits (TS0 with CRC-4, HDLC
encode of D-channel frames that keep flowing, mux), and reads the 30 B-channels back out.
The reference measured in the same run is a plain copy of the same bytes (frames in and out,
bearer blocks in and out) with numpy.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root, not bench/ (bench/dsp.py is no package)

import numpy as np

from dsp.line import SpanBatch, SpanCore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=128, help="span pairs (2 spans each)")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds of line to run")
    parser.add_argument("--frames-per-tick", type=int, default=8, help="8 = 1 ms ticks")
    args = parser.parse_args()
    n, pairs = args.frames_per_tick, args.pairs
    ticks = int(args.seconds * 8000 / n)

    near = [SpanCore(crc4=True) for _ in range(pairs)]
    far = [SpanCore(crc4=True) for _ in range(pairs)]
    near_batch, far_batch = SpanBatch(near), SpanBatch(far)
    near_tx = np.zeros((pairs, n, 32), np.uint8)
    far_tx = np.zeros((pairs, n, 32), np.uint8)
    rng = np.random.default_rng(1)
    bearer_in = rng.integers(0, 256, size=(pairs, 30, n), dtype=np.uint8)
    bearer_out = np.empty((pairs, 30, n), np.uint8)
    payload = bytes(range(100))            # a Q.931-sized frame, ~13 ms of D-channel each

    received = 0

    def top_up_dchannels() -> None:
        nonlocal received
        for core in near + far:
            received += len(core.recv_dchannel())
            while core.send_dchannel(payload):
                pass

    # Warm up: alignment and CRC-4 multiframe on every span before timing.
    for tick in range(100):
        if tick % 50 == 0:
            top_up_dchannels()
        near_batch.process(far_tx, near_tx, bearer_in, bearer_out)
        far_batch.process(near_tx, far_tx, bearer_in, bearer_out)
    not_aligned = [i for i, c in enumerate(near + far) if not c.status().multiframe_aligned]
    if not_aligned:
        raise SystemExit(f"bench set-up failed: spans {not_aligned[:5]} not multiframe aligned")
    before = [c.counters() for c in near + far]

    cpu = wall = 0.0
    for t in range(ticks):
        if t % max(1, 800 // n) == 0:      # every 100 ms, untimed: Python queueing of D-channel frames
            top_up_dchannels()
        c0, w0 = time.process_time(), time.perf_counter()
        near_batch.process(far_tx, near_tx, bearer_in, bearer_out)
        far_batch.process(near_tx, far_tx, bearer_in, bearer_out)
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0

    after = [c.counters() for c in near + far]
    hdlc_rx = sum(a["hdlc_rx_frames"] - b["hdlc_rx_frames"] for a, b in zip(after, before))
    crc_errors = sum(a["crc4_errors"] - b["crc4_errors"] for a, b in zip(after, before))
    bad_fcs = sum(a["hdlc_bad_fcs"] for a in after)
    lost = sum(a["hdlc_rx_overflow"] for a in after)
    if crc_errors or bad_fcs or lost or not hdlc_rx:
        raise SystemExit(f"bench run unhealthy: crc4_errors={crc_errors} bad_fcs={bad_fcs} "
                         f"rx_overflow={lost} hdlc_rx={hdlc_rx}")

    # Reference: copy the same bytes each tick (frames in/out, bearer in/out) for both sides.
    scratch_frames = np.empty_like(near_tx)
    scratch_bearer = np.empty_like(bearer_in)
    ref_ticks = max(ticks // 4, 1)
    c0 = time.process_time()
    for _ in range(ref_ticks):
        for _side in range(2):
            np.copyto(scratch_frames, far_tx)
            np.copyto(scratch_frames, near_tx)
            np.copyto(scratch_bearer, bearer_in)
            np.copyto(bearer_out, scratch_bearer)
    ref_cpu = (time.process_time() - c0) * ticks / ref_ticks

    spans = 2 * pairs
    span_seconds = spans * ticks * n / 8000
    cpu_per_span_second = cpu / span_seconds
    result = {
        "bench": "e1_line",
        "spans_realtime_per_core": int(1.0 / cpu_per_span_second),
        "goal": 500,
        "spans": spans,
        "line_seconds": ticks * n / 8000,
        "frames_per_tick": n,
        "ticks": ticks,
        "cpu_seconds": round(cpu, 4),
        "wall_seconds": round(wall, 4),
        "us_per_span_tick": round(1e6 * cpu / (spans * ticks), 3),
        "ns_per_frame_tx_plus_rx": round(1e9 * cpu / (spans * ticks * n), 1),
        "hdlc_frames_received": hdlc_rx,
        "reference": "numpy copy of the same frame and bearer bytes",
        "reference_cpu_seconds": round(ref_cpu, 4),
        "ratio_to_reference": round(cpu / ref_cpu, 2) if ref_cpu > 0 else None,
    }
    print(f"{spans} spans x {result['line_seconds']} s of line: {cpu:.3f} s CPU "
          f"-> {result['spans_realtime_per_core']} spans in real time per core")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

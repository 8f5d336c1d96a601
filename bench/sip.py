"""SIP and RTP benchmark: each figure is one function returning a dict, listed in MEASUREMENTS;
the last line printed is one JSON object with every figure.

    rtp_g711_channels_per_core
        Bidirectional G.711 pass-through calls one core carries: per call two far ends (A and
        C) and two legs of the box relayed to each other (A <-> box leg =relay= box leg <-> C),
        20 ms packets both ways over real UDP on 127.0.0.1, lockstep on a virtual clock.  The
        figure is simulated seconds x calls / CPU seconds the box's advance took in its own
        thread (the far ends run in the same thread but outside the measured calls), best of
        the rounds.  Goal >= 2,000.
    rtp_g729_transcode_channels_per_core / bcg729_raw_channels_per_core
        Calls the box transcodes (a G.729 leg bridged through the media plane to an A-law leg,
        jitter buffers, packets and RTCP included) per core, measured as above on speech-like
        audio; beside it raw libbcg729 encode + decode of the same audio, measured in the same
        run by the code bench/dsp.py uses.  Goal >= 0.8 x raw.
    jitter_buffer_added_delay_ms_p50
        Median time a played frame spent in the box's jitter buffer while a middlebox delays
        each packet by a uniform 0..20 ms (so packets also reorder); with its p95, the target
        delay the buffer settled on and the fraction of frames dropped late.

Run with nice on a shared machine; `--quick` shrinks every measurement to a smoke run; names of
measurements as arguments run only those.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

# numpy's BLAS threads would spin beside the measured thread on a shared machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # run as bench/sip.py, look from the repo root

# seconds: of each measured round, after a warm-up of WARM_UP; rounds: the best is taken.
SCALE = {"g711_calls": 600, "g711_seconds": 1.0, "g729_calls": 30, "g729_seconds": 1.0, "rounds": 3,
         "jitter_seconds": 30.0}
WARM_UP = 0.5
STEP = 0.010


def _pair(a, leg_a: int, b, leg_b: int, codec: str, **options):
    """A leg on each port, connected to each other (the first opened twice: once to learn its
    address, once connected to the second's)."""
    host = "127.0.0.1"
    first = a.open(leg_a, (host, 0), (host, 9), codec, rtcp_mux=True, **options)
    second = b.open(leg_b, (host, 0), first.local, codec, rtcp_mux=True, **options)
    first = a.open(leg_a, first.local, second.local, codec, rtcp_mux=True, **options)
    return first, second


def _ports(n_legs: int):
    from dsp.rtp import RtpPort
    return [RtpPort(0.0) for _ in range((n_legs + RtpPort.LEGS - 1) // RtpPort.LEGS)]


def _run(far_ports, box_ports, seconds: float, rounds: int) -> float:
    """Advance everything on the virtual clock through a warm-up and then `rounds` rounds of
    `seconds` each; the box's CPU seconds in its best round (as bench/dsp.py takes the best of
    its rounds: the machine is shared)."""
    now, step = 0.0, 0
    best = float("inf")
    for round_ in range(-1, rounds):
        length = WARM_UP if round_ < 0 else seconds
        cpu = 0.0
        for _ in range(int(round(length / STEP))):
            step += 1
            now = step * STEP
            for port in far_ports:
                port.advance(now)
            start = time.thread_time()
            for port in box_ports:
                port.advance(now)
            cpu += time.thread_time() - start
        if round_ >= 0:
            best = min(best, cpu)
    return best


def measure_rtp_g711_pass_through() -> dict:
    calls, seconds = SCALE["g711_calls"], SCALE["g711_seconds"]
    legs_per_port = 30
    far, box = _ports(2 * calls), _ports(2 * calls)
    box_legs = []
    for call in range(calls):
        pair = []
        for side in range(2):
            n = 2 * call + side
            far_leg, box_leg = _pair(far[n // legs_per_port], n % legs_per_port,
                                     box[n // legs_per_port], n % legs_per_port, "PCMA")
            pair.append(box_leg)
        pair[0].relay(pair[1])
        box_legs += pair
    cpu = _run(far, box, seconds, SCALE["rounds"])
    relayed = sum(leg.stats()["relayed"] for leg in box_legs)
    lost = sum(max(0, leg.stats()["lost"]) for leg in box_legs)
    return {"rtp_g711_channels_per_core": round(calls * seconds / cpu),
            "rtp_g711_calls_measured": calls,
            "rtp_g711_relayed_packets": relayed,
            "rtp_g711_packets_lost": lost}


def measure_rtp_g729_transcode() -> dict:
    from bench.dsp import SCALE as DSP_SCALE
    from bench.dsp import bcg729_raw_channels_per_core
    from hil_tests.speechlike import speech_like

    calls, seconds = SCALE["g729_calls"], SCALE["g729_seconds"]
    far, box = _ports(2 * calls), _ports(2 * calls)
    speech = [speech_like(4.0, seed=s) for s in (3, 4)]
    box_legs = []
    for call in range(calls):
        pair = []
        for side, codec in enumerate(("G729", "PCMA")):
            n = 2 * call + side
            far_leg, box_leg = _pair(far[n // 30], n % 30, box[n // 30], n % 30, codec)
            far_leg.port.media.play(far_leg.leg, speech[side], loops=0)
            pair.append(box_leg)
        g729, alaw = pair
        g729.port.media.hear(g729.leg, alaw.port.media, alaw.leg)
        alaw.port.media.hear(alaw.leg, g729.port.media, g729.leg)
        box_legs += pair
    cpu = _run(far, box, seconds, SCALE["rounds"])
    ours = calls * seconds / cpu
    DSP_SCALE["rounds"] = SCALE["rounds"]
    raw = bcg729_raw_channels_per_core(calls, seconds)
    concealed = sum(leg.stats()["concealed"] for leg in box_legs)
    return {"rtp_g729_transcode_channels_per_core": round(ours, 1),
            "bcg729_raw_channels_per_core": round(raw, 1),
            "rtp_g729_transcode_vs_raw": round(ours / raw, 3),
            "rtp_g729_frames_concealed": concealed}


def measure_jitter_buffer_delay() -> dict:
    from dsp.rtp import RtpPort
    from hil_tests.packets.udp_middlebox import Middlebox
    from hil_tests.speechlike import speech_like

    seconds = SCALE["jitter_seconds"]
    far, box = RtpPort(0.0), RtpPort(0.0)
    middlebox = Middlebox(jitter=0.020, seed=11)
    x = far.open(0, ("127.0.0.1", 0), middlebox.for_x.getsockname()[:2], "PCMA", rtcp_mux=True)
    y = box.open(0, ("127.0.0.1", 0), middlebox.for_y.getsockname()[:2], "PCMA", rtcp_mux=True)
    middlebox.attach(x.local, y.local)
    far.media.play(0, speech_like(10.0, seed=5), loops=0)
    now, step = 0.0, 0.002
    for i in range(int(round(seconds / step))):
        now = (i + 1) * step
        middlebox.pump(now)
        far.advance(now)
        box.advance(now)
        middlebox.pump(now)
    middlebox.close()
    s = y.stats()
    histogram = box.delay_histogram(0)
    cumulative = histogram.cumsum() / max(1, histogram.sum())
    p95 = int((cumulative >= 0.95).argmax())
    return {"jitter_buffer_added_delay_ms_p50": s["jitter_delay_p50_ms"],
            "jitter_buffer_added_delay_ms_p95": p95,
            "jitter_buffer_target_ms": s["jitter_buffer"]["target_ms"],
            "jitter_buffer_late_fraction": round(s["jitter_buffer"]["late"] / max(1, s["jitter_buffer"]["frames_in"]), 4),
            "jitter_simulated_ms": 20}


MEASUREMENTS = [
    measure_rtp_g711_pass_through,
    measure_rtp_g729_transcode,
    measure_jitter_buffer_delay,
]


def main() -> None:
    if "--quick" in sys.argv[1:]:
        SCALE.update(g711_calls=20, g711_seconds=0.5, g729_calls=2, g729_seconds=0.5, jitter_seconds=2.0,
                     rounds=1)
    chosen = [a for a in sys.argv[1:] if not a.startswith("--")]
    results: dict = {}
    for measure in MEASUREMENTS:
        if chosen and measure.__name__ not in chosen:
            continue
        figures = measure()
        print(f"{measure.__name__}: {figures}", flush=True)
        results.update(figures)
    print(json.dumps(results))


if __name__ == "__main__":
    main()

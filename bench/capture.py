"""The capture writer under the full bench load, and the bench's RTP analyser.

Load: 240 G.711 legs both ways (480 RTP streams at 50 packets/s, 24,000 packets/s), RTCP every
5 s per stream, and SIP at 20 messages/s, offered in one burst per 20 ms tick as the data plane
would.  The load is scaled up in steps (1x, 1.25x, 2x, 4x, 8x; stopping at the first drop) for `--seconds` each; the highest
rate with 0 dropped is `capture_packets_per_s`.  `writer_max_packets_per_s` is the writer alone
draining a preloaded ring; `dropped` is what the ring refused at the goal load (>= 25,000/s).
`analysis_packets_per_s`: hil_tests/packets/rtp_analysis.py over a capture of the same load.

`late_ticks_with_capture`: 120 relayed G.711 calls (240 legs of the box, both directions at 50
packets/s, RTCP on its own ports) over real UDP on 127.0.0.1 through the box's line thread
(2 ms period, `LineThread.attach_rtp`), while a capture of everything takes every datagram the
box's RTP ports send and receive (their capture tap, drained by firmware/capture/data_plane.py);
the far ends run on a thread of their own.  The line thread's late ticks over `--rtp-seconds`
(>= 20 s by default) are the figure; `late_ticks_without_capture` is the same calls measured
just before for as long (`--baseline-seconds`), in the same run, with no capture.  On a virtual
machine a tick can be late because the hypervisor ran something else (`cpu_steal_ms_*`, from
/proc/stat): the two figures side by side tell the capture's cost from the host's.  Each late
tick is also attributed (LateTickAttribution, sampled every 2 ms): `_run_queue_wait` (the line
thread was runnable in this kernel but another thread or an interrupt held the CPU: a cause the
box could fix with priorities or pinning), `_beside_steal` (the hypervisor's steal grew around it
and the thread never waited in the guest's run queue), `_unexplained` (neither: a late timer,
or steal below /proc/stat's 10 ms resolution).  `capture_with_rtp_packets_per_s` and
`dropped_with_rtp` are what that capture wrote and lost (the capture's ring and the tap's).
`dropped` is the goal load's drops (the highest step's when `--scales` stops short of it) plus
the RTP run's.
Last line: one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware.capture.capture import Capture  # noqa: E402
from firmware.capture.definition import parse_definition  # noqa: E402
from firmware.capture.pcapng import Flow  # noqa: E402
from hil_tests.packets.rtp_analysis import analyse  # noqa: E402

GOAL = 25_000
LEGS = 240
TICK = 0.020
_RTP = struct.Struct(">BBHII")
PAYLOAD = bytes([0xD5]) * 160
INVITE = (b"INVITE sip:100@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n"
          b"Max-Forwards: 70\r\nFrom: <sip:4930@192.0.2.10>;tag=1\r\nTo: <sip:100@192.0.2.1>\r\n"
          b"Call-ID: bench@192.0.2.10\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


class Load:
    """The bench's packet mix, one tick at a time; `scale` multiplies every stream's rate by
    adding more streams (each stays at 50 packets/s)."""

    def __init__(self, scale: float):
        self.streams = []
        count = int(round(LEGS * 2 * scale))
        for i in range(count):
            leg = i // 2
            box_port, peer_port = 20000 + 2 * leg, 30000 + 2 * leg
            if i % 2 == 0:
                flow = Flow("192.0.2.10", box_port, "192.0.2.1", peer_port)
                sent = True
            else:
                flow = Flow("192.0.2.1", peer_port, "192.0.2.10", box_port)
                sent = False
            rtcp = Flow(flow.src, flow.sport + 1, flow.dst, flow.dport + 1)
            self.streams.append([flow, rtcp, sent, 0x10000 + i, 0, 0])
        self.sip_out = Flow("192.0.2.10", 5060, "192.0.2.1", 5060)
        self.sip_every = max(1, int(round(1 / (20 * scale * TICK))))   # ticks between SIP messages
        self.rtcp_every = int(5 / TICK)
        self.tick = 0

    @property
    def packets_per_s(self) -> float:
        return len(self.streams) * (1 / TICK) + len(self.streams) / 5 + 1 / (self.sip_every * TICK)

    def offer(self, capture: Capture, now: float) -> int:
        offered = 0
        rtp = capture.rtp
        for stream in self.streams:
            flow, rtcp, sent, ssrc, seq, ts = stream
            rtp(flow, _RTP.pack(0x80, 8, seq, ts, ssrc) + PAYLOAD, sent=sent, timestamp=now)
            stream[4] = (seq + 1) & 0xFFFF
            stream[5] = (ts + 160) & 0xFFFFFFFF
            offered += 1
        if self.tick % self.rtcp_every == 0:
            for flow, rtcp, sent, ssrc, seq, ts in self.streams:
                rtp(rtcp, struct.pack(">BBHIIIIII", 0x80, 200, 6, ssrc, 0, 0, ts, seq, seq * 160), sent=sent,
                    timestamp=now)
                offered += 1
        if self.tick % self.sip_every == 0:
            capture.sip(self.sip_out, INVITE, sent=True, timestamp=now)
            offered += 1
        self.tick += 1
        return offered


def paced_run(scale: float, seconds: float, folder: str) -> dict:
    """Offer the load in real time for `seconds`; what the writer wrote and what was dropped."""
    path = os.path.join(folder, f"paced-{scale}.pcapng")
    capture = Capture(parse_definition("all"), path)
    load = Load(scale)
    capture.start()
    began = time.monotonic()
    ticks = int(seconds / TICK)
    late = 0
    offered = 0
    for n in range(ticks):
        due = began + n * TICK
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elif wait < -TICK:
            late += 1
        offered += load.offer(capture, 1_800_000_000.0 + n * TICK)
    elapsed = time.monotonic() - began
    capture.stop()
    status = capture.status()
    os.unlink(path)
    return {"scale": scale, "offered_per_s": round(offered / elapsed), "written": status["packets"],
            "dropped": status["dropped"], "producer_late_ticks": late, "load_per_s": round(load.packets_per_s)}


def writer_max(packets: int, folder: str) -> float:
    """The writer alone: preload the ring, then time it draining to the file."""
    path = os.path.join(folder, "max.pcapng")
    capture = Capture(parse_definition("all"), path, ring_capacity=packets + 10, batch=8192)
    capture.running = True         # take packets before the writer thread exists
    load = Load(1.0)
    n = 0
    while len(capture.ring) < packets:
        load.offer(capture, 1_800_000_000.0 + n * TICK)
        n += 1
    queued = len(capture.ring)
    capture.running = False
    capture.state = "defined"
    began = time.perf_counter()
    capture.start()
    while len(capture.ring):
        time.sleep(0.001)
    capture.stop()
    elapsed = time.perf_counter() - began
    if capture.status()["packets"] != queued or os.path.getsize(path) < queued * 100:
        raise RuntimeError(f"writer wrote {capture.status()['packets']} of {queued} preloaded packets")
    os.unlink(path)
    return queued / elapsed


def analysis_rate(seconds: float, folder: str) -> tuple[float, int]:
    path = os.path.join(folder, "analysis.pcapng")
    capture = Capture(parse_definition("rtp"), path, ring_capacity=1 << 20)
    load = Load(0.25)
    capture.start()
    for n in range(int(seconds / TICK)):
        load.offer(capture, 1_800_000_000.0 + n * TICK)
    capture.stop()
    written = capture.status()["packets"]
    began = time.perf_counter()
    result = analyse(path)
    elapsed = time.perf_counter() - began
    os.unlink(path)
    assert all(s.lost == 0 for s in result.streams.values())
    return written / elapsed, len(result.streams)


def _leg_pair(far, far_leg: int, box, box_leg: int):
    """A far end's leg and a leg of the box connected to each other (the far end opened twice:
    once to learn its address, once connected to the box's)."""
    host = "127.0.0.1"
    first = far.open(far_leg, (host, 0), (host, 9), "PCMA")
    mine = box.open(box_leg, (host, 0), first.local, "PCMA")
    far.open(far_leg, first.local, mine.local, "PCMA")
    return mine


def cpu_steal_seconds() -> float:
    """Time the hypervisor ran something else on this machine's CPUs (all CPUs summed), which no
    thread priority can win back; 0 where the kernel does not tell."""
    try:
        with open("/proc/stat") as handle:
            fields = handle.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def realtime_thread_ids() -> list[int]:
    """This process's threads in SCHED_FIFO or SCHED_RR (the box's line thread), from /proc."""
    found = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[38] in ("1", "2"):        # field 41 of stat, policy: 1 FIFO, 2 RR
            found.append(int(task))
    return found


def runqueue_wait_ns(tid: int | None) -> int:
    """Time the thread spent runnable but not running, as this kernel saw it (schedstat)."""
    if tid is None:
        return 0
    try:
        with open(f"/proc/self/task/{tid}/schedstat") as handle:
            return int(handle.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


class LateTickAttribution:
    """Where the line thread's late ticks come from: a sampler reads the thread's late-tick
    count, the kernel's steal time (/proc/stat, 10 ms steps) and the thread's own run-queue
    wait (schedstat, ns) every 2 ms.  A late tick whose thread waited in this kernel's run queue
    (another thread of its priority or above, or an interrupt's work, held the CPU) is the
    guest's; one with steal around it and no wait is the hypervisor's; one with neither is a
    timer that fired late (or steal under /proc/stat's 10 ms resolution).
    The sampler is a Python thread at normal priority: it never holds anything the line thread
    waits for (the stats read takes the thread's priority-inheriting lock for a copy)."""

    STEAL_WINDOW = 0.030        # s either side: three of /proc/stat's 10 ms steps
    WAITED_NS = 1_000_000       # run-queue wait around a late tick that counts as the cause

    def __init__(self, thread, period: float = 0.002):
        self.thread, self.period = thread, period
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.samples: list[tuple[float, int, float, int]] = []   # (monotonic s, late ticks, steal s, wait ns)
        ids = realtime_thread_ids()
        self.tid = ids[0] if len(ids) == 1 else None

    def start(self) -> None:
        self.samples = []
        self._stop.clear()
        self._worker = threading.Thread(target=self._run, name="late-tick-sampler", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.thread.stats()["late_ticks"], cpu_steal_seconds(),
                                 runqueue_wait_ns(self.tid)))
            self._stop.wait(self.period)

    def stop(self) -> dict:
        self._stop.set()
        if self._worker is not None:
            self._worker.join()
        waited = beside = neither = 0
        samples = self.samples
        for i in range(1, len(samples)):
            new_late = samples[i][1] - samples[i - 1][1]
            if new_late <= 0:
                continue
            at = samples[i][0]
            if self.tid is not None and samples[i][3] - samples[i - 1][3] >= self.WAITED_NS:
                waited += new_late
                continue
            window = [s for s in samples if abs(s[0] - at) <= self.STEAL_WINDOW]
            if window[-1][2] > window[0][2]:
                beside += new_late
            else:
                neither += new_late
        span = samples[-1][0] - samples[0][0] if len(samples) > 1 else 0.0
        return {"waited_in_guest": waited, "beside_steal": beside, "neither": neither,
                "thread_found": self.tid is not None, "samples": len(samples),
                "sample_interval_ms": round(span / max(1, len(samples) - 1) * 1000, 2)}


def rtp_run(calls: int, seconds: float, baseline_seconds: float, path: str) -> dict:
    """Relayed G.711 calls through the box's line thread: its late ticks without, then with, a
    capture of everything; the capture is left at `path`."""
    from dsp.capture_tap import CaptureTap
    from dsp.line_port import LineThread
    from dsp.rtp import RtpPort
    from firmware.capture.data_plane import DataPlaneFeed

    legs = 2 * calls
    now = LineThread.now()
    count = (legs + RtpPort.LEGS - 1) // RtpPort.LEGS
    # Calls begin at different moments: each far port's 10 ms grid is offset, so the 240 legs'
    # packets are spread over the 20 ms packet time as a real box's calls are, not sent at once.
    far = [RtpPort(now + (k % 8) * 0.00125 + (k // 8) * 0.0003) for k in range(count)]
    box = [RtpPort(now) for _ in range(count)]
    box_legs = [_leg_pair(far[n // RtpPort.LEGS], n % RtpPort.LEGS, box[n // RtpPort.LEGS], n % RtpPort.LEGS)
                for n in range(legs)]
    for a, b in zip(box_legs[0::2], box_legs[1::2]):
        a.relay(b)
    tap = CaptureTap(8 << 20)
    for port in box:
        port.set_capture_tap(tap)
    box_thread, far_thread = LineThread(period=0.002), LineThread(period=0.001)
    for port in box:
        box_thread.attach_rtp(port)
    for port in far:
        far_thread.attach_rtp(port)
    # The box's thread alone gets the real-time class: far ends woken beside it on the same
    # grid made it later, not earlier, on a shared machine (measured).
    far_thread.start(realtime_priority=False)
    box_thread.start(realtime_priority=True)
    capture = Capture(parse_definition("all"), path, ring_capacity=1 << 17)
    feed = DataPlaneFeed(tap, capture)
    try:
        time.sleep(1.0)                       # warm-up: sockets, jitter buffers, first RTCP
        attribution = LateTickAttribution(box_thread)
        box_thread.reset_stats()
        steal = cpu_steal_seconds()
        attribution.start()
        time.sleep(baseline_seconds)
        baseline = box_thread.stats()
        steal_baseline = cpu_steal_seconds() - steal
        attributed_baseline = attribution.stop()
        capture.start()
        feed.start()
        box_thread.reset_stats()
        steal = cpu_steal_seconds()
        attribution.start()
        began = time.monotonic()
        time.sleep(seconds)
        during = box_thread.stats()
        steal_during = cpu_steal_seconds() - steal
        attributed = attribution.stop()
        far_stats = far_thread.stats()
        feed.stop()
        elapsed = time.monotonic() - began
        capture.stop()
    finally:
        box_thread.stop()
        far_thread.stop()
    status = capture.status()
    relayed = sum(leg.stats()["relayed"] for leg in box_legs)
    lost = sum(max(0, leg.stats()["lost"]) for leg in box_legs)
    for port in box:
        box_thread.detach_rtp(port)
    for port in far:
        far_thread.detach_rtp(port)
    for port in box + far:
        for leg in list(port.sessions):
            port.close(leg)
    if relayed == 0:
        raise RuntimeError("no RTP was relayed: the calls did not flow")
    return {
        "late_ticks_with_capture": during["late_ticks"],
        "late_ticks_without_capture": baseline["late_ticks"],
        "line_thread_max_late_us_with_capture": round(during["max_late_ns"] / 1000),
        "line_thread_max_work_us_with_capture": round(during["max_work_ns"] / 1000),
        "line_thread_max_late_us_without_capture": round(baseline["max_late_ns"] / 1000),
        "line_thread_max_work_us_without_capture": round(baseline["max_work_ns"] / 1000),
        "late_ticks_with_capture_run_queue_wait": attributed["waited_in_guest"],
        "late_ticks_with_capture_beside_steal": attributed["beside_steal"],
        "late_ticks_with_capture_unexplained": attributed["neither"],
        "late_ticks_without_capture_run_queue_wait": attributed_baseline["waited_in_guest"],
        "late_ticks_without_capture_beside_steal": attributed_baseline["beside_steal"],
        "late_ticks_without_capture_unexplained": attributed_baseline["neither"],
        "line_thread_schedstat_found": attributed["thread_found"],
        "steal_sample_interval_ms": attributed["sample_interval_ms"],
        "cpu_steal_ms_with_capture": round(steal_during * 1000),
        "cpu_steal_ms_without_capture": round(steal_baseline * 1000),
        "far_ends_late_ticks": far_stats["late_ticks"],
        "far_ends_max_late_us": round(far_stats["max_late_ns"] / 1000),
        "line_thread_ticks_with_capture": during["ticks"],
        "line_thread_mean_work_us_with_capture": round(during["total_work_ns"] / max(1, during["ticks"]) / 1000),
        "line_thread_mean_work_us_without_capture": round(baseline["total_work_ns"] / max(1, baseline["ticks"]) / 1000),
        "line_thread_realtime_priority": during["realtime_priority"],
        "capture_with_rtp_packets_per_s": round(status["packets"] / elapsed),
        "capture_with_rtp_packets": status["packets"],
        "dropped_with_rtp": status["dropped"] + tap.stats()["dropped"] + feed.refused,
        "rtp_seconds": round(elapsed, 1),
        "rtp_calls": calls,
        "rtp_legs": legs,
        "rtp_relayed_packets": relayed,
        "rtp_packets_lost": lost,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="wall seconds per paced step")
    parser.add_argument("--scales", default="1,1.25,2,4,8", help="load multiples to try")
    parser.add_argument("--writer-packets", type=int, default=200_000, help="packets the writer alone drains")
    parser.add_argument("--analysis-seconds", type=float, default=2.0, help="simulated seconds the analyser reads")
    parser.add_argument("--rtp-calls", type=int, default=LEGS // 2, help="relayed calls through the line thread")
    parser.add_argument("--rtp-seconds", type=float, default=20.0, help="wall seconds of the capture over RTP")
    parser.add_argument("--baseline-seconds", type=float, default=20.0,
                        help="wall seconds of the same calls before, with no capture")
    parser.add_argument("--keep-rtp-capture", metavar="FILE", help="leave the RTP run's capture here")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="pribox-capture-bench-") as folder:
        for scale in (float(s) for s in args.scales.split(",")):
            run = paced_run(scale, args.seconds, folder)
            runs.append(run)
            print(json.dumps(run), flush=True)
            if run["dropped"]:
                break
        maximum = writer_max(args.writer_packets, folder)
        analysis, streams = analysis_rate(args.analysis_seconds, folder)
        rtp_path = args.keep_rtp_capture or os.path.join(folder, "rtp.pcapng")
        with_rtp = rtp_run(args.rtp_calls, args.rtp_seconds, args.baseline_seconds, rtp_path)
        print(json.dumps(with_rtp), flush=True)
    # offered_per_s is measured, so a producer that fell behind on a busy machine only lowers it.
    clean = [r for r in runs if r["dropped"] == 0]
    at_goal = [r for r in runs if r["load_per_s"] >= GOAL]
    print(json.dumps({
        "capture_packets_per_s": max((r["offered_per_s"] for r in clean), default=0),
        "dropped": (at_goal or runs)[0 if at_goal else -1]["dropped"] + with_rtp["dropped_with_rtp"],
        "dropped_at_goal_load": at_goal[0]["dropped"] if at_goal else None,
        "goal_packets_per_s": GOAL,
        "goal_load_per_s": at_goal[0]["load_per_s"] if at_goal else None,
        "writer_max_packets_per_s": round(maximum),
        "analysis_packets_per_s": round(analysis),
        "analysis_streams": streams,
        **with_rtp,
    }))


if __name__ == "__main__":
    main()

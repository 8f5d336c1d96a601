"""WebRTC agents talking at once through the box's endpoint, in real time, and the page's event latency.

The box is this process: its registrar and SIP user agent, RTP legs on the line thread (10 ms
period), the agent API with the softphone's WebSocket, and the WebRTC endpoint (aiortc) in its
own thread.  N agents are aiortc peers in a second process (`--far-ends`), each a client of
the API like a page: it logs in at an extension, opens the softphone socket, offers, and answers
when rung.  The box then rings every extension at once; each agent sends the KR dial tone and
the box plays 1 kHz on every leg.  Over `--seconds` of talk:

- `late ticks`: the line thread's ticks that began more than one period late, plus ticks of a
  10 ms heartbeat on the endpoint's loop that ran more than 20 ms (one packet) late, i.e. the
  endpoint could not keep up with real time;
- every leg must hear the dial tone (the box's tone detector) and every agent the 1 kHz
  (numpy on its received track), else the step fails whatever the ticks say.

The line thread runs at real-time priority (SCHED_FIFO 10, as on the box; needs root), and the
endpoint's thread at SCHED_FIFO 5 as `[webrtc] realtime_priority` makes it (`--endpoint-priority
normal`: as any thread).  First the
reference, in the same run: the box with no agent, measured the same way (`idle_reference`).
N rises through `--steps`: `webrtc_agents_talking` is the largest N with 0 late ticks at it and
every step before (goal >= 30); on a machine shared with other work, where ticks go late with no
agent at all, `webrtc_agents_talking_vs_idle` is the largest N whose late ticks stay within the
idle reference's.  The steps stop at the first one above the reference or with a deaf leg.
CPU per agent is the box process's CPU over the talk per agent (% of one core).

`page_event_latency_ms_p99`: a CTI event (an agent's state change) -> the agent desktop updated
on screen, in headless Chromium: the desktop's own measurement, hil_tests/desktop/page_latency.py
(goal <= 100).  Needs chromium (`make deps`) and root (a network namespace).

    .venv/bin/python bench/webrtc.py [--steps 5,10,15,20,25,30,40] [--seconds 10]
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from firmware.config.passwords import hash_password  # noqa: E402

PASSWORD = "bench-pass"
HEARTBEAT = 0.010
LATE_HEARTBEAT = 0.020
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_load() -> float:
    return round(os.getloadavg()[0], 2)


# == the box ==================================================================================
def agents_config(n: int):
    from pbx_cti.cti import AgentConfig, CtiConfig, QueueConfig
    agents = {f"a{k}": AgentConfig(f"a{k}", {"sales": 5}) for k in range(1, n + 1)}
    return CtiConfig(agents=agents, queues={"sales": QueueConfig("sales", "sales")},
                     not_ready_reasons=("break",), wrap_up_codes=("done",), groups=("sales",))


class Heartbeat:
    """A 10 ms timer on a loop; counts firings more than one packet time late."""

    def __init__(self):
        self.ticks = self.late = 0
        self.max_late = 0.0
        self.running = True

    async def run(self) -> None:
        due = time.monotonic() + HEARTBEAT
        while self.running:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            lateness = time.monotonic() - due
            self.ticks += 1
            self.max_late = max(self.max_late, lateness)
            if lateness > LATE_HEARTBEAT:
                self.late += 1
            due += HEARTBEAT
            if lateness > 0.5:          # far behind: count once and start again from now
                due = time.monotonic() + HEARTBEAT


async def box_step(n: int, seconds: float, realtime: bool = True) -> dict:
    from firmware.config.passwords import hash_password
    from pbx_cti.api.app import AgentApi, Credentials
    from pbx_cti.cti import CtiEngine
    from pbx_cti.cti.runner import CtiRunner
    from pbx_cti.webrtc.endpoint import EndpointConfig, WebRtcEndpoint
    from pbx_cti.webrtc.signalling import EndpointThread, install
    from runtime.clock import LoopClock
    from tests.webrtc.harness import HOST, PASSWORDS, Box, DialToneEar, play_tone, record, wait_for

    box = await Box(tick=0.010, realtime=True).start()      # the line thread as on the box: SCHED_FIFO
    cheap = hash_password(PASSWORD, n=16, r=1, p=1)
    engine = CtiEngine(agents_config(n))
    runner = CtiRunner(engine, LoopClock(asyncio.get_running_loop()), box.bus)
    api = AgentApi(runner, box.bus, Credentials({a: cheap for a in engine.agents}))
    api.settings.requests_per_second, api.settings.request_burst = 10_000.0, 10_000
    endpoint = EndpointThread(lambda: WebRtcEndpoint(EndpointConfig(registrar=(HOST, box.port), domain=HOST),
                                                     PASSWORDS.get), realtime_priority=realtime).start()
    install(api, endpoint)
    app_runner = web.AppRunner(api.app)
    await app_runner.setup()
    site = web.TCPSite(app_runner, HOST, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    far = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--far-ends", f"http://{HOST}:{port}", "--agents", str(n),
        stdout=asyncio.subprocess.PIPE, cwd=str(ROOT)) if n else None
    result: dict = {"agents": n}
    try:
        extensions = [str(2000 + k) for k in range(1, n + 1)]
        if not await wait_for(lambda: all(box.registered(e) for e in extensions), 30 + n):
            result["error"] = f"{sum(box.registered(e) for e in extensions)} of {n} registered"
            return result
        legs = {}
        for k, extension in enumerate(extensions, 1):
            session = endpoint.endpoint.sessions[f"a{k}"]
            legs[extension] = box.ring(extension, session.relay.local)
        if not await wait_for(lambda: all(box.answered(c) for c, _ in legs.values()), 15):
            result["error"] = f"{sum(box.answered(c) for c, _ in legs.values())} of {n} answered"
            return result
        for _, leg in legs.values():
            record(leg)
            play_tone(leg, seconds=seconds + 3)
        ears = {e: DialToneEar(leg) for e, (_, leg) in legs.items()}
        await asyncio.sleep(1.0)                # settle: jitter buffers, the first packets
        beat = Heartbeat()
        beating = asyncio.run_coroutine_threadsafe(beat.run(), endpoint.loop)
        box.thread.reset_stats()
        cpu0, far0, t0 = cpu_seconds(os.getpid()), cpu_seconds(far.pid) if far else 0.0, time.monotonic()
        load0 = machine_load()
        for _ in range(int(seconds)):            # the ears drain the recorders as the talk goes on
            await asyncio.sleep(1.0)
            for ear in ears.values():
                ear.heard()
        elapsed = time.monotonic() - t0
        cpu, far_cpu = cpu_seconds(os.getpid()) - cpu0, (cpu_seconds(far.pid) - far0) if far else 0.0
        beat.running = False
        beating.cancel()
        thread = box.thread.stats()
        deaf = [e for e, ear in ears.items() if not ear.heard()]
        if os.environ.get("WEBRTC_BENCH_DEBUG"):
            for e, (_, leg) in legs.items():
                st = leg.stats()
                print(e, e in deaf, {k: st[k] for k in ("packets_received", "lost", "jitter_ms")},
                      st["jitter_buffer"], ears[e].debug(), file=sys.stderr)
        lost = sum(leg.stats()["lost"] for _, leg in legs.values())
        result.update({
            "line_late_ticks": int(thread["late_ticks"]), "endpoint_late_ticks": beat.late,
            "late_ticks": int(thread["late_ticks"]) + beat.late,
            "endpoint_max_late_ms": round(beat.max_late * 1000, 1),
            "legs_deaf": len(deaf), "rtp_lost_at_box": lost,
            "box_cpu_percent": round(100 * cpu / elapsed, 1),
            "box_cpu_percent_per_agent": round(100 * cpu / elapsed / n, 2) if n else None,
            "far_ends_cpu_percent": round(100 * far_cpu / elapsed, 1),
            "line_thread_realtime": bool(thread["realtime_priority"]),
            "endpoint_thread_realtime": endpoint.realtime,
            "load_avg_1m": [load0, machine_load()],
        })
    finally:
        await app_runner.cleanup()                # closes the sockets: the far ends report and leave
        far_result = {"deaf": 0}
        if far is not None:
            try:
                out, _ = await asyncio.wait_for(far.communicate(), 30)
                lines = [line for line in out.decode().splitlines() if line.startswith("{")]
                far_result = json.loads(lines[-1]) if lines else {}
            except asyncio.TimeoutError:
                far.kill()
                await far.wait()
                far_result = {}
        result["agents_deaf"] = far_result.get("deaf", n)
        await box.stop()
    return result


# == the far ends: N aiortc peers as pages ==========================================================
async def far_ends(url: str, n: int) -> dict:
    from tests.webrtc.harness import LeanBrowserPeer

    peers: list = []

    async def agent(k: int, http: aiohttp.ClientSession) -> None:
        login = await http.post(f"{url}/api/v1/login", json={"agent": f"a{k}", "password": PASSWORD,
                                                             "extension": str(2000 + k)})
        token = (await login.json())["token"]
        ws = await http.ws_connect(f"{url}/api/v1/softphone?token={token}")
        peer = LeanBrowserPeer()
        peers.append(peer)
        await ws.send_str(json.dumps({"type": "offer", "sdp": await peer.offer()}))
        async for message in ws:
            event = json.loads(message.data)
            if event["type"] == "answer":
                await peer.accept(event["sdp"])
            elif event["type"] == "incoming":
                await ws.send_str(json.dumps({"type": "answer-call"}))
        peer.finished = True

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(agent(k, http) for k in range(1, n + 1)), return_exceptions=True)
    deaf = sum(1 for p in peers if p.tone_level(last_seconds=2.0) < 30.0)
    for peer in peers:
        await peer.close()
    return {"deaf": deaf + (n - len(peers))}


# == the page's event latency ======================================================================
def page_event_latency(samples: int = 200) -> dict:
    """The desktop's own measurement (hil_tests/desktop/page_latency.py): a small center and
    headless Chromium in a loopback-only namespace, `samples` state changes of an agent."""
    from hil_tests.desktop.page_latency import page_event_latency as measure
    figures = measure(samples)
    return {"source": "hil_tests/desktop/page_latency.py", "samples": figures["samples"],
            "p50": figures["page_event_latency_ms_p50"], "p99": figures["page_event_latency_ms_p99"],
            "max": figures["page_event_latency_ms_max"],
            # where the time went: the event's time -> the page's WebSocket (the box's share),
            # and the message -> the frame showing it (the page's share)
            "arrival_p99": figures.get("page_event_arrival_ms_p99"),
            "render_p99": figures.get("page_event_render_ms_p99")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="5,10,15,20,25,30,40")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--endpoint-priority", choices=("realtime", "normal"), default="realtime",
                        help="the endpoint's thread as [webrtc] realtime_priority makes it on the box (default), "
                             "or as any thread")
    parser.add_argument("--far-ends")
    parser.add_argument("--agents", type=int)
    args = parser.parse_args()
    if args.far_ends:
        print(json.dumps(asyncio.run(far_ends(args.far_ends, args.agents))))
        return
    # The reference, in the same run: the box with no agent, measured the same way.  On a machine
    # shared with other work, ticks go late with no agent at all; a step is then judged against it.
    realtime = args.endpoint_priority == "realtime"
    idle = asyncio.run(box_step(0, args.seconds, realtime))
    print(json.dumps(idle), flush=True)
    steps, best, best_vs_idle, last, strict = [], 0, 0, None, True
    for n in (int(s) for s in args.steps.split(",")):
        step = asyncio.run(box_step(n, args.seconds, realtime))
        steps.append(step)
        print(json.dumps(step), flush=True)
        audio_ok = "error" not in step and step["legs_deaf"] == 0 and step["agents_deaf"] == 0
        strict = strict and audio_ok and step["late_ticks"] == 0
        if strict:
            best = n
        if audio_ok and step["late_ticks"] <= idle.get("late_ticks", 0):
            best_vs_idle = n
            continue
        last = step
        break
    per_agent = [s["box_cpu_percent_per_agent"] for s in steps if s.get("box_cpu_percent_per_agent")]
    latency = page_event_latency(args.latency_samples) if args.latency_samples else {"skipped": True}
    print(json.dumps({
        "webrtc_agents_talking": best,
        "webrtc_agents_goal": 30,
        "webrtc_agents_talking_vs_idle": best_vs_idle,
        "idle_reference": idle,
        "first_failing_step": last,
        "box_cpu_percent_per_agent": round(statistics.median(per_agent), 2) if per_agent else None,
        "page_event_latency_ms_p99": latency.get("p99"),
        "page_event_latency_ms_p50": latency.get("p50"),
        "page_event_latency": latency,
        "load_avg_1m": machine_load(),
        "cpus": os.cpu_count(),
        "talk_seconds_per_step": args.seconds,
        "endpoint_priority": args.endpoint_priority,
    }))


if __name__ == "__main__":
    main()

"""Benchmark: the agent-application API's events — 100 agents, each with its WebSocket open in
ANOTHER process (aiohttp's client), the daemon side as the box runs it: the CTI engine with its
SQLite event log, the runner on the loop's clock, the API's hub and per-client queues.

The server drives agents' state changes (ready / not ready, one event each) through the runner
as fast as the clients take them: it stops feeding when a client's queue passes half its bound
(flow control, so no client is dropped and what is measured is what gets through).

    events_per_s            events received by the 100 clients ÷ the time between the first and
                            last received (counted in the client process)   goal >= 20,000
    event_latency_ms_p99    receive wall time - the event's own wall time (the decision's `time`),
                            p50 and max beside it: queueing in the server, batching, the socket
    engine_events_per_s     the reference, measured in the same run: the same inputs through the
                            runner with no API and no clients (the ceiling the API works under)
    server_cpu_s, client_cpu_s   process CPU over the measured window

    .venv/bin/python bench/cti_api.py [--seconds 5] [--quick]
The last line printed is one JSON object.  bench/cti.py, the CTI's whole measurement, runs this
one through `measure(seconds)`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/ must not shadow packages

AGENTS = 100
PASSWORD = "bench-password"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


# ---------------------------------------------------------------------------- the client process
async def client_main(port: int, agents: int) -> None:
    import aiohttp

    base = f"http://127.0.0.1:{port}/api/v1"
    received, latencies = 0, []
    first = last = 0.0

    async def reader(ws) -> None:
        nonlocal received, first, last
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.time()
            body = json.loads(message.data)
            if body["type"] != "events":
                continue
            if not first:
                first = now
            last = now
            received += len(body["events"])
            latencies.extend(now - e["time"] for e in body["events"])

    async with aiohttp.ClientSession() as http:
        sockets = []
        for n in range(agents):
            async with http.post(base + "/login", json={"agent": f"agent{n:03d}", "password": PASSWORD,
                                                        "extension": f"ext{n:03d}"}) as response:
                token = (await response.json())["token"]
            ws = await http.ws_connect(f"{base}/events?token={token}", max_msg_size=0)
            await ws.receive()  # hello
            sockets.append(ws)
        print("ready", flush=True)
        cpu0 = time.process_time()
        await asyncio.gather(*(reader(ws) for ws in sockets))
        cpu = time.process_time() - cpu0
    print(json.dumps({"received": received, "first": first, "last": last, "cpu_s": cpu,
                      "latency_ms": [round(x * 1000, 3) for x in (percentile(latencies, 50), percentile(latencies, 99),
                                                                   max(latencies, default=0.0))]}), flush=True)


# ---------------------------------------------------------------------------- the server side
def build(store):
    from firmware.config.passwords import hash_password
    from pbx_cti.cti import AgentConfig, CtiConfig, CtiEngine, QueueConfig

    agents = {f"agent{n:03d}": AgentConfig(f"agent{n:03d}", {"sales": 5}) for n in range(AGENTS)}
    config = CtiConfig(agents=agents, queues={"sales": QueueConfig("sales", "sales")})
    hashes = {a: hash_password(PASSWORD, n=16, r=1, p=1) for a in agents}  # cheap: logins are not measured
    return CtiEngine(config, store), hashes


def engine_reference(seconds: float) -> float:
    """Events per second through the runner alone (same inputs, SQLite log, no API)."""
    from pbx_cti.cti import SqliteEventStore
    from pbx_cti.cti.decisions import Decision
    from pbx_cti.cti.runner import CtiRunner
    from runtime.bus import EventBus
    from runtime.clock import ManualClock

    with tempfile.TemporaryDirectory() as state:
        store = SqliteEventStore.in_state_dir(state)
        engine, _ = build(store)
        bus, count = EventBus(), [0]
        bus.subscribe(Decision, lambda d: count.__setitem__(0, count[0] + 1))
        runner = CtiRunner(engine, ManualClock(), bus)
        names = list(engine.agents)
        for name in names:
            runner("login", name, "e" + name)
        count[0] = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for name in names:
                runner("ready", name)
                runner("not_ready", name, "break")
        rate = count[0] / (time.perf_counter() - start)
        store.close()
        return rate


async def serve(seconds: float) -> dict:
    from aiohttp import web

    from pbx_cti.api.app import AgentApi, ApiSettings, Credentials
    from pbx_cti.cti import SqliteEventStore
    from pbx_cti.cti.runner import CtiRunner
    from runtime.bus import EventBus
    from runtime.clock import LoopClock

    with tempfile.TemporaryDirectory() as state:
        store = SqliteEventStore.in_state_dir(state)
        engine, hashes = build(store)
        bus = EventBus()
        runner = CtiRunner(engine, LoopClock(), bus)
        settings = ApiSettings(requests_per_second=10000, request_burst=10000, client_queue=10000)
        api = AgentApi(runner, bus, Credentials(hashes), settings)
        web_runner = web.AppRunner(api.app, access_log=None, handle_signals=False)
        await web_runner.setup()
        site = web.TCPSite(web_runner, "127.0.0.1", 0)
        await site.start()
        port = web_runner.addresses[0][1]
        client = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--client", str(port), str(AGENTS), stdout=subprocess.PIPE)
        assert (await client.stdout.readline()).strip() == b"ready", "the client process did not connect"
        names = list(engine.agents)
        sent, cpu0, start = 0, time.process_time(), time.perf_counter()
        high = settings.client_queue // 2
        while time.perf_counter() - start < seconds:
            if any(len(c.pending) > high for c in api.hub.clients):
                await asyncio.sleep(0.001)
                continue
            for name in names:
                runner("ready", name)
                runner("not_ready", name, "break")
            sent += 2 * len(names)
            await asyncio.sleep(0)
        while any(c.pending for c in api.hub.clients):
            await asyncio.sleep(0.005)
        server_cpu = time.process_time() - cpu0
        await asyncio.sleep(0.2)  # the last frames reach the client
        dropped = AGENTS - len(api.hub.clients)
        await web_runner.cleanup()
        result = json.loads((await client.stdout.readline()).decode())
        await client.wait()
        store.close()
    span = max(result["last"] - result["first"], 1e-9)
    return {"sent": sent, "received": result["received"], "dropped_clients": dropped,
            "events_per_s": round(result["received"] / span), "event_latency_ms_p50": result["latency_ms"][0],
            "event_latency_ms_p99": result["latency_ms"][1], "event_latency_ms_max": result["latency_ms"][2],
            "server_cpu_s": round(server_cpu, 2), "client_cpu_s": round(result["cpu_s"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="a one-second smoke run")
    parser.add_argument("--client", nargs=2, type=int, metavar=("PORT", "AGENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(client_main(*args.client))
        return
    print(json.dumps(measure(1.0 if args.quick else args.seconds)))


def measure(seconds: float) -> dict:
    """The whole measurement (bench/cti.py runs it too): the API's figures, then the engine's
    reference in the same run."""
    figures = {"agents": AGENTS, "seconds": seconds}
    figures.update(asyncio.run(serve(seconds)))
    figures["engine_events_per_s"] = round(engine_reference(min(seconds, 2.0)))
    figures["goal_events_per_s"] = 20000
    return figures


if __name__ == "__main__":
    main()

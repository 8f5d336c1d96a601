"""Benchmark: the call path under a full load — 120 calls on 4 spans, each through the number
mapping, the dial plan and the IVR (a prompt playing, a key collected, the all-busy prompt,
cleared by the box), in real time on this machine, with the carrier simulator in its own process
on the emulated wire (hil_tests/load_carrier.py).

The box is the daemon on a 4-span configuration in this process: `late_ticks` counts the line
thread's ticks that began more than one period late plus every slip on the box's spans;
`post_dial_delay_p99_ms` is SETUP -> CONNECT as the carrier measures it; `cpu_percent_per_call`
is the box process's CPU over the loaded stretch, per call held.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root, not bench/

from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from pbx_cti.ivr.config import DEFAULT_PROMPT_DIR
from pbx_cti.ivr.prompts_setup import make_prompts
from runtime.bus import EventBus
from runtime.clock import LoopClock


def box_config(wires: str, spans: int, prompt_dir: str) -> str:
    parts = []
    for n in range(1, spans + 1):
        parts.append(f'''[[span]]
id = {n}
driver = "emulated"
side = "te"
crc4 = true
clock = "line"
law = "alaw"
wire = "{wires}/span{n}.wire"
wire_role = "listen"

[[isdn]]
span = {n}
role = "user"
handler = "pbx"
''')
    span_list = ", ".join(str(n) for n in range(1, spans + 1))
    parts.append(f'''[box]
hostname = "bench"

[gateway]
country_code = "82"

[[trunk_group]]
name = "carrier"
spans = [{span_list}]
direction = "both"
translation_in = "carrier-in"

[[translation_profile]]
name = "carrier-in"
called = "carrier-called"

[[translation_rule]]
name = "carrier-called"

[[translation_rule.rule]]
match = '/^15881234$/'
replace = '/7000/'

[pbx]
ring_seconds = 0

[[dialplan]]
pattern = "7000"
target = "ivr:main"

[ivr]
prompt_dir = "{prompt_dir}"

[console]
enabled = false

[logging]
level = "error"
''')
    return "\n".join(parts)


async def run_bench(args, scratch: str, prompt_dir: str) -> dict:
    wires = os.path.join(scratch, "wires")
    os.makedirs(wires)
    config = os.path.join(scratch, "box.toml")
    Path(config).write_text(box_config(wires, args.spans, prompt_dir))
    daemon = Daemon(FileSource(config), load_box_services(), clock=LoopClock(), bus=EventBus(),
                    notifier=Notifier(environ={}), state_dir=os.path.join(scratch, "state"))
    result = {}

    async def scenario():
        try:
            deadline = time.monotonic() + 20
            while daemon.ctx is None or daemon.ctx.peer("isdn") is None or daemon.ctx.peer("pbx") is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("the box did not start")
                await asyncio.sleep(0.05)
            spans = daemon.ctx.peer("spans")
            carrier = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hil_tests.load_carrier", "--wires", wires, "--spans", str(args.spans),
                "--calls", str(args.calls), "--ramp", str(args.ramp), "--timeout", str(args.timeout),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(Path(__file__).resolve().parents[1]))
            # Measure the box while the load is on: from the first call answered to the last cleared.
            spans.pacer.thread.reset_stats()
            slips_before = sum(s.counters()["slips"] for s in spans.spans.values())
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            wall_before = time.monotonic()
            held_samples = []
            while carrier.returncode is None:
                held_samples.append(len(daemon.ctx.peer("pbx").core.active))
                try:
                    await asyncio.wait_for(carrier.wait(), 0.5)
                except asyncio.TimeoutError:
                    pass
            out, err = await carrier.communicate()
            wall = time.monotonic() - wall_before
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            thread = spans.pacer.stats()
            slips = sum(s.counters()["slips"] for s in spans.spans.values()) - slips_before
            lines = out.decode().strip().splitlines()
            if carrier.returncode != 0 or not lines:
                raise RuntimeError(f"the carrier process failed: {err.decode()[-2000:]}")
            load = json.loads(lines[-1])
            cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
            loaded = [h for h in held_samples if h >= max(held_samples) * 0.5] if held_samples else []
            mean_held = sum(held_samples) / len(held_samples) if held_samples else 0
            result.update(load=load, thread=thread, slips=slips, cpu_s=cpu, wall_s=wall, mean_held=mean_held,
                          held_max_box=max(held_samples) if held_samples else 0, loaded_samples=len(loaded),
                          lag=daemon.loop_lag.figures())
        finally:
            daemon.request_stop("bench over")

    scene = asyncio.ensure_future(scenario())
    await daemon.run(install_signals=False)
    await scene
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=4)
    parser.add_argument("--calls", type=int, default=120)
    parser.add_argument("--ramp", type=float, default=8.0, help="seconds over which the calls arrive")
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pribox-call-path-") as scratch:
        prompt_dir = DEFAULT_PROMPT_DIR if os.path.isdir(DEFAULT_PROMPT_DIR) else os.path.join(scratch, "prompts")
        if not os.path.isdir(prompt_dir):
            with contextlib.redirect_stdout(io.StringIO()):
                make_prompts(prompt_dir, report=lambda line: None)
        r = asyncio.run(run_bench(args, scratch, prompt_dir))
    load, thread = r["load"], r["thread"]
    print(f"carrier: {load}")
    print(f"box line thread: {thread}; slips {r['slips']}; event loop lag {r['lag']}")
    print(f"box CPU {r['cpu_s']:.1f} s over {r['wall_s']:.1f} s with {r['mean_held']:.0f} calls held on average "
          f"(at most {r['held_max_box']})")
    calls = load["calls_cleared_16"]
    cpu_percent = 100.0 * r["cpu_s"] / r["wall_s"]
    result = {
        "calls": calls,
        "spans": args.spans,
        "calls_placed": load["calls_placed"],
        "calls_held_max": load["held_max"],
        "late_ticks": int(thread["late_ticks"] + r["slips"]),
        "line_thread_max_late_ms": round(thread["max_late_ns"] / 1e6, 3),
        "post_dial_delay_p50_ms": load["post_dial_delay_p50_ms"],
        "post_dial_delay_p99_ms": load["post_dial_delay_p99_ms"],
        "cpu_percent_per_call": round(cpu_percent / max(r["mean_held"], 1), 3),
        "box_cpu_percent": round(cpu_percent, 1),
        "event_loop_lag_p99_ms": r["lag"]["p99_ms"],
        "causes": load["causes"],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

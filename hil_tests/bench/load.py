"""Load: every channel of 1, 4 or 8 carrier spans busy at once, in real time, each call through
the box's IVR, a queue and an agent, with the far ends in a process of their own on the wire.

The box is the daemon (`firmware.appliance.daemon.Daemon`) in this process on a generated
configuration: carrier spans 1..N (TE, the carrier's customer end), and as many spans again
toward the center's own PBX (N+1..2N, NT, trunk group "center", where the agents' extensions
are rung), so every caller held can be talking to an agent at once: 30 agents per center span,
each with all three skills.  A call: SETUP on a carrier span -> number mapping (1588-1234 ->
7000) -> dial plan -> IVR flow (greeting and menu, one key) -> a route node that queues the
caller in the CTI (waiting when every agent is busy) -> the distributor rings a ready agent's
extension on the center's PRI -> the phone answers, is bridged to the caller, listens, hangs
up -> the box clears the caller (cause 16) and the agent wraps up for 1 s.

    result = run_load(LoadSettings(spans=8, ramp=20, sustain=40))

The far ends are `hil_tests/bench/far_end.py` (`python -m hil_tests.bench.far_end`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import leaks
from .platform_reference import PlatformReference, coincident

ROOT = Path(__file__).resolve().parents[2]
AGENTS_PER_SPAN = 30
WRAP_UP_S = 1
# Resident memory after a load run may stay above its figure before the first call by this much
# plus RSS_PER_HELD_KIB for each call held at the peak, and still count as no leak: a run starts
# cold (first use of every code path, SQLite caches), and the allocator keeps the arenas the
# calls in flight needed (each renders its IVR prompts, ~160 kB, and the phone's listener keeps
# its recording).  The load run is a weak memory-leak detector by nature; the soak's figure
# after warm-up, over thousands of calls, is the tight one.
RSS_BOUND_KIB = 8 * 1024
RSS_PER_HELD_KIB = 200

FLOW_TEXT = """\
[flow]
entry = "menu"
description = "greeting and menu, one key picks the skill group, the caller waits for an agent"

[nodes.menu]
type = "collect"
prompts = ["greeting", "menu"]
barge_in = true
min_digits = 1
max_digits = 1
first_digit_timeout = 5
valid = "[123]"
into = "choice"
no_input_retries = 1
invalid_retries = 1
next = "service"
on_max_retries = "goodbye"

[nodes.service]
type = "branch"
otherwise = "goodbye"

[[nodes.service.case]]
var = "choice"
equals = "1"
next = "deposit_inquiry"

[[nodes.service.case]]
var = "choice"
equals = "2"
next = "account_transfer"

[[nodes.service.case]]
var = "choice"
equals = "3"
next = "incident_report"

[nodes.deposit_inquiry]
type = "route"
skill = "deposit_inquiry"
wait = true
on_busy = "goodbye"

[nodes.account_transfer]
type = "route"
skill = "account_transfer"
wait = true
on_busy = "goodbye"

[nodes.incident_report]
type = "route"
skill = "incident_report"
wait = true
on_busy = "goodbye"

[nodes.goodbye]
type = "hangup"
cause = 31
"""
SKILLS = ("deposit_inquiry", "account_transfer", "incident_report")


@dataclass
class LoadSettings:
    spans: int = 8                 # carrier spans; as many center spans again
    ramp: float = 20.0             # s over which the arrival rate climbs
    sustain: float = 40.0          # s it holds at the top
    talk_mean: float = 12.0        # mean talk time with an agent (s), exponential
    load: float = 1.05             # offered Erlangs per carrier channel at the top rate
    drain: float = 90.0            # s the calls may take to end after the last arrival
    seed: int = 1
    refill: bool = True            # the sustain offers a new call as soon as one clears: every channel held
    console: bool = True           # also read the box's counts over its serial console (a pty)


def box_config(wires: str, spans: int, prompt_dir: str, flow_path: str) -> str:
    parts = []
    for n in range(1, 2 * spans + 1):
        carrier = n <= spans
        wire = f"{wires}/carrier{n}.wire" if carrier else f"{wires}/center{n - spans}.wire"
        parts.append(f'''[[span]]
id = {n}
driver = "emulated"
side = "{'te' if carrier else 'nt'}"
crc4 = true
clock = "{'line' if carrier else 'internal'}"
law = "alaw"
wire = "{wire}"
wire_role = "listen"

[[isdn]]
span = {n}
role = "{'user' if carrier else 'network'}"
handler = "pbx"
''')
    carrier_spans = ", ".join(str(n) for n in range(1, spans + 1))
    center_spans = ", ".join(str(n) for n in range(spans + 1, 2 * spans + 1))
    parts.append(f'''[box]
hostname = "bench"

[gateway]
country_code = "82"
trunk_prefix = "0"
international_prefix = "001"

[[trunk_group]]
name = "carrier"
spans = [{carrier_spans}]
direction = "both"
translation_in = "carrier-in"

[[trunk_group]]
name = "center"
spans = [{center_spans}]
hunting = "ascending"
direction = "out"

[[translation_profile]]
name = "carrier-in"
called = "carrier-called"

[[translation_rule]]
name = "carrier-called"

[[translation_rule.rule]]
match = '/^15881234$/'
replace = '/7000/'

[pbx]
ring_seconds = 0.5
extension_trunk = "center"

[[dialplan]]
pattern = "7000"
target = "ivr:load"

[ivr]
prompt_dir = {json.dumps(prompt_dir)}
flows = [{json.dumps(flow_path)}]

[console]
enabled = false

[api]
port = 0                      # any free port: beside a box's own API on 8088, and other runs

[logging]
level = "error"

[cti]
''')
    for n in range(AGENTS_PER_SPAN * spans):
        first = SKILLS[n % 3]
        skills = ", ".join(f"{s} = {9 if s == first else 5}" for s in SKILLS)
        parts.append(f'[[cti.agent]]\nid = "a{n + 1:03d}"\nskills = {{ {skills} }}\n')
    for skill in SKILLS:
        parts.append(f'[[cti.queue]]\nname = "{skill}"\ngroup = "{skill}"\nring_timeout = 15\n'
                     f'wrap_up = {WRAP_UP_S}\nannounce_every = 60\n')
    return "\n".join(parts)


def extension(n: int) -> str:
    return str(2001 + n)


def prompt_directory(scratch: str) -> str:
    """The box's prompts: the installed ones, or the default flow's made afresh in `scratch`."""
    from pbx_cti.ivr.config import DEFAULT_PROMPT_DIR
    from pbx_cti.ivr.prompts_setup import make_prompts

    if os.path.isfile(os.path.join(DEFAULT_PROMPT_DIR, "menu.wav")):
        return DEFAULT_PROMPT_DIR
    prompt_dir = os.path.join(scratch, "prompts")
    with contextlib.redirect_stdout(io.StringIO()):
        make_prompts(prompt_dir, report=lambda line: None)
    return prompt_dir


def _where_calls_are(core, engine) -> dict:
    """Where the box's calls are and what its agents do, for a run whose calls did not all end:
    calls by IVR node / bridged / queued, agents by state, callers waiting per queue."""
    from collections import Counter

    places = Counter()
    for active in core.active.values():
        if active.out is not None and active.out.bridged:
            places["bridged to an agent"] += 1
        elif active.offers:
            places["agent ringing"] += 1
        elif active.runner is not None:
            session = active.runner.session
            node = getattr(getattr(session, '_node', None), 'name', '?')
            places[f"ivr {node} ({getattr(session, '_phase', '')}, ended {session.ended})"] += 1
        else:
            places["no IVR, no agent"] += 1
    return {"core_calls": len(core.active), "places": dict(places),
            "agents": dict(Counter(a.state.value for a in engine.agents.values())),
            "not_ready_reasons": dict(Counter(a.reason for a in engine.agents.values()
                                              if a.state.value == "NOT_READY")),
            "waiting": {q: len(w) for q, w in engine.waiting.items()}, "callers": len(engine.callers),
            "offers_ringing": sum(len(a.offers) for a in core.active.values())}


def _box_counts(daemon) -> dict[str, int]:
    from pbx_cti.acd.service import center_for

    isdn = daemon.ctx.peer("isdn")
    counts = leaks.isdn_counts(isdn.spans.values())
    center = center_for(daemon.ctx)
    counts["calls"] += leaks.switching_counts(daemon.ctx.peer("pbx").core,
                                              center.runner.engine if center is not None else None)
    return counts | leaks.loop_counts()


CONSOLE_USER = "bench"


def console_section(device: str, password: str) -> str:
    """[console] on `device` with one user for the bench (replacing box_config's disabled one)."""
    from firmware.config.passwords import hash_password

    return (f'[console]\nenabled = true\ndevice = "{device}"\nbaud = 115200\n\n'
            f'[[user]]\nname = "{CONSOLE_USER}"\nprivilege = 15\npassword_hash = "{hash_password(password)}"\n')


async def _measure(daemon, settings: LoadSettings, wires: str, result: dict, console=None) -> None:
    from pbx_cti.acd.service import center_for
    from pbx_cti.cti.model import AgentState

    reference = None
    try:
        deadline = time.monotonic() + 60
        while (daemon.ctx is None or daemon.ctx.peer("isdn") is None or daemon.ctx.peer("pbx") is None
               or center_for(daemon.ctx) is None):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the box did not start: {daemon.status() if daemon.ctx else 'no services'}")
            await asyncio.sleep(0.05)
        center = center_for(daemon.ctx)
        runner = center.runner
        for n, agent in enumerate(sorted(runner.engine.agents)):
            runner("login", agent, extension(n))
            runner("ready", agent)
        spans = daemon.ctx.peer("spans")
        await asyncio.sleep(1.0)
        probe = None
        if console is not None:
            from .console_probe import ConsoleProbe
            probe = await ConsoleProbe.login(console[0], CONSOLE_USER, console[1])
            result["console_before"] = await probe.counts()
        before = await leaks.settled(lambda: leaks.process_counts() | _box_counts(daemon))
        timers_before = leaks.pending_timers()
        crashes_before = {st.name: st.crashes for st in daemon.supervisor.status()}
        reference = PlatformReference(spans.pacer.period)
        await reference.start()
        far_end = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hil_tests.bench.far_end", "--wires", wires,
            "--carrier-spans", str(settings.spans), "--center-spans", str(settings.spans),
            "--ramp", str(settings.ramp), "--sustain", str(settings.sustain), "--talk-mean", str(settings.talk_mean),
            "--load", str(settings.load), "--drain", str(settings.drain), "--seed", str(settings.seed),
            *(["--refill"] if settings.refill else []),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT))
        spans.pacer.thread.reset_stats()
        from .late_ticks import LateTickAttribution
        attribution = LateTickAttribution(spans.pacer.thread)
        attribution.start()
        daemon.loop_lag.samples.clear()
        slips_before = sum(s.counters()["slips"] for s in spans.spans.values())
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        wall_before = time.monotonic()
        box_samples = []              # (s, calls the core holds, agents talking, rss kiB)
        last_seen: dict = {}
        while far_end.returncode is None:
            engine = runner.engine
            last_seen = _where_calls_are(daemon.ctx.peer("pbx").core, engine)
            box_samples.append([round(time.monotonic() - wall_before, 2), len(daemon.ctx.peer("pbx").core.active),
                                sum(1 for a in engine.agents.values() if a.state is AgentState.TALKING),
                                leaks.process_counts()["rss_kib"]])
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(far_end.wait(), 0.5)
        out, err = await far_end.communicate()
        late_causes = attribution.stop()
        platform = await reference.stop()
        wall = time.monotonic() - wall_before
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        thread = spans.pacer.stats()
        slips = sum(s.counters()["slips"] for s in spans.spans.values()) - slips_before
        lag = daemon.loop_lag.figures()
        lines = out.decode().strip().splitlines()
        if far_end.returncode != 0 or not lines:
            raise RuntimeError(f"the far-end process failed (exit {far_end.returncode}): {err.decode()[-3000:]}")
        far = json.loads(lines[-1])
        await asyncio.sleep(WRAP_UP_S + 1.0)       # the last agents' wrap-up, the last records
        after, settle_s = await leaks.settle(before, lambda: leaks.process_counts() | _box_counts(daemon))
        result["settle_s"] = round(settle_s, 1)
        result["timers_pending"] = {"before": timers_before, "after": leaks.pending_timers()}
        # A service that crashed during the run (and was restarted by the supervisor) is named here.
        result["service_crashes"] = {st.name: st.crashes - crashes_before.get(st.name, 0)
                                     for st in daemon.supervisor.status() if st.crashes > crashes_before.get(st.name, 0)}
        if after.get("timers", 0) > before.get("timers", 0):
            result["timers_left"] = leaks.timers_left(timers_before, result["timers_pending"]["after"])
        if probe is not None:
            result["console_after"] = await probe.counts()
            probe.close()
        engine = runner.engine
        result.update(far=far, thread=thread, late_causes=late_causes, platform=platform, last_seen=last_seen, slips=slips, lag=lag, wall_s=wall, box_samples=box_samples,
                      cpu_s=(cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime),
                      leaks=leaks.compare(before, after, rss_bound_kib=RSS_BOUND_KIB + RSS_PER_HELD_KIB * far["held_max"]),
                      agent_calls=sum(a.calls for a in engine.agents.values()))
    finally:
        if reference is not None:
            await reference.stop()          # a no-op once stopped: only a run that raised leaves it up
        daemon.request_stop("load over")


async def _run(settings: LoadSettings, scratch: str) -> dict:
    from firmware.appliance.daemon import Daemon, FileSource
    from firmware.appliance.sdnotify import Notifier
    from firmware.appliance.services import load_box_services
    from runtime.bus import EventBus
    from runtime.clock import LoopClock

    wires = os.path.join(scratch, "wires")
    os.makedirs(wires)
    flow = os.path.join(scratch, "load.toml")
    Path(flow).write_text(FLOW_TEXT)
    config = os.path.join(scratch, "box.toml")
    text = box_config(wires, settings.spans, prompt_directory(scratch), flow)
    pty = console = None
    if settings.console:
        from firmware.console.testing import PtyPair
        pty = PtyPair()
        password = os.urandom(9).hex()
        console = (pty.master_fd, password)
        text = text.replace("[console]\nenabled = false\n", console_section(pty.slave_path, password))
    Path(config).write_text(text)
    daemon = Daemon(FileSource(config), load_box_services(), clock=LoopClock(), bus=EventBus(),
                    notifier=Notifier(environ={}), state_dir=os.path.join(scratch, "state"))
    result: dict = {}
    try:
        measure = asyncio.ensure_future(_measure(daemon, settings, wires, result, console))
        await daemon.run(install_signals=False)
        await measure
    finally:
        if pty is not None:
            pty.close()
    return result


def records_naming_agent(state_dir: str) -> int:
    from pbx_cti.cdr.reader import CdrReader
    from pbx_cti.cdr.schema import records_path

    return sum(1 for record in CdrReader(records_path(state_dir)).calls(limit=None) if record.agent)


def _console_left(before: dict | None, after: dict | None) -> int | None:
    """Calls and B-channels not idle after the run beyond before it, as the console shows them."""
    if before is None or after is None:
        return None
    keys = ("calls", "channels_in_use", "channels_restarting")
    return sum(max(0, after[k] - before[k]) for k in keys)


def run_load(settings: LoadSettings) -> dict:
    """One load run; the figures as bench/hil.py reports them, per span count."""
    logging.getLogger("pribox").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="pribox-hil-load-") as scratch:
        r = asyncio.run(_run(settings, scratch))
        cdr_agents = records_naming_agent(os.path.join(scratch, "state"))
    far, thread = r["far"], r["thread"]
    held = [s[1] for s in far["samples"]]
    top = max(held) if held else 0
    loaded = [h for h in held if h >= 0.9 * top] or [0]
    mean_loaded = sum(loaded) / len(loaded)
    mean_held = sum(held) / len(held) if held else 0.0
    rss = [s[3] for s in r["box_samples"]] or [0]
    cpu_percent = 100.0 * r["cpu_s"] / r["wall_s"] if r["wall_s"] else 0.0
    placed = far["placed"]
    return {
        "spans": settings.spans, "center_spans": settings.spans, "agents": AGENTS_PER_SPAN * settings.spans,
        "channels": far["channels"], "calls_held_max": far["held_max"],
        "calls_held_mean_loaded": round(mean_loaded, 1),
        "offered": far["offered"], "blocked": far["blocked"], "placed": placed, "completed": far["completed"],
        "completion_ratio": round(far["completed"] / placed, 5) if placed else 0.0,
        "answered_by_agents": far["answered_by_agents"], "agents_heard_caller": far["agents_heard_caller"],
        "records_naming_agent": cdr_agents, "agent_calls_counted": r["agent_calls"],
        "causes": far["causes"],
        "setup_to_alerting_ms": far["setup_to_alerting_ms"], "setup_to_connect_ms": far["setup_to_connect_ms"],
        "late_ticks": int(thread["late_ticks"] + r["slips"]), "slips": int(r["slips"]),
        "line_thread_ticks": int(thread["ticks"]),
        "line_thread_max_late_ms": round(thread["max_late_ns"] / 1e6, 3),
        # The line thread's late ticks by cause (hil_tests/bench/late_ticks.py; slips not included):
        "late_ticks_beside_steal": r["late_causes"]["beside_steal"],
        "late_ticks_waited_in_guest": r["late_causes"]["waited_in_guest"],
        "late_ticks_unexplained": r["late_causes"]["neither"],
        "late_tick_attribution": r["late_causes"],
        # A portless line thread in a process of its own over the same run (platform_reference.py):
        # its late ticks are the machine's; the box's within 30 ms of one are counted beside.
        "platform_reference_late_ticks": r["platform"].get("late_ticks"),
        "late_ticks_beside_reference": coincident(
            [r["late_causes"]["started_monotonic"] + t for t in r["late_causes"]["late_at_s"]],
            r["platform"].get("late_at_monotonic", [])),
        "platform_reference": r["platform"],
        "line_thread_realtime": bool(thread["realtime_priority"]),
        # The same from inside the thread (dsp/c/line_thread.h): late after a long tick or woken late,
        # and the ticks whose work faulted, blocked or was preempted.
        "line_thread_inside": {k: int(thread[k]) for k in (
            "late_after_overrun", "late_wakeups", "ticks_faulted", "ticks_blocked", "ticks_preempted",
            "overruns_faulted", "overruns_blocked", "overruns_preempted")},
        "line_thread_max_work_ms": round(thread["max_work_ns"] / 1e6, 3),
        "far_end_late_ticks": int(far["far_end_line_thread"]["late_ticks"] + far["far_end_slips"]),
        "event_loop_lag_ms": r["lag"],
        "box_cpu_percent": round(cpu_percent, 1),
        "cpu_percent_per_call": round(cpu_percent / max(mean_held, 1.0), 3),
        "rss_peak_kib": max(rss), "rss_per_call_kib": round((max(rss) - r["leaks"]["before"]["rss_kib"]) / max(top, 1), 1),
        "leaks": r["leaks"], "leaked": r["leaks"]["leaked"],
        "console_before": r.get("console_before"), "console_after": r.get("console_after"),
        "console_left": _console_left(r.get("console_before"), r.get("console_after")),
        "settle_s": r.get("settle_s"), "timers_left": r.get("timers_left", {}),
        "timers_pending": r.get("timers_pending"), "service_crashes": r.get("service_crashes", {}),
        "box_when_far_end_ended": r.get("last_seen"),
        "arrival_rate_per_s": far["arrival_rate_per_s"], "offered_erlangs": far["offered_erlangs"],
        "refill": far.get("refill", False), "refills": far.get("refills", 0),
        "poisson_arrivals": far.get("poisson_arrivals"),
        "carried_erlangs_sustain": far.get("carried_erlangs_sustain"), "full_s": far.get("full_s"),
        "talk_mean_s": settings.talk_mean, "wall_s": round(r["wall_s"], 1),
        "settings": asdict(settings),
        "series": {"far": far["samples"], "box": r["box_samples"]},
    }

"""Benchmark: the contact center's whole measurement — routing under load, events to the agent
applications, and the CPU a call costs from the carrier's SETUP to the agent's wrap-up.

    .venv/bin/python bench/cti.py [--calls 20000] [--e2e-calls 240] [--api-seconds 5] [--quick]

1. Routing: the CTI engine alone, 100 agents, 20 skill groups (one queue each), 500 callers kept
   waiting while every agent is busy, the event log in SQLite.  Every agent talks; each step one
   call ends (no wrap-up), the agent becomes READY and the engine picks the best waiting caller
   across the agent's three groups (priority, then longest waiting, skill tiers on half the
   queues) and offers it; the agent answers; a new caller joins a random queue so 500 keep
   waiting.  Virtual time moves 20 ms per step and the engine's timers run as they fall due.

    route_decision_p99_ms   CPU time (this thread's) of the engine call that ended a call and
                            made the next offer (goal <= 1 ms); p50 and max beside it.  The
                            machine is shared, so wall time, given beside it as
                            route_decision_wall_*, also holds other processes' turns and the
                            log writer thread's share of the GIL
    enqueue_p99_ms          wall time of queueing a caller when no agent is free
    engine_cpu_ms_per_call  process CPU (the SQLite writer thread included) per call the engine
                            alone handles: queued, offered, answered, ended, every record logged

2. Events: bench/cti_api.py's measurement, run from here (`cti_api.measure`): 100 agents with
   their WebSocket open in another process, the API's hub and per-client queues.

    events_per_s            events received by the 100 clients per second (goal >= 20,000)
    event_latency_ms_p99    receive wall time - the event's own time; p50 and max beside it
    engine_events_per_s     the reference from the same run: the runner alone, no API

3. End to end, on virtual time (ManualClock, two lockstep E1 lines, everything in this process
   and thread): the carrier simulator (span 2, network side) places calls on the box's span 1;
   the number mapping and dial plan send each to an IVR flow of one node — a `route` straight to
   a skill group (4 groups, one flow each: a real menu is the IVR's bench, not this one); the
   distributor queues the caller in the CTI (music on hold while queued; the CTI's event log and
   the call records are written to SQLite by their writer threads, as on the box) and rings the agent's
   extension on the center's PRI (span 3, as in the embedded default) where the simulated PBX
   (span 4, user side) alerts, answers after 0.5 s, is bridged to the caller, listens 3 s and
   hangs up; the box clears the caller and the agent wraps up for 2 s, then takes the next caller.
   Each caller says a steady 1 kHz tone from the IVR's answer on; the agent's phone must report
   hearing it at release on every call (caller to agent; the phone itself says nothing back).
   24 agents (extensions 2001..), up to 28 carrier calls in flight, so callers queue.

    cpu_ms_per_call         process CPU over the run / calls handled: the box (spans 1 and 3,
                            ISDN stacks, PBX core, IVR, media plane, CTI and its SQLite log)
                            AND what plays the far ends (spans 2 and 4, the carrier and the
                            center's PBX) AND both emulated wires, all in this one thread
    far_end_cpu_ms_per_call the far ends' share, timed in the run: their spans' ticks and their
                            ISDN stacks' service, where the simulators' handlers run
    box_cpu_ms_per_call     the rest: the box (and the clock's timers, the simulators' few among
                            them)
    line_idle_cpu_ms_per_call, box_line_idle_cpu_ms_per_call   the reference from the same run:
                            the same rig with no call for as long (virtual time), per call —
                            keeping four spans and two wires running in Python lockstep, which
                            a real box does in its line thread whether calls come or not
    cpu_ms_per_call_over_idle_line, box_cpu_ms_per_call_over_idle_line   the figure less its
                            idle reference: what the calls themselves add

The last line printed is one JSON object with all three parts' figures.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # bench/cti.py must not shadow packages

from pbx_cti.cti import AgentConfig, CtiConfig, CtiEngine, QueueConfig, SqliteEventStore  # noqa: E402
from pbx_cti.cti.decisions import Offer  # noqa: E402

AGENTS, GROUPS, WAITING = 100, 20, 500
T0 = 1_800_000_000.0


def build_config(rng: random.Random) -> CtiConfig:
    groups = [f"g{n:02d}" for n in range(GROUPS)]
    agents = {}
    for n in range(AGENTS):
        skills = {g: rng.randint(1, 10) for g in rng.sample(groups, 3)}
        agents[f"agent{n:03d}"] = AgentConfig(f"agent{n:03d}", skills)
    for n, g in enumerate(groups):  # every group staffed
        agents[f"agent{n:03d}"].skills[g] = 10
    queues = {g: QueueConfig(g, g, wrap_up=0, ring_timeout=20, announce_every=30,
                             tiers=((0.0, 5), (20.0, 1)) if n % 2 else ((0.0, 1),))
              for n, g in enumerate(groups)}
    return CtiConfig(agents=agents, queues=queues, groups=tuple(groups))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def route_run(calls: int, seed: int) -> dict:
    rng = random.Random(seed)
    config = build_config(rng)
    queues = list(config.queues)
    with tempfile.TemporaryDirectory() as state_dir:
        store = SqliteEventStore.in_state_dir(state_dir)
        engine = CtiEngine(config, store)
        now = T0
        serial = 0

        def enqueue() -> float:
            nonlocal serial
            serial += 1
            start = time.perf_counter()
            engine.caller_queued(now, f"c{serial}", rng.choice(queues), rng.choice((0, 0, 0, 1)))
            return time.perf_counter() - start

        def answer_offers() -> None:
            for d in engine.pop_decisions():
                if isinstance(d, Offer):
                    engine.offer_answered(now, d.caller, d.agent)

        for agent in config.agents:
            engine.login(now, agent, f"ext-{agent}")
        for _ in range(WAITING + AGENTS):
            enqueue()
        for agent in config.agents:
            engine.ready(now, agent)
            answer_offers()
        engine.pop_decisions()
        talking = [a.caller for a in engine.agents.values() if a.caller]
        assert len(talking) == AGENTS and sum(len(w) for w in engine.waiting.values()) == WAITING

        route_s: list[float] = []
        route_cpu_s: list[float] = []
        enqueue_s: list[float] = []
        cpu_start = time.process_time()
        for _ in range(calls):
            now += 0.02
            timer = engine.get_timer()
            if timer is not None and timer <= now:
                engine.handle_timer(now)
                answer_offers()
            ending = talking.pop(rng.randrange(len(talking)))
            start, start_cpu = time.perf_counter(), time.thread_time()
            engine.call_ended(now, ending)
            route_cpu_s.append(time.thread_time() - start_cpu)
            route_s.append(time.perf_counter() - start)
            offers = [d for d in engine.pop_decisions() if isinstance(d, Offer)]
            assert len(offers) == 1, offers
            engine.offer_answered(now, offers[0].caller, offers[0].agent)
            engine.pop_decisions()
            talking.append(offers[0].caller)
            enqueue_s.append(enqueue())
            engine.pop_decisions()
        store.flush()
        cpu_s = time.process_time() - cpu_start
        records = engine.snapshot()["seq"]
        store.close()
    return {
        "agents": AGENTS, "skill_groups": GROUPS, "queued_callers": WAITING, "calls": calls,
        "route_decision_p50_ms": round(percentile(route_cpu_s, 50) * 1e3, 4),
        "route_decision_p99_ms": round(percentile(route_cpu_s, 99) * 1e3, 4),
        "route_decision_max_ms": round(max(route_cpu_s) * 1e3, 4),
        "route_decision_wall_p99_ms": round(percentile(route_s, 99) * 1e3, 4),
        "route_decision_wall_max_ms": round(max(route_s) * 1e3, 4),
        "route_decision_goal_ms": 1.0,
        "enqueue_p99_ms": round(percentile(enqueue_s, 99) * 1e3, 4),
        "engine_cpu_ms_per_call": round(cpu_s * 1e3 / calls, 4),
        "log_records": records,
    }


# ---------------------------------------------------------------------------- end to end
E2E_AGENTS, E2E_GROUPS = 24, 4
E2E_IN_FLIGHT = 28          # carrier calls at once (the carrier's PRI has 30 B-channels)
RING_S, TALK_S, WRAP_UP_S = 0.5, 3.0, 2


def without_cti(text: str) -> str:
    """The configuration text less its [cti] tables ([cti], [[cti.agent]], [[cti.queue]] ...)."""
    kept, in_cti = [], False
    for line in text.splitlines(keepends=True):
        header = line.strip()
        if header.startswith("["):
            name = header.strip("[]").split("]")[0].strip()
            in_cti = name == "cti" or name.startswith("cti.")
        if not in_cti:
            kept.append(line)
    return "".join(kept)


def e2e_config_text(work: Path) -> str:
    """The embedded default (spans 1..4, number mapping, the center's trunk group) with the bench's
    contact center: one-node IVR flows q0..q3 on route points 7000..7003, 24 agents, 4 queues."""
    from firmware.config.loader import default_text

    text = without_cti(default_text())               # not the default's own three agents
    text = text.replace('pattern = "7000"\ntarget = "ivr:main"', 'pattern = "7000"\ntarget = "ivr:q0"')
    (work / "prompts").mkdir()
    flows = []
    for g in range(E2E_GROUPS):
        flow = work / f"q{g}.toml"
        flow.write_text(f'[flow]\nentry = "queue"\n\n[nodes.queue]\ntype = "route"\nskill = "g{g}"\nwait = true\n')
        flows.append(json.dumps(str(flow)))
    parts = [text, f'\n[ivr]\nprompt_dir = {json.dumps(str(work / "prompts"))}\nflows = [{", ".join(flows)}]\n']
    parts += [f'\n[[dialplan]]\npattern = "700{g}"\ntarget = "ivr:q{g}"\n' for g in range(1, E2E_GROUPS)]
    parts.append("\n[cti]\n")
    parts += [f'\n[[cti.agent]]\nid = "a{n:02d}"\nskills = {{ g{n % E2E_GROUPS} = 9, g{(n + 1) % E2E_GROUPS} = 5 }}\n'
              for n in range(E2E_AGENTS)]
    parts += [f'\n[[cti.queue]]\nname = "g{g}"\ngroup = "g{g}"\nring_timeout = 15\nwrap_up = {WRAP_UP_S}\n'
              f'announce_every = 30\n' for g in range(E2E_GROUPS)]
    return "".join(parts)


class FarEndTime:
    """The CPU time spent playing the far ends: their spans' ticks (framers, wires) and their ISDN
    stacks' service (LAPD, Q.931 and the simulators' handlers, which run inside it)."""

    def __init__(self, spans, stacks):
        self.cpu_s = 0.0
        for span in spans:
            span.tick = self._timed(span.tick)
        for isdn in stacks:
            isdn.service = self._timed(isdn.service)

    def _timed(self, work):
        def timed(now):
            start = time.thread_time()
            try:
                return work(now)
            finally:
                self.cpu_s += time.thread_time() - start
        return timed


def talking_carrier():
    """The carrier simulator whose callers say a steady 1 kHz test tone from the moment the box
    answers until the call is released: the agent's phone reports what it heard at release, so
    every call's bridge is checked.  One second of the tone is looped (1,000 whole cycles), not
    a whole call's worth rendered per call."""
    from hil_tests.carrier import SAMPLE_RATE, StackCarrier, TestTone

    class LoopedTestTone(TestTone):
        period_samples = SAMPLE_RATE

    class TalkingCarrier(StackCarrier):
        def _answered(self, call) -> None:
            super()._answered(call)
            if call.timeslot is not None:
                self.bearer.play(call.timeslot, LoopedTestTone(seconds=1.0))

    return TalkingCarrier


def e2e_run(calls: int) -> dict:
    from drivers.lockstep import LockstepLine
    from firmware.config.loader import load_text
    from firmware.isdn.answer import AnswerAndListen
    from firmware.isdn.binding import IsdnSpan
    from firmware.isdn.events import CallAudioReport
    from firmware.isdn.stack import PriStack
    from hil_tests.carrier import TONE_DBM0
    from pbx_cti.acd.distributor import CallDistributor
    from pbx_cti.api.config_section import cti_config
    from pbx_cti.cdr.reader import CdrReader
    from pbx_cti.cdr.schema import records_path
    from pbx_cti.cdr.store import open_store
    from pbx_cti.cti.runner import CtiRunner
    from pbx_cti.pbx.core import Pbx, PbxSpanHandler
    from pbx_cti.pbx.model import CallEnded
    from pbx_cti.pbx.service import build_plan
    from runtime.bus import EventBus
    from runtime.clock import ManualClock

    TalkingCarrier = talking_carrier()
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        config = load_text(e2e_config_text(work), "bench-cti.toml")
        clock, bus = ManualClock(), EventBus()
        ended: list[CallEnded] = []
        bus.subscribe(CallEnded, ended.append)
        heard: list[CallAudioReport] = []
        bus.subscribe(CallAudioReport, heard.append)
        # As in the embedded default: 1 (box, TE) - 2 (carrier, NT); 3 (box, NT) - 4 (center's PBX, TE).
        carrier_line = LockstepLine(clock=clock, bus=bus, nt_config={"id": 2}, te_config={"id": 1}).open()
        center_line = LockstepLine(clock=clock, bus=bus, nt_config={"id": 3}, te_config={"id": 4}).open()
        plan = build_plan(config, work_dir)
        pbx = Pbx(lambda: plan, clock, bus)
        pbx.cdr = open_store(records_path(work_dir))       # each call's record, as the pbx service keeps them
        box = IsdnSpan(carrier_line.te, PriStack("user"), clock=clock, bus=bus)
        box_center = IsdnSpan(center_line.nt, PriStack("network"), clock=clock, bus=bus)
        box.handler = PbxSpanHandler(box, pbx)
        box_center.handler = PbxSpanHandler(box_center, pbx)
        net = IsdnSpan(carrier_line.nt, PriStack("network"), clock=clock, bus=bus)
        carrier = TalkingCarrier(net, digits="", tone_seconds=0.0, hangup_after_audio=False)
        phones = IsdnSpan(center_line.te, PriStack("user"), clock=clock, bus=bus)
        phones.handler = AnswerAndListen(phones, ring_seconds=RING_S, max_call_seconds=TALK_S)
        stacks = [box, box_center, net, phones]
        for isdn in stacks:
            isdn.start()
        store = SqliteEventStore.in_state_dir(str(work))
        engine = CtiEngine(cti_config(config.cti), store)
        runner = CtiRunner(engine, clock, bus)
        distributor = CallDistributor(pbx, runner, bus, clock)
        far_ends = FarEndTime([carrier_line.nt, center_line.te], [net, phones])
        try:
            carrier_line.run_until(lambda: all(s.in_service for s in stacks), 5.0, step=0.01)
            for n, agent in enumerate(engine.agents):
                runner("login", agent, str(2001 + n))
                runner("ready", agent)

            placed, live = 0, []
            virtual0, far0 = clock.now(), far_ends.cpu_s
            cpu0, wall0 = time.process_time(), time.perf_counter()
            while placed < calls or live:
                while placed < calls and len(live) < E2E_IN_FLIGHT:
                    live.append(carrier.place_call(called=f"700{placed % E2E_GROUPS}", calling=f"02{placed:08d}",
                                                   forwarded_from=None))
                    placed += 1
                carrier_line.run(0.01)
                live = [call for call in live if not call.done]
                if clock.now() - virtual0 > 20.0 * calls:
                    raise RuntimeError(f"end to end: {placed - len(live)} of {calls} calls done after "
                                       f"{clock.now() - virtual0:.0f} s of line")
            carrier_line.run(WRAP_UP_S + 0.5)            # the last agents' wrap-up ends
            store.flush()
            pbx.cdr.flush()
            cpu_s = time.process_time() - cpu0
            wall_s = time.perf_counter() - wall0
            virtual_s = clock.now() - virtual0
            far_cpu_s = far_ends.cpu_s - far0

            idle0, far_idle0 = time.process_time(), far_ends.cpu_s   # the reference: the same rig, no calls
            carrier_line.run(virtual_s)
            idle_cpu_s = time.process_time() - idle0
            far_idle_cpu_s = far_ends.cpu_s - far_idle0
        finally:
            distributor.close()
            for isdn in stacks:
                isdn.stop()
            carrier_line.close()
            center_line.close()
            store.close()
            cdr_stats = pbx.cdr.stats()
            pbx.cdr.stop()
            cdrs_with_agent = sum(1 for record in CdrReader(records_path(work_dir)).calls(limit=None) if record.agent)

    by_agent = [e for e in ended if e.summary["data"].get("agent")]
    causes: dict[str, int] = {}
    for call in carrier.calls:
        causes[str(call.cause_received)] = causes.get(str(call.cause_received), 0) + 1
    agents_heard_caller = sum(1 for r in heard if r.span_id == 4 and r.tone_level_dbm0 is not None
                              and abs(r.tone_level_dbm0 - TONE_DBM0) <= 1.0 and r.tone_seconds >= TALK_S - 0.5)
    if (len(by_agent) != calls or causes != {"16": calls} or phones.handler.answered != calls
            or agents_heard_caller != calls or cdrs_with_agent != calls
            or any(cdr_stats[k] for k in ("dropped", "rejected", "write_errors"))):
        raise RuntimeError(f"end to end: of {calls} calls {len(by_agent)} reached an agent, "
                           f"{phones.handler.answered} answered at an extension, {agents_heard_caller} "
                           f"where the agent heard the caller, {cdrs_with_agent} records naming an agent "
                           f"({cdr_stats}); carrier causes {causes}")
    wrapped = sum(engine.agents[a].calls for a in engine.agents)
    return {
        "e2e_calls": calls, "e2e_agents": E2E_AGENTS, "e2e_skill_groups": E2E_GROUPS,
        "e2e_answered_by_agents": len(by_agent), "e2e_agent_calls_counted": wrapped,
        "e2e_agents_heard_caller": agents_heard_caller, "e2e_records_naming_agent": cdrs_with_agent,
        "e2e_virtual_s": round(virtual_s, 2), "e2e_wall_s": round(wall_s, 2),
        "cpu_ms_per_call": round(cpu_s * 1e3 / calls, 3),
        "box_cpu_ms_per_call": round((cpu_s - far_cpu_s) * 1e3 / calls, 3),
        "far_end_cpu_ms_per_call": round(far_cpu_s * 1e3 / calls, 3),
        "line_idle_cpu_ms_per_call": round(idle_cpu_s * 1e3 / calls, 3),
        "box_line_idle_cpu_ms_per_call": round((idle_cpu_s - far_idle_cpu_s) * 1e3 / calls, 3),
        "cpu_ms_per_call_over_idle_line": round((cpu_s - idle_cpu_s) * 1e3 / calls, 3),
        "box_cpu_ms_per_call_over_idle_line": round(((cpu_s - far_cpu_s) - (idle_cpu_s - far_idle_cpu_s)) * 1e3 / calls, 3),
    }


# ---------------------------------------------------------------------------- events (the API)
def api_run(seconds: float) -> dict:
    """bench/cti_api.py's measurement, its figures named as this bench's."""
    from bench.cti_api import measure

    figures = measure(seconds)
    renamed = {"agents": "api_agents", "seconds": "api_seconds", "sent": "events_sent", "received": "events_received"}
    return {renamed.get(k, k): v for k, v in figures.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls the routing measurement handles")
    parser.add_argument("--e2e-calls", type=int, default=240, help="calls handled end to end (at least 200 for the figure)")
    parser.add_argument("--api-seconds", type=float, default=5.0, help="seconds of events to the API's clients")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2,000 routed calls, 30 calls end to end, 1 s of events")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.e2e_calls, args.api_seconds = 2_000, 30, 1.0
    for name, value in (("--calls", args.calls), ("--e2e-calls", args.e2e_calls), ("--api-seconds", args.api_seconds)):
        if value <= 0:
            parser.error(f"{name}: expected a positive number, got {value}")
    try:
        result = route_run(args.calls, args.seed)
        result.update(e2e_run(args.e2e_calls))
    except RuntimeError as exc:          # a call went wrong: say which figure cannot be trusted
        print(f"bench/cti.py: {exc}", file=sys.stderr)
        return 1
    result.update(api_run(args.api_seconds))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

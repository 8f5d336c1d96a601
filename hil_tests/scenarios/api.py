"""Running scenarios, for the CLI, the tests and the benches.

In the box's process (a box on the embedded default, or on a generated layout when a scenario
needs more spans or phones, with the simulator in the same daemon and clock):

    reports = run_files(["answered.toml"], engine="pribox", virtual=True)

On the wire, facing a box that runs elsewhere (the simulator's spans listen on the wires the
box's spans connect to):

    reports = run_files(["answered.toml"], engine="libpri", wire=["/run/pribox/carrier1.wire"])

Inside a running loop (a bench that starts the box itself): `await run_on_wire(...)`,
`await run_in_process(...)`; `load.place_load` for many calls.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from runtime.clock import LoopClock, virtual_time_loop

from .bench import (BOX_CARRIER_SPAN, SIM_CARRIER_SPAN, SIM_PBX_SPAN, Simulator, both_config, embedded_default,
                    freeze_heap, layout, running_daemon, simulator_config)
from .format import Scenario, load_scenario
from .load import place_load
from .runner import ScenarioReport, ScenarioRunner

ENGINES = ("pribox", "libpri")


def spans_needed(scenario: Scenario) -> tuple[int, int]:
    """(carrier spans, PBX spans) the scenario names."""
    carrier = max([c.span for c in scenario.calls if isinstance(c.span, int)] + [1])
    if scenario.load is not None:
        carrier = max([carrier, *scenario.load.spans])
    pbx = max([p.span for p in scenario.phones if p.side == "center"] + [0])
    return carrier, pbx


async def _run_one(scenario: Scenario, sim: Simulator, cdr_database: str | None, alongside=None) -> ScenarioReport:
    def center():      # the box's `cti` service, once the daemon has started it
        ctx = sim.daemon.ctx
        return ctx.peer("cti") if sim.box_spans and ctx is not None else None
    runner = ScenarioRunner(scenario, sim.clock, carrier=sim.carrier, pbx=sim.pbx,
                            box_digits=sim.box_heard if sim.box_spans else None, cdr_database=cdr_database,
                            center=center)
    helper = asyncio.ensure_future(alongside(sim)) if alongside is not None else None
    try:
        report = await runner.run()
    finally:
        if helper is not None:
            if not helper.done():
                helper.cancel()
            elif helper.exception() is not None:
                raise helper.exception()
    if scenario.load is not None and not report.problems:
        report.load = await place_load(scenario.load, sim.clock, sim.carrier)
        if report.load.get("failures"):
            report.problems += report.load["failures"][:10]
    return report


def scenario_prompt_dir(scenario: Scenario) -> str:
    base = Path(scenario.path).parent if getattr(scenario, "path", None) else Path(".")
    return str(base / scenario.settings.prompt_dir)


async def run_in_process(scenario: Scenario, engine: str, clock, wire_dir: str,
                         cdr_database: str | None = None, alongside=None) -> ScenarioReport:
    """A box and the simulator in one daemon on `clock` (the loop's).  `alongside(sim)`, if
    given, is a coroutine run with the scenario (a test standing in for the PBX reaches the
    box's spans through `sim.daemon`)."""
    carrier_spans, pbx_spans = spans_needed(scenario)
    config = os.path.join(wire_dir, "pribox.toml")
    if carrier_spans == 1 and pbx_spans <= 1:
        # The embedded default: the carrier on span 2, the center's PBX (the phones) on span 4.
        text = embedded_default(wire_dir, engine)
        if scenario.settings.box == "answer":
            text = text.replace('handler = "pbx"', 'handler = "answer"')
        elif scenario.settings.prompt_dir:          # the box plays the prompts the scenario checks
            text += f'\n[ivr]\nprompt_dir = "{scenario_prompt_dir(scenario)}"\n'
        if scenario.settings.recording == "all":
            text += '\n[recording]\nenabled = true\npolicy = "all"\n'
        carrier, pbx, box = {1: 2}, ({1: 4} if pbx_spans else {}), {1: 1}
    else:
        lay = layout(wire_dir, carrier_spans, pbx_spans)
        text = both_config(lay, engine)
        carrier = {i + 1: SIM_CARRIER_SPAN + i for i in range(carrier_spans)}
        pbx = {i + 1: SIM_PBX_SPAN + i for i in range(pbx_spans)}
        box = {i + 1: BOX_CARRIER_SPAN + i for i in range(carrier_spans)}
    Path(config).write_text(text)
    state_dir = os.path.join(wire_dir, "state")     # the box's records, this run's alone
    if cdr_database is None and not scenario.settings.cdr_database:
        from pbx_cti.cdr.schema import records_path
        cdr_database = str(records_path(state_dir))
    async with running_daemon(config, clock, state_dir=state_dir) as daemon:
        sim = Simulator(daemon, clock, engine, carrier, pbx, box)
        await sim.attach()
        freeze_heap()
        try:
            return await _run_one(scenario, sim, cdr_database, alongside)
        finally:
            sim.close()


async def run_on_wire(scenario: Scenario, engine: str, clock, carrier_wires: list[str], pbx_wires: list[str] = (),
                      *, wire_role: str = "listen", exports: list[str] | None = None, work_dir: str | None = None,
                      cdr_database: str | None = None) -> ScenarioReport:
    """The simulator in this process facing a box elsewhere on `carrier_wires` (scenario span
    1, 2, ...) and `pbx_wires`."""
    with tempfile.TemporaryDirectory(prefix="pribox-scenario-") as scratch:
        work = work_dir or scratch
        lay = layout(work, len(carrier_wires), len(pbx_wires))
        lay.carrier_wires, lay.pbx_wires = list(carrier_wires), list(pbx_wires)
        text = simulator_config(lay, engine, wire_role=wire_role, export_dir=work)
        for index, path in enumerate(exports or []):
            text = text.replace(os.path.join(work, f"span{SIM_CARRIER_SPAN + index}.dchan"), path)
        config = os.path.join(work, "simulator.toml")
        Path(config).write_text(text)
        async with running_daemon(config, clock) as daemon:
            sim = Simulator(daemon, clock, engine,
                            {i + 1: SIM_CARRIER_SPAN + i for i in range(len(carrier_wires))},
                            {i + 1: SIM_PBX_SPAN + i for i in range(len(pbx_wires))})
            await sim.attach()
            freeze_heap()
            try:
                return await _run_one(scenario, sim, cdr_database)
            finally:
                sim.close()


def run_files(paths, *, engine: str = "pribox", virtual: bool = False, wire: list[str] | None = None,
              pbx_wire: list[str] | None = None, wire_role: str = "listen", exports: list[str] | None = None,
              cdr_database: str | None = None) -> list[ScenarioReport]:
    """Load and run each scenario file (ConfigError for a file that does not load, before any
    runs); one report each, in order."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "libpri" and virtual:
        raise ValueError("libpri keeps wall-clock timers and cannot run on the virtual clock; use --engine pribox")
    scenarios = [p if isinstance(p, Scenario) else load_scenario(p) for p in paths]
    reports = []
    for scenario in scenarios:
        if engine not in scenario.settings.engines:
            report = ScenarioReport(scenario.name, scenario.path, engine)
            report.problems.append(f"this scenario runs only with {', '.join(scenario.settings.engines)}")
            reports.append(report)
            continue
        reports.append(_run_sync(scenario, engine, virtual, wire, pbx_wire or [], wire_role, exports, cdr_database))
    return reports


def _run_sync(scenario, engine, virtual, wire, pbx_wire, wire_role, exports, cdr_database) -> ScenarioReport:
    async def main(clock):
        with tempfile.TemporaryDirectory(prefix="pribox-scenario-") as wire_dir:
            if wire:
                return await run_on_wire(scenario, engine, clock, wire, pbx_wire, wire_role=wire_role,
                                         exports=exports, cdr_database=cdr_database)
            return await run_in_process(scenario, engine, clock, wire_dir, cdr_database)

    try:
        if virtual:
            loop = virtual_time_loop()
            try:
                return loop.run_until_complete(main(LoopClock(loop)))
            finally:
                loop.close()
        return asyncio.run(main(LoopClock()))
    finally:
        import gc
        gc.unfreeze()

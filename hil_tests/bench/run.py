"""The whole bench against the emulated box: load at each span count, faults, the soak and the
audio measurement, one results dict with a summary, and the HTML report.

    results = run_bench(BenchPlan(span_counts=(1, 4, 8), soak=SoakSettings(hours=24)))
    write_report(results, "bench-report/")

The faults and the audio measurement come from their own modules (`faults.run_faults()`,
`audio_quality.measure_audio()`); a build without one of them leaves its part out and says so.
"""

from __future__ import annotations

import importlib
import inspect
import os
import platform
import time
from dataclasses import dataclass, field

from .load import LoadSettings, run_load
from .soak import SoakSettings, run_soak


@dataclass
class BenchPlan:
    span_counts: tuple[int, ...] = (1, 4, 8)
    load: LoadSettings = field(default_factory=LoadSettings)
    soak: SoakSettings | None = field(default_factory=SoakSettings)    # None: no soak
    faults: bool = True
    audio: bool = True
    quick: bool = False                # the faults' and audio's own quick runs


def machine() -> dict:
    load1, load5, load15 = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_average": [round(load1, 2), round(load5, 2), round(load15, 2)],
            "python": platform.python_version(), "host_kernel": platform.release()}


def _optional(module: str, function: str):
    try:
        return getattr(importlib.import_module(f"hil_tests.bench.{module}"), function)
    except (ImportError, AttributeError):
        return None


def _call(function, quick: bool, progress=None):
    parameters = inspect.signature(function).parameters
    options = {"quick": quick} if "quick" in parameters else {}
    if progress is not None and "progress" in parameters:
        options["progress"] = progress
    return function(**options)


def _fault_dict(result) -> dict:
    if isinstance(result, dict):
        return result
    if hasattr(result, "_asdict"):
        return result._asdict()
    if hasattr(result, "__dataclass_fields__"):
        from dataclasses import asdict
        return asdict(result)
    return {"name": str(result), "passed": bool(getattr(result, "passed", False))}


def run_bench(plan: BenchPlan, progress=print) -> dict:
    results: dict = {"machine_before": machine(), "load": []}
    started = time.monotonic()
    for spans in plan.span_counts:
        settings = LoadSettings(**{**plan.load.__dict__, "spans": spans})
        progress(f"load: {spans} carrier span(s), {spans} center span(s), {30 * spans} agents ...")
        r = run_load(settings)
        results["load"].append(r)
        progress(f"load: {spans} span(s): {r['calls_held_max']} calls held at most, completion "
                 f"{r['completion_ratio']}, late ticks {r['late_ticks']}, leaked {r['leaked']}")
    if plan.faults:
        run_faults = _optional("faults", "run_faults")
        if run_faults is not None:
            progress("faults ...")
            results["faults"] = [_fault_dict(f) for f in _call(
                run_faults, plan.quick, lambda r, seconds: progress(
                    f"fault {'pass' if r.passed else 'FAIL'}: {r.name} ({seconds:.1f} s)"))]
    if plan.soak is not None and plan.soak.hours > 0:
        progress(f"soak: {plan.soak.hours:g} h on the virtual clock ...")
        results["soak"] = run_soak(plan.soak)
        progress(f"soak: {results['soak']['placed']} calls, completion {results['soak']['completion_ratio']}, "
                 f"leaked {results['soak']['leaked']}, {results['soak']['wall_s']} s")
    if plan.audio:
        measure_audio = _optional("audio_quality", "measure_audio")
        if measure_audio is not None:
            progress("audio ...")
            results["audio"] = _call(measure_audio, plan.quick)
    results["machine"] = machine()
    results["seconds"] = round(time.monotonic() - started, 1)
    results["summary"] = summary(results)
    return results


PARTS = ("load", "faults", "soak", "audio")


def combine(runs: list[dict], names: list[str]) -> dict:
    """One results dict from several runs' (each part from the first run that has it), the
    summary computed again and where each part came from recorded."""
    if len(runs) == 1:
        return runs[0]
    combined: dict = {"sources": {}}
    for part in PARTS:
        for run, name in zip(runs, names):
            if run.get(part):
                combined[part] = run[part]
                combined["sources"][part] = name
                break
    combined["machine_before"] = runs[0].get("machine_before")
    combined["machine"] = runs[0].get("machine")
    combined["summary"] = summary(combined)
    combined["summary"]["parts_from"] = combined["sources"]
    return combined


def summary(results: dict) -> dict:
    """The headline figures (bench/hil.py's JSON line) from a results dict."""
    load = results.get("load", [])
    out: dict = {}
    if load:
        top = max(load, key=lambda r: r["spans"])
        out.update({
            "spans": top["spans"], "calls": top["calls_held_max"], "channels": top["channels"],
            "completion_ratio": min(r["completion_ratio"] for r in load),
            "post_dial_delay_p99_ms": top["setup_to_alerting_ms"]["p99"],
            "post_dial_delay_connect_p99_ms": top["setup_to_connect_ms"]["p99"],
            "late_ticks": sum(r["late_ticks"] for r in load),
            # beside the raw figure, where the line thread's late ticks came from on this VM
            "late_ticks_beside_steal": sum(r.get("late_ticks_beside_steal", 0) for r in load),
            "late_ticks_waited_in_guest": sum(r.get("late_ticks_waited_in_guest", 0) for r in load),
            "late_ticks_unexplained": sum(r.get("late_ticks_unexplained", 0) for r in load),
            "cpu_steal_ms": sum(r.get("late_tick_attribution", {}).get("cpu_steal_ms", 0) for r in load),
            # and what a portless line thread in a process of its own saw over the same runs
            "late_ticks_beside_reference": sum(r.get("late_ticks_beside_reference") or 0 for r in load),
            "platform_reference_late_ticks": sum(r.get("platform_reference_late_ticks") or 0 for r in load),
            "offered_erlangs_poisson": top.get("offered_erlangs"),
            "carried_erlangs_sustain": top.get("carried_erlangs_sustain"),
            "refills": top.get("refills", 0),
            "event_loop_lag_p99_ms": top["event_loop_lag_ms"]["p99_ms"],
            "cpu_percent_per_call": top["cpu_percent_per_call"],
            "rss_per_call_kib": top["rss_per_call_kib"],
        })
        for r in load:
            out[f"spans_{r['spans']}"] = {
                "calls": r["calls_held_max"], "completion_ratio": r["completion_ratio"], "placed": r["placed"],
                "blocked": r["blocked"], "post_dial_delay_p50_ms": r["setup_to_alerting_ms"]["p50"],
                "post_dial_delay_p99_ms": r["setup_to_alerting_ms"]["p99"],
                "connect_p50_ms": r["setup_to_connect_ms"]["p50"], "connect_p99_ms": r["setup_to_connect_ms"]["p99"],
                "late_ticks": r["late_ticks"], "late_ticks_beside_steal": r.get("late_ticks_beside_steal"),
                "late_ticks_beside_reference": r.get("late_ticks_beside_reference"),
                "platform_reference_late_ticks": r.get("platform_reference_late_ticks"),
                "carried_erlangs_sustain": r.get("carried_erlangs_sustain"), "full_s": r.get("full_s"),
                "event_loop_lag_p99_ms": r["event_loop_lag_ms"]["p99_ms"],
                "box_cpu_percent": r["box_cpu_percent"], "cpu_percent_per_call": r["cpu_percent_per_call"],
                "rss_per_call_kib": r["rss_per_call_kib"], "leaked": r["leaked"],
                "console_left": r.get("console_left"), "service_crashes": r.get("service_crashes", {})}
    leaked = sum(r["leaked"] for r in load)
    soak = results.get("soak")
    if soak:
        leaked += soak["leaked"]
        out.update({"soak_hours": soak["hours"], "soak_calls": soak["placed"],
                    "soak_completion_ratio": soak["completion_ratio"], "soak_leaked": soak["leaked"],
                    "soak_rss_growth_kib": soak["leaks"]["rss_growth_kib"], "soak_wall_s": soak["wall_s"]})
    out["leaked"] = leaked
    if results.get("machine_before") and results.get("machine"):
        out["load_average_before_after"] = [results["machine_before"]["load_average"][0],
                                            results["machine"]["load_average"][0]]
    faults = results.get("faults")
    if faults is not None:
        out["faults_passed"] = sum(1 for f in faults if f.get("passed", f.get("ok")))
        out["faults_total"] = len(faults)
    audio = results.get("audio")
    if audio:
        out["pesq_g711"] = audio.get("pesq_g711")
        out["pesq_g729"] = audio.get("pesq_g729")
    return out

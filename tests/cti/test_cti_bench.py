"""bench/cti.py runs (a smoke run of its whole measurement) and prints its figures as one JSON
object on the last line: routing under load, events to the API's clients, and calls handled end
to end through the carrier's PRI, the IVR, the CTI and the agents' extensions."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bench_cti_quick_prints_one_json_object_with_every_part():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "cti.py"), "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    # Routing: the engine alone under the load.
    assert (figures["agents"], figures["skill_groups"], figures["queued_callers"]) == (100, 20, 500)
    assert figures["calls"] == 2000 and figures["log_records"] > 7 * 2000
    assert 0 < figures["route_decision_p50_ms"] <= figures["route_decision_p99_ms"] <= figures["route_decision_max_ms"]
    assert figures["engine_cpu_ms_per_call"] > 0
    # End to end: every call placed by the carrier reached an agent, was answered at the agent's
    # extension, carried the caller's tone to the agent, was counted once by the engine and has a
    # call record naming its agent.
    calls = figures["e2e_calls"]
    assert calls == 30 and figures["e2e_answered_by_agents"] == calls == figures["e2e_agent_calls_counted"]
    assert figures["e2e_agents_heard_caller"] == calls == figures["e2e_records_naming_agent"]
    assert figures["e2e_virtual_s"] > 5.5           # at least ring + talk + wrap-up, in virtual time
    assert figures["cpu_ms_per_call"] > figures["engine_cpu_ms_per_call"]
    assert figures["cpu_ms_per_call"] == pytest.approx(figures["box_cpu_ms_per_call"] + figures["far_end_cpu_ms_per_call"],
                                                       abs=0.002)
    assert figures["box_cpu_ms_per_call"] > 0 and figures["far_end_cpu_ms_per_call"] > 0
    assert figures["line_idle_cpu_ms_per_call"] >= figures["box_line_idle_cpu_ms_per_call"] > 0
    # Events: bench/cti_api.py's measurement, every event received, no client dropped.
    assert figures["api_agents"] == 100 and figures["dropped_clients"] == 0
    assert figures["events_sent"] > 0 and figures["events_received"] == figures["events_sent"]
    assert figures["events_per_s"] > 0 and figures["engine_events_per_s"] > 0
    assert 0 <= figures["event_latency_ms_p50"] <= figures["event_latency_ms_p99"] <= figures["event_latency_ms_max"]

"""bench/cti.py runs (a smoke run) and prints its figures as one JSON object on the last line."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_cti_quick_prints_one_json_object():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "cti.py"), "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    assert (figures["agents"], figures["skill_groups"], figures["queued_callers"]) == (100, 20, 500)
    assert figures["calls"] == 2000 and figures["log_records"] > 7 * 2000
    assert 0 < figures["route_decision_p50_ms"] <= figures["route_decision_p99_ms"] <= figures["route_decision_max_ms"]
    assert figures["cpu_ms_per_call"] > 0
    assert "events_per_s" not in figures  # the API's WebSocket figure is measured with the API

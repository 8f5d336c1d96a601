"""bench/cti_api.py runs (a smoke run): 100 WebSocket clients in another process receive every
event the server drives, none is dropped, and the figures come as one JSON object."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_cti_api_quick_prints_one_json_object():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "cti_api.py"), "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["agents"] == 100 and figures["dropped_clients"] == 0
    assert figures["sent"] > 0 and figures["received"] == figures["sent"]
    assert figures["events_per_s"] > 0 and figures["engine_events_per_s"] > 0
    assert 0 <= figures["event_latency_ms_p50"] <= figures["event_latency_ms_p99"] <= figures["event_latency_ms_max"]

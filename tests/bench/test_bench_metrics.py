"""bench/metrics.py runs (a smoke run): a day of calls in the event log and a CDR file, scraped;
the figures come as one JSON object."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_metrics_quick_prints_one_json_object():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "metrics.py"), "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["agents"] == 100 and figures["queues"] == 20
    assert figures["log_records"] > figures["calls"] > 0 and figures["cdr_calls"] == 20_001
    assert 0 < figures["render_ms_p50"] <= figures["scrape_ms_p50"] <= figures["scrape_ms_p99"]
    assert figures["first_scrape_ms"] > 0 and figures["cdr_count_ms"] > 0

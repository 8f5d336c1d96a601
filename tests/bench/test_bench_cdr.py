"""bench/cdr.py runs and ends with one JSON object; a kill -9 took at most the last second."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_ends_with_one_json_object_of_every_figure():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "cdr.py"), "--quick"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["calls"] == 200
    for key in ("caller_p99_us", "sync_commit_p99_us", "caller_max_us", "sync_commit_max_us", "changes_per_s",
                "sync_changes_per_s"):
        assert figures[key] > 0
    assert 0 <= figures["kill9_lost_ms"] <= 1000 and figures["kill9_lost_changes"] >= 0

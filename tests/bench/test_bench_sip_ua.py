"""bench/sip_ua.py runs and ends with one JSON object of every figure."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_ends_with_one_json_object_of_every_figure():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "sip_ua.py"), "--calls", "100"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("sip_ua_calls_per_s_both_ends", "reference_core_calls_per_s_both_ends", "ua_to_core_ratio"):
        assert figures[key] > 0

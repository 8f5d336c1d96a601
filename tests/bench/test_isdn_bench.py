"""bench/q931_calls.py runs end to end and ends with its one JSON line."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_call_bench_prints_one_json_object_last():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "q931_calls.py"), "--calls", "200",
                          "--libpri-calls", "200", "--rounds", "1"],
                         capture_output=True, text=True, timeout=120, check=True, cwd=ROOT).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["calls_per_s"] > 0 and result["libpri_calls_per_s"] > 0
    assert set(result) >= {"calls_per_s", "libpri_calls_per_s", "ratio_to_libpri", "meets_goal"}

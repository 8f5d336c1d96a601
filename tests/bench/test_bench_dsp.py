"""bench/dsp.py runs and ends with one JSON object, and does not hide the dsp package from the
other benchmarks in bench/."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_ends_with_one_json_object_of_every_figure():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "dsp.py"), "--quick"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("g711_msamples_per_s", "audioop_msamples_per_s", "g729_transcode_channels_per_core",
                "bcg729_raw_channels_per_core", "dtmf_channels_per_core", "spandsp_dtmf_channels_per_core"):
        assert figures[key] > 0


def test_a_benchmark_next_to_it_still_imports_the_real_dsp_package():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "e1_line.py"), "--pairs", "1", "--seconds", "0.05"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["spans_realtime_per_core"] > 0

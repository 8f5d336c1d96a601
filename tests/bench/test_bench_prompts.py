"""bench/prompts.py runs and ends with one JSON object of every figure."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_ends_with_one_json_object_of_every_figure():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "prompts.py"), "--quick"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("prompt_channels_per_core", "media_only_channels_per_core", "player_bank_msamples_per_s",
                "numpy_copy_msamples_per_s", "resample_44k1_realtime", "resample_48k_realtime",
                "convolve_48k_realtime"):
        assert figures[key] > 0

"""bench/capture.py, shortened: its last line holds every figure, the line thread's late ticks
with a capture running over relayed calls among them, and that capture decodes in tshark with
no malformed packet, its RTP found by tshark's heuristic and its RTCP by port pairing."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INTEGERS = ("capture_packets_per_s", "dropped", "writer_max_packets_per_s", "analysis_packets_per_s",
            "late_ticks_with_capture", "late_ticks_without_capture", "capture_with_rtp_packets_per_s",
            "capture_with_rtp_packets", "dropped_with_rtp", "rtp_relayed_packets", "rtp_packets_lost")


def test_bench_capture_short_run_reports_late_ticks_with_a_capture_tshark_reads(tmp_path):
    kept = tmp_path / "rtp.pcapng"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "capture.py"), "--scales", "1.25", "--seconds", "1",
         "--writer-packets", "20000", "--analysis-seconds", "0.5", "--rtp-calls", "30", "--rtp-seconds", "3",
         "--baseline-seconds", "1", "--keep-rtp-capture", str(kept)],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in INTEGERS:
        assert isinstance(figures[key], int) and not isinstance(figures[key], bool), key
    assert figures["rtp_legs"] == 60 and figures["rtp_relayed_packets"] > 0
    # 60 legs both ways at 50 packets/s: 6,000 packets/s through the box, all captured.
    assert figures["dropped_with_rtp"] == 0
    assert figures["capture_with_rtp_packets"] >= 0.9 * 6000 * 3

    # Heuristics first: a leg's ephemeral port can be a well-known one (37008 is TZSP's).
    checks = ["-o", "udp.check_checksum:TRUE", "-o", "rtp.heuristic_rtp:TRUE", "-o", "udp.try_heuristic_first:TRUE"]
    bad = subprocess.run(["tshark", "-r", str(kept), *checks, "-Y", "_ws.malformed || _ws.expert.severity >= 6291456"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 0 and bad.stdout == "", bad.stdout[:500] + bad.stderr
    protocols = subprocess.run(["tshark", "-r", str(kept), *checks, "-T", "fields", "-e", "frame.protocols"],
                               capture_output=True, text=True, timeout=60).stdout.split()
    assert len(protocols) == figures["capture_with_rtp_packets"]
    assert sum(p.endswith(":rtp") for p in protocols) >= 0.98 * len(protocols)
    assert any(p.endswith(":rtcp") for p in protocols)

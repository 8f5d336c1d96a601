"""bench/sip.py runs (a smoke run) and ends with one JSON object holding the RTP figures and the
calls per second the box takes with media from SIPp."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_sip_quick_prints_one_json_object_of_the_rtp_figures():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "sip.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("rtp_g711_channels_per_core", "rtp_g729_transcode_channels_per_core",
                "bcg729_raw_channels_per_core", "jitter_buffer_added_delay_ms_p50"):
        assert figures[key] > 0
    assert figures["rtp_g711_packets_lost"] == 0
    assert figures["rtp_g711_relayed_packets"] > 0
    # the smoke run offers 20 calls/s for 1 s: every call answered, media both ways
    assert figures["b2bua_calls_per_s"] > 0 and figures["b2bua_offered_calls_per_s"] == 20
    smoke, = figures["b2bua_rounds"]
    assert smoke["answered"] == smoke["calls"] == 20 and smoke["rtp_packets_in"] > 0 and smoke["rtp_packets_out"] > 0
    # both SIPps send RTP; the box relays it untouched, and decodes it all in the reference round
    assert smoke["rtp_packets_relayed"] > 0.8 * smoke["rtp_packets_in"]
    assert smoke["frames_decoded"] < 0.1 * smoke["rtp_packets_in"]
    reference = figures["b2bua_media_plane_reference"]
    assert reference["rtp_packets_relayed"] == 0 and reference["frames_decoded"] > 0.8 * reference["rtp_packets_in"]

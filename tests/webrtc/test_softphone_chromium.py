"""The softphone in a real headless Chromium (Debian's, driven by chromedriver through Selenium),
in a network namespace that has only loopback, with the box beside it (browser_world.py): the
page registers, rings, is answered by a click, the dial tone of Chromium's fake microphone (a
WAV) is heard by the box's tone detector on its leg, the box's 1 kHz is in the page's received
track (a WebAudio AnalyserNode, read by Selenium), the hang-up button clears the call, and the
contact goes with the page.  About 7 s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_chromium_answers_and_a_tone_goes_each_way():
    command = ["unshare", "--net", "sh", "-c",
               f"ip link set lo up && exec {sys.executable} -m tests.webrtc.browser_world"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["page_caller"] == "0212345678"
    assert result["box_heard_dial_tone"], "the box's tone detector did not hear the WAV's dial tone"
    heard = result["page_heard_1khz_db"]
    assert heard["peak"] > -60 and heard["above"] > 30, f"the page's track did not carry the box's 1 kHz: {heard}"
    assert result["leg"]["packets_received"] > 50 and result["leg"]["lost"] == 0
    assert result["page_state_after"] == "ready" and result["unregistered"]

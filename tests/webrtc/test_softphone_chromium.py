"""The softphone in a real headless Chromium (Debian's, driven by chromedriver through Selenium),
in a network namespace that has only loopback, with the box beside it (browser_world.py).

- `plain`: a bare page starts softphone.js with the agent's token (noise suppression and gain
  control off, as a test that measures audio wants); Chromium's fake microphone plays the KR dial
  tone from a WAV, which the box's tone detector hears on its leg.
- `desktop`: the agent desktop itself: alice logs in through its form, the desktop starts the
  softphone as an agent's browser would (echo cancellation, noise suppression, gain control on);
  the WAV is a key pressed over and over, which the leg's DTMF receiver hears.

Both: the page rings, a click answers, the box's 1 kHz is in the page's received track (a WebAudio
AnalyserNode read by Selenium), the hang-up button clears the call, and stopping the softphone
unregisters its contact.  About 8 s each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("page", ["plain", "desktop"])
def test_chromium_answers_and_a_tone_goes_each_way(page):
    flag = " --desktop" if page == "desktop" else ""
    command = ["unshare", "--net", "sh", "-c",
               f"ip link set lo up && exec {sys.executable} -m tests.webrtc.browser_world{flag}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["page_caller"] == "0212345678"
    if page == "desktop":
        assert result["box_heard_key"], f"the leg's DTMF receiver did not hear the WAV's key: {result}"
    else:
        assert result["box_heard_dial_tone"], "the box's tone detector did not hear the WAV's dial tone"
    heard = result["page_heard_1khz_db"]
    assert heard["peak"] > -60 and heard["above"] > 30, f"the page's track did not carry the box's 1 kHz: {heard}"
    assert result["leg"]["packets_received"] > 5 and result["leg"]["lost"] == 0
    assert result["page_state_after"] == "ready" and result["unregistered"]

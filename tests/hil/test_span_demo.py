"""`pribox demo`: the main job shows every span reaching alignment and prints layer-1 state."""

import subprocess
import sys
from pathlib import Path

from firmware.cli import main

ROOT = Path(__file__).resolve().parents[2]


def check_output(text):
    for span in ("span 1", "span 2"):
        assert f"{span}: frame and CRC-4 multiframe aligned" in text
    assert text.count("Frame aligned") == 4 and text.count("CRC-4 multiframe aligned") >= 4
    assert "E1 1 is up." in text and "E1 2 is up." in text
    assert "Side NT" in text and "Side TE" in text
    assert "Clock Source is Internal" in text and "Clock Source is Line" in text
    assert "Errored Secs" in text and "slips 0" in text
    assert text.rstrip().endswith("every span aligned")


def test_pribox_demo_for_3_seconds_in_real_time():
    done = subprocess.run([sys.executable, "-m", "firmware.cli", "demo", "--seconds", "3", "--calls", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    check_output(done.stdout)
    assert done.stdout.count("Data in current interval (") == 4


def test_pribox_demo_on_the_virtual_clock(capsys):
    assert main(["demo", "--seconds", "20", "--virtual"]) == 0
    text = capsys.readouterr().out
    check_output(text)
    assert text.count("Data in current interval (20 seconds elapsed)") == 4


def test_pribox_demo_without_crc4_and_with_an_offset(capsys):
    assert main(["demo", "--seconds", "1", "--virtual", "--no-crc4", "--ppm", "50"]) == 0
    text = capsys.readouterr().out
    assert "Framing is NO-CRC4" in text and "+50 ppm" in text


def test_pribox_demo_rejects_a_bad_duration(capsys):
    assert main(["demo", "--seconds", "0"]) == 2
    assert "--seconds must be more than 0" in capsys.readouterr().out

"""`pribox demo`: on virtual time (output checked line by line where it is deterministic), with
several calls, and in real time against libpri with the box's D-channel written to a pcap that
tshark decodes."""

import subprocess
import sys
import time

from firmware.cli import main


def test_demo_on_virtual_time_prints_line_dchannels_call_trace_and_status(capsys):
    assert main(["demo", "--seconds", "5", "--virtual"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("pribox demo: the embedded default on virtual time")
    assert "carrier simulator on span 2: pribox PriStack (network)" in lines
    assert any(line.endswith("span 1: frame and CRC-4 multiframe aligned") for line in lines)
    assert any(line.endswith("span 2: frame and CRC-4 multiframe aligned") for line in lines)
    assert sum(line.endswith("D-channel up (MULTIPLE_FRAME_ESTABLISHED)") for line in lines) == 2
    assert any("carrier: call 1: SETUP 0212345678 -> 15881234 (forwarded from 07012345678) on TS1" in line
               for line in lines)
    trace = [line.split("ms  ", 1)[1] for line in lines if "ISDN Se1:15: " in line]
    # Both stacks restart their B-channels at the first link-up, before the carrier's call.
    assert [t.split(" pd = ")[0] for t in trace] == [
        "ISDN Se1:15: TX -> RESTART", "ISDN Se1:15: RX <- RESTART", "ISDN Se1:15: TX -> RESTART_ACK",
        "ISDN Se1:15: RX <- RESTART_ACK", "ISDN Se1:15: RX <- SETUP", "ISDN Se1:15: TX -> CALL_PROC", "ISDN Se1:15: TX -> ALERTING",
        "ISDN Se1:15: TX -> CONNECT", "ISDN Se1:15: RX <- CONNECT_ACK", "ISDN Se1:15: RX <- DISCONNECT",
        "ISDN Se1:15: TX -> RELEASE", "ISDN Se1:15: RX <- RELEASE_COMP"]
    assert "Progress Description = In-band info or appropriate now available" in out
    assert [line.split("  ")[-1] for line in lines if "DTMF '" in line] == [
        f"span 1: DTMF '{d}' heard on TS1" for d in "1234#"]
    assert ("call 1: answered by the box; DTMF sent 1234#, detected by the box 1234#; 1000 Hz tone heard at "
            "-10.0 dBm0 for 1.00 s; cleared with cause 16 (Normal call clearing)") in lines
    assert out.count("State = MULTIPLE_FRAME_ESTABLISHED") == 2
    assert out.count("0 Active Layer 3 Call(s)") == 2
    assert "E1 1 is up." in lines and "E1 2 is up." in lines
    assert lines[-1] == "demo passed: 1 call(s) answered, DTMF detected, cleared normally; both spans aligned"
    assert out.count("Data in current interval (5 seconds elapsed)") == 2


def test_demo_with_several_calls_and_bad_arguments(capsys):
    assert main(["demo", "--virtual", "--seconds", "1", "--calls", "3", "--digits", "*0"]) == 0
    out = capsys.readouterr().out
    for n in (1, 2, 3):
        assert f"call {n}: answered by the box; DTMF sent *0, detected by the box *0;" in out
    assert main(["demo", "--virtual", "--carrier", "libpri"]) == 2
    assert "cannot run with --virtual" in capsys.readouterr().out
    assert main(["demo", "--seconds", "0"]) == 2
    assert "--seconds must be more than 0, got 0.0" in capsys.readouterr().out


def test_demo_in_real_time_against_libpri_and_its_pcap_decodes_in_tshark(tmp_path):
    pcap = tmp_path / "call.pcap"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "firmware.cli", "demo", "--pcap", str(pcap)],
                            capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "carrier simulator on span 2: libpri (network)" in result.stdout
    assert "span 2: D-channel up (libpri reports dchannel_up)" in result.stdout
    assert "detected by the box 1234#" in result.stdout
    assert elapsed < 15
    decoded = subprocess.run(["tshark", "-r", str(pcap), "-V", "-Y", "q931"], capture_output=True, text=True,
                             timeout=30).stdout
    assert "Message type: SETUP (0x05)" in decoded
    assert "Calling party number digits: 0212345678" in decoded
    assert "Called party number digits: 15881234" in decoded
    assert "Message type: CONNECT (0x07)" in decoded
    assert "Cause value: Normal call clearing (16)" in decoded
    problems = subprocess.run(["tshark", "-r", str(pcap), "-Y", "_ws.malformed || _ws.expert.severity >= 6291456"],
                              capture_output=True, text=True, timeout=30).stdout
    assert problems.strip() == ""

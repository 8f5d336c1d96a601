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
    assert any(line.startswith("pribox demo: the embedded default on virtual time") for line in lines)
    assert "carrier simulator on span 2: pribox PriStack (network)" in lines
    assert any(line.endswith("span 1: frame and CRC-4 multiframe aligned") for line in lines)
    assert any(line.endswith("span 2: frame and CRC-4 multiframe aligned") for line in lines)
    assert sum(line.endswith("D-channel up (MULTIPLE_FRAME_ESTABLISHED)") for line in lines) == 4
    assert any("carrier: call 1: SETUP 0212345678 -> 15881234 (forwarded from 07012345678) on TS1" in line
               for line in lines)
    # The ladder: number mapping, dial plan, IVR steps, the key, the route, the cause.
    assert any("gateway: " in line and "called 15881234 -> 7000" in line and "(trunk group carrier)" in line
               for line in lines)
    assert any("dial plan: " in line and "dial plan entry 1 (7000) -> ivr main" in line for line in lines)
    steps = [line.split(": ", 2)[1] for line in lines if " IVR s1-" in line and ": enter " in line]
    assert steps == ["greeting", "menu", "service", "transfer", "account_transfer"]
    assert any("carrier: the caller presses 2" in line for line in lines)
    assert any("menu: digit 2 collected" in line for line in lines)
    # The contact center: lee logged in and ready, offered the caller, rung on span 3, talking.
    assert any(line.endswith("cti: agent lee: NOT_READY -> READY") for line in lines)
    assert any("in queue account_transfer: offered to lee, ringing extension 2002 on span 3" in line for line in lines)
    assert any(line.endswith("cti: agent lee: RESERVED -> TALKING") for line in lines)
    assert any(line.endswith("carrier: the caller hangs up after 3 s with the agent") for line in lines)
    trace = [line.split("ms  ", 1)[1] for line in lines if "ISDN Se1:15: " in line]
    # Both stacks restart their B-channels at the first link-up, before the carrier's call.
    assert [t.split(" pd = ")[0] for t in trace] == [
        "ISDN Se1:15: TX -> RESTART", "ISDN Se1:15: RX <- RESTART", "ISDN Se1:15: TX -> RESTART_ACK",
        "ISDN Se1:15: RX <- RESTART_ACK", "ISDN Se1:15: RX <- SETUP", "ISDN Se1:15: TX -> CALL_PROC",
        "ISDN Se1:15: TX -> CONNECT", "ISDN Se1:15: RX <- CONNECT_ACK", "ISDN Se1:15: RX <- DISCONNECT",
        "ISDN Se1:15: TX -> RELEASE", "ISDN Se1:15: RX <- RELEASE_COMP"]
    assert ("call 1: 15881234 -> 7000; ivr main; IVR greeting > menu > service > transfer > account_transfer; "
            "keys 2; the caller heard greeting, menu, connecting; queue account_transfer, agent lee answered; "
            "cleared by the caller with cause 16 (Normal call clearing)") in lines
    assert out.count("State = MULTIPLE_FRAME_ESTABLISHED") == 4
    assert out.count("0 Active Layer 3 Call(s)") == 4
    assert "E1 1 is up." in lines and "E1 2 is up." in lines
    assert lines[-1] == ("demo passed: 1 call(s) through the gateway, the dial plan and the IVR, prompts heard, "
                         "cleared normally; every span aligned")


def test_demo_with_several_calls_other_keys_and_bad_arguments(capsys):
    assert main(["demo", "--virtual", "--seconds", "1", "--calls", "2", "--digits", "1"]) == 0
    out = capsys.readouterr().out
    for n in (1, 2):      # lee does not take deposit inquiries: nobody can, the caller hears all busy
        assert f"call {n}: 15881234 -> 7000; ivr main; IVR greeting > menu > service > deposit > deposit_inquiry > all_busy; keys 1;" in out
    assert main(["demo", "--virtual", "--seconds", "1", "--agent", "none", "--digits", "3"]) == 0
    assert "IVR greeting > menu > service > incident > incident_report > all_busy; keys 3;" in capsys.readouterr().out
    assert main(["demo", "--virtual", "--carrier", "libpri"]) == 2
    assert "cannot run with --virtual" in capsys.readouterr().out
    assert main(["demo", "--seconds", "0"]) == 2
    assert "--seconds must be more than 0, got 0.0" in capsys.readouterr().out


def test_demo_in_real_time_against_libpri_and_its_pcap_decodes_in_tshark(tmp_path):
    pcap = tmp_path / "call.pcap"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "firmware.cli", "demo", "--pcap", str(pcap)],
                            capture_output=True, text=True, timeout=90)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "carrier simulator on span 2: libpri (network)" in result.stdout
    assert "span 2: D-channel up (libpri reports dchannel_up)" in result.stdout
    assert "IVR greeting > menu > service > transfer > account_transfer; keys 2; the caller heard greeting, menu, " \
           "connecting; queue account_transfer, agent lee answered" in result.stdout
    assert elapsed < 45             # the call itself: about 17 s of prompts
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

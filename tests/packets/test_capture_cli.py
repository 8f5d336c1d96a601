"""`pribox capture` against a real daemon (the embedded default configuration: four emulated
spans with their PRI stacks) on its control socket, on virtual time: define, start, status,
stop and export, the console's grammar and errors, one capture shared with the console, and a
file whose LAPD frames tshark and scapy read."""

import argparse
import asyncio
import subprocess
import sys

import pytest

from firmware.appliance.boot_health import isdn_check
from firmware.appliance.control_service import CONTROL_SOCKET, query, query_status
from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from firmware.capture import cli as capture_cli
from firmware.capture import console as capture_console
from firmware.capture.control import console_line
from firmware.console.commands import registry
from hil_tests.packets.capture_file import read_capture
from hil_tests.packets.isdn_layers import LAPD
from runtime.bus import EventBus
from runtime.clock import LoopClock, virtual_time_loop
from tests.appliance.test_boot_health import box_config
from tests.packets.test_capture import tshark
from tests.support.daemon_harness import run_beside


@pytest.fixture(autouse=True)
def no_capture_left_behind():
    yield
    control = capture_console._control
    if control.capture is not None and control.capture.running:
        control.stop()
    control.define(None, None)


def run_box(tmp_path, scenario):
    """The daemon on virtual time with `scenario(ask)` beside it once its D-channels are up;
    `ask(line)` sends one request to the control socket."""
    loop = virtual_time_loop()
    state = tmp_path / "state"
    state.mkdir()
    daemon = Daemon(FileSource(str(box_config(tmp_path))), load_box_services(), clock=LoopClock(loop),
                    bus=EventBus(), notifier=Notifier(environ={}), state_dir=str(state))
    socket_path = state / CONTROL_SOCKET

    async def ask(line):
        return await query(socket_path, line)

    async def guarded():
        for _ in range(120):
            try:
                if isdn_check(await query_status(socket_path)).ok:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("the box's D-channels did not come up")
        await scenario(ask)

    try:
        assert loop.run_until_complete(run_beside(daemon, guarded)) == 0
    finally:
        loop.close()
    return state


def test_a_capture_defined_started_stopped_and_exported_from_the_command_line(tmp_path, capsys):
    replies = {}
    usb = tmp_path / "usb"
    usb.mkdir()

    async def scenario(ask):
        replies["define"] = await ask("capture define dchannel span 1 packets 1k")
        replies["start"] = await ask("capture start")
        replies["again"] = await ask("capture start")
        replies["export running"] = await ask(f"capture export {usb}")
        await asyncio.sleep(25.0)            # two T203 periods: the link's RR polls and answers
        replies["status"] = await ask("capture status")
        replies["stop"] = await ask("capture stop")
        replies["export"] = await ask(f"capture export {usb}")
        replies["export twice"] = await ask(f"capture export {usb}")
        # The command itself, in its own process's shape: its own event loop, the socket by --state-dir.
        args = argparse.Namespace(state_dir=str(tmp_path / "state"), timeout=5.0, action="status", words=[])
        replies["cli status"] = await asyncio.to_thread(capture_cli.run, args)

    state = run_box(tmp_path, scenario)
    out = capsys.readouterr().out
    assert replies["cli status"] == 0
    assert out.startswith("Capture: what dchannel, span 1, limits packets 1000\n  state stopped (stopped)\n")
    assert replies["define"] == {"lines": ["Capture defined: what dchannel, span 1, limits packets 1000"]}
    started = replies["start"]["lines"][0]
    assert started.startswith(f"Started capture to {state / 'captures'}/capture-") and started.endswith(".pcapng")
    assert replies["again"]["error"].startswith("The capture is already running, writing ")
    assert "still running" in replies["export running"]["error"]
    status = replies["status"]["lines"]
    assert status[0] == "Capture: what dchannel, span 1, limits packets 1000" and status[1] == "  state running"
    assert replies["stop"]["lines"][0].startswith("Stopped capture: ") and " 0 dropped" in replies["stop"]["lines"][0]
    exported = list(usb.iterdir())
    assert len(exported) == 1 and replies["export"]["lines"][0].endswith(f"to {exported[0]}")
    assert "already exists" in replies["export twice"]["error"]

    frames = list(read_capture(exported[0]))
    assert len(frames) >= 4                   # RR command and response, twice, on span 1 alone
    assert all(isinstance(p.packet, LAPD) for p in frames)
    assert {p.outbound for p in frames} == {True, False}
    assert tshark(exported[0], "-Y", "_ws.malformed || _ws.expert.severity >= 6291456") == ""
    assert "lapd" in tshark(exported[0], "-T", "fields", "-e", "frame.protocols")


def test_bad_requests_get_the_consoles_errors_and_leave_the_capture_alone(tmp_path):
    replies = {}

    async def scenario(ask):
        replies["good"] = await ask("capture define all span 2")
        for line in ("capture define dchannel span 9", "capture define everything", "capture define all packets lots",
                     "capture define all span 1 span 2", "capture define all colour blue", "capture frobnicate",
                     "capture stop", "capture export relative/path", "capture"):
            replies[line] = await ask(line)
        replies["status"] = await ask("capture status")

    run_box(tmp_path, scenario)
    assert replies["capture define dchannel span 9"]["error"] == "capture span: no span 9 on this box (spans: 1, 2, 3, 4)"
    assert replies["capture define everything"]["error"] == "Invalid <WHAT> 'everything': expected one of dchannel, sip, rtp, all"
    assert replies["capture define all packets lots"]["error"].startswith("capture packets: 'lots' is not a positive")
    assert replies["capture define all span 1 span 2"]["error"] == "capture span: given twice"
    assert replies["capture define all colour blue"]["error"].startswith("capture colour: unknown option")
    assert replies["capture frobnicate"]["error"].startswith("capture: expected one of define, start, stop")
    assert replies["capture stop"]["error"] == "No capture has been started"
    assert replies["capture export relative/path"]["error"] == "No capture has been started; nothing to export"
    assert replies["capture"]["error"].startswith("capture: expected one of")
    # The first definition stands through every refusal.
    assert replies["status"]["lines"] == ["Capture: what dchannel,rtp,sip, span 2, no limits",
                                          "  state defined (monitor capture start)"]


def test_the_command_line_and_the_console_share_one_grammar():
    for request in ("capture define all span 1 packets 10k", "capture start", "capture stop", "capture status",
                    "capture export /tmp/x.pcapng"):
        parsed = registry.parse(console_line(request))
        assert parsed is not None and parsed.node.handler is not None
    assert console_line("capture status") == "show monitor capture"
    assert console_line("capture define rtp call 1/3") == "monitor capture define rtp call 1/3"


def test_pribox_capture_without_a_daemon_says_where_it_looked(tmp_path, capsys):
    args = argparse.Namespace(state_dir=str(tmp_path), timeout=5.0, action="status", words=[])
    assert capture_cli.run(args) == 1
    err = capsys.readouterr().err
    assert f"no pribox daemon answers on {tmp_path / CONTROL_SOCKET}" in err and "pribox run" in err
    args = argparse.Namespace(state_dir=str(tmp_path), timeout=5.0, action="start", words=["now"])
    assert capture_cli.run(args) == 2
    assert "start: takes nothing after it, got 'now'" in capsys.readouterr().err
    args = argparse.Namespace(state_dir=str(tmp_path), timeout=5.0, action="export", words=[])
    assert capture_cli.run(args) == 2
    assert "export: give one PATH" in capsys.readouterr().err


def test_relative_export_paths_are_made_absolute_before_they_reach_the_daemon(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert capture_cli.request_line("export", ["out.pcapng"]) == f"capture export {tmp_path / 'out.pcapng'}"
    assert capture_cli.request_line("define", ["all", "span", "1"]) == "capture define all span 1"


def test_pribox_capture_help_names_the_actions_and_the_grammar():
    out = subprocess.run([sys.executable, "-m", "firmware.cli", "capture", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "{define,start,stop,status,export}" in out and "pribox capture define all span 1 packets 10k" in out

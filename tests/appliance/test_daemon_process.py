"""`pribox run` as systemd starts it: the unit's command line, a notify socket, signals."""

import configparser
import os
import shlex
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "images" / "systemd" / "pribox.service"


def read_unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str
    unit.read(UNIT)
    return unit


def test_the_unit_is_type_notify_with_a_watchdog_and_reload_by_sighup():
    unit = read_unit()
    service = unit["Service"]
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert shlex.split(service["ExecStart"])[1:] == ["run", "--state-dir", "/var/lib/pribox"]


def seed_state_dir(state: Path, tmp_path: Path) -> str:
    """Commit the embedded default with its wire moved under tmp_path (never the host's /run)."""
    from firmware.config.loader import default_text

    text = default_text().replace("[console]\nenabled = true", "[console]\nenabled = false").replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")).replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2")
    seed = tmp_path / "seed.toml"
    seed.write_text(text)
    done = subprocess.run([sys.executable, "-m", "firmware.cli", "config", "--state-dir", str(state), "commit",
                           str(seed), "-m", "seed"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return text


def receive(sock: socket.socket, timeout: float) -> str:
    sock.settimeout(timeout)
    return sock.recv(4096).decode()


def test_pribox_run_from_the_unit_command_line_notifies_reloads_and_stops(tmp_path):
    address = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(address)
    state = tmp_path / "state"
    seed_state_dir(state, tmp_path)
    argv = shlex.split(read_unit()["Service"]["ExecStart"])
    argv = [sys.executable, "-m", "firmware.cli"] + [str(state) if a == "/var/lib/pribox" else a for a in argv[1:]]
    env = dict(os.environ, NOTIFY_SOCKET=address, WATCHDOG_USEC="400000")
    proc = subprocess.Popen(argv, env=env, cwd=Path(__file__).resolve().parents[2],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert receive(notify, 20).startswith("READY=1")
        assert receive(notify, 2) == "WATCHDOG=1"
        assert (state / "pribox.pid").read_text().strip() == str(proc.pid)

        # An engineer commits with the CLI: it tells the daemon, which reloads.
        changed = tmp_path / "new.toml"
        changed.write_text((state / "running.toml").read_text().replace('hostname = "pribox"', 'hostname = "edge-7"'))
        commit = subprocess.run([sys.executable, "-m", "firmware.cli", "config", "--state-dir", str(state),
                                 "commit", str(changed), "-m", "rename"], capture_output=True, text=True)
        assert commit.returncode == 0, commit.stderr
        messages = []
        deadline = time.monotonic() + 10
        while "READY=1" not in "".join(m for m in messages if "RELOADING" not in m) and time.monotonic() < deadline:
            message = receive(notify, 10)
            if message != "WATCHDOG=1":
                messages.append(message)
        assert messages[0] == "RELOADING=1" and messages[1].startswith("READY=1")

        proc.send_signal(signal.SIGTERM)
        while (message := receive(notify, 10)) == "WATCHDOG=1":
            pass
        assert message.startswith("STOPPING=1")
        assert proc.wait(10) == 0
        output = proc.stdout.read().decode()
        assert re.search(r"pribox running: (\d+)/\1 services running", output), output  # every service up
        assert "configuration reloaded; changed sections: box" in output
        assert not (state / "pribox.pid").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify.close()


def start_daemon(state: Path, address: str) -> subprocess.Popen:
    env = dict(os.environ, NOTIFY_SOCKET=address)
    return subprocess.Popen([sys.executable, "-m", "firmware.cli", "run", "--state-dir", str(state)], env=env,
                            cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_a_deadline_that_passes_while_the_daemon_is_down_rolls_back_before_services_start(tmp_path):
    address = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(address)
    state = tmp_path / "state"
    seed_state_dir(state, tmp_path)
    first = start_daemon(state, address)
    second = None
    try:
        assert receive(notify, 20).startswith("READY=1")
        first.kill()  # power cut: no STOPPING, no cleanup; its pid file stays behind
        first.wait()
        original = (state / "running.toml").read_text()
        risky = tmp_path / "risky.toml"
        risky.write_text(original.replace('hostname = "pribox"', 'hostname = "risky"'))
        commit = subprocess.run([sys.executable, "-m", "firmware.cli", "config", "--state-dir", str(state), "commit",
                                 str(risky), "--confirmed", "0.01"], capture_output=True, text=True)
        assert commit.returncode == 0, commit.stderr
        assert (state / "running.toml").read_text() == risky.read_text()
        time.sleep(0.8)  # the 0.6 s deadline passes while nothing runs

        second = start_daemon(state, address)
        while not (message := receive(notify, 20)).startswith("READY=1"):
            pass
        assert (state / "running.toml").read_text() == original
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0
        output = second.stdout.read().decode()
        assert "commit 2 not confirmed by its deadline: rolled back to commit 1 (while pribox was down)" in output
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        notify.close()


def test_run_refuses_a_state_directory_it_cannot_create_in_one_line(tmp_path, caplog):
    import argparse
    import logging

    from firmware.appliance import daemon

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    args = argparse.Namespace(config=None, state_dir=str(blocker / "state"))
    with caplog.at_level(logging.ERROR, logger="pribox"):
        assert daemon.run(args) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"cannot start: state directory {blocker / 'state'} cannot be created: Not a directory"]

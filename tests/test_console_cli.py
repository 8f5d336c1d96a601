"""`pribox console --null-modem` as a user tries it: the laptop end opened with pyserial, the
way screen or minicom would open it."""

import os
import re
import signal
import subprocess
import sys
import time

import serial


def read_until(port, pattern, timeout=10.0):
    regex, seen, deadline = re.compile(pattern), b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += port.read(4096)
        if regex.search(seen):
            return seen.decode("ascii", "replace")
    raise AssertionError(f"{pattern!r} not seen; got {seen[-400:]!r}")


def test_pribox_console_null_modem_first_boot_login_and_reload(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware.cli", "console", "--null-modem",
         "--users", str(tmp_path / "users.json"), "--upload-dir", str(tmp_path / "up"),
         "--hostname", "unit7", "--emulated-spans"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        line = proc.stdout.readline()
        laptop_end = re.search(r"screen (/dev/pts/\d+) 115200", line).group(1)
        port = serial.Serial(laptop_end, 115200, timeout=0.05)
        port.write(b"\r")                                    # wake the console
        read_until(port, b"New admin password: ")
        port.write(b"unit7 secret\r")
        read_until(port, b"Repeat admin password: ")
        port.write(b"unit7 secret\r")
        read_until(port, b"Username: ")
        port.write(b"admin\runit7 secret\r")
        read_until(port, b"unit7#")
        port.write(b"sh ver\r")
        assert "pribox E1/PRI gateway firmware" in read_until(port, b"unit7#")
        port.write(b"terminal length 0\r")
        read_until(port, b"unit7#")
        deadline = time.monotonic() + 10
        while True:       # the emulated line aligns within a few hundred ms of real time
            port.write(b"show span 2\r")
            out = read_until(port, b"unit7#")
            if "E1 2 is up." in out or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "E1 2 is up." in out and "Side TE" in out and "Clock Source is Line" in out
        port.write(b"reload\r")
        read_until(port, rb"\[confirm\]")
        port.write(b"\r")
        read_until(port, b"Reloading the box")
        assert proc.wait(timeout=10) == 0                     # standalone: reload ends it
        port.close()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    assert (tmp_path / "users.json").exists()


def test_pribox_console_refuses_a_broken_user_file(tmp_path):
    users = tmp_path / "users.json"
    users.write_text('{"users": {"admin": {"salt": "zz"}}}')
    result = subprocess.run(
        [sys.executable, "-m", "firmware.cli", "console", "--device", "/dev/null",
         "--users", str(users)], capture_output=True, text=True, timeout=30,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.returncode == 2
    assert f"pribox console: {users}: not a valid user file" in result.stderr

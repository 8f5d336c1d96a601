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
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
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
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert result.returncode == 2
    assert f"pribox console: {users}: not a valid user file" in result.stderr


def test_pribox_run_serves_the_console_on_the_configured_device(tmp_path):
    """The daemon as systemd starts it, with [console] on a pseudo-terminal: the console is
    one of the box's services, users come from [[user]] and `show span` sees the spans."""
    import hashlib
    import pty as ptys
    import tty

    from firmware.config.loader import default_text

    master, slave = ptys.openpty()
    tty.setraw(slave)
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(b"field engineer", salt=salt, n=1024, r=8, p=1, dklen=32)
    text = (default_text().replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")).replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2")
            .replace('device = "/dev/ttyS0"', f'device = "{os.ttyname(slave)}"')
            .replace('hostname = "pribox"', 'hostname = "edge-7"'))
    text += f'\n[[user]]\nname = "fe"\npassword_hash = "scrypt:1024:8:1:{salt.hex()}:{key.hex()}"\nprivilege = 15\n'
    config = tmp_path / "box.toml"
    config.write_text(text)
    proc = subprocess.Popen([sys.executable, "-m", "firmware.cli", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    try:
        os.set_blocking(master, False)     # the laptop end; the test holds the slave open too

        def expect(pattern, timeout=15.0):
            seen, deadline = b"", time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    seen += os.read(master, 4096)
                except BlockingIOError:
                    time.sleep(0.02)
                if re.search(pattern, seen):
                    return seen.decode("ascii", "replace")
            raise AssertionError(f"{pattern!r} not seen; got {seen[-400:]!r}")

        expect(b"Username: ")
        os.write(master, b"fe\rfield engineer\r")
        expect(b"edge-7#")
        os.write(master, b"show version\r")
        assert "pribox E1/PRI gateway firmware" in expect(b"edge-7#")
        for _ in range(50):
            os.write(master, b"terminal length 0\rshow span 2\r")
            out = expect(rb"Counters:(.|\r\n)*?edge-7#")
            if "E1 2 is up." in out:
                break
            time.sleep(0.1)
        assert "E1 2 is up." in out
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0]
        assert proc.returncode == 0, output
        assert re.search(r"(\d+)/\1 services running", output), output  # every service up, the console among them
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(slave)

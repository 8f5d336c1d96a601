"""The built firmware image boots under qemu (TCG) and its console answers on the second
serial port: first-boot admin password, login, `show version` with the image's version, every
service running.  Not in the default run (it needs a built image and ~2 minutes):

    make image        # build out/image (root: debootstrap, chroot)
    make image-test   # this test

PRIBOX_IMAGE_DIR points at another built image directory.
"""

import json
import os
import re
import time
from pathlib import Path

import pytest
import serial

from images.qemu_boot import QemuBox

IMAGE_DIR = Path(os.environ.get("PRIBOX_IMAGE_DIR", Path(__file__).resolve().parents[2] / "out" / "image"))
BOOT_TIMEOUT = 300.0
ADMIN_PASSWORD = "bench admin 1"
PROMPT = r"pribox#"


class SerialTerminal:
    def __init__(self, path: str):
        self.port = serial.Serial(path, 115200, timeout=0.2)
        self.seen = ""
        self.unread = ""

    def send(self, text: str) -> None:
        self.port.write(text.encode())

    def expect(self, pattern: str, timeout: float, poke: float | None = None) -> str:
        """Read until `pattern`; with `poke`, press Enter that often while nothing matches
        (what the console printed before the port was opened is gone)."""
        deadline = time.monotonic() + timeout
        last_poke = time.monotonic()
        while True:
            match = re.search(pattern, self.unread)
            if match:
                text, self.unread = self.unread[:match.end()], self.unread[match.end():]
                return text
            if time.monotonic() > deadline:
                break
            chunk = self.port.read(4096).decode("ascii", "replace")
            self.unread += chunk
            self.seen += chunk
            if poke is not None and time.monotonic() - last_poke > poke:
                self.send("\r")
                last_poke = time.monotonic()
        raise AssertionError(f"{pattern!r} did not show within {timeout:.0f} s; last output: {self.unread[-500:]!r}")

    def command(self, line: str, timeout: float = 60.0) -> str:
        self.unread = ""
        self.send(line + "\r")
        return self.expect(re.escape(line) + r"[\s\S]*?\r\n" + PROMPT, timeout)


@pytest.fixture(scope="module")
def booted():
    facts_file = IMAGE_DIR / "image.json"
    if not facts_file.exists():
        raise AssertionError(f"{facts_file} missing: build the image first (make image)")
    facts = json.loads(facts_file.read_text())
    box = QemuBox(IMAGE_DIR)
    pty = box.start()
    term = SerialTerminal(pty)
    try:
        first = term.expect(r"New admin password: |Username: ", BOOT_TIMEOUT, poke=5.0)
        console_seconds = time.monotonic() - box.started_at
        yield box, term, facts, first, console_seconds
    finally:
        term.port.close()
        box.stop()
        boot_log = (IMAGE_DIR / "boot.log").read_text(errors="replace")
        print(f"\nboot log: {IMAGE_DIR / 'boot.log'} ({boot_log.count('FAILED')} FAILED units)")


def test_image_boots_to_the_console_and_runs_every_service(booted):
    box, term, facts, first, console_seconds = booted
    assert "New admin password: " in first, "a fresh box asks for the admin password first"
    term.send(ADMIN_PASSWORD + "\r")
    term.expect("Repeat admin password: ", 30)
    term.send(ADMIN_PASSWORD + "\r")
    term.expect("Password for 'admin' set.", 60)
    term.expect("Username: ", 30)
    term.send("admin\r")
    term.expect("Password: ", 30)
    term.send(ADMIN_PASSWORD + "\r")
    term.expect(PROMPT, 60)

    version = term.command("show version")
    assert f"pribox E1/PRI gateway firmware, version {facts['version']}" in version

    services = term.command("show services")
    lines = services.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Service "))   # after the loop-lag line
    rows = [line.split() for line in lines[header + 1:] if line.strip() and not line.startswith("pribox")]
    names = {row[0]: row[1] for row in rows if len(row) >= 2}
    assert {"network", "spans", "console", "control"} <= set(names), services
    assert all(state == "running" for state in names.values()), services

    interfaces = term.command("show interfaces")
    assert "lo is up, line protocol is" in interfaces and "Internet address is 127.0.0.1/8" in interfaces

    boot_log = (IMAGE_DIR / "boot.log").read_text(errors="replace")
    failed = [line for line in boot_log.splitlines() if "FAILED" in line]
    assert not failed, "units failed during boot:\n" + "\n".join(failed)

    image_bytes = Path(facts["rootfs"]).stat().st_size
    figures = {"build_seconds": facts.get("build_seconds"), "boot_to_console_seconds": round(console_seconds, 1),
               "rootfs_bytes": image_bytes, "rootfs_mib": round(image_bytes / 2**20, 1),
               "bundle_bytes": facts.get("bundle_bytes"), "version": facts["version"]}
    print("\n" + json.dumps(figures))


def test_slot_is_confirmed_by_the_post_boot_health_check(booted):
    box, term, facts, first, console_seconds = booted
    deadline = time.monotonic() + 240
    finished = "Finished \x1b[0;1;39mpribox-confirm"
    while finished not in (IMAGE_DIR / "boot.log").read_text(errors="replace"):
        assert time.monotonic() < deadline, "pribox-confirm.service did not finish after boot"
        time.sleep(2)
    status = term.command("upgrade status", timeout=90)
    assert "Booted slot A, next boot A" in status and "(A): booted, boot status good" in status, status
    out = term.command("upgrade confirm", timeout=120)
    assert "ok   services:" in out and "ok   spans: 4 configured, layer 1 up on all" in out, out
    assert "This slot is confirmed good." in out

"""An emulated box for update tests: two slot files, the A/B boot selector, and a real RAUC
service on a private D-Bus system bus, power-cycled at will.

Everything lives in one directory the test owns; nothing touches the host's D-Bus, boot loader
or disks.  `power_on()` is what the firmware does at reset (the boot selector picks a slot and
spends a try) followed by the RAUC service starting on the slot that booted; `power_off()`
kills it as a power cut would.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from firmware.update.agent import RaucClient
from images.bootloader import BootSelector
from images.bundle import COMPATIBLE
from images.system_conf import render_system_conf

REPO = Path(__file__).resolve().parents[1]

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


class DeviceError(Exception):
    pass


class EmulatedUpdateDevice:
    def __init__(self, root: str | Path, keyring: str | Path, *, slot_size: int, factory_image: bytes):
        for tool in ("rauc", "dbus-daemon"):
            if shutil.which(tool) is None:
                raise DeviceError(f"{tool} not found: install the Debian packages 'rauc' and 'dbus'")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.slots = {"A": self.root / "slot-A.img", "B": self.root / "slot-B.img"}
        for name, path in self.slots.items():
            with open(path, "wb") as f:
                f.write(factory_image if name == "A" else b"")
                f.truncate(slot_size)
        self.boot_state = self.root / "boot-state.json"
        self.selector = BootSelector(self.boot_state)
        backend = self.root / "boot-backend"
        backend.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m images.bootloader "
                           f"--state {self.boot_state} \"$@\"\n")
        backend.chmod(0o755)
        (self.root / "mnt").mkdir(exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        self.conf = self.root / "system.conf"
        self.conf.write_text(render_system_conf(
            slot_a=str(self.slots["A"]), slot_b=str(self.slots["B"]), keyring=Path(keyring).resolve(),
            boot_backend=backend, data_directory=self.root / "data", mount_prefix=self.root / "mnt"))
        self.bus_socket = self.root / "system_bus.sock"
        (self.root / "bus.conf").write_text(_BUS_CONFIG.format(socket=self.bus_socket))
        self.env = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={self.bus_socket}"}
        self._bus: subprocess.Popen | None = None
        self._service: subprocess.Popen | None = None
        self.booted: str | None = None

    @property
    def compatible(self) -> str:
        return COMPATIBLE

    def client(self) -> RaucClient:
        return RaucClient(conf=self.conf, env=self.env)

    def power_on(self, timeout: float = 10.0) -> str:
        if self._service is not None:
            raise DeviceError("already powered on")
        self.booted = self.selector.boot()
        self.bus_socket.unlink(missing_ok=True)
        self._bus = subprocess.Popen(["dbus-daemon", "--nofork", f"--config-file={self.root / 'bus.conf'}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # RAUC gives up at once if the bus is not there yet: wait for the bus to listen.
        deadline = time.monotonic() + timeout
        while not self.bus_socket.exists():
            if self._bus.poll() is not None or time.monotonic() > deadline:
                self.power_off()
                raise DeviceError(f"the private D-Bus did not start (socket {self.bus_socket})")
            time.sleep(0.01)
        log = open(self.root / "rauc-service.log", "ab")
        # Its own process group, so a power cut also takes the boot backend RAUC may be running.
        self._service = subprocess.Popen(["rauc", "--conf", str(self.conf), "service",
                                          f"--override-boot-slot={self.booted}"],
                                         env={**os.environ, **self.env}, stdout=log, stderr=log,
                                         start_new_session=True)
        log.close()
        while time.monotonic() < deadline:
            probe = subprocess.run(["rauc", "--conf", str(self.conf), "status"], env={**os.environ, **self.env},
                                   capture_output=True)
            if probe.returncode == 0:
                return self.booted
            if self._service.poll() is not None:
                break
            time.sleep(0.05)
        self.power_off()
        raise DeviceError(f"RAUC service did not come up; see {self.root / 'rauc-service.log'}")

    def power_off(self) -> None:
        """A power cut: the service dies wherever it is, and what it had mounted is gone."""
        if self._service is not None:
            try:
                os.killpg(self._service.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._service.wait()
        if self._bus is not None and self._bus.poll() is None:
            self._bus.send_signal(signal.SIGKILL)
            self._bus.wait()
        self._service = self._bus = None
        self._unmount_leftovers()

    def _unmount_leftovers(self) -> None:
        # A killed RAUC leaves its bundle mount (and its loop device) behind; a real power cut
        # would not, and leaking loop devices across many tests would exhaust them.
        prefix = str(self.root.resolve()) + "/"
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
        for mountpoint in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mountpoint], capture_output=True)

    def reboot(self) -> str:
        self.power_off()
        return self.power_on()

    def slot_bytes(self, name: str, length: int) -> bytes:
        with open(self.slots[name], "rb") as f:
            return f.read(length)

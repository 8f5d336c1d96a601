"""Boot a built firmware image under qemu-system with software emulation (TCG), as the bench
does before an image ships: the kernel log goes to a file (first serial port) and the box's
console (second serial port, ttyS1) to a pseudo-terminal that a test or an engineer opens
with pyserial, screen or minicom.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from images.appliance_files import DATA_LABEL

_PTY = re.compile(r"char device redirected to (/dev/pts/\d+) \(label serial1\)")


class QemuError(Exception):
    pass


@dataclass(frozen=True)
class QemuNic:
    """The box's one Ethernet port (eth0 with `net.ifnames=0`) as a virtio NIC whose frames
    travel as UDP datagrams on 127.0.0.1: qemu sends them to `peer_port` and takes them on
    `local_port`, so a test is the wire's far end (hil_tests/packets/l2_peer.py).  With `dump`,
    qemu's filter-dump writes every frame of the NIC, both ways, to that pcap."""

    peer_port: int
    local_port: int
    mac: str = "52:54:00:12:34:56"
    dump: str | Path | None = None

    def arguments(self) -> list[str]:
        out = ["-netdev", f"socket,id=n0,udp=127.0.0.1:{self.peer_port},localaddr=127.0.0.1:{self.local_port}",
               "-device", f"virtio-net-pci,netdev=n0,mac={self.mac}"]
        if self.dump is not None:
            out += ["-object", f"filter-dump,id=d0,netdev=n0,file={self.dump}"]
        return out


def make_data_disk(path: str | Path, size_mb: int = 64, contents: str | Path | None = None) -> Path:
    """A raw disk image holding the box's data partition: ext4 labelled pribox-data, which the
    image mounts at /var/lib/pribox (a whole-disk file system: the label is what it looks for).
    `contents`: a folder whose files the new file system starts with (a state directory
    prepared on the bench, e.g. a committed configuration)."""
    path = Path(path)
    if shutil.which("mkfs.ext4") is None:
        raise QemuError("mkfs.ext4 not found: install the Debian package 'e2fsprogs'")
    with open(path, "wb") as disk:
        disk.truncate(size_mb * 1024 * 1024)
    populate = ["-d", str(contents)] if contents is not None else []
    proc = subprocess.run(["mkfs.ext4", "-q", "-F", "-L", DATA_LABEL, *populate, str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise QemuError(f"mkfs.ext4 {path}: {proc.stderr.strip() or proc.returncode}")
    return path


class QemuBox:
    def __init__(self, image_dir: str | Path, *, memory_mb: int = 1024, accel: str = "tcg", slot: str = "A",
                 kernel_args: str = "", data_disk: str | Path | None = None, nic: QemuNic | None = None):
        self.image_dir = Path(image_dir)
        for name in ("vmlinuz", "initrd.img", "rootfs.squashfs"):
            if not (self.image_dir / name).exists():
                raise QemuError(f"{self.image_dir / name} missing: build the image first (make image)")
        self.memory_mb = memory_mb
        self.accel = accel
        self.slot = slot
        self.kernel_args = kernel_args   # appended to the command line (a bench unit to start, ...)
        # The data partition's disk (make_data_disk), or None: the box then runs its state
        # directory on a tmpfs, as a box without one does.
        self.data_disk = None if data_disk is None else Path(data_disk)
        self.nic = nic                   # None: no network at all (-nic none)
        self.boot_log = self.image_dir / "boot.log"
        self.console_pty: str | None = None
        self.started_at: float | None = None
        self._proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        cmd = [
            "qemu-system-x86_64", "-accel", self.accel, "-cpu", "max", "-m", str(self.memory_mb), "-smp", "2",
            "-kernel", str(self.image_dir / "vmlinuz"), "-initrd", str(self.image_dir / "initrd.img"),
            "-append", f"root=/dev/vda ro rootfstype=squashfs console=ttyS0 rauc.slot={self.slot} panic=5"
                       + (" net.ifnames=0" if self.nic is not None else "")
                       + (f" {self.kernel_args}" if self.kernel_args else ""),
            "-drive", f"file={self.image_dir / 'rootfs.squashfs'},if=virtio,format=raw,readonly=on",
            "-display", "none", *(self.nic.arguments() if self.nic is not None else ["-nic", "none"]), "-no-reboot",
            "-serial", f"file:{self.boot_log}", "-serial", "pty",
        ]
        # -cpu max: TCG's default qemu64 lacks SSE4.2/POPCNT, which numpy's wheels need.
        if self.data_disk is not None:
            # On the IDE bus (/dev/sda), never virtio: /dev/vdb is RAUC's other slot, which an
            # update would overwrite.  The box finds it by its label.
            cmd += ["-drive", f"file={self.data_disk},if=ide,format=raw,media=disk"]
        return cmd

    def start(self, timeout: float = 30.0) -> str:
        """Start the VM; returns the console's pseudo-terminal path."""
        if shutil.which("qemu-system-x86_64") is None:
            raise QemuError("qemu-system-x86_64 not found: install the Debian package 'qemu-system-x86'")
        self.boot_log.unlink(missing_ok=True)
        cmd = self.command()
        self.started_at = time.monotonic()
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if not line:
                break
            seen.append(line.strip())
            match = _PTY.search(line)
            if match:
                self.console_pty = match.group(1)
                return self.console_pty
        self.stop()
        raise QemuError(f"qemu did not offer a console pty: {' | '.join(seen[-5:]) or 'no output'}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def wait(self, timeout: float) -> int | None:
        """Wait for the VM to power off by itself; its exit code, or None if it still runs."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def image_facts(self) -> dict:
        facts_file = self.image_dir / "image.json"
        return json.loads(facts_file.read_text()) if facts_file.exists() else {}

    def __enter__(self) -> "QemuBox":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

"""What turns a Debian root filesystem into the appliance: the box's configuration (the
embedded default with the console on the second serial port), pribox's systemd units, RAUC's
system.conf and keyring for the A/B slots, and the links that let a read-only root write
what it must (/etc/resolv.conf to /run/pribox).

Called by build_image.configure(); kept apart so the image build stays about building.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from images.system_conf import render_system_conf

SYSTEMD_DIR = Path(__file__).resolve().parent / "systemd"
CONSOLE_DEVICE = "/dev/ttyS1"  # ttyS0 carries the kernel log
IMAGE_CONFIG = "/etc/pribox/pribox.toml"
STATE_DIR = "/var/lib/pribox"
BOOT_STATE = f"{STATE_DIR}/boot-state.json"
BOOT_BACKEND = "/usr/lib/pribox/boot-backend"
# Units shipped by the image and enabled for multi-user.target.
UNITS = ("pribox.service", "pribox-confirm.service")
# Units shipped but started only when asked for on the kernel command line
# (`systemd.wants=UNIT`): the bench's checks that need the image's own kernel.
BENCH_UNITS = ("pribox-dahdi-bench.service",)
# The state directory's mount (data partition, else tmpfs), enabled for local-fs.target, and
# the script it runs.
DATA_UNIT = "pribox-data.service"
DATA_MOUNT = "/usr/lib/pribox/data-mount"
DATA_LABEL = "pribox-data"
# Timers that would write to the read-only root (package lists, dpkg backups): never on the box.
MASKED = ("apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer")


class ApplianceFilesError(Exception):
    pass


def image_config_text() -> str:
    """The embedded default configuration with `[console] device` on the console port."""
    from firmware.config.loader import default_text, load_text

    text, count = re.subn(r'(?m)^(\[console\][^\[]*?^device\s*=\s*)"[^"]*"', rf'\1"{CONSOLE_DEVICE}"',
                          default_text())
    if count != 1:
        raise ApplianceFilesError("the embedded default has no [console] device line to point at "
                                  f"{CONSOLE_DEVICE}")
    config = load_text(text, IMAGE_CONFIG)
    if config.console.device != CONSOLE_DEVICE:
        raise ApplianceFilesError(f"image config sets the console to {config.console.device}, not {CONSOLE_DEVICE}")
    return ("# The box's first-boot configuration, committed to /var/lib/pribox when it is empty:\n"
            f"# the embedded default with the console on {CONSOLE_DEVICE} (ttyS0 is the kernel log).\n" + text)


def _enable(etc: Path, unit: str, target: str = "multi-user.target") -> None:
    wants = etc / "systemd" / "system" / f"{target}.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / unit
    link.unlink(missing_ok=True)
    link.symlink_to(f"/etc/systemd/system/{unit}")


def install(rootfs: Path, *, keyring: Path, rootfs_device: str = "/dev/vda",
            other_slot_device: str = "/dev/vdb") -> None:
    """Write the appliance's files into `rootfs` (a debootstrapped Debian 12 with pribox in /opt)."""
    etc = rootfs / "etc"
    (etc / "pribox").mkdir(parents=True, exist_ok=True)
    (etc / "pribox" / "pribox.toml").write_text(image_config_text())
    for unit in UNITS:
        shutil.copy(SYSTEMD_DIR / unit, etc / "systemd" / "system" / unit)
        _enable(etc, unit)
    for unit in BENCH_UNITS:
        shutil.copy(SYSTEMD_DIR / unit, etc / "systemd" / "system" / unit)
    shutil.copy(SYSTEMD_DIR / DATA_UNIT, etc / "systemd" / "system" / DATA_UNIT)
    _enable(etc, DATA_UNIT, "local-fs.target")
    mount_script = rootfs / DATA_MOUNT.lstrip("/")
    mount_script.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(SYSTEMD_DIR / "pribox-data-mount", mount_script)
    mount_script.chmod(0o755)
    for unit in MASKED:
        mask = etc / "systemd" / "system" / unit
        mask.unlink(missing_ok=True)
        mask.symlink_to("/dev/null")
    # The network service writes DNS servers where the read-only /etc/resolv.conf points.
    resolv = etc / "resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.symlink_to("/run/pribox/resolv.conf")
    # RAUC: slot A is the root disk, B the other one; the boot selector is its custom backend
    # (on the qemu bench it keeps its state beside the box's, on the writable state dir).
    backend = rootfs / BOOT_BACKEND.lstrip("/")
    backend.parent.mkdir(parents=True, exist_ok=True)
    backend.write_text(f"#!/bin/sh\nexec /opt/pribox/bin/python -m images.bootloader --state {BOOT_STATE} \"$@\"\n")
    backend.chmod(0o755)
    rauc = etc / "rauc"
    rauc.mkdir(exist_ok=True)
    if not keyring.is_file():
        raise ApplianceFilesError(f"{keyring}: no keyring (the signing CA certificate) to install")
    shutil.copy(keyring, rauc / "keyring.pem")
    (rauc / "system.conf").write_text(render_system_conf(
        slot_a=rootfs_device, slot_b=other_slot_device, keyring="/etc/rauc/keyring.pem",
        boot_backend=BOOT_BACKEND, data_directory=f"{STATE_DIR}/rauc", mount_prefix="/run/rauc"))

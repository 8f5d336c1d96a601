"""The box's state directory on the image: the data partition (LABEL=pribox-data) when there is
one, a tmpfs when there is not, and the qemu bench's data disk.  The mount script runs here for
real, with `mount`, `fsck.ext4` and `udevadm` replaced by recorders on PATH (mounting needs a
booted box: `make image-test`)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from images.appliance_files import DATA_LABEL, DATA_MOUNT, DATA_UNIT, SYSTEMD_DIR, install
from images.keys import make_keys
from images.qemu_boot import QemuBox, make_data_disk

SCRIPT = SYSTEMD_DIR / "pribox-data-mount"


def run_script(tmp_path: Path, *, partition: bool, fsck_exit: int = 0, mount_ext4_exit: int = 0):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    for tool, body in (("udevadm", "exit 0"), ("fsck.ext4", f"exit {fsck_exit}"),
                       ("mount", f'case "$*" in *ext4*) exit {mount_ext4_exit};; esac; exit 0')):
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n{body}\n')
        stub.chmod(0o755)
    by_label = tmp_path / "by-label"
    by_label.mkdir()
    if partition:
        (by_label / DATA_LABEL).symlink_to("/dev/null")
    state = tmp_path / "state"
    proc = subprocess.run(["/bin/sh", str(SCRIPT), str(state), DATA_LABEL], capture_output=True, text=True,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "PRIBOX_BY_LABEL": str(by_label)})
    return proc, calls.read_text().splitlines(), by_label / DATA_LABEL, state


def test_the_data_partition_is_checked_then_mounted(tmp_path):
    proc, calls, device, state = run_script(tmp_path, partition=True, fsck_exit=1)   # 1: repaired
    assert proc.returncode == 0, proc.stderr
    assert calls == ["udevadm settle --timeout=10", f"fsck.ext4 -p {device}",
                     f"mount -t ext4 -o noatime,nodev,nosuid,noexec {device} {state}"]
    assert f"{device} mounted on {state}" in proc.stdout


def test_without_a_data_partition_the_state_directory_is_a_tmpfs(tmp_path):
    proc, calls, _, state = run_script(tmp_path, partition=False)
    assert proc.returncode == 0
    assert calls[-1] == f"mount -t tmpfs -o mode=0700,nodev,nosuid tmpfs {state}"
    assert not any("fsck" in c for c in calls)
    assert f"no partition labelled {DATA_LABEL}: {state} on a tmpfs, records lost at power-off" in proc.stdout


@pytest.mark.parametrize("fsck_exit, mount_exit, why", [(4, 0, "errors the check could not repair"),
                                                        (0, 32, "could not be mounted")])
def test_a_damaged_partition_falls_back_to_a_tmpfs_and_says_why(tmp_path, fsck_exit, mount_exit, why):
    proc, calls, _, state = run_script(tmp_path, partition=True, fsck_exit=fsck_exit, mount_ext4_exit=mount_exit)
    assert proc.returncode == 0
    assert calls[-1] == f"mount -t tmpfs -o mode=0700,nodev,nosuid tmpfs {state}"
    assert why in proc.stdout


def test_the_image_installs_and_enables_the_data_mount_before_pribox(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc" / "systemd" / "system").mkdir(parents=True)
    install(rootfs, keyring=make_keys(tmp_path / "keys").keyring)
    system = rootfs / "etc" / "systemd" / "system"
    assert os.readlink(system / "local-fs.target.wants" / DATA_UNIT) == f"/etc/systemd/system/{DATA_UNIT}"
    unit = (system / DATA_UNIT).read_text()
    assert f"ExecStart={DATA_MOUNT} /var/lib/pribox {DATA_LABEL}" in unit
    assert "Before=local-fs.target umount.target pribox.service" in unit
    script = rootfs / DATA_MOUNT.lstrip("/")
    assert os.access(script, os.X_OK) and script.read_text() == SCRIPT.read_text()
    pribox = (system / "pribox.service").read_text()
    assert "Requires=pribox-data.service" in pribox and "After=network-online.target pribox-data.service" in pribox


def test_the_bench_data_disk_is_labelled_ext4_and_never_on_rauc_s_slot_b(tmp_path):
    disk = make_data_disk(tmp_path / "data.img", size_mb=8)
    label = subprocess.run(["/sbin/blkid", "-o", "value", "-s", "LABEL", str(disk)], capture_output=True, text=True)
    fstype = subprocess.run(["/sbin/blkid", "-o", "value", "-s", "TYPE", str(disk)], capture_output=True, text=True)
    assert (label.stdout.strip(), fstype.stdout.strip()) == (DATA_LABEL, "ext4")
    image = tmp_path / "image"
    image.mkdir()
    for name in ("vmlinuz", "initrd.img", "rootfs.squashfs"):
        (image / name).write_bytes(b"")
    command = QemuBox(image, data_disk=disk).command()
    drives = [command[i + 1] for i, arg in enumerate(command) if arg == "-drive"]
    assert drives[1] == f"file={disk},if=ide,format=raw,media=disk"
    assert sum("if=virtio" in d for d in drives) == 1       # /dev/vda only: vdb stays RAUC's slot B
    assert len([a for a in QemuBox(image).command() if a == "-drive"]) == 1

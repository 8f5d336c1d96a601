"""The device's RAUC system configuration: two root filesystem slots, A and B, the keyring, and
the boot selector as RAUC's custom bootloader backend."""

from __future__ import annotations

from pathlib import Path

from firmware.update.agent import COMPATIBLE


def render_system_conf(*, slot_a: str, slot_b: str, keyring: str | Path, boot_backend: str | Path,
                       data_directory: str | Path, mount_prefix: str | Path,
                       compatible: str = COMPATIBLE, slot_type: str = "raw") -> str:
    return (
        "[system]\n"
        f"compatible={compatible}\n"
        "bootloader=custom\n"
        f"mountprefix={mount_prefix}\n"
        f"data-directory={data_directory}\n"
        "bundle-formats=plain\n\n"
        "[handlers]\n"
        f"bootloader-custom-backend={boot_backend}\n\n"
        "[keyring]\n"
        f"path={keyring}\n\n"
        "[slot.rootfs.0]\n"
        f"device={slot_a}\n"
        f"type={slot_type}\n"
        "bootname=A\n\n"
        "[slot.rootfs.1]\n"
        f"device={slot_b}\n"
        f"type={slot_type}\n"
        "bootname=B\n"
    )

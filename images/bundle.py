"""Firmware bundles: a RAUC bundle holding the root filesystem image of one slot, its manifest
(compatible string, version, sha256 and size of every image, which RAUC computes) and a CMS
signature by the signing key."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from firmware.update.agent import COMPATIBLE
from images.keys import SigningKeys


class BundleError(Exception):
    pass


def build_bundle(rootfs_image: str | Path, output: str | Path, keys: SigningKeys, *, version: str,
                 compatible: str = COMPATIBLE, description: str = "pribox firmware") -> Path:
    """Sign `rootfs_image` into a bundle at `output` (replaced if present)."""
    rootfs_image, output = Path(rootfs_image), Path(output)
    if not rootfs_image.is_file():
        raise BundleError(f"{rootfs_image}: no such root filesystem image")
    for text, what in ((version, "version"), (compatible, "compatible"), (description, "description")):
        if not text or "\n" in text:
            raise BundleError(f"bundle {what} must be one non-empty line, got {text!r}")
    with tempfile.TemporaryDirectory(prefix="pribox-bundle-") as tmp:
        content = Path(tmp, "content")
        content.mkdir()
        # A hard link avoids copying a large image; fall back to a copy across file systems.
        try:
            (content / "rootfs.img").hardlink_to(rootfs_image)
        except OSError:
            shutil.copyfile(rootfs_image, content / "rootfs.img")
        (content / "manifest.raucm").write_text(
            "[update]\n"
            f"compatible={compatible}\n"
            f"version={version}\n"
            f"description={description}\n\n"
            "[bundle]\n"
            "format=plain\n\n"
            "[image.rootfs]\n"
            "filename=rootfs.img\n"
        )
        output.unlink(missing_ok=True)
        proc = subprocess.run(["rauc", "bundle", "--cert", str(keys.cert), "--key", str(keys.key),
                               str(content), str(output)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BundleError(f"rauc bundle failed for {output}: {proc.stderr.strip()}")
    return output

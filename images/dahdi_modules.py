"""DAHDI kernel modules for the image's kernel, built once with Debian's dahdi-dkms and cached.

The modules are compiled in a throw-away copy of the base root file system that also gets the
kernel headers, dkms and a compiler; only the built `.ko` files go into the image (under
/lib/modules/KVER/updates/dahdi), so the box carries no toolchain.  The result is cached in
OUT/cache by kernel version and dahdi-dkms version: a rebuild after a code change costs nothing.

The image loads none of them at boot: Debian's /etc/modules-load.d/dahdi-linux.conf is removed
and /etc/modprobe.d/pribox-dahdi.conf keeps udev from loading a card driver by its PCI alias.
pribox loads `dahdi` and the card's driver itself when a [[span]] names the dahdi driver
(drivers/dahdi.py: `load_modules`).
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

DKMS_PACKAGE = "dahdi-dkms"
MODULE_DIR = "updates/dahdi"
# The card and timing drivers of dahdi-linux that udev would otherwise load on a PCI/USB match.
AUTOLOAD_BLOCKED = (
    "dahdi", "dahdi_transcode", "wct4xxp", "wcte13xp", "wcte43x", "wcte12xp", "wcte11xp", "wct1xxp",
    "wctdm24xxp", "wctdm", "wcaxx", "wcb4xxp", "wcfxo", "wctc4xxp", "tor2", "pciradio", "xpp", "xpp_usb",
    "opvxa1200", "zaphfc",
)


def kernel_version(rootfs_tar: Path) -> str:
    with tarfile.open(rootfs_tar) as tar:
        versions = sorted({Path(m.name).parts[3] for m in tar.getmembers()
                           if m.name.startswith("./usr/lib/modules/") and len(Path(m.name).parts) > 3})
    if not versions:
        raise RuntimeError(f"no kernel modules directory in {rootfs_tar}")
    return versions[-1]


def build_modules(base_tar: Path, cache: Path, run, chroot, log: Path) -> Path:
    """A tarball of the DAHDI modules for the base's kernel (built now or from the cache)."""
    kver = kernel_version(base_tar)
    built = sorted(cache.glob(f"dahdi-modules-{kver}-*.tar"))
    if built:
        print(f"  dahdi modules: cached {built[-1].name}")
        return built[-1]
    staging = cache / "dahdi-build"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    run("tar", "-C", str(staging), "-xf", str(base_tar), log=log)
    shutil.copy("/etc/resolv.conf", staging / "etc" / "resolv.conf")
    proc = staging / "proc"
    subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
    try:
        chroot(staging, "apt-get", "update", "-q", log=log)
        chroot(staging, "apt-get", "install", "-y", "-q", "--no-install-recommends",
               f"linux-headers-{kver}", DKMS_PACKAGE, log=log)
        version = subprocess.run(["chroot", str(staging), "dpkg-query", "-W", "-f=${Version}", DKMS_PACKAGE],
                                 capture_output=True, text=True, check=True).stdout.strip()
        source = next((staging / "usr" / "src").glob("dahdi-*")).name.removeprefix("dahdi-")
        # The package's postinst builds for the running (host) kernel; ask for the image's.
        chroot(staging, "dkms", "install", "--force", f"dahdi/{source}", "-k", kver, log=log)
    finally:
        subprocess.run(["umount", str(proc)], check=False)
    modules = sorted((staging / "var" / "lib" / "dkms" / "dahdi" / source / kver).rglob("*.ko*"))
    if not any(m.name.startswith("dahdi_dynamic_loc.ko") for m in modules):
        raise RuntimeError(f"dkms built no dahdi_dynamic_loc module for {kver}; see {log}")
    safe_version = version.replace(":", "_").replace("~", "_")
    out = cache / f"dahdi-modules-{kver}-{safe_version}.tar"
    with tarfile.open(str(out) + ".part", "w") as tar:
        seen = set()
        for module in modules:
            if module.name not in seen:
                seen.add(module.name)
                tar.add(module, arcname=module.name)
    Path(str(out) + ".part").replace(out)
    shutil.rmtree(staging)
    return out


def install_modules(rootfs: Path, modules_tar: Path) -> list[str]:
    """Put the modules into the image and keep every DAHDI driver from loading by itself."""
    kernels = [k for k in (rootfs / "usr" / "lib" / "modules").iterdir() if k.is_dir()]
    target = kernels[0] / MODULE_DIR
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(modules_tar) as tar:
        tar.extractall(target, filter="data")
        names = sorted(m.name for m in tar.getmembers())
    etc = rootfs / "etc"
    (etc / "modules-load.d" / "dahdi-linux.conf").unlink(missing_ok=True)
    blocked = "\n".join(f"blacklist {name}" for name in AUTOLOAD_BLOCKED)
    (etc / "modprobe.d").mkdir(exist_ok=True)
    (etc / "modprobe.d" / "pribox-dahdi.conf").write_text(
        "# pribox loads DAHDI only when a [[span]] names the dahdi driver (`modprobe NAME` still works).\n"
        + blocked + "\n")
    return names

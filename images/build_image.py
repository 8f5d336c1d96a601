"""Build the pribox firmware image: a Debian 12 minimal root filesystem made with debootstrap,
the Debian packages pribox needs, pribox itself in /opt/pribox, packed read-only (squashfs),
with the kernel and initramfs beside it and a signed RAUC bundle of it.

    python -m images.build_image --out out/image [--keys out/keys] [--version V]

Needs root (debootstrap and chroot) and the Debian packages debootstrap, squashfs-tools and
rauc.  The debootstrap stage is cached in OUT/cache so a rebuild after a code change only
reinstalls pribox (delete the cache to pick up Debian updates); so are the DAHDI kernel modules,
built once with dahdi-dkms for the image's kernel in a throw-away chroot (images/dahdi_modules.py).

The image boots with the root file system read-only; what must be written at run time lives on
tmpfs (/tmp, /var/tmp, /var/log) or in /var/lib/pribox, the state directory, which
pribox-data.service mounts from the data partition (`LABEL=pribox-data`, ext4, checked with
e2fsck first) and, when the box has none, from a tmpfs (records lost at power-off).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
# Runtime packages of the box: the kernel and init, Python, the libraries the C core links and
# the peers it drives (libpri for the carrier simulator), RAUC with D-Bus, iproute2, the
# DAHDI tools (dahdi_cfg, dahdi_scan, dahdi_tool) for spans on real E1 cards, and e2fsprogs.
BASE_PACKAGES = [
    "systemd-sysv", "udev", "kmod", "linux-image-amd64", "initramfs-tools",
    "python3", "python3-venv", "libpri1.4", "libbcg729-0", "libspandsp2",
    "rauc", "rauc-service", "dbus", "iproute2", "lrzsz", "openssl", "dahdi",
    # e2fsprogs: e2fsck checks the data partition (LABEL=pribox-data) before it is mounted.
    "e2fsprogs",
]


UNNEEDED_MODULE_TREES = (
    "drivers/gpu", "drivers/media", "drivers/net/wireless", "drivers/infiniband", "drivers/staging",
    "drivers/bluetooth", "drivers/iio", "drivers/isdn", "drivers/video", "sound", "net/bluetooth",
    "net/mac80211", "net/wireless",
)


class ImageError(Exception):
    pass


def _run(*cmd: str, cwd: Path | None = None, env: dict | None = None, log: Path | None = None) -> None:
    started = time.monotonic()
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log:
            out.close()
    if proc.returncode != 0:
        raise ImageError(f"{' '.join(cmd[:3])}… failed (exit {proc.returncode}); see {log}")
    print(f"  {cmd[0]} {cmd[1] if len(cmd) > 1 else ''}: {time.monotonic() - started:.0f} s", flush=True)


def _chroot(rootfs: Path, *cmd: str, log: Path) -> None:
    _run("chroot", str(rootfs), *cmd, env={"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8"}, log=log)


def _check_host() -> None:
    if os.geteuid() != 0:
        raise ImageError("building an image needs root (debootstrap, chroot)")
    for tool, package in (("debootstrap", "debootstrap"), ("mksquashfs", "squashfs-tools"), ("rauc", "rauc")):
        if shutil.which(tool) is None:
            raise ImageError(f"{tool} not found: install the Debian package '{package}'")


def base_rootfs(cache: Path, log: Path) -> Path:
    """The debootstrap stage, cached by the package list."""
    key = hashlib.sha256(" ".join([SUITE, MIRROR, *BASE_PACKAGES]).encode()).hexdigest()[:12]
    tarball = cache / f"base-{key}.tar"
    if tarball.exists():
        print(f"  debootstrap: cached {tarball.name}")
        return tarball
    cache.mkdir(parents=True, exist_ok=True)
    staging = cache / "debootstrap"
    shutil.rmtree(staging, ignore_errors=True)
    _run("debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(staging), MIRROR,
         log=log)
    _run("tar", "-C", str(staging), "-cf", str(tarball) + ".part", ".", log=log)
    os.replace(str(tarball) + ".part", tarball)
    shutil.rmtree(staging)
    return tarball


def build_wheels(wheels: Path, log: Path) -> None:
    """pribox and its Python dependencies as wheels, built on this (Debian 12) host."""
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "-w", str(wheels), str(REPO), log=log)


def configure(rootfs: Path, *, version: str, keyring: Path, log: Path) -> None:
    etc = rootfs / "etc"
    (etc / "hostname").write_text("pribox\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n127.0.1.1 pribox\n")
    (etc / "machine-id").write_text("")  # systemd makes a transient one on a read-only root
    (etc / "fstab").write_text(
        "tmpfs /tmp tmpfs mode=1777,nosuid,nodev 0 0\n"
        "tmpfs /var/tmp tmpfs mode=1777,nosuid,nodev 0 0\n"
        "tmpfs /var/log tmpfs mode=0755 0 0\n"
        # /var/lib/pribox: pribox-data.service (the data partition, or a tmpfs without one).
    )
    (etc / "pribox-release").write_text(json.dumps({"version": version, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                               time.gmtime())}) + "\n")
    for mountpoint in ("var/lib/pribox",):
        (rootfs / mountpoint).mkdir(parents=True, exist_ok=True)
    # What an appliance never reads: documentation, manual pages, translations.
    for unneeded in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
                     "var/cache/apt", "var/lib/apt/lists"):
        shutil.rmtree(rootfs / unneeded, ignore_errors=True)
    # Kernel modules a headless E1 gateway never loads (graphics, sound, radios, cameras, ...).
    for kernel in (rootfs / "usr" / "lib" / "modules").iterdir():
        for unneeded in UNNEEDED_MODULE_TREES:
            shutil.rmtree(kernel / "kernel" / unneeded, ignore_errors=True)
        _chroot(rootfs, "depmod", kernel.name, log=log)
    # Nobody logs in to a shell: the engineer's way in is the pribox console on the serial port.
    for unit in ("systemd-logind.service", "getty@tty1.service", "serial-getty@ttyS0.service"):
        mask = etc / "systemd" / "system" / unit
        mask.unlink(missing_ok=True)
        mask.symlink_to("/dev/null")
    modules = etc / "initramfs-tools" / "modules"
    modules.write_text(modules.read_text() + "squashfs\nvirtio_blk\nvirtio_pci\n")
    from images.appliance_files import install as install_appliance_files
    install_appliance_files(rootfs, keyring=keyring)
    _chroot(rootfs, "update-initramfs", "-u", log=log)


def install_pribox(rootfs: Path, wheels: Path, log: Path) -> None:
    target = rootfs / "tmp" / "wheels"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(wheels, target)
    _chroot(rootfs, "python3", "-m", "venv", "/opt/pribox", log=log)
    _chroot(rootfs, "/opt/pribox/bin/pip", "install", "-q", "--no-index", "--find-links", "/tmp/wheels", "pribox",
            log=log)
    (rootfs / "usr" / "local" / "bin" / "pribox").unlink(missing_ok=True)
    (rootfs / "usr" / "local" / "bin" / "pribox").symlink_to("/opt/pribox/bin/pribox")
    shutil.rmtree(target)


PROMPT_DIR = "usr/share/pribox/prompts"


def install_prompts(rootfs: Path, cache: Path, log: Path) -> None:
    """The default IVR flow's prompts, read-only in /usr/share/pribox/prompts (a box points
    `[ivr] prompt_dir` there until an integrator brings studio recordings).  Synthesised on this
    host with espeak-ng (kept in the cache: prompts_setup leaves existing files alone), so the
    image needs no speech synthesiser."""
    made = cache / "prompts"
    _run(sys.executable, "-m", "pbx_cti.ivr.prompts_setup", str(made), cwd=REPO, log=log)
    target = rootfs / PROMPT_DIR
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for wav in sorted(made.glob("*.wav")):
        shutil.copy(wav, target / wav.name)


def build(out: Path, *, version: str, keys: Path) -> dict:
    _check_host()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "build.log"
    log.write_text("")
    started = time.monotonic()
    print(f"building pribox {version} image in {out} (log: {log})")
    tarball = base_rootfs(out / "cache", log)
    rootfs = out / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    rootfs.mkdir()
    _run("tar", "-C", str(rootfs), "-xf", str(tarball), log=log)
    build_wheels(out / "wheels", log)
    install_pribox(rootfs, out / "wheels", log)
    install_prompts(rootfs, out / "cache", log)
    from images.dahdi_modules import build_modules, install_modules
    modules = build_modules(tarball, out / "cache", _run, _chroot, log)
    install_modules(rootfs, modules)
    from images.keys import make_keys
    signing = make_keys(keys)  # the box's RAUC keyring is their CA certificate
    configure(rootfs, version=version, keyring=signing.keyring, log=log)
    boot = sorted((rootfs / "boot").glob("vmlinuz-*"))
    initrd = sorted((rootfs / "boot").glob("initrd.img-*"))
    if not boot or not initrd:
        raise ImageError(f"no kernel or initramfs in {rootfs / 'boot'}")
    shutil.copy(boot[-1], out / "vmlinuz")
    shutil.copy(initrd[-1], out / "initrd.img")
    squashfs = out / "rootfs.squashfs"
    squashfs.unlink(missing_ok=True)
    _run("mksquashfs", str(rootfs), str(squashfs), "-comp", "zstd", "-Xcompression-level", "6",
         "-noappend", "-quiet", log=log)
    result = {"version": version, "rootfs": str(squashfs), "kernel": str(out / "vmlinuz"),
              "initrd": str(out / "initrd.img"), "rootfs_bytes": squashfs.stat().st_size}
    from images.bundle import build_bundle
    bundle = build_bundle(squashfs, out / f"pribox-{version}.raucb", signing, version=version)
    result["bundle"] = str(bundle)
    result["bundle_bytes"] = bundle.stat().st_size
    result["build_seconds"] = round(time.monotonic() - started, 1)
    (out / "image.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def source_version() -> str:
    """The version in pyproject.toml: what the wheel going into the image says it is."""
    import tomllib
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m images.build_image", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/image", help="output directory (default out/image)")
    parser.add_argument("--keys", default="out/keys", help="signing keys directory, made if missing (default out/keys)")
    parser.add_argument("--version", default=None, help="firmware version (default: the package version)")
    args = parser.parse_args(argv)
    version = args.version or source_version()
    try:
        result = build(Path(args.out).resolve(), version=version, keys=Path(args.keys).resolve())
    except ImageError as exc:
        print(f"image: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

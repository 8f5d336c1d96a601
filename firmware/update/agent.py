"""The update agent: installs signed firmware bundles into the inactive slot through RAUC and
confirms a new slot only after it has booted and passed the health check.

RAUC does the installing (verify, write the other slot, switch the boot order); this agent
checks a bundle first so the engineer gets a plain reason for a refusal, shows progress, and
after a reboot runs the box's health checks: only then does it mark the booted slot good.  A
slot that is never marked good runs out of boot tries and the old slot starts again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

# The compatible string of this box's bundles: RAUC installs only a bundle that names it, and
# images/ builds the bundles and the system.conf with it.
COMPATIBLE = "pribox-e1-gateway"

# Upgrades go to remote syslog as MSGID UPGRADE (firmware/syslog/msgids.py).
log = logging.getLogger("pribox.upgrade")

Progress = Callable[[int, str], None]


class UpdateRefused(Exception):
    """A bundle the box will not install; the message says why in an engineer's words."""


class UpdateFailed(Exception):
    """RAUC or the boot selector failed while installing or confirming."""


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    compatible: str
    version: str
    description: str | None
    images: dict[str, tuple[str, int]]  # slot class -> (sha256, size)
    signer: str | None


@dataclass(frozen=True)
class HealthResult:
    name: str
    ok: bool
    detail: str


HealthCheck = Callable[[], Awaitable[HealthResult]]

_SIGNER = re.compile(r"Verified (?:detached |inline )?signature by '([^']*)'")
_PROGRESS = re.compile(r"^\s*(\d{1,3})%\s+(.*?)\s*$")


def _refusal_reason(stderr: str) -> str:
    if "unable to get local issuer certificate" in stderr or "self-signed certificate" in stderr:
        return "it is signed by a key this box does not trust"
    if "verification failure" in stderr or "content verify error" in stderr:
        return "its signature does not match its contents (the bundle was altered or corrupted)"
    if "Invalid bundle format" in stderr or "not a valid bundle" in stderr.lower():
        detail = next((line for line in stderr.splitlines() if "Invalid bundle" in line), "").strip()
        return f"it is not a signed firmware bundle ({detail or 'invalid format'})"
    if "No such file" in stderr:
        return "the file does not exist"
    lines = [line for line in stderr.strip().splitlines() if "rauc-Message" not in line]
    return lines[-1] if lines else "RAUC rejected it"


MAX_BUNDLE_BYTES = 2 * 1024**3


def is_url(text: str) -> bool:
    return urllib.parse.urlsplit(str(text)).scheme in ("http", "https")


async def fetch_bundle(url: str, directory: str | Path, progress: Callable[[int, str], None] | None = None,
                       *, timeout: float = 30.0) -> Path:
    """Download a bundle from an http(s) URL into `directory`, whole or not at all: it lands under
    its own name only once every byte has been written and synced, so an interrupted download
    never passes for a bundle."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UpdateRefused(f"{url}: refused: only http:// and https:// addresses can be fetched")
    name = os.path.basename(urllib.parse.unquote(parts.path)) or "bundle.raucb"
    if name in (".", "..") or not name.isprintable():
        raise UpdateRefused(f"{url}: refused: the address names no file")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    target, partial = folder / name, folder / f".{name}.partial"

    def download() -> int:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0)
                if total > MAX_BUNDLE_BYTES:
                    raise UpdateRefused(f"{url}: refused: {total} bytes is more than a bundle can be")
                done = 0
                while chunk := response.read(1 << 16):
                    done += len(chunk)
                    if done > MAX_BUNDLE_BYTES:
                        raise UpdateRefused(f"{url}: refused: more than {MAX_BUNDLE_BYTES} bytes")
                    out.write(chunk)
                    if progress and total:
                        progress(done * 100 // total, f"downloading {name}")
                out.flush()
                os.fsync(out.fileno())
                return done
        except urllib.error.HTTPError as exc:
            raise UpdateFailed(f"downloading {url} failed: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise UpdateFailed(f"downloading {url} failed: {reason}") from None

    try:
        await asyncio.to_thread(download)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return target


class RaucClient:
    """The `rauc` command line: `info` works offline; the rest talks to the RAUC service."""

    def __init__(self, *, conf: str | Path | None = None, keyring: str | Path | None = None,
                 env: dict[str, str] | None = None, rauc: str = "rauc"):
        self.conf = conf
        self.keyring = keyring
        self.env = {**os.environ, **(env or {})}
        self.rauc = rauc

    def _base(self) -> list[str]:
        cmd = [self.rauc]
        if self.conf:
            cmd += ["--conf", str(self.conf)]
        if self.keyring:
            cmd += ["--keyring", str(self.keyring)]
        return cmd

    async def _run(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(*self._base(), *args, env=self.env,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    async def info(self, bundle: str | Path) -> BundleInfo:
        path = Path(bundle)
        if not path.is_file():
            raise UpdateRefused(f"{path}: refused: the file does not exist")
        code, out, err = await self._run("info", "--output-format=json", str(path))
        if code != 0:
            raise UpdateRefused(f"{path}: refused: {_refusal_reason(err)}")
        data = json.loads(out)
        images = {}
        for entry in data.get("images", []):
            for slot_class, image in entry.items():
                images[slot_class] = (image["checksum"], image["size"])
        signer = _SIGNER.search(err)
        return BundleInfo(path, data["compatible"], data["version"], data.get("description"),
                          images, signer.group(1) if signer else None)

    async def install(self, bundle: str | Path, progress: Progress | None = None) -> None:
        proc = await asyncio.create_subprocess_exec(*self._base(), "install", "--progress", str(bundle),
                                                    env=self.env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
        tail: list[str] = []
        buffer = b""
        while True:
            chunk = await proc.stdout.read(4096)
            if not chunk:
                break
            # The progress bar redraws with carriage returns; split on both.
            buffer += chunk.replace(b"\r", b"\n")
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace").strip()
                if not line:
                    continue
                tail = (tail + [line])[-20:]
                match = _PROGRESS.match(line)
                if match and progress:
                    progress(min(int(match.group(1)), 100), match.group(2))
        code = await proc.wait()
        if code != 0:
            reason = next((line for line in reversed(tail) if "fail" in line.lower() or "error" in line.lower()),
                          tail[-1] if tail else f"rauc exited with {code}")
            raise UpdateFailed(f"installing {bundle} failed: {reason}")

    async def status(self) -> dict:
        code, out, err = await self._run("status", "--output-format=json")
        if code != 0:
            raise UpdateFailed(f"rauc status failed: {_refusal_reason(err)}")
        return json.loads(out)

    async def mark(self, how: str, slot: str = "booted") -> None:
        code, _, err = await self._run("status", f"mark-{how}", slot)
        if code != 0:
            raise UpdateFailed(f"rauc status mark-{how} {slot} failed: {_refusal_reason(err)}")


class UpdateAgent:
    def __init__(self, rauc: RaucClient, *, compatible: str, health_checks: list[HealthCheck] = ()):
        self.rauc = rauc
        self.compatible = compatible
        self.health_checks = list(health_checks)

    async def check(self, bundle: str | Path) -> BundleInfo:
        """Verify signature, format and compatibility without installing anything."""
        info = await self.rauc.info(bundle)
        if info.compatible != self.compatible:
            raise UpdateRefused(f"{info.path}: refused: it is built for {info.compatible!r}, "
                                f"this box is {self.compatible!r}")
        if "rootfs" not in info.images:
            raise UpdateRefused(f"{info.path}: refused: it carries no root filesystem image")
        return info

    async def upgrade(self, bundle: str | Path, progress: Progress | None = None) -> BundleInfo:
        """Install into the inactive slot; the box runs the new firmware after the next reboot."""
        try:
            info = await self.check(bundle)
            await self.rauc.install(info.path, progress)
        except (UpdateRefused, UpdateFailed) as exc:
            log.error("upgrade with %s failed: %s", bundle, exc)
            raise
        log.warning("upgrade installed %s %s into the inactive slot; it runs after the next reboot",
                    info.compatible, info.version, extra={"syslog_severity": 5})
        return info

    async def run_health_checks(self) -> list[HealthResult]:
        results = []
        for check in self.health_checks:
            try:
                results.append(await check())
            except Exception as exc:  # a crashing check is a failed check, not a crashed agent
                results.append(HealthResult(getattr(check, "__name__", "check"), False, f"raised {exc!r}"))
        return results

    async def confirm_boot(self) -> list[HealthResult]:
        """After a boot: mark the booted slot good only if every health check passes."""
        results = await self.run_health_checks()
        if all(r.ok for r in results):
            await self.rauc.mark("good", "booted")
            log.info("upgrade confirmed: booted slot marked good", extra={"syslog_severity": 5})
        else:
            log.error("upgrade not confirmed: %s", "; ".join(f"{r.name}: {r.detail}" for r in results if not r.ok))
        return results

"""`upgrade ...` at the console: firmware bundles uploaded over the serial line (`upload
ymodem`) are checked, installed into the other slot with progress, and the booted slot is
confirmed — the same UpdateAgent as `pribox upgrade`, run as a console background job.

Only files in the upload folder are accepted: the name is a plain file name there, never a path;
or an http(s):// address, fetched into the upload folder first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from firmware.console.commands import Arg, registry
from firmware.console.session import Background, CommandContext
from .agent import UpdateAgent, UpdateFailed, UpdateRefused, fetch_bundle, is_url


def default_agent(services: Any) -> UpdateAgent:
    """The box's agent: RAUC's own system.conf, and the health checks read from the daemon."""
    from firmware.appliance.boot_health import daemon_health_checks
    from firmware.appliance.control_service import box_status
    from .agent import COMPATIBLE, RaucClient

    daemon_ctx = getattr(services, "ctx", None)

    async def fetch() -> dict:
        if daemon_ctx is None:
            raise OSError("the console runs without the daemon (pribox console): no services to check")
        return box_status(daemon_ctx)

    return UpdateAgent(RaucClient(), compatible=COMPATIBLE, health_checks=daemon_health_checks(fetch))


def _agent(ctx: CommandContext) -> UpdateAgent:
    agent = getattr(ctx.services, "update_agent", None)
    if agent is None:
        agent = default_agent(ctx.services)
        try:
            ctx.services.update_agent = agent  # one agent per box, so one install at a time
        except AttributeError:
            pass
    return agent


def uploaded_file(ctx: CommandContext, name: str) -> Path:
    folder = Path(ctx.services.upload_dir)
    if not name or "/" in name or name in (".", "..") or not name.isprintable():
        raise ValueError(f"'{name}' is not a file name: upgrade takes a file uploaded with "
                         f"'upload ymodem', by its name in {folder}")
    path = folder / name
    if path.resolve().parent != folder.resolve():
        raise ValueError(f"'{name}' leads outside the upload folder {folder}")
    if not path.is_file():
        present = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        raise ValueError(f"no file '{name}' in {folder} (upload it with 'upload ymodem'; "
                         f"there: {', '.join(present) or 'nothing'})")
    return path


def _uploaded_names(ctx: CommandContext) -> list[str]:
    folder = Path(ctx.services.upload_dir)
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


_installing: set[int] = set()  # agents with an install under way


def _refusal(exc: Exception) -> str:
    return f"% {exc}"


def _bundle_source(ctx: CommandContext, name: str):
    """An uploaded file's path now, or, for an address, a coroutine that fetches it first."""
    if is_url(name):
        folder = Path(ctx.services.upload_dir)

        async def fetch(progress) -> Path:
            last = [-1]

            def step(percent: int, message: str) -> None:
                if percent // 10 != last[0]:
                    last[0] = percent // 10
                    progress(f"{percent:3d}% {message}")
            progress(f"Fetching {name}...")
            return await fetch_bundle(name, folder, step)
        return fetch
    path = uploaded_file(ctx, name)

    async def ready(progress) -> Path:
        return path
    return ready


def upgrade_check(ctx: CommandContext, args: dict) -> Background:
    source = _bundle_source(ctx, args["file"])
    agent = _agent(ctx)

    async def run(progress) -> str:
        try:
            path = await source(progress)
            info = await agent.check(path)
        except (UpdateRefused, UpdateFailed) as exc:
            return _refusal(exc)
        return (f"{path.name}: version {info.version} for {info.compatible}, signed by "
                f"{info.signer or 'an unnamed signer'}; it can be installed")
    return Background(run, "upgrade check")


def upgrade_install(ctx: CommandContext, args: dict) -> Background:
    source = _bundle_source(ctx, args["file"])
    agent = _agent(ctx)
    if id(agent) in _installing:
        raise ValueError("an install is already under way; wait for it to finish")

    async def run(progress) -> str:
        _installing.add(id(agent))
        last = [-1]

        def step(percent: int, message: str) -> None:
            if percent != last[0]:
                last[0] = percent
                progress(f"{percent:3d}% {message}")
        try:
            path = await source(progress)
            progress(f"Checking {path.name}...")
            info = await agent.check(path)
            progress(f"{path.name}: version {info.version}, signed by {info.signer or 'an unnamed signer'}; "
                     "installing into the other slot")
            await agent.upgrade(path, step)
        except (UpdateRefused, UpdateFailed) as exc:
            return _refusal(exc)
        finally:
            _installing.discard(id(agent))
        return (f"Version {info.version} installed. It runs after 'reload' and is kept once it "
                "passes the health check.")
    return Background(run, "upgrade install")


def upgrade_status(ctx: CommandContext, args: dict) -> Background:
    agent = _agent(ctx)

    async def run(progress) -> Any:
        try:
            status = await agent.rauc.status()
        except UpdateFailed as exc:
            return _refusal(exc)
        bootnames = {name: slot.get("bootname") for entry in status.get("slots", []) for name, slot in entry.items()}
        primary = status.get("boot_primary")
        lines = [f"Booted slot {status.get('booted')}, next boot {bootnames.get(primary, primary)}"]
        for entry in status.get("slots", []):
            for name, slot in entry.items():
                lines.append(f"  {name} ({slot.get('bootname')}): {slot.get('state')}, "
                             f"boot status {slot.get('boot_status')}")
        return lines
    return Background(run, "upgrade status")


def upgrade_confirm(ctx: CommandContext, args: dict) -> Background:
    agent = _agent(ctx)

    async def run(progress) -> Any:
        try:
            results = await agent.confirm_boot()
        except UpdateFailed as exc:
            return _refusal(exc)
        lines = [f"  {'ok  ' if r.ok else 'FAIL'} {r.name}: {r.detail}" for r in results]
        if all(r.ok for r in results):
            lines.append("This slot is confirmed good.")
        else:
            lines.append("% Not confirmed: the previous firmware boots again once this slot's tries run out")
        return lines
    return Background(run, "upgrade confirm")


FILE_ARG = dict(help="a bundle uploaded with 'upload ymodem', or an http(s):// address to fetch it from",
                complete=_uploaded_names)
registry.describe("upgrade", "Firmware bundles: check, install, status, confirm")
registry.add("upgrade check", upgrade_check, help="Verify a bundle's signature and fit, installing nothing",
             args=[Arg("file", **FILE_ARG)], admin=True)
registry.add("upgrade install", upgrade_install, help="Install a bundle into the other slot",
             args=[Arg("file", **FILE_ARG)], admin=True)
registry.add("upgrade status", upgrade_status, help="The A/B slots and which one boots next")
registry.add("upgrade confirm", upgrade_confirm,
             help="Run the health check and keep the booted slot if it passes", admin=True)

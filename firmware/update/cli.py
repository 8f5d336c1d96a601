"""`pribox upgrade`: check, install and confirm firmware bundles on the box."""

from __future__ import annotations

import argparse
import asyncio
import sys

from .agent import COMPATIBLE, RaucClient, UpdateAgent, UpdateFailed, UpdateRefused, fetch_bundle, is_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["check", "install", "status", "confirm"],
                        help="check a bundle, install it into the other slot, show slots, or confirm this boot")
    parser.add_argument("bundle", nargs="?", help="the bundle: a file, or an http(s):// address to fetch first")
    parser.add_argument("--conf", help="RAUC system.conf (default: RAUC's own, /etc/rauc/system.conf)")
    parser.add_argument("--keyring", help="keyring for 'check' off the box (default: the system.conf one)")
    parser.add_argument("--download-dir", default="/var/lib/pribox/uploads",
                        help="where a bundle fetched from an address is kept (default: the console's upload folder)")
    parser.add_argument("--state-dir", default="/var/lib/pribox",
                        help="the running daemon's state directory, whose control socket 'confirm' asks")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="confirm: re-check every 2 s for up to SECONDS until the box is healthy")


def _progress(percent: int, message: str) -> None:
    print(f"\r{percent:3d}% {message:<60}", end="", flush=True)


def _waiting(results) -> None:
    failing = "; ".join(f"{r.name}: {r.detail}" for r in results if not r.ok)
    print(f"waiting for a healthy box: {failing}", flush=True)


async def _run(args: argparse.Namespace) -> int:
    agent = UpdateAgent(RaucClient(conf=args.conf, keyring=args.keyring), compatible=COMPATIBLE)
    if args.action in ("check", "install") and not args.bundle:
        print(f"pribox upgrade {args.action}: which bundle? (pribox upgrade {args.action} FILE)", file=sys.stderr)
        return 2
    if args.action in ("check", "install") and is_url(args.bundle):
        args.bundle = await fetch_bundle(args.bundle, args.download_dir, _progress)
        print(f"\nfetched {args.bundle}")
    if args.action == "check":
        info = await agent.check(args.bundle)
        print(f"{info.path}: version {info.version} for {info.compatible}, signed by {info.signer}")
    elif args.action == "install":
        info = await agent.upgrade(args.bundle, _progress)
        print(f"\nversion {info.version} installed; it runs after 'reload' and is kept once it passes the health check")
    elif args.action == "status":
        status = await agent.rauc.status()
        print(f"booted slot {status['booted']}, next boot {status['boot_primary']}")
        for entry in status["slots"]:
            for name, slot in entry.items():
                print(f"  {name} ({slot['bootname']}): {slot['state']}, boot status {slot['boot_status']}")
    else:
        from firmware.appliance.boot_health import confirm_when_healthy, daemon_health_checks, socket_fetcher
        from runtime.clock import LoopClock
        agent.health_checks = daemon_health_checks(socket_fetcher(args.state_dir))
        results = await confirm_when_healthy(agent, LoopClock(), wait=args.wait, report=_waiting)
        for r in results:
            print(f"  {'ok  ' if r.ok else 'FAIL'} {r.name}: {r.detail}")
        if not all(r.ok for r in results):
            print("not confirmed: the old firmware boots again once this slot's tries run out")
            return 1
        print("this slot is confirmed good")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except (UpdateRefused, UpdateFailed) as exc:
        print(f"pribox upgrade: {exc}", file=sys.stderr)
        return 1

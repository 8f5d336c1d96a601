"""`pribox capture`: the console's `monitor capture` from the command line of a running box,
through the daemon's control socket (firmware/capture/control.py runs the console's commands,
so the grammar and the errors are the console's)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

DEFAULT_STATE_DIR = "/var/lib/pribox"

EPILOG = """\
examples:
  pribox capture define all span 1 packets 10k seconds 5m
  pribox capture define rtp call 1/3 bytes 64M
  pribox capture start
  pribox capture status
  pribox capture stop
  pribox capture export /media/usb/          (or a file name)

WHAT is dchannel, sip, rtp or all.  OPTIONS: span N, call SPAN/CALL (as `show calls` names it),
packets N (10k), bytes N (512K, 64M), seconds N (30, 5m, 1h).  One capture at a time, shared
with the console's `monitor capture`; the file (pcapng) is written to the box's capture folder
and opens in Wireshark or tshark.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                        help=f"the running daemon's state directory, whose control socket is asked (default {DEFAULT_STATE_DIR})")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for the daemon's answer (default 30; an export copies the whole file)")
    parser.add_argument("action", choices=["define", "start", "stop", "status", "export"],
                        help="define WHAT [OPTIONS], start, stop, status, or export PATH")
    parser.add_argument("words", nargs="*", metavar="WHAT/OPTIONS/PATH",
                        help="define: what and options; export: where the file goes")


def request_line(action: str, words: list[str]) -> str:
    if action == "export":
        if len(words) != 1:
            raise ValueError("export: give one PATH, a file or a folder on writable storage")
        # The daemon's working folder is not ours: a relative path is made absolute here.
        words = [os.path.abspath(words[0])]
    elif action != "define" and words:
        raise ValueError(f"{action}: takes nothing after it, got {' '.join(words)!r}")
    return " ".join(["capture", action, *words])


async def ask(state_dir: str, line: str, timeout: float) -> dict:
    from firmware.appliance.control_service import CONTROL_SOCKET, query

    return await query(Path(state_dir) / CONTROL_SOCKET, line, timeout)


def run(args: argparse.Namespace) -> int:
    try:
        line = request_line(args.action, list(args.words))
    except ValueError as exc:
        print(f"pribox capture {exc}", file=sys.stderr)
        return 2
    socket_path = Path(args.state_dir) / "control.sock"
    try:
        reply = asyncio.run(ask(args.state_dir, line, args.timeout))
    except asyncio.TimeoutError:
        print(f"pribox capture: the daemon on {socket_path} did not answer within {args.timeout:g} s", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        print(f"pribox capture: no pribox daemon answers on {socket_path} ({reason}); "
              "is `pribox run` running with this --state-dir?", file=sys.stderr)
        return 1
    if "error" in reply:
        print(f"pribox capture: {reply['error']}", file=sys.stderr)
        return 1
    for text in reply.get("lines", []):
        print(text)
    return 0

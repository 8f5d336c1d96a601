"""`pribox config ...`: check a file, show the default, and work on the state directory
(candidate, commit [confirmed], confirm, rollback, history, diff)."""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
import time
from pathlib import Path

from .errors import ConfigError
from .loader import default_text, load_file
from .passwords import hash_password
from .store import ConfigStore, StoreError

DEFAULT_STATE_DIR = "/var/lib/pribox"
PID_FILE = "pribox.pid"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                        help=f"where candidate, running config and history live (default {DEFAULT_STATE_DIR})")
    # --state-dir is accepted after the action too (`pribox config history --state-dir X`).
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, parents=[after])

    p = action("check", "validate files without touching the box")
    p.add_argument("files", nargs="+", metavar="FILE")
    action("show-default", "print the embedded default configuration")
    p = action("show", "print the running config, the candidate, or commit N")
    p.add_argument("which", nargs="?", default="running", help='"running" (default), "candidate" or a commit number')
    p = action("load", "make FILE the candidate (checked, not committed)")
    p.add_argument("file", metavar="FILE")
    action("discard", "drop the candidate")
    action("diff", "what committing the candidate would change")
    p = action("commit", "commit the candidate (or FILE) atomically")
    p.add_argument("file", nargs="?", metavar="FILE")
    p.add_argument("-m", "--comment", default="")
    p.add_argument("--confirmed", type=float, metavar="MINUTES",
                   help="roll back by itself unless `pribox config confirm` comes within MINUTES")
    action("confirm", "keep the commit made with --confirmed")
    p = action("rollback", "make commit N running again (as a new commit)")
    p.add_argument("commit_id", type=int, metavar="N")
    p.add_argument("-m", "--comment", default="")
    p.add_argument("--confirmed", type=float, metavar="MINUTES")
    action("history", "list the commits")
    action("hash-password", "read a password and print its scrypt hash for a [[user]]")


def run(args: argparse.Namespace) -> int:
    try:
        return _ACTIONS[args.action](args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"pribox config: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pribox config: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1


def _check(args) -> int:
    failed = 0
    for name in args.files:
        try:
            config = load_file(name)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            failed += 1
        else:
            for warning in config.warnings:
                print(warning, file=sys.stderr)
            print(f"{name}: OK")
    return 1 if failed else 0


def _show_default(args) -> int:
    sys.stdout.write(default_text())
    return 0


def _store(args) -> ConfigStore:
    store = ConfigStore(args.state_dir)
    # Nobody may be running the daemon; an overdue unconfirmed commit is undone on next touch.
    if store.expire(time.time()) is not None:
        print("pribox config: an unconfirmed commit passed its deadline and was rolled back", file=sys.stderr)
        _tell_daemon(args.state_dir)
    return store


def _show(args) -> int:
    store = _store(args)
    if args.which == "running":
        text = store.running_text()
        if text is None:
            raise StoreError(f"nothing committed yet in {args.state_dir}")
    elif args.which == "candidate":
        text = store.candidate_text()
    elif args.which.isdigit():
        text = store.commit_text(int(args.which))
    else:
        raise StoreError(f'show what? expected "running", "candidate" or a commit number, got "{args.which}"')
    sys.stdout.write(text)
    return 0


def _load(args) -> int:
    store = _store(args)
    text = Path(args.file).read_text(encoding="utf-8")
    store.load_candidate(text, args.file)  # with copies of the flow files it names
    print(f"candidate loaded from {args.file}: OK")
    return 0


def _discard(args) -> int:
    _store(args).discard_candidate()
    return 0


def _diff(args) -> int:
    sys.stdout.write(_store(args).diff())
    return 0


def _commit(args) -> int:
    store = _store(args)
    text = source = None
    if args.file:
        text, source = Path(args.file).read_text(encoding="utf-8"), args.file
    commit = store.commit(time.time(), args.comment, text=text, source=source,
                          confirm_within=_minutes(args.confirmed), user=_user())
    print(_describe(commit))
    _tell_daemon(args.state_dir)
    return 0


def _confirm(args) -> int:
    commit = _store(args).confirm(time.time())
    print(f"commit {commit.id} confirmed")
    _tell_daemon(args.state_dir)
    return 0


def _rollback(args) -> int:
    commit = _store(args).rollback(args.commit_id, time.time(), args.comment,
                                   confirm_within=_minutes(args.confirmed), user=_user())
    print(_describe(commit))
    _tell_daemon(args.state_dir)
    return 0


def _history(args) -> int:
    store = _store(args)
    running = store.running()
    for commit in store.history():
        mark = "*" if running and commit.id == running.id else " "
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(commit.time))
        state = " (unconfirmed)" if commit.pending else ""
        print(f"{mark}{commit.id:5d}  {stamp}  {commit.kind:13s} {commit.user or '-':8s} {commit.comment}{state}")
    return 0


def _hash_password(args) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise StoreError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        raise StoreError("a password needs at least 8 characters")
    print(hash_password(password))
    return 0


def _minutes(value: float | None) -> float | None:
    if value is None:
        return None
    if not 0 < value <= 24 * 60:
        raise StoreError(f"--confirmed takes 0 < MINUTES <= 1440, got {value:g}")
    return value * 60.0


def _user() -> str:
    return os.environ.get("SUDO_USER") or os.environ.get("USER", "")


def _describe(commit) -> str:
    text = f"commit {commit.id}: {commit.comment or commit.kind}"
    if commit.pending:
        left = (commit.confirm_deadline - time.time()) / 60
        text += f" (rolls back to commit {commit.rollback_to} unless confirmed within {left:.1f} minutes)"
    return text


def _tell_daemon(state_dir: str) -> None:
    """A running daemon re-reads the running config and the pending deadline on SIGHUP."""
    try:
        pid = int((Path(state_dir) / PID_FILE).read_text().strip())
        # A daemon killed outright leaves its pid file; never HUP whoever got the pid since.
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"run" not in argv or not any(b"pribox" in a or b"firmware.cli" in a for a in argv):
            return
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        return


_ACTIONS = {
    "check": _check, "show-default": _show_default, "show": _show, "load": _load, "discard": _discard,
    "diff": _diff, "commit": _commit, "confirm": _confirm, "rollback": _rollback, "history": _history,
    "hash-password": _hash_password,
}

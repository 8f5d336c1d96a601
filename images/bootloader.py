"""The A/B boot selector, in the shape of GRUB's environment-based A/B scheme, used where the
box boots emulated slots (tests, the qemu bench) and as RAUC's `custom` bootloader backend.

State, kept in one JSON file written atomically (temp file, fsync, rename):

* `order`   — bootnames in the order they are tried, primary first;
* per slot: `bootable` (RAUC's good/bad), `confirmed` (a boot of it passed the health check)
  and `tries` (boot attempts left before an unconfirmed slot is given up).

RAUC drives it through the custom-backend commands (`get-primary`, `set-primary BOOTNAME`,
`get-state BOOTNAME`, `set-state BOOTNAME good|bad`, `get-current`).  `boot` is what the
firmware does at power-on: it picks the slot to start and spends one try of an unconfirmed
slot, so a new slot that never reaches `rauc status mark-good` is abandoned after its tries and
the old slot starts again.

Run as `python -m images.bootloader --state FILE COMMAND [ARGS]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

DEFAULT_TRIES = 3
SLOTS = ("A", "B")


class BootError(Exception):
    pass


def _initial_state() -> dict:
    return {
        "order": list(SLOTS),
        "current": None,
        "slots": {name: {"bootable": True, "confirmed": True, "tries": DEFAULT_TRIES} for name in SLOTS},
    }


class BootSelector:
    def __init__(self, state_file: str | os.PathLike):
        self.path = Path(state_file)

    def load(self) -> dict:
        if not self.path.exists():
            return _initial_state()
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise BootError(f"{self.path}: unreadable boot state ({exc})") from None
        if set(state.get("slots", {})) != set(SLOTS) or sorted(state.get("order", [])) != sorted(SLOTS):
            raise BootError(f"{self.path}: boot state does not describe slots {', '.join(SLOTS)}")
        return state

    def save(self, state: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A temporary name of its own: two writers never rename each other's half-written file.
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(state, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    @staticmethod
    def _check_slot(name: str) -> str:
        if name not in SLOTS:
            raise BootError(f"unknown boot slot {name!r} (expected one of {', '.join(SLOTS)})")
        return name

    # ---- RAUC custom backend commands

    def get_primary(self) -> str:
        state = self.load()
        for name in state["order"]:
            if state["slots"][name]["bootable"]:
                return name
        raise BootError("no bootable slot")

    def set_primary(self, name: str) -> None:
        self._check_slot(name)
        state = self.load()
        state["order"] = [name] + [s for s in SLOTS if s != name]
        slot = state["slots"][name]
        if name != state.get("current"):
            # A newly activated slot must prove itself: it gets a limited number of boots.
            slot.update(bootable=True, confirmed=False, tries=DEFAULT_TRIES)
        self.save(state)

    def get_state(self, name: str) -> str:
        return "good" if self.load()["slots"][self._check_slot(name)]["bootable"] else "bad"

    def set_state(self, name: str, value: str) -> None:
        self._check_slot(name)
        if value not in ("good", "bad"):
            raise BootError(f"boot state must be 'good' or 'bad', got {value!r}")
        state = self.load()
        slot = state["slots"][name]
        if value == "good":
            slot.update(bootable=True, confirmed=True, tries=DEFAULT_TRIES)
        else:
            slot.update(bootable=False, confirmed=False, tries=0)
        self.save(state)

    def get_current(self) -> str:
        current = self.load().get("current")
        if current is None:
            raise BootError("the box has not booted a slot yet")
        return current

    # ---- what the firmware does at power-on

    def boot(self) -> str:
        state = self.load()
        for name in state["order"]:
            slot = state["slots"][name]
            if not slot["bootable"]:
                continue
            if not slot["confirmed"]:
                if slot["tries"] <= 0:
                    slot["bootable"] = False  # it had its chances: fall back to the next slot
                    continue
                slot["tries"] -= 1
            state["current"] = name
            self.save(state)
            return name
        raise BootError("no bootable slot left: the box cannot start")

    def describe(self) -> dict:
        return self.load()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m images.bootloader", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", required=True, help="the boot state file")
    parser.add_argument("command", choices=["get-primary", "set-primary", "get-state", "set-state",
                                            "get-current", "boot", "show"])
    parser.add_argument("args", nargs="*")
    args = parser.parse_args(argv)
    selector = BootSelector(args.state)
    arity = {"set-primary": 1, "get-state": 1, "set-state": 2}
    try:
        if len(args.args) != arity.get(args.command, 0):
            raise BootError(f"{args.command} takes {arity.get(args.command, 0)} argument(s), got {len(args.args)}")
        if args.command == "get-primary":
            print(selector.get_primary())
        elif args.command == "set-primary":
            selector.set_primary(args.args[0])
        elif args.command == "get-state":
            print(selector.get_state(args.args[0]))
        elif args.command == "set-state":
            selector.set_state(args.args[0], args.args[1])
        elif args.command == "get-current":
            print(selector.get_current())
        elif args.command == "boot":
            print(selector.boot())
        else:
            print(json.dumps(selector.describe(), indent=1, sort_keys=True))
    except BootError as exc:
        print(f"bootloader: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

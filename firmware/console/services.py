"""What the console needs from the rest of the box, as a small protocol.

The daemon (`pribox run`) hands the console an object with these attributes; `pribox console`
on its own uses `StandaloneServices`.  Command handlers see it as `ctx.services`, and a layer
that registers `show span` may look for its own service there with getattr (for example
`ctx.services.spans`), so the console package never imports the layers.
"""

from __future__ import annotations

import platform
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from runtime.bus import EventBus
from runtime.clock import Clock


@runtime_checkable
class ConfigService(Protocol):
    """Edit, check, commit and roll back the box's one configuration file.  The config
    branch's ConfigStore (candidate text, commit with confirm_within, confirm, rollback to a
    commit id, history) is what the daemon wraps in this shape.  Methods raise ValueError with
    a message naming what was wrong; the console prints it."""

    def candidate(self) -> str: ...              # the candidate text (the running one if unedited)
    def replace(self, text: str) -> None: ...    # a new candidate
    def check(self) -> list[str]: ...            # problems in the candidate, each naming line/key
    def diff(self) -> str: ...                   # candidate against running
    def commit(self, confirm_minutes: float | None, user: str) -> str: ...
    def confirm(self) -> str: ...
    def rollback(self, commit_id: int | None, user: str) -> str: ...  # None: the previous one
    def discard(self) -> None: ...
    def history(self) -> list[str]: ...


class ConsoleServices(Protocol):
    bus: EventBus
    clock: Clock
    hostname: str
    version: str
    started_at: float          # the one clock's time at boot, for uptime
    upload_dir: Path           # where X/YMODEM uploads land
    config: ConfigService | None
    sessions: "SessionTable"

    def wall_time(self) -> float: ...        # seconds since the Unix epoch, for `show clock`
    def running_config(self) -> str: ...
    def reload(self) -> None: ...


@dataclass
class SessionInfo:
    line: str
    user: str | None = None
    logged_in_at: float | None = None
    last_input: float = 0.0


class SessionTable:
    """The console lines and who is logged in on each, for `show users`."""

    def __init__(self) -> None:
        self.lines: list[SessionInfo] = []

    def open(self, line: str) -> SessionInfo:
        info = SessionInfo(line)
        self.lines.append(info)
        return info

    def close(self, info: SessionInfo) -> None:
        if info in self.lines:
            self.lines.remove(info)


RELEASE_FILE = Path("/etc/pribox-release")  # written by the image build: the firmware version


def pribox_version() -> str:
    try:
        import json
        return json.loads(RELEASE_FILE.read_text())["version"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not on a firmware image: the installed package's version
    try:
        from importlib.metadata import version
        return version("pribox")
    except Exception:  # running from a source tree that was never installed
        return "0.1.0 (source tree)"


@dataclass
class StandaloneServices:
    """The console alone, without the daemon: a config file shown read-only, reload = exit."""

    bus: EventBus
    clock: Clock
    upload_dir: Path
    config_path: Path | None = None
    hostname: str = field(default_factory=lambda: socket.gethostname().split(".")[0] or "pribox")
    version: str = field(default_factory=pribox_version)
    config: ConfigService | None = None
    sessions: SessionTable = field(default_factory=SessionTable)
    on_reload: Callable[[], None] | None = None
    spans: dict = field(default_factory=dict)   # span id -> span (drivers/span.py)
    wall_clock: Callable[[], float] = time.time
    started_at: float = 0.0

    def __post_init__(self) -> None:
        self.started_at = self.clock.now()
        self.platform = f"{platform.system()} {platform.release()} {platform.machine()}"

    def wall_time(self) -> float:
        return self.wall_clock()

    def running_config(self) -> str:
        if self.config_path is None:
            return "! no configuration file loaded"
        try:
            return self.config_path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return f"% Cannot read {self.config_path}: {exc}"

    def reload(self) -> None:
        if self.on_reload is not None:
            self.on_reload()

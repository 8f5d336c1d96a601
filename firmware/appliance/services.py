"""What a service of the box is, and the registry where layers add theirs.

A service (spans, ISDN, console, PBX, ...) is started when the box starts and on reloads that
touch its config sections, and stopped in reverse order.  Its `run()` is its life: returning or
raising means it crashed, and the supervisor restarts it with backoff (see supervisor.py).

A layer registers its service by adding its module to SERVICE_MODULES (one line) and, in that
module:

    from firmware.appliance.services import BOX_SERVICES

    BOX_SERVICES.add("console", lambda config: ConsoleService(config.console) if config.console.enabled else None,
                     sections=("console", "user"))
"""

from __future__ import annotations

import abc
import asyncio
import enum
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol

from runtime.bus import Event, EventBus
from runtime.clock import Clock

if TYPE_CHECKING:
    from firmware.config import Config
    from firmware.config.store import ConfigStore

# Modules that add services to BOX_SERVICES when imported, in start order.
SERVICE_MODULES: tuple[str, ...] = (
    "firmware.network.service",
    "firmware.appliance.span_service",
    "pbx_cti.notify.service",
    "pbx_cti.pbx.service",
    "firmware.isdn.service",
    "pbx_cti.pbx.sip_service",
    "firmware.appliance.control_service",
    "firmware.console.box_service",
    "pbx_cti.acd.service",
    "pbx_cti.api.service",
    "pbx_cti.recording.service",
)


class StopReason(enum.Enum):
    """Why a service is being stopped.  The ISDN service clears the calls it still holds with
    cause 41 (temporary failure) whatever the reason: the box can no longer carry them, and
    41 tells the network it may try again elsewhere."""

    SHUTDOWN = "shutdown"  # SIGTERM/SIGINT: the box is going down
    RELOAD = "reload"  # its configuration changed
    CRASHED = "crashed"  # it failed and is being cleaned up before a restart


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str = ""


@dataclass
class ServiceContext:
    """What the daemon hands every service at start."""

    config: "Config"
    clock: Clock
    bus: EventBus
    state_dir: str | None = None
    services: dict[str, "Service"] = field(default_factory=dict)  # running peers, by name
    store: "ConfigStore | None" = None  # candidate/commit/rollback, when run from a state dir
    control: "DaemonControl | None" = None  # reload, stop and status of the whole box

    def peer(self, name: str) -> "Service | None":
        return self.services.get(name)


@dataclass(frozen=True)
class ServiceStatus:
    """One line of `show services`: a supervised service's state, crash count and health."""

    name: str
    state: ServiceState
    crashes: int
    last_error: str
    health: Health


class DaemonControl(Protocol):
    """What a service (the console's `reload`, `show services`) may ask of the daemon."""

    def request_reload(self) -> None: ...

    def request_stop(self, why: str = "requested") -> None: ...

    def status(self) -> list[ServiceStatus]: ...


class Service(abc.ABC):
    name: str = ""

    @abc.abstractmethod
    async def start(self, ctx: ServiceContext) -> None:
        """Bring the service up; return once it is ready.  Raising counts as a crash."""

    async def run(self) -> None:
        """The service's life once started.  Returning or raising counts as a crash; the
        default serves until stopped, for services driven entirely by callbacks."""
        await asyncio.Event().wait()

    @abc.abstractmethod
    async def stop(self, reason: StopReason) -> None:
        """Release everything; called once after start(), also after a crash."""

    def health(self) -> Health:
        return Health(True)


ServiceFactory = Callable[["Config"], "Service | None"]


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    factory: ServiceFactory
    sections: tuple[str, ...]  # config sections it depends on; a reload restarts it if they change


class ServiceRegistry:
    def __init__(self) -> None:
        self._entries: dict[str, ServiceEntry] = {}

    def add(self, name: str, factory: ServiceFactory, sections: tuple[str, ...] = ()) -> None:
        if name in self._entries:
            raise ValueError(f"service {name!r} is registered twice")
        self._entries[name] = ServiceEntry(name, factory, tuple(sections))

    def entries(self) -> list[ServiceEntry]:
        return list(self._entries.values())

    def __contains__(self, name: str) -> bool:
        return name in self._entries


BOX_SERVICES = ServiceRegistry()


def load_box_services() -> ServiceRegistry:
    for module in SERVICE_MODULES:
        importlib.import_module(module)
    return BOX_SERVICES


class ServiceState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"  # crashed; waiting to restart
    FAILED = "failed"  # crashed too often; given up until the next reload
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ServiceStateChanged(Event):
    service: str
    state: ServiceState
    detail: str = ""


@dataclass(frozen=True)
class ConfigApplied(Event):
    source: str
    changed_sections: tuple[str, ...]


@dataclass(frozen=True)
class ConfigRejected(Event):
    source: str
    errors: tuple[str, ...]


def describe_exception(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__



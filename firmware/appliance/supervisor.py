"""Runs services as asyncio tasks: a crash is logged and the service restarted with
exponential backoff, the others untouched; a service that keeps crashing is marked failed and
left alone; stopping goes in reverse start order, each stop bounded by a timeout."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from runtime.bus import EventBus
from runtime.clock import Clock
from .services import (Health, Service, ServiceContext, ServiceState, ServiceStateChanged, ServiceStatus,
                       StopReason, describe_exception)

log = logging.getLogger("pribox.daemon")


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    max_crashes: int = 5  # this many crashes within `window` seconds: give up
    window: float = 300.0
    stop_timeout: float = 10.0
    start_timeout: float = 60.0

    def delay(self, recent_crashes: int) -> float:
        return min(self.first_delay * self.factor ** max(recent_crashes - 1, 0), self.max_delay)


class Supervised:
    """One service under supervision."""

    def __init__(self, service: Service, ctx: ServiceContext, clock: Clock, bus: EventBus, policy: RestartPolicy):
        self.service = service
        self.name = service.name
        self.ctx = ctx
        self.clock = clock
        self.bus = bus
        self.policy = policy
        self.state = ServiceState.STOPPED
        self.crashes = 0
        self.last_error = ""
        self._recent: deque[float] = deque()
        self._stopping = False
        self._started = False  # start() was called and stop() not yet
        self._task: asyncio.Task | None = None
        self.ready = asyncio.Event()  # set once the first start settled: start order waits on it

    def launch(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name=f"service:{self.name}")

    def status(self) -> ServiceStatus:
        try:
            health = self.service.health() if self.state is ServiceState.RUNNING else Health(False, self.state.value)
        except Exception as exc:  # a health probe must never take the caller down
            health = Health(False, f"health check raised {describe_exception(exc)}")
        return ServiceStatus(self.name, self.state, self.crashes, self.last_error, health)

    def _set(self, state: ServiceState, detail: str = "") -> None:
        self.state = state
        self.bus.publish(ServiceStateChanged(self.clock.now(), self.name, state, detail))

    async def _supervise(self) -> None:
        while not self._stopping:
            try:
                self._set(ServiceState.STARTING)
                self._started = True
                try:
                    await asyncio.wait_for(self.service.start(self.ctx), self.policy.start_timeout)
                except asyncio.TimeoutError:
                    raise RuntimeError(f"start() did not finish within {self.policy.start_timeout:g} s") from None
                self._set(ServiceState.RUNNING)
                self.ready.set()
                await self.service.run()
                raise RuntimeError("run() returned")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._stopping:
                    return
                await self._crashed(exc)
                # The first attempt has settled either way: later services need not wait out
                # this one's backoff.
                self.ready.set()
                if self.state is ServiceState.FAILED:
                    return
                await asyncio.sleep(self.policy.delay(len(self._recent)))

    async def _crashed(self, exc: Exception) -> None:
        now = self.clock.now()
        self.crashes += 1
        self.last_error = describe_exception(exc)
        self._recent.append(now)
        while self._recent and self._recent[0] <= now - self.policy.window:
            self._recent.popleft()
        log.error("service %s crashed (%s)", self.name, self.last_error, exc_info=exc)
        await self._bounded_stop(StopReason.CRASHED)
        if len(self._recent) >= self.policy.max_crashes:
            log.error("service %s crashed %d times within %g s: marked failed, not restarting",
                      self.name, len(self._recent), self.policy.window)
            self._set(ServiceState.FAILED, self.last_error)
        else:
            delay = self.policy.delay(len(self._recent))
            log.warning("service %s restarts in %g s", self.name, delay)
            self._set(ServiceState.BACKOFF, f"{self.last_error}; restart in {delay:g} s")

    async def _bounded_stop(self, reason: StopReason) -> None:
        if not self._started:
            return
        self._started = False
        try:
            await asyncio.wait_for(self.service.stop(reason), self.policy.stop_timeout)
        except asyncio.TimeoutError:
            log.error("service %s did not stop within %g s (%s); abandoning it",
                      self.name, self.policy.stop_timeout, reason.value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("service %s failed while stopping (%s)", self.name, describe_exception(exc), exc_info=exc)

    async def stop(self, reason: StopReason) -> None:
        self._stopping = True
        if self.state not in (ServiceState.FAILED, ServiceState.STOPPED):
            self._set(ServiceState.STOPPING, reason.value)
        # stop() first, while run() is still alive: a service may need its loop to say goodbye
        # (the ISDN service sends RELEASE for its calls) before it is cancelled.
        await self._bounded_stop(reason)
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                log.error("service %s: %s while being cancelled", self.name, describe_exception(exc))
        if self.state is not ServiceState.FAILED:
            self._set(ServiceState.STOPPED, reason.value)
        self.ready.set()


class Supervisor:
    def __init__(self, clock: Clock, bus: EventBus, policy: RestartPolicy | None = None):
        self.clock = clock
        self.bus = bus
        self.policy = policy or RestartPolicy()
        self._order: list[Supervised] = []

    @property
    def names(self) -> list[str]:
        return [s.name for s in self._order]

    def get(self, name: str) -> Supervised | None:
        return next((s for s in self._order if s.name == name), None)

    async def start(self, service: Service, ctx: ServiceContext) -> Supervised:
        """Start one service after those already running; returns when it is up (or failed)."""
        if not service.name:
            raise ValueError(f"{type(service).__name__} has no name")
        if self.get(service.name) is not None:
            raise ValueError(f"service {service.name!r} is already supervised")
        supervised = Supervised(service, ctx, self.clock, self.bus, self.policy)
        self._order.append(supervised)
        ctx.services[service.name] = service
        supervised.launch()
        await supervised.ready.wait()
        return supervised

    async def stop(self, name: str, reason: StopReason) -> None:
        supervised = self.get(name)
        if supervised is None:
            return
        await supervised.stop(reason)
        self._order.remove(supervised)
        supervised.ctx.services.pop(name, None)

    async def stop_all(self, reason: StopReason) -> None:
        for supervised in reversed(list(self._order)):
            log.info("stopping %s (%s)", supervised.name, reason.value)
            await self.stop(supervised.name, reason)

    def status(self) -> list[ServiceStatus]:
        return [s.status() for s in self._order]


def format_status(statuses: list[ServiceStatus]) -> str:
    """`show services` as the console prints it: one line per service, in start order."""
    lines = [f"{'Service':<12} {'State':<9} {'Crashes':>7}  Detail"]
    for s in statuses:
        detail = s.health.detail if s.state is ServiceState.RUNNING else s.last_error
        lines.append(f"{s.name:<12} {s.state.value:<9} {s.crashes:>7}  {detail}".rstrip())
    return "\n".join(lines)

"""The daemon's `api` service: the CTI engine restored from its event log, its runner on the
box's clock and bus, and the agent-application API served on [api] listen:port.

The engine lives as long as the service: a reload of [api] or [cti] stops it (the log is
flushed and closed) and starts it again from the log, so agents' states, reasons and
since-times survive.  Calls are not yet wired to the API, so at start every call the log still
holds is gone with the carrier's side: `clear_calls()`.  Agents whose application does not
reconnect within `reconnect_grace` go NOT_READY (app-disconnected).
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from firmware.appliance.services import BOX_SERVICES, Health, Service, ServiceContext, StopReason
from pbx_cti.cti.engine import CtiEngine
from pbx_cti.cti.eventlog import MemoryEventStore, SqliteEventStore
from pbx_cti.cti.model import AgentState
from pbx_cti.cti.runner import CtiRunner
from pbx_cti.metrics import console_commands as _console_commands  # noqa: F401  (show queues, show agents)
from pbx_cti.metrics.wiring import serve_figures
from runtime.clock import Clock, TimerHandle

from .app import AgentApi, ApiSettings, Credentials
from .config_section import cti_config, password_hashes

log = logging.getLogger("pribox.api")


class OwnedClock(Clock):
    """The box's clock, remembering the timers armed through it so a stop cancels them all."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self.handles: set[TimerHandle] = set()

    def now(self) -> float:
        return self.clock.now()

    def call_at(self, when: float, callback) -> TimerHandle:
        handle = self.clock.call_at(when, callback)
        now = self.clock.now()
        self.handles = {h for h in self.handles if not h.cancelled and h.when >= now} | {handle}
        return handle

    @property
    def real_time(self) -> bool:
        return self.clock.real_time

    def cancel_all(self) -> None:
        for handle in self.handles:
            handle.cancel()
        self.handles.clear()


def _restore(config, state_dir: str | None, now: float):
    """Blocking reads of the log: run in a worker thread."""
    store = SqliteEventStore.in_state_dir(state_dir) if state_dir else MemoryEventStore()
    try:
        return store, CtiEngine.restore(config, store, now)
    except BaseException:
        store.close()
        raise


class ApiService(Service):
    name = "api"

    def __init__(self, config):
        self.config = config
        self.api: AgentApi | None = None
        self.runner: CtiRunner | None = None
        self.store = None
        self.port: int | None = None
        self._web: web.AppRunner | None = None
        self._clock: OwnedClock | None = None
        self.figures = None  # /metrics, /api/v1/stats and the console's show queues/agents

    async def start(self, ctx: ServiceContext) -> None:
        section = self.config.api
        cti = await asyncio.to_thread(cti_config, self.config.cti)
        self._clock = OwnedClock(ctx.clock)
        wall_offset = time.time() - ctx.clock.now()
        self.store, engine = await asyncio.to_thread(_restore, cti, ctx.state_dir, ctx.clock.now() + wall_offset)
        self.runner = CtiRunner(engine, self._clock, ctx.bus, wall_offset)
        self.runner("clear_calls", "daemon-restart")
        credentials = Credentials(password_hashes(self.config.cti),
                                  {s.name: s.password_hash for s in section.supervisor})
        self.api = AgentApi(self.runner, ctx.bus, credentials, ApiSettings.from_section(section), now=ctx.clock.now)
        self.figures = serve_figures(self.api, ctx, section)
        self._web = web.AppRunner(self.api.app, access_log=None, handle_signals=False)
        await self._web.setup()
        site = web.TCPSite(self._web, str(section.listen), section.port, reuse_address=True)
        await site.start()
        self.port = self._web.addresses[0][1]
        logged_in = [a for a, s in engine.agents.items() if s.state is not AgentState.LOGGED_OUT]
        if logged_in:
            self._clock.call_later(section.reconnect_grace, self._grace_over)
        log.info("agent API on %s:%s; %d agent(s) logged in from the log", section.listen, self.port, len(logged_in))

    def _grace_over(self) -> None:
        for agent, state in list(self.runner.engine.agents.items()):
            if state.state is not AgentState.LOGGED_OUT and not self.api.hub.connected(agent):
                self.api.agent_gone(agent)

    async def stop(self, reason: StopReason) -> None:
        self.figures = None
        if self._web is not None:
            await self._web.cleanup()
            self._web = None
        if self._clock is not None:
            self._clock.cancel_all()
        if self.api is not None:
            self.api.hub.close()
        if self.store is not None:
            store, self.store = self.store, None
            await asyncio.to_thread(store.close)

    def health(self) -> Health:
        if self.api is None:
            return Health(False, "not started")
        return Health(True, f"{len(self.api.hub.clients)} event client(s), {len(self.api.sessions)} session(s)")


def _factory(config):
    api, cti = config.api, config.cti
    if api is None or not api.enabled or cti is None or not cti.agent:
        return None
    return ApiService(config)


BOX_SERVICES.add("api", _factory, sections=("api", "cti"))

"""The daemon's `api` service: the agent-application API served on [api] listen:port, over the
running CTI (`pbx_cti/acd/service.py`, started before it and restarted with it on a reload of
[cti]).  Agents logged in when the API starts whose application does not reconnect within
`reconnect_grace` go NOT_READY (app-disconnected).
"""

from __future__ import annotations

import logging

from aiohttp import web

from firmware.appliance.services import BOX_SERVICES, Health, Service, ServiceContext, StopReason
from pbx_cti.acd.service import OwnedClock, center_for
from pbx_cti.cti.model import AgentState
from pbx_cti.desktop.routes import add_page_routes
from pbx_cti.cti.runner import CtiRunner
from pbx_cti.metrics import console_commands as _console_commands  # noqa: F401  (show queues, show agents)
from pbx_cti.metrics.wiring import serve_figures
from pbx_cti.recording.api_routes import add_routes as add_recording_routes, make_authorize
from pbx_cti.webrtc.wiring import serve_https, start_softphone

from .app import AgentApi, ApiSettings, Credentials
from .config_section import password_hashes

log = logging.getLogger("pribox.api")


class ApiService(Service):
    name = "api"

    def __init__(self, config):
        self.config = config
        self.api: AgentApi | None = None
        self.runner: CtiRunner | None = None
        self.port: int | None = None
        self._web: web.AppRunner | None = None
        self._clock: OwnedClock | None = None
        self.figures = None  # /metrics, /api/v1/stats and the console's show queues/agents
        self.softphone = None  # [webrtc]: the browser softphone's endpoint and its HTTPS site

    async def start(self, ctx: ServiceContext) -> None:
        section = self.config.api
        center = center_for(ctx)
        if center is None:
            raise RuntimeError("the cti service is not running: the agent API has no contact center to serve")
        self.runner = center.runner
        self._clock = OwnedClock(ctx.clock)
        credentials = Credentials(password_hashes(self.config.cti),
                                  {s.name: s.password_hash for s in section.supervisor})
        self.api = AgentApi(self.runner, ctx.bus, credentials, ApiSettings.from_section(section), now=ctx.clock.now,
                            calls=center.distributor.calls)
        self.figures = serve_figures(self.api, ctx, section)
        add_recording_routes(self.api.app.router, lambda: getattr(ctx.peer("recording"), "store", None),
                             make_authorize(self.api.session))
        add_page_routes(self.api.app.router)   # /desktop/ and /wallboard/: clients of this API
        self.softphone = start_softphone(self.api, self.config)
        self._web = web.AppRunner(self.api.app, access_log=None, handle_signals=False)
        await self._web.setup()
        site = web.TCPSite(self._web, str(section.listen), section.port, reuse_address=True)
        await site.start()
        if self.softphone is not None:
            await serve_https(self.softphone, self._web, self.config, ctx.state_dir)
        self.port = self._web.addresses[0][1]
        engine = self.runner.engine
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
        if self.softphone is not None:
            self.softphone.stop()            # after the sites: the pages' sockets closed first
            self.softphone = None
        if self._clock is not None:
            self._clock.cancel_all()
        if self.api is not None:
            self.api.hub.close()

    def health(self) -> Health:
        if self.api is None:
            return Health(False, "not started")
        softphone = f", {self.softphone.describe()}" if self.softphone is not None else ""
        return Health(True, f"{len(self.api.hub.clients)} event client(s), {len(self.api.sessions)} session(s){softphone}")


def _factory(config):
    api, cti = config.api, config.cti
    if api is None or not api.enabled or cti is None or not cti.agent:
        return None
    return ApiService(config)


BOX_SERVICES.add("api", _factory, sections=("api", "cti", "webrtc"))

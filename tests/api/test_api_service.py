"""The `cti` and `api` services as the daemon runs them: the engine restored from the event log in the state
directory, served over real HTTP; a restart (a reload of [api]/[cti]) keeps every agent's state,
reason and since-time; agents whose application does not come back go NOT_READY."""

import asyncio

import aiohttp

from firmware.appliance.services import ServiceContext, StopReason
from firmware.config.loader import load_text
from pbx_cti.acd.service import CtiService
from pbx_cti.api.service import ApiService
from pbx_cti.cti import AgentState
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.api.api_world import PASSWORDS
from tests.api.test_api_config import CENTER


class Services:
    """The `cti` service (the engine from its log) and the `api` service over it, as the daemon
    starts them; stopped in reverse."""

    def __init__(self, config, state_dir, bus):
        self.ctx = ServiceContext(config, LoopClock(), bus, str(state_dir))
        self.cti, self.api = CtiService(config), ApiService(config)

    async def start(self) -> ApiService:
        await self.cti.start(self.ctx)
        await self.api.start(self.ctx)
        return self.api

    async def stop(self, reason) -> None:
        await self.api.stop(reason)
        await self.cti.stop(reason)


def test_the_api_needs_the_cti_service_running(tmp_path):
    config = load_text(CENTER)

    async def scenario():
        api = ApiService(config)
        try:
            await api.start(ServiceContext(config, LoopClock(), EventBus(), str(tmp_path)))
        except RuntimeError as exc:
            assert "the cti service is not running" in str(exc)
        else:
            raise AssertionError("the API started with no CTI")

    asyncio.run(scenario())


def test_the_service_serves_restores_from_its_log_and_agents_that_stay_away_go_not_ready(tmp_path):
    config = load_text(CENTER.replace("port = 0", "port = 0\nreconnect_grace = 0.3"))

    async def scenario():
        bus = EventBus()
        services = Services(config, tmp_path, bus)
        service = await services.start()
        base = f"http://127.0.0.1:{service.port}/api/v1"
        async with aiohttp.ClientSession() as http:
            async with http.post(base + "/login", json={"agent": "alice", "password": PASSWORDS["alice"],
                                                        "extension": "2001"}) as response:
                token = (await response.json())["token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with http.post(base + "/agents/alice/not-ready", json={"reason": "lunch"}, headers=headers) as response:
                assert response.status == 200
                since = (await response.json())["since"]
            async with http.post(base + "/agents/alice/ready", data=b"{", headers=headers) as response:
                assert response.status == 400        # bad input: nothing changes
        assert service.health().ok and services.cti.health().ok
        await services.stop(StopReason.RELOAD)
        assert (tmp_path / "cti-events.sqlite").exists()

        services = Services(config, tmp_path, bus)
        service = await services.start()
        agent = service.runner.engine.agents["alice"]
        assert (agent.state, agent.reason, agent.since, agent.endpoint) == (AgentState.NOT_READY, "lunch", since, "2001")
        base = f"http://127.0.0.1:{service.port}/api/v1"
        async with aiohttp.ClientSession() as http:
            # The application comes back at the same extension: a new token, the state kept.
            async with http.post(base + "/login", json={"agent": "alice", "password": PASSWORDS["alice"],
                                                        "extension": "2001"}) as response:
                body = await response.json()
                assert response.status == 200 and body["agent"]["reason"] == "lunch"
            headers = {"Authorization": f"Bearer {body['token']}"}
            async with http.post(base + "/agents/alice/ready", headers=headers) as response:
                assert (await response.json())["state"] == "READY"
            await asyncio.sleep(0.5)                   # the grace passes with no WebSocket open
        agent = service.runner.engine.agents["alice"]
        assert (agent.state, agent.reason) == (AgentState.NOT_READY, "app-disconnected")
        await services.stop(StopReason.SHUTDOWN)

    asyncio.run(scenario())

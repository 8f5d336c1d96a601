"""The `api` service as the daemon runs it: the engine restored from the event log in the state
directory, served over real HTTP; a restart (a reload of [api]/[cti]) keeps every agent's state,
reason and since-time; agents whose application does not come back go NOT_READY."""

import asyncio

import aiohttp

from firmware.appliance.services import ServiceContext, StopReason
from firmware.config.loader import load_text
from pbx_cti.api.service import ApiService
from pbx_cti.cti import AgentState
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.api.api_world import PASSWORDS
from tests.api.test_api_config import CENTER


async def started(config, state_dir, bus) -> ApiService:
    service = ApiService(config)
    await service.start(ServiceContext(config, LoopClock(), bus, str(state_dir)))
    return service


def test_the_service_serves_restores_from_its_log_and_agents_that_stay_away_go_not_ready(tmp_path):
    config = load_text(CENTER.replace("port = 0", "port = 0\nreconnect_grace = 0.3"))

    async def scenario():
        bus = EventBus()
        service = await started(config, tmp_path, bus)
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
        assert service.health().ok
        await service.stop(StopReason.RELOAD)
        assert (tmp_path / "cti-events.sqlite").exists()

        service = await started(config, tmp_path, bus)
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
        await service.stop(StopReason.SHUTDOWN)

    asyncio.run(scenario())

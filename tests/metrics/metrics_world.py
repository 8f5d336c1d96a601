"""Shared by the metrics tests: the daemon's `api` service started for real (state directory,
event log, HTTP on 127.0.0.1), a small day of calls driven through it, and a scrape parsed by
the Prometheus client library's own parser."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from firmware.appliance.services import ServiceContext
from firmware.config.loader import load_text
from pbx_cti.acd.service import CtiService
from pbx_cti.api.service import ApiService
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.api.api_world import PASSWORDS
from tests.api.test_api_config import CENTER

METRICS_TOKEN = "scrape-token-0123456789"


def center_config(**api_keys):
    extra = "".join(f"\n{key} = {value!r}" for key, value in api_keys.items()).replace("'", '"')
    return load_text(CENTER.replace("port = 0", "port = 0" + extra))


async def start_service(state_dir, services: dict | None = None, **api_keys) -> ApiService:
    config = center_config(**api_keys)
    service = ApiService(config)
    peers = dict(services or {})
    ctx = ServiceContext(config, LoopClock(), EventBus(), str(state_dir), services=peers)
    peers["cti"] = service.cti = CtiService(config)     # the daemon starts the CTI before its API
    await service.cti.start(ctx)
    await service.start(ctx)
    peers["api"] = service
    return service


def base(service: ApiService) -> str:
    return f"http://127.0.0.1:{service.port}"


async def login(http: aiohttp.ClientSession, service: ApiService, agent: str, extension: str) -> dict:
    async with http.post(base(service) + "/api/v1/login", json={
            "agent": agent, "password": PASSWORDS[agent], "extension": extension}) as response:
        assert response.status == 200, await response.text()
        return {"Authorization": f"Bearer {(await response.json())['token']}"}


async def supervisor(http: aiohttp.ClientSession, service: ApiService) -> dict:
    async with http.post(base(service) + "/api/v1/supervisor/login",
                         json={"name": "sup", "password": "sup-pass"}) as response:
        assert response.status == 200, await response.text()
        return {"Authorization": f"Bearer {(await response.json())['token']}"}


async def busy_morning(http: aiohttp.ClientSession, service: ApiService) -> None:
    """alice answers one caller, bob is at lunch, one caller waits and one gives up."""
    alice = await login(http, service, "alice", "2001")
    bob = await login(http, service, "bob", "2002")
    async with http.post(base(service) + "/api/v1/agents/alice/ready", headers=alice) as response:
        assert response.status == 200
    async with http.post(base(service) + "/api/v1/agents/bob/not-ready", json={"reason": "lunch"},
                         headers=bob) as response:
        assert response.status == 200
    run = service.runner
    run("caller_queued", "c1", "sales")
    assert run.engine.agents["alice"].caller == "c1"       # offered at once: alice was ready
    run("offer_answered", "c1", "alice")
    run("caller_queued", "c2", "sales")
    run("caller_queued", "c3", "sales")
    run("caller_abandoned", "c3")


async def scrape(http: aiohttp.ClientSession, service: ApiService, headers: dict | None = None) -> dict:
    """{(name, sorted labels): value} of one scrape, parsed by prometheus_client.parser."""
    async with http.get(base(service) + "/metrics", headers=headers or {}) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    return samples(text)


def samples(text: str) -> dict:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in found, f"{name}{labels} not scraped; have {sorted(k for k in found if k[0] == name)}"
    return found[key]

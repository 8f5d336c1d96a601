"""Shared by the API tests: a small center served by `AgentApi` on a test server, and a client
that checks every request and answer against the OpenAPI description in the repo."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from firmware.config.passwords import hash_password
from pbx_cti.api.app import AgentApi, ApiSettings, Credentials
from pbx_cti.cti import CtiEngine
from pbx_cti.cti.runner import CtiRunner
from runtime.bus import EventBus
from runtime.clock import ManualClock
from tests.cti.cti_world import T0, center

SPEC_PATH = Path(__file__).resolve().parents[2] / "pbx_cti" / "api" / "openapi.json"
SPEC = json.loads(SPEC_PATH.read_text())
_REGISTRY = Registry().with_resource("urn:pribox-api", Resource.from_contents(SPEC, default_specification=DRAFT202012))

# Cheap scrypt so tests stay fast; the daemon's are made by `pribox config hash-password`.
PASSWORDS = {"alice": "alice-pass", "bob": "bob-pass", "carol": "carol-pass"}
HASHES = {name: hash_password(pw, n=16, r=1, p=1) for name, pw in PASSWORDS.items()}
SUPERVISOR_HASH = hash_password("sup-pass", n=16, r=1, p=1)


def validator(schema: dict) -> Draft202012Validator:
    ref = schema.get("$ref", "")
    assert ref.startswith("#/components/schemas/"), f"operations name component schemas, got {schema}"
    return Draft202012Validator({"$ref": "urn:pribox-api" + ref}, registry=_REGISTRY)


def component(name: str) -> Draft202012Validator:
    return validator({"$ref": f"#/components/schemas/{name}"})


def operation(method: str, path: str) -> tuple[str, dict]:
    for template, item in SPEC["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path.split("?")[0]) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path} is not in the OpenAPI description")


class Contract:
    """Requests and answers through the test client, each checked against the description."""

    def __init__(self, client: TestClient):
        self.client = client

    async def call(self, method: str, path: str, body=None, token: str | None = None, raw: bytes | None = None,
                   headers: dict | None = None):
        template, op = operation(method, path)
        if body is not None:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            validator(schema).validate(body)
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            headers.setdefault("Content-Type", "application/json")
        response = await self.client.request(method, path, data=data, headers=headers)
        answer = await response.json()
        documented = op["responses"].get(str(response.status))
        assert documented is not None, f"{method} {template}: status {response.status} is not documented ({answer})"
        validator(documented["content"]["application/json"]["schema"]).validate(answer)
        return response.status, answer


class World:
    """An engine, runner and API on a test server; `now` drives tokens and rate limits."""

    def __init__(self, settings: ApiSettings | None = None, **queue_options):
        self.clock, self.bus = ManualClock(100.0), EventBus()
        self.runner = CtiRunner(CtiEngine(center(**queue_options)), self.clock, self.bus, wall_offset=T0 - 100.0)
        self.now = 1000.0
        self.api = AgentApi(self.runner, self.bus, Credentials(dict(HASHES), {"sup": SUPERVISOR_HASH}),
                            settings or ApiSettings(), now=lambda: self.now)
        self.client = TestClient(TestServer(self.api.app))
        self.contract = Contract(self.client)

    async def __aenter__(self) -> "World":
        await self.client.start_server()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.client.close()

    def agent(self, name: str):
        return self.runner.engine.agents[name]

    async def login(self, agent: str, extension: str | None = None, **extra) -> str:
        status, answer = await self.contract.call("POST", "/api/v1/login", {
            "agent": agent, "password": PASSWORDS[agent], "extension": extension or f"ext-{agent}", **extra})
        assert status == 200, answer
        return answer["token"]

    async def supervisor(self) -> str:
        status, answer = await self.contract.call("POST", "/api/v1/supervisor/login", {"name": "sup", "password": "sup-pass"})
        assert status == 200, answer
        return answer["token"]

    async def post(self, path: str, token: str, body=None):
        return await self.contract.call("POST", path, body, token=token)

    async def get(self, path: str, token: str):
        return await self.contract.call("GET", path, token=token)

"""The agent API over the whole contact center in lockstep (tests/acd/center_rig.py): consultative
transfer, conference and make-call as an agent's application asks for them, a supervisor forcing
states (written to the event log with who forced them), a second sign-in as the same agent, and
an application that vanishes mid-call under each policy — every request, answer and WebSocket
message checked against openapi.json."""

from __future__ import annotations

import asyncio
import functools
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from firmware.config.passwords import hash_password
from pbx_cti.acd.distributor import LostPolicy
from pbx_cti.api.app import AgentApi, ApiSettings, Credentials
from pbx_cti.cti.eventlog import K_AGENT_STATE, K_PENDING
from pbx_cti.cti.model import AgentState
from tests.acd.center_rig import EXTENSIONS, Center
from tests.acd.test_acd_agent_calls import OUT_CONFIG, OUTSIDE
from tests.api.api_world import Contract, component

S = AgentState
PASSWORDS = {agent: f"{agent}-pass" for agent in EXTENSIONS}
HASHES = {agent: hash_password(pw, n=16, r=1, p=1) for agent, pw in PASSWORDS.items()}
SUPERVISOR = hash_password("sup-pass", n=16, r=1, p=1)
WS_MESSAGE = component("WsMessage")


class RigApi:
    def __init__(self, rig: Center):
        self.rig = rig
        self.api = AgentApi(rig.runner, rig.bus, Credentials(dict(HASHES), {"sup": SUPERVISOR}), ApiSettings(),
                            calls=rig.calls)
        self.client = TestClient(TestServer(self.api.app))
        self.contract = Contract(self.client)

    async def __aenter__(self):
        await self.client.start_server()
        return self

    async def __aexit__(self, *exc):
        await self.client.close()
        self.api.hub.close()

    async def login(self, agent: str, extension: str | None = None, expect: int = 200):
        status, answer = await self.contract.call("POST", "/api/v1/login", {
            "agent": agent, "password": PASSWORDS[agent], "extension": extension or EXTENSIONS[agent]})
        assert status == expect, answer
        return answer.get("token", answer)

    async def supervisor(self) -> str:
        status, answer = await self.contract.call("POST", "/api/v1/supervisor/login", {"name": "sup", "password": "sup-pass"})
        assert status == 200
        return answer["token"]

    async def act(self, agent: str, token: str, action: str, body=None, expect: int = 200):
        # A request meant to be refused as malformed goes as raw bytes (the description would refuse it first).
        raw = json.dumps(body).encode() if expect == 400 and body is not None else None
        status, answer = await self.contract.call("POST", f"/api/v1/agents/{agent}/calls/{action}",
                                                  None if raw else body, token=token, raw=raw)
        assert status == expect, answer
        return answer

    async def post(self, path: str, token: str, body=None):
        return await self.contract.call("POST", path, body, token=token)

    async def events(self, token: str):
        ws = await self.client.ws_connect(f"/api/v1/events?token={token}")
        return Listener(ws)

    async def run(self, seconds: float) -> None:
        """Line time passes; the loop gets to send what it produced."""
        self.rig.run(seconds)
        await asyncio.sleep(0.01)


class Listener:
    def __init__(self, ws):
        self.ws, self.messages = ws, []
        self.task = asyncio.ensure_future(self._read())

    async def _read(self):
        async for message in self.ws:
            data = json.loads(message.data)
            WS_MESSAGE.validate(data)
            self.messages.append(data)

    def events(self, kind: str) -> list[dict]:
        return [e for m in self.messages for e in m.get("events", []) if e["type"] == kind]

    async def close(self):
        await self.ws.close()
        await self.task


def in_loop(scenario):
    """A test that drives the rig and the API from one asyncio loop."""
    @functools.wraps(scenario)
    def run(*args, **kwargs):
        asyncio.run(scenario(*args, **kwargs))
    return run


@pytest.fixture
def rig(tmp_path):
    center = Center(tmp_path, config=OUT_CONFIG)
    yield center
    center.close()


async def lee_talking(api: RigApi) -> tuple[str, object]:
    token = await api.login("lee")
    await api.post("/api/v1/agents/lee/ready", token)
    call = api.rig.place_call("2")
    api.rig.run_until(lambda: api.rig.engine.agents["lee"].state is S.TALKING, 5.0)
    return token, call


@in_loop
async def test_consult_transfer_and_conference_over_http_with_progress_on_the_websocket(rig):
    async with RigApi(rig) as api:
        lee, call = await lee_talking(api)
        events = await api.events(lee)
        kim = await api.login("kim")
        answer = await api.act("lee", lee, "consult-transfer", {"phase": "start", "target": "agent:kim"})
        call_id = answer["call"]
        assert answer["state"] == "HOLD" and rig.engine.agents["kim"].state is S.TALKING
        await api.run(2.0)
        await api.act("lee", lee, "consult-transfer", {"target": "agent:park"}, expect=409)   # one at a time
        await api.act("lee", lee, "conference")
        await api.run(0.5)
        assert rig.pbx.consult_state(call_id) == "conference"
        answer = await api.act("lee", lee, "hangup")                      # lee drops out of the conference
        assert answer["state"] == "WRAP_UP" and answer["call"] == call_id
        await api.run(0.5)
        whats = [e["what"] for e in events.events("call_progress")]
        assert whats[:4] == ["consult-started", "consult-ringing", "consult-connected", "conference"] and \
            whats[-1] == "left-conference", whats
        # kim now has the caller: it may hold and hang up through its own session.
        assert (await api.act("kim", kim, "hold"))["state"] == "HOLD"
        assert (await api.act("kim", kim, "hangup"))["call"] == call_id
        await api.run(1.0)
        assert call.done and rig.engine.agents["kim"].state is S.NOT_READY
        await events.close()


@in_loop
async def test_consult_phases_refused_with_reasons(rig):
    async with RigApi(rig) as api:
        lee, call = await lee_talking(api)
        await api.act("lee", lee, "consult-transfer", {"phase": "complete"}, expect=409)
        await api.act("lee", lee, "consult-transfer", {}, expect=400)
        await api.act("lee", lee, "consult-transfer", {"phase": "start"}, expect=400)
        await api.act("lee", lee, "consult-transfer", {"phase": "later", "target": "agent:kim"}, expect=400)
        await api.act("lee", lee, "consult-transfer", {"phase": "start", "target": "agent:nobody"}, expect=404)
        await api.act("lee", lee, "consult-transfer", {"phase": "start", "target": "queue:nowhere"}, expect=404)
        await api.act("lee", lee, "conference", expect=409)
        await api.act("lee", lee, "consult-transfer", {"target": "number:" + OUTSIDE})
        await api.act("lee", lee, "consult-transfer", {"phase": "complete", "target": "x:1"}, expect=400)
        await api.act("lee", lee, "consult-transfer", {"phase": "complete"}, expect=409)   # not answered yet
        answer = await api.act("lee", lee, "consult-transfer", {"phase": "cancel"})
        assert answer["state"] == "TALKING"
        rig.carrier.hangup(call)
        await api.run(1.0)


@in_loop
async def test_make_call_over_http(rig):
    async with RigApi(rig) as api:
        lee = await api.login("lee")
        answer = await api.act("lee", lee, "make-call", {"number": OUTSIDE})
        assert answer["call"].startswith("mc-") and (answer["state"], answer["reason"]) == ("TALKING", "outbound")
        await api.act("lee", lee, "make-call", {"number": OUTSIDE}, expect=409)
        await api.act("lee", lee, "make-call", {}, expect=400)
        rig.run_until(lambda: any(c.called == OUTSIDE and c.answered_at for c in rig.carrier.calls), 5.0)
        await api.act("lee", lee, "dtmf", {"digits": "1#"})
        await api.act("lee", lee, "hangup")
        await api.run(1.0)
        assert (rig.engine.agents["lee"].state, rig.engine.agents["lee"].reason) == (S.NOT_READY, "login")


@in_loop
async def test_a_supervisor_forces_states_and_the_event_log_names_the_supervisor(rig):
    async with RigApi(rig) as api:
        sup = await api.supervisor()
        lee = await api.login("lee")
        status, answer = await api.post("/api/v1/agents/lee/state", lee, {"state": "READY"})
        assert status == 403
        status, answer = await api.post("/api/v1/agents/lee/state", sup, {"state": "READY"})
        assert status == 200 and answer["state"] == "READY"
        status, answer = await api.post("/api/v1/agents/lee/state", sup, {"state": "NOT_READY", "reason": "nap"})
        assert status == 422 and "nap" in answer["error"]
        status, answer = await api.post("/api/v1/agents/lee/state", sup, {"state": "NOT_READY", "reason": "login"})
        assert status == 422 and "reserved" in answer["error"]
        rig.place_call("2")
        rig.run_until(lambda: rig.engine.agents["lee"].state is S.TALKING, 5.0)
        status, answer = await api.post("/api/v1/agents/lee/state", sup, {"state": "LOGGED_OUT"})
        assert status == 409 and "call" in answer["error"]
        status, answer = await api.post("/api/v1/agents/lee/state", sup, {"state": "NOT_READY", "reason": "training"})
        assert status == 200 and answer["pending_reason"] == "training"
        await api.act("lee", lee, "hangup")
        await api.run(1.0)
        status, answer = await api.post("/api/v1/agents/lee/state", sup, {"state": "LOGGED_OUT"})
        assert status == 200 and answer["state"] == "LOGGED_OUT"
        status, _ = await api.contract.call("GET", "/api/v1/agents/lee", token=lee)
        assert status == 401                                         # a forced logout ends the session
        records = rig.event_records()
        forced = [(r.kind, r.data.get("state"), r.data["reason"]) for r in records if r.data.get("forced_by") == "sup"]
        assert forced == [(K_AGENT_STATE, "READY", ""), (K_PENDING, None, "training"),
                          (K_AGENT_STATE, "LOGGED_OUT", "logout")]
        after_call = [r for r in records if r.kind == K_AGENT_STATE and r.agent == "lee"][-2]
        assert (after_call.data["state"], after_call.data["reason"]) == ("NOT_READY", "training")


@in_loop
async def test_a_second_sign_in_takes_over_and_the_first_session_is_told(rig):
    async with RigApi(rig) as api:
        first = await api.login("lee")
        await api.post("/api/v1/agents/lee/ready", first)
        events = await api.events(first)
        await api.run(0.1)
        second = await api.login("lee")
        await asyncio.wait_for(events.task, 2.0)
        assert events.messages[-1]["type"] == "replaced" and "signed in again" in events.messages[-1]["reason"]
        assert events.ws.close_code == 4001
        assert rig.engine.agents["lee"].state is S.READY                  # not "app-disconnected"
        status, answer = await api.contract.call("GET", "/api/v1/agents/lee", token=first)
        assert status == 401
        status, answer = await api.contract.call("GET", "/api/v1/agents/lee", token=second)
        assert status == 200 and answer["state"] == "READY"
        refused = await api.login("lee", extension="2009", expect=409)
        assert "already logged in at extension '2002'" in refused["error"]


@pytest.mark.parametrize("policy, expect", [("keep", ("TALKING", "")), ("requeue", ("NOT_READY", "app-disconnected"))])
@in_loop
async def test_the_application_vanishing_mid_call_follows_the_policy(tmp_path, policy, expect):
    rig = Center(tmp_path, policy=LostPolicy(app_lost=policy))
    try:
        async with RigApi(rig) as api:
            lee, call = await lee_talking(api)
            events = await api.events(lee)
            await api.run(0.1)
            await events.ws.close()
            await events.task
            await asyncio.sleep(0.05)
            await api.run(0.5)
            agent = rig.engine.agents["lee"]
            assert (agent.state.value, agent.reason) == expect
            waiting = [c.status for c in rig.engine.callers.values()]
            assert waiting == (["waiting"] if policy == "requeue" else ["connected"])
            assert not call.done
            rig.carrier.hangup(call)
            await api.run(1.0)
    finally:
        rig.close()

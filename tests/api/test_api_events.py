"""Events on the WebSocket: an agent gets its own, a supervisor every one; each message matches
the OpenAPI description's WsMessage; a client that cannot keep up is told, dropped, and its
agent goes NOT_READY; so does an agent whose application goes away."""

import asyncio
import json

from aiohttp import WSMsgType

from pbx_cti.api.app import ApiSettings
from pbx_cti.cti import AgentState
from tests.api.api_world import World, component

WS_MESSAGE = component("WsMessage")


async def receive(ws, timeout: float = 2.0) -> dict:
    message = await ws.receive(timeout=timeout)
    assert message.type == WSMsgType.TEXT, message
    body = json.loads(message.data)
    WS_MESSAGE.validate(body)
    return body


async def events(ws, count: int) -> list[dict]:
    out: list[dict] = []
    while len(out) < count:
        body = await receive(ws)
        assert body["type"] == "events", body
        out.extend(body["events"])
    return out


def run(scenario):
    asyncio.run(scenario())


def test_an_agent_gets_its_own_events_and_a_supervisor_all():
    async def scenario():
        async with World() as w:
            alice, bob, sup = await w.login("alice"), await w.login("bob"), await w.supervisor()
            ws_alice = await w.client.ws_connect(f"/api/v1/events?token={alice}")
            ws_sup = await w.client.ws_connect("/api/v1/events", headers={"Authorization": f"Bearer {sup}"})
            assert await receive(ws_alice) == {"type": "hello", "who": "alice", "role": "agent"}
            assert (await receive(ws_sup))["role"] == "supervisor"
            await w.post("/api/v1/agents/bob/not-ready", bob, {"reason": "break"})
            await w.post("/api/v1/agents/alice/ready", alice)
            w.runner("caller_queued", "c1", "sales", info={"account": "12345"})
            mine = await events(ws_alice, 3)
            assert [(e["type"], e.get("state")) for e in mine] == [
                ("agent_state", "READY"), ("agent_state", "RESERVED"), ("offer", None)]
            assert mine[2]["caller"] == "c1" and mine[2]["endpoint"] == "ext-alice"
            assert mine[2]["info"] == {"account": "12345"}
            seen = await events(ws_sup, 4)
            assert [(e["agent"], e["type"]) for e in seen] == [("bob", "agent_state"), ("alice", "agent_state"),
                                                                ("alice", "agent_state"), ("alice", "offer")]
            assert seen[0]["reason"] == "break" and seen[0]["previous"] == "NOT_READY"
            await ws_alice.close()
            await ws_sup.close()
    run(scenario)


def test_a_client_that_cannot_keep_up_is_told_and_dropped_and_its_agent_goes_not_ready():
    async def scenario():
        async with World(ApiSettings(client_queue=8)) as w:
            alice, sup = await w.login("alice"), await w.supervisor()
            ws_alice = await w.client.ws_connect(f"/api/v1/events?token={alice}")
            ws_sup = await w.client.ws_connect(f"/api/v1/events?token={sup}")
            await receive(ws_alice), await receive(ws_sup)
            # Twenty events inside one run of the loop: nothing is sent from inside the publish,
            # so both queues of eight fill before either writer runs.
            for _ in range(10):
                w.runner("ready", "alice")
                w.runner("not_ready", "alice", "break")
            dropped = await receive(ws_alice)
            assert dropped["type"] == "dropped" and "cannot keep up" in dropped["reason"]
            assert (await ws_alice.receive(timeout=2)).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
            await asyncio.sleep(0.05)
            agent = w.agent("alice")
            assert (agent.state, agent.reason) == (AgentState.NOT_READY, "app-disconnected")
            assert not w.api.hub.clients
            # The box keeps serving: alice comes back, reconnects and works.
            ws_alice = await w.client.ws_connect(f"/api/v1/events?token={alice}")
            await receive(ws_alice)
            status, view = await w.post("/api/v1/agents/alice/ready", alice)
            assert status == 200
            assert [e["state"] for e in await events(ws_alice, 1)] == ["READY"]
            await ws_alice.close()
            await ws_sup.close()
    run(scenario)


def test_an_agent_whose_application_closes_goes_not_ready_and_keeps_a_talking_call():
    async def scenario():
        async with World() as w:
            alice, bob = await w.login("alice"), await w.login("bob")
            first = await w.client.ws_connect(f"/api/v1/events?token={alice}")
            second = await w.client.ws_connect(f"/api/v1/events?token={alice}")
            ws_bob = await w.client.ws_connect(f"/api/v1/events?token={bob}")
            for ws in (first, second, ws_bob):
                await receive(ws)
            await w.post("/api/v1/agents/alice/ready", alice)
            await w.post("/api/v1/agents/bob/ready", bob)
            await first.close()                        # another window of alice's is still open
            await asyncio.sleep(0.05)
            assert w.agent("alice").state is AgentState.READY
            await second.close()
            await asyncio.sleep(0.05)
            assert (w.agent("alice").state, w.agent("alice").reason) == (AgentState.NOT_READY, "app-disconnected")
            w.runner("caller_queued", "c1", "sales")
            w.runner("offer_answered", "c1", "bob")
            await ws_bob.close()
            await asyncio.sleep(0.05)
            assert w.agent("bob").state is AgentState.TALKING and w.agent("bob").pending == "app-disconnected"
    run(scenario)


def test_text_sent_on_the_socket_is_answered_with_an_error_and_an_expired_token_cannot_connect():
    async def scenario():
        async with World() as w:
            alice = await w.login("alice")
            ws = await w.client.ws_connect(f"/api/v1/events?token={alice}")
            await receive(ws)
            await ws.send_str('{"ready": true}')
            assert (await receive(ws))["type"] == "error"
            await ws.close()
            w.now += ApiSettings().token_lifetime
            response = await w.client.get("/api/v1/events", params={"token": alice},
                                          headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                   "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "x3JJHMbDL1EzLkh9GBhXDw=="})
            assert response.status == 401 and (await response.json())["error"] == "token expired: log in again"
    run(scenario)

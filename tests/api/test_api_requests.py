"""The agent-application API's requests, each checked against the OpenAPI description: what an
agent and a supervisor can do, and every bad input answered with a 4xx and a JSON reason while
the engine's state stays as it was."""

import asyncio
import logging
import threading

import pytest

from pbx_cti.api import app as api_app
from pbx_cti.api.app import ApiSettings
from pbx_cti.cti import AgentState
from tests.api.api_world import World
from tests.cti.cti_world import T0


def run(scenario):
    asyncio.run(scenario())


def test_an_agent_logs_in_goes_ready_not_ready_wraps_up_and_logs_out():
    async def scenario():
        async with World(wrap_up=None) as w:
            token = await w.login("alice", groups=["sales"])
            assert w.agent("alice").state is AgentState.NOT_READY and w.agent("alice").endpoint == "ext-alice"
            status, view = await w.post("/api/v1/agents/alice/ready", token)
            assert status == 200 and view["state"] == "READY" and view["groups"] == ["sales"]
            w.runner("caller_queued", "c1", "sales")
            w.runner("offer_answered", "c1", "alice")
            w.runner("call_ended", "c1")
            status, view = await w.post("/api/v1/agents/alice/wrap-up", token, {"code": "sale"})
            assert status == 200 and view["state"] == "WRAP_UP" and view["calls_handled"] == 1
            status, view = await w.post("/api/v1/agents/alice/not-ready", token, {"reason": "lunch"})
            assert (status, view["state"], view["reason"]) == (200, "NOT_READY", "lunch")
            status, view = await w.get("/api/v1/agents/alice", token)
            assert view["since"] == T0 and status == 200
            status, view = await w.post("/api/v1/agents/alice/logout", token)
            assert view["state"] == "LOGGED_OUT"
            status, answer = await w.get("/api/v1/agents/alice", token)
            assert status == 401 and "log in" in answer["error"]   # logout ends the token
    run(scenario)


def test_logging_in_again_at_the_same_extension_reattaches_and_elsewhere_is_refused():
    async def scenario():
        async with World() as w:
            await w.login("alice")
            await w.post("/api/v1/agents/alice/ready", await w.login("alice"))
            assert w.agent("alice").state is AgentState.READY   # the second login did not reset it
            status, answer = await w.contract.call("POST", "/api/v1/login", {
                "agent": "alice", "password": "alice-pass", "extension": "ext-9"})
            assert status == 409 and "already logged in at extension 'ext-alice'" in answer["error"]
            status, answer = await w.contract.call("POST", "/api/v1/login", {
                "agent": "bob", "password": "bob-pass", "extension": "ext-alice"})
            assert status == 422 and "in use by agent 'alice'" in answer["error"]
            assert w.agent("bob").state is AgentState.LOGGED_OUT
    run(scenario)


def test_every_bad_input_is_a_4xx_with_a_reason_and_changes_nothing():
    async def scenario():
        async with World() as w:
            alice = await w.login("alice")
            before = w.runner.engine.snapshot()
            call = w.contract.call
            cases = [
                (await call("POST", "/api/v1/login", {"agent": "nobody", "password": "x-pass", "extension": "e"}),
                 401, "wrong name or password"),
                (await call("POST", "/api/v1/login", {"agent": "bob", "password": "wrong", "extension": "e"}),
                 401, "wrong name or password"),
                (await call("POST", "/api/v1/login", raw=b'{"agent": "bob",'), 400, "not valid JSON"),
                (await call("POST", "/api/v1/login", raw=b'["bob"]'), 400, "JSON object"),
                (await call("POST", "/api/v1/login", raw=b'{"agent": "bob", "password": "bob-pass"}'),
                 400, "'extension' is required"),
                (await call("POST", "/api/v1/login", raw=b'{"agent": 7, "password": "p", "extension": "e"}'),
                 400, "'agent': expected a non-empty string"),
                (await call("POST", "/api/v1/agents/alice/not-ready", raw=b'{"reason": "nap"}', token=alice),
                 422, "nap"),
                (await call("POST", "/api/v1/agents/alice/not-ready", raw=b'{"why": "lunch"}', token=alice),
                 400, "unknown field(s) why"),
                (await call("POST", "/api/v1/agents/alice/wrap-up", {"code": "sale"}, token=alice),
                 409, "in state NOT_READY cannot"),
                (await call("POST", "/api/v1/agents/bob/ready", token=alice), 403, "may not act on agent 'bob'"),
                (await call("GET", "/api/v1/agents/zed", token=alice), 403, "'zed'"),
                (await call("GET", "/api/v1/agents", token=alice), 403, "only a supervisor"),
                (await call("POST", "/api/v1/agents/alice/ready", token="forged-token-0123456789"), 401, "unknown token"),
                (await call("POST", "/api/v1/agents/alice/ready"), 401, "no token"),
                (await call("POST", "/api/v1/agents/alice/calls/answer", token=alice), 501, "not attached"),
            ]
            for (status, answer), expected_status, words in cases:
                assert status == expected_status and words in answer["error"], (status, answer, words)
            assert w.runner.engine.snapshot() == before
            w.now += ApiSettings().token_lifetime
            status, answer = await call("POST", "/api/v1/agents/alice/ready", token=alice)
            assert (status, answer["error"]) == (401, "token expired: log in again")
            response = await w.client.get("/api/v1/nothing-here")
            assert response.status == 404 and "no such resource" in (await response.json())["error"]
            response = await w.client.get("/api/v1/events", headers={"Authorization": f"Bearer {await w.login('alice')}"})
            assert response.status == 400 and "WebSocket" in (await response.json())["error"]
            assert w.agent("alice").state is AgentState.NOT_READY
    run(scenario)


def test_the_supervisor_sees_queues_and_agents_and_forces_states():
    async def scenario():
        async with World() as w:
            sup = await w.supervisor()
            alice, bob = await w.login("alice"), await w.login("bob")
            await w.post("/api/v1/agents/alice/ready", alice)
            w.runner("caller_queued", "c1", "sales")          # rings alice
            w.runner("caller_queued", "c2", "sales")          # waits
            w.clock.advance(7)
            status, queues = await w.get("/api/v1/queues", sup)
            sales = next(q for q in queues["queues"] if q["queue"] == "sales")
            assert status == 200 and sales["waiting"] == 1 and sales["longest_wait"] == 7.0
            assert sales["agents"]["RESERVED"] == 1 and sales["agents"]["NOT_READY"] == 1 and sales["offered"] == 2
            status, agents = await w.get("/api/v1/agents", sup)
            by_name = {a["agent"]: a for a in agents["agents"]}
            assert by_name["alice"]["state"] == "RESERVED" and by_name["alice"]["seconds_in_state"] == 7.0
            assert by_name["carol"]["state"] == "LOGGED_OUT"
            status, view = await w.post("/api/v1/agents/bob/state", sup, {"state": "READY"})
            assert view["state"] == "RESERVED" and view["caller"] == "c2"   # READY, and offered the waiting caller
            status, view = await w.post("/api/v1/agents/alice/state", sup, {"state": "NOT_READY", "reason": "training"})
            assert view["state"] == "NOT_READY" and view["reason"] == "training"
            status, answer = await w.post("/api/v1/agents/alice/state", sup, {"state": "NOT_READY"})
            assert status == 400 and "'reason' is required" in answer["error"]
            status, answer = await w.contract.call("POST", "/api/v1/agents/alice/state", raw=b'{"state": "TALKING"}',
                                                   token=sup)
            assert status == 400 and "READY, NOT_READY, LOGGED_OUT" in answer["error"]
            status, answer = await w.post("/api/v1/agents/zed/state", sup, {"state": "READY"})
            assert status == 404 and answer["error"] == "unknown agent 'zed'"
            status, answer = await w.post("/api/v1/agents/alice/state", sup, {"state": "LOGGED_OUT"})
            assert answer["state"] == "LOGGED_OUT"
            status, answer = await w.post("/api/v1/agents/alice/ready", alice)
            assert status == 401                                   # forced out: its token is gone
            status, answer = await w.post("/api/v1/agents/bob/supervise/barge", sup, {"extension": "2009"})
            assert status == 501 and "not attached" in answer["error"]       # this API has no switching core
            status, answer = await w.post("/api/v1/agents/bob/supervise/barge", bob)
            assert status == 403
    run(scenario)


@pytest.mark.parametrize("action", ["answer", "reject", "hold", "retrieve", "hangup", "blind-transfer",
                                    "consult-transfer", "conference", "make-call", "dtmf", "record-start",
                                    "record-stop"])
def test_call_actions_without_a_switching_core_answer_501_with_a_reason(action):
    async def scenario():
        async with World() as w:
            token = await w.login("alice")
            status, answer = await w.post(f"/api/v1/agents/alice/calls/{action}", token, {"target": "agent:bob"})
            assert status == 501 and answer["error"] == f"{action}: the box's switching core is not attached to the API"
            status, answer = await w.post(f"/api/v1/agents/bob/calls/{action}", token)
            assert status == 403
    run(scenario)


def test_failed_logins_are_limited_per_source_and_logged(caplog):
    async def scenario():
        async with World(ApiSettings(login_failures=3, login_window=60)) as w:
            for _ in range(3):
                status, _ = await w.contract.call("POST", "/api/v1/login",
                                                  {"agent": "bob", "password": "guess", "extension": "e"})
                assert status == 401
            status, answer = await w.contract.call("POST", "/api/v1/login",
                                                   {"agent": "bob", "password": "bob-pass", "extension": "e"})
            assert status == 429 and "too many failed logins from 127.0.0.1" in answer["error"]
            w.now += 60
            await w.login("bob")                      # the window passed
    with caplog.at_level(logging.INFO, logger="pribox.auth"):
        run(scenario)
    messages = [r.getMessage() for r in caplog.records if r.name == "pribox.auth"]
    assert sum("login failed for 'bob' from 127.0.0.1" in m for m in messages) == 3
    assert any("refused: 3 failed logins" in m for m in messages)
    assert any("login of 'bob'" in m for m in messages)


def test_a_request_flood_is_refused_with_429_and_the_box_keeps_serving(caplog):
    async def scenario():
        async with World(ApiSettings(requests_per_second=10, request_burst=5)) as w:
            token = await w.login("alice")
            statuses = [(await w.get("/api/v1/agents/alice", token))[0] for _ in range(8)]
            assert statuses[:4] == [200] * 4 and set(statuses[4:]) == {429}
            w.now += 1.0
            assert (await w.get("/api/v1/agents/alice", token))[0] == 200
    with caplog.at_level(logging.WARNING, logger="pribox.api"):
        run(scenario)
    assert any("request flood from 127.0.0.1" in r.getMessage() for r in caplog.records)


def test_passwords_are_checked_off_the_event_loop(monkeypatch):
    threads = []
    real = api_app.verify_password

    def watched(password, stored):
        threads.append(threading.current_thread())
        return real(password, stored)

    monkeypatch.setattr(api_app, "verify_password", watched)

    async def scenario():
        async with World() as w:
            await w.login("alice")
            await w.supervisor()
            assert threads and all(t is not threading.main_thread() for t in threads)
    run(scenario)

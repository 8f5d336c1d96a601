"""The pages' routes and the API's origin check over HTTP, without a browser: what is served, with
which headers, what is refused; the directory answer against openapi.json."""

from __future__ import annotations

import asyncio
import functools
import json
from urllib.parse import quote

from aiohttp import WSServerHandshakeError
from hypothesis import given, settings, strategies as st

from pbx_cti.desktop.routes import add_page_routes, static_files
from tests.api.api_world import World


def in_a_loop(test):
    """The test's coroutine run to its end on a loop of its own."""
    @functools.wraps(test)
    def run():
        asyncio.run(test())
    return run


async def served_world() -> World:
    world = World()
    add_page_routes(world.api.app.router)
    await world.__aenter__()
    return world


@in_a_loop
async def test_the_pages_and_their_files_are_served_with_a_strict_policy():
    world = await served_world()
    try:
        for path, marker in (("/desktop/", 'id="call-popup"'), ("/wallboard/", 'id="queues"'),
                             ("/desktop/desktop.js", "priboxSoftphone"), ("/wallboard/style.css", ":root")):
            response = await world.client.get(path)
            assert response.status == 200, path
            assert marker in await response.text(), path
            policy = response.headers["Content-Security-Policy"]
            assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        response = await world.client.get("/desktop", allow_redirects=False)
        assert response.status == 302 and response.headers["Location"] == "/desktop/"
    finally:
        await world.__aexit__()


@in_a_loop
async def test_only_the_folder_s_own_files_are_served():
    world = await served_world()
    try:
        assert {"desktop.html", "wallboard.html", "common.js", "desktop.js", "wallboard.js", "style.css",
                "softphone.js"} <= set(static_files())
        for path in ("/desktop/..%2Froutes.py", "/desktop/%2e%2e%2f__init__.py",
                     "/wallboard/.hidden.js", "/desktop/routes.py", "/desktop/README.md"):
            response = await world.client.get(path)
            assert response.status == 404, path
            answer = await response.json()
            assert "error" in answer and ("no file" in answer["error"] or "no such resource" in answer["error"]), answer
    finally:
        await world.__aexit__()


@in_a_loop
async def test_another_origin_is_refused_and_the_box_s_own_or_none_is_not():
    world = await served_world()
    try:
        token = await world.login("alice")
        own = str(world.client.make_url("")).rstrip("/")
        path = "/api/v1/agents/alice"
        status, answer = await world.contract.call("GET", path, token=token, headers={"Origin": "http://evil.example"})
        assert status == 403 and "'http://evil.example' is not allowed" in answer["error"]
        status, answer = await world.contract.call("GET", path, token=token, headers={"Origin": "null"})
        assert status == 403
        status, _ = await world.contract.call("GET", path, token=token, headers={"Origin": own})
        assert status == 200
        status, _ = await world.contract.call("GET", path, token=token)
        assert status == 200
        status, answer = await world.contract.call("POST", "/api/v1/login", {
            "agent": "bob", "password": "bob-pass", "extension": "ext-bob"}, headers={"Origin": "https://evil.example"})
        assert status == 403 and world.agent("bob").state.value == "LOGGED_OUT"   # refused before anything changed
        try:
            await world.client.ws_connect(f"/api/v1/events?token={token}", headers={"Origin": "http://evil.example"})
            raise AssertionError("a WebSocket from another origin was accepted")
        except WSServerHandshakeError as exc:
            assert exc.status == 403
        ws = await world.client.ws_connect(f"/api/v1/events?token={token}", headers={"Origin": own})
        hello = await ws.receive_json()
        assert hello["type"] == "hello" and hello["who"] == "alice"
        await ws.close()
    finally:
        await world.__aexit__()


@in_a_loop
async def test_the_directory_names_agents_queues_codes_and_templates_for_any_session():
    world = await served_world()
    try:
        token = await world.login("alice", extension="2001")
        status, answer = await world.contract.call("GET", "/api/v1/directory", token=token)
        assert status == 200
        assert [(a["agent"], a["state"], a["extension"]) for a in answer["agents"]] == [
            ("alice", "NOT_READY", "2001"), ("bob", "LOGGED_OUT", ""), ("carol", "LOGGED_OUT", "")]
        assert [q["queue"] for q in answer["queues"]] == ["sales", "support"]
        assert answer["not_ready_reasons"] == ["break", "lunch", "training"]
        assert answer["wrap_up_codes"] == ["sale", "no-sale"]
        assert answer["templates"] == {}            # no notify service in this world
        status, answer = await world.contract.call("GET", "/api/v1/directory")
        assert status == 401
    finally:
        await world.__aexit__()


@in_a_loop
async def test_a_wrap_up_note_is_kept_in_the_event_log_and_a_long_one_refused():
    world = await served_world()
    try:
        token = await world.login("alice")
        await world.post("/api/v1/agents/alice/ready", token)
        world.runner("caller_queued", "c1", "sales", 0, {"calling": "0212345678"})
        world.runner("offer_answered", "c1", "alice")
        world.runner("call_ended", "c1")
        status, answer = await world.contract.call("POST", "/api/v1/agents/alice/wrap-up", token=token,
                                                   raw=json.dumps({"code": "sale", "note": "x" * 257}).encode())
        assert status == 400 and "note" in answer["error"]
        status, _ = await world.post("/api/v1/agents/alice/wrap-up", token, {"code": "sale", "note": "두 상품 가입"})
        assert status == 200
        notes = [(r.data.get("code"), r.data.get("note")) for r in world.runner.engine.store.records(0) if r.kind == "WRAP_CODE"]
        assert notes == [("sale", "두 상품 가입")]
    finally:
        await world.__aexit__()


@settings(max_examples=25, deadline=None)
# "." and ".." are the URL's own path steps (the client resolves them before asking).
@given(names=st.lists(st.text(min_size=1, max_size=40).filter(lambda n: n not in (".", "..")), min_size=1, max_size=8))
def test_any_name_is_either_one_of_the_folder_s_files_or_a_json_404(names):
    known = static_files()

    async def scenario():
        world = await served_world()
        try:
            for name in names:
                for page in ("desktop", "wallboard"):
                    response = await world.client.get(f"/{page}/{quote(name, safe='')}")
                    if name in known:
                        assert response.status == 200
                        assert await response.read() == known[name].read_bytes()
                    else:
                        assert response.status in (404, 405), (name, response.status)
                        assert "error" in await response.json()
        finally:
            await world.__aexit__()
    asyncio.run(scenario())

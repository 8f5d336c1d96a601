"""Recordings over the agent-application API, on the real `AgentApi` with the recording routes
added the way the daemon wires them: an agent lists, reads and downloads only its own calls'
recordings, a supervisor every one; filters, Range downloads, and every refusal a JSON 4xx —
each request and JSON answer checked against the OpenAPI description."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import numpy as np

from pbx_cti.recording.api_routes import add_routes, make_authorize
from pbx_cti.recording.store import RecordingRow, RecordingStore
from pbx_cti.recording.wav import StereoWavWriter, interleave
from tests.api.api_world import SPEC, World, operation

DAY0 = 1_800_000_000.0          # 2027-01-15 08:00 UTC


def recording(store: RecordingStore, directory: Path, rid: str, agent: str, started: float, call: str,
              seconds: float = 1.0, status: str = "complete") -> RecordingRow:
    path = directory / f"{rid}.wav"
    rng = np.random.default_rng(len(rid))
    left = rng.integers(-3000, 3000, int(seconds * 8000), dtype=np.int16)
    writer = StereoWavWriter(path)
    writer.write(interleave(left, -left))
    size = writer.close()
    store.begin(RecordingRow(rid, call, agent, "sales", "0212345678", started, None, 0.0, str(path), 0, "all",
                             "recording"))
    if status != "recording":
        store.finish(rid, ended=started + seconds, duration=seconds, size=size, status=status)
    return store.get(rid)


class RecordingWorld(World):
    def __init__(self, tmp_path: Path):
        super().__init__()
        self.store = RecordingStore(tmp_path / "recordings.sqlite")
        self.rows = {
            "a1": recording(self.store, tmp_path, "a1", "alice", DAY0, "call-1"),
            "a2": recording(self.store, tmp_path, "a2", "alice", DAY0 + 86400, "call-2", seconds=2.0),
            "b1": recording(self.store, tmp_path, "b1", "bob", DAY0 + 60, "call-3"),
            "a3": recording(self.store, tmp_path, "a3", "alice", DAY0 + 2 * 86400, "call-4", status="recording"),
        }
        add_routes(self.api.app.router, self.store, make_authorize(self.api.session))


def run(tmp_path, scenario):
    async def main():
        async with RecordingWorld(tmp_path) as w:
            await scenario(w)
    asyncio.run(main())


def ids(answer: dict) -> list[str]:
    return [r["id"] for r in answer["recordings"]]


async def audio(w: World, rid: str, token: str | None, headers: dict | None = None):
    path = f"/api/v1/recordings/{rid}/audio"
    _, op = operation("GET", path)
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = await w.client.get(path, headers=headers)
    body = await response.read()
    documented = op["responses"].get(str(response.status))
    assert documented is not None, f"status {response.status} is not documented: {body[:200]!r}"
    return response, body


def test_an_agent_has_only_its_own_calls_recordings(tmp_path):
    async def scenario(w):
        alice = await w.login("alice")
        status, answer = await w.get("/api/v1/recordings", alice)
        assert status == 200 and ids(answer) == ["a3", "a2", "a1"] and answer["count"] == 3
        assert answer["recordings"][2] == {**w.rows["a1"].to_json()} and "path" not in answer["recordings"][0]
        status, answer = await w.get("/api/v1/recordings?agent=bob", alice)
        assert status == 403 and "may not list agent 'bob'" in answer["error"]
        status, answer = await w.get("/api/v1/recordings/b1", alice)
        assert status == 403 and "may not have recording b1" in answer["error"]
        response, body = await audio(w, "b1", alice)
        assert response.status == 403 and b"may not have recording b1" in body
        status, answer = await w.get("/api/v1/recordings/a1", alice)
        assert status == 200 and answer["agent"] == "alice" and answer["duration"] == 1.0
        response, body = await audio(w, "a1", alice)
        assert response.status == 200 and response.headers["Content-Type"] == "audio/wav"
        assert body == Path(w.rows["a1"].path).read_bytes() and body[:4] == b"RIFF"
        assert 'filename="a1.wav"' in response.headers["Content-Disposition"]
    run(tmp_path, scenario)


def test_a_supervisor_has_every_recording_filtered_and_downloads_a_range(tmp_path):
    async def scenario(w):
        sup = await w.supervisor()
        status, answer = await w.get("/api/v1/recordings", sup)
        assert status == 200 and ids(answer) == ["a3", "a2", "b1", "a1"]
        assert ids((await w.get("/api/v1/recordings?agent=bob", sup))[1]) == ["b1"]
        assert ids((await w.get("/api/v1/recordings?call=call-2", sup))[1]) == ["a2"]
        assert ids((await w.get("/api/v1/recordings?date=2027-01-15", sup))[1]) == ["b1", "a1"]
        assert ids((await w.get(f"/api/v1/recordings?from={DAY0 + 30}&to=2027-01-17T00:00:00Z", sup))[1]) == ["a2", "b1"]
        assert ids((await w.get("/api/v1/recordings?limit=1&offset=1", sup))[1]) == ["a2"]
        response, body = await audio(w, "b1", sup, {"Range": "bytes=44-1043"})
        assert response.status == 206 and len(body) == 1000
        assert body == Path(w.rows["b1"].path).read_bytes()[44:1044]
        assert re.fullmatch(r"bytes 44-1043/\d+", response.headers["Content-Range"])
    run(tmp_path, scenario)


def test_refusals_are_json_with_a_reason(tmp_path):
    async def scenario(w):
        sup = await w.supervisor()
        for path in ("/api/v1/recordings", "/api/v1/recordings/a1"):
            status, answer = await w.contract.call("GET", path)
            assert status == 401 and "no token" in answer["error"]
        response, body = await audio(w, "a1", None)
        assert response.status == 401
        status, answer = await w.get("/api/v1/recordings/nope", sup)
        assert status == 404 and "no recording 'nope'" in answer["error"]
        status, answer = await w.get("/api/v1/recordings?from=yesterday", sup)
        assert status == 400 and "from='yesterday'" in answer["error"]
        status, answer = await w.get("/api/v1/recordings?date=2027-13-01", sup)
        assert status == 400 and "YYYY-MM-DD" in answer["error"]
        status, answer = await w.get("/api/v1/recordings?limit=-1", sup)
        assert status == 400 and "limit" in answer["error"]
        status, answer = await w.get("/api/v1/recordings?sort=agent", sup)
        assert status == 400 and "unknown query parameter(s) sort" in answer["error"]
        response, body = await audio(w, "a3", sup)
        assert response.status == 409 and b"still being recorded" in body
        Path(w.rows["a2"].path).unlink()
        response, body = await audio(w, "a2", sup)
        assert response.status == 404 and b"its audio is gone" in body
        response, _ = await audio(w, "a1", sup, {"Range": "bytes=999999-"})
        assert response.status == 416
    run(tmp_path, scenario)


def test_the_description_and_the_routes_agree_once_wired(tmp_path):
    async def scenario(w):
        served = {(route.method, re.sub(r"\{[^}]+\}", "{}", route.resource.canonical))
                  for route in w.api.app.router.routes() if route.method != "HEAD"}
        described = {(method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
                     for path, item in SPEC["paths"].items() for method in item}
        assert {d for d in described if "recordings" in d[1]} <= served   # the whole contract: tests/api
        assert {p for p in SPEC["paths"] if "recordings" in p} == {
            "/api/v1/recordings", "/api/v1/recordings/{id}", "/api/v1/recordings/{id}/audio"}
    run(tmp_path, scenario)


def test_with_recording_off_the_routes_answer_503(tmp_path):
    async def main():
        w = World()
        add_routes(w.api.app.router, lambda: None, make_authorize(w.api.session))
        async with w:
            status, answer = await w.get("/api/v1/recordings", await w.supervisor())
            assert status == 503 and "not running" in answer["error"]
    asyncio.run(main())

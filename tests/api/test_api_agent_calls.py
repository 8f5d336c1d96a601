"""An agent's application drives a real call over HTTP and the WebSocket, in real time: the
daemon on the embedded default (the carrier on span 2, the center's PBX on span 4, both the
simulator), the agent logs in over HTTP, the carrier's call goes through a one-node IVR to the
queue, the agent's WebSocket is offered the caller with the IVR's data, the extension answers,
and the agent holds, retrieves, sends digits and an AlimTalk, is refused what it may not do,
hangs up and files a wrap-up code — every request and answer checked against openapi.json."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from firmware.config.loader import default_text
from firmware.config.passwords import hash_password
from hil_tests.scenarios.api import _run_one
from hil_tests.scenarios.bench import Simulator, freeze_heap, running_daemon
from hil_tests.scenarios.format import load_scenario_text
from runtime.clock import LoopClock
from tests.api.api_world import SPEC, validator

PASSWORD = "lee-pass"

QUICK_FLOW = '''
[flow]
entry = "to_queue"

[nodes.to_queue]
type = "route"
skill = "account_transfer"
data = { service = "이체", account = "110-234-567890" }
'''

SCENARIO = '''
[scenario]
name = "an agent's application drives the call"
duration = 30
engines = ["pribox"]

[[phone]]
name = "lee_phone"
number = "2002"

[phone.expect]
answered = true
cleared_by = "box"

[[call]]
name = "customer"
at = 1.5
called = "15881234"
calling = "01099998888"

[call.expect]
answered = true
cause = 16
cleared_by = "box"

[call.expect.cdr]
queue = "account_transfer"
agent = "lee"
'''


def box_config(tmp_path) -> str:
    flow = tmp_path / "quick.toml"
    flow.write_text(QUICK_FLOW)
    text = default_text(str(tmp_path))
    text = text.replace('id = "lee"\n', f'id = "lee"\npassword_hash = "{hash_password(PASSWORD, n=16, r=1, p=1)}"\n')
    text = text.replace('target = "ivr:main"', 'target = "ivr:quick"')
    text = text.replace("[console]\nenabled = true", "[console]\nenabled = false")
    return text + f'\n[api]\nport = 0\n\n[ivr]\nflows = ["{flow}"]\n'


class Agent:
    """The agent's application: HTTP requests and a WebSocket of events, both checked against
    the OpenAPI description."""

    def __init__(self, http: aiohttp.ClientSession, base: str):
        self.http, self.base, self.token = http, base, None
        self.events: list[dict] = []
        self.ws = None

    async def call(self, method: str, path: str, body=None, raw: bytes | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        kwargs = {"data": raw, "headers": {**headers, "Content-Type": "application/json"}} if raw is not None \
            else {"json": body, "headers": headers}
        async with self.http.request(method, self.base + path, **kwargs) as response:
            answer = await response.json()
        template = next(p for p in SPEC["paths"] if _matches(p, path))
        described = SPEC["paths"][template][method.lower()]["responses"][str(response.status)]
        schema = described["content"]["application/json"]["schema"]
        if "$ref" in schema:
            errors = list(validator(schema).iter_errors(answer))
            assert not errors, (path, response.status, answer, errors[0].message)
        return response.status, answer

    async def listen(self) -> None:
        self.ws = await self.http.ws_connect(self.base + f"/api/v1/events?token={self.token}",
                                             headers={"Authorization": f"Bearer {self.token}"})
        async for message in self.ws:
            data = json.loads(message.data)
            self.events.extend(data.get("events", [data]))

    def seen(self, kind: str, **fields) -> dict | None:
        return next((e for e in self.events if e.get("type") == kind
                     and all(e.get(k) == v for k, v in fields.items())), None)


def _matches(template: str, path: str) -> bool:
    t, p = template.strip("/").split("/"), path.split("?")[0].strip("/").split("/")
    return len(t) == len(p) and all(a.startswith("{") or a == b for a, b in zip(t, p))


async def until(condition, timeout: float, what: str) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} not within {timeout} s")


def test_an_agent_drives_its_call_over_the_api(tmp_path):
    config = tmp_path / "pribox.toml"
    config.write_text(box_config(tmp_path))
    seen = {}

    async def application(sim) -> None:
        while sim.daemon.ctx.peer("api") is None or sim.daemon.ctx.peer("api").port is None:
            await asyncio.sleep(0.02)
        base = f"http://127.0.0.1:{sim.daemon.ctx.peer('api').port}"
        async with aiohttp.ClientSession() as http:
            lee = Agent(http, base)
            status, answer = await lee.call("POST", "/api/v1/login", {"agent": "lee", "password": PASSWORD,
                                                                      "extension": "2002"})
            assert status == 200, answer
            lee.token = answer["token"]
            listener = asyncio.ensure_future(lee.listen())
            status, answer = await lee.call("POST", "/api/v1/agents/lee/ready")
            assert status == 200 and answer["state"] == "READY"
            # Not yet in a call: what needs one is refused with the state named.
            status, answer = await lee.call("POST", "/api/v1/agents/lee/calls/hold")
            seen["hold_idle"] = (status, answer["error"])
            await until(lambda: lee.seen("agent_state", state="TALKING"), 15, "the call reaching lee")
            seen["offer"] = lee.seen("offer")
            for action, body in (("hold", None), ("retrieve", None), ("dtmf", {"digits": "123#"}),
                                 ("notify", {"template": "transfer_received", "params": {"service": "이체"}}),
                                 ("blind-transfer", {"target": "agent:kim"}),
                                 ("record-start", None)):
                status, answer = await lee.call("POST", f"/api/v1/agents/lee/calls/{action}", body)
                seen[action] = (status, answer)
            status, answer = await lee.call("POST", "/api/v1/agents/lee/calls/dtmf", raw=b'{"digits": ')
            seen["malformed"] = (status, answer["error"])
            status, answer = await lee.call("POST", "/api/v1/agents/kim/calls/hangup")
            seen["someone_else"] = status
            await asyncio.sleep(0.5)
            status, answer = await lee.call("POST", "/api/v1/agents/lee/calls/hangup")
            seen["hangup"] = (status, answer)
            await until(lambda: lee.seen("agent_state", state="WRAP_UP"), 5, "wrap-up")
            status, answer = await lee.call("POST", "/api/v1/agents/lee/wrap-up", {"code": "resolved"})
            seen["wrap_up"] = status
            await until(lambda: lee.seen("notification_sent"), 5, "the AlimTalk's delivery")
            seen["events"] = list(lee.events)
            listener.cancel()

    async def run():
        clock = LoopClock()
        async with running_daemon(str(config), clock, state_dir=str(tmp_path / "state")) as daemon:
            sim = Simulator(daemon, clock, "pribox", {1: 2}, {1: 4}, {1: 1})
            await sim.attach()
            freeze_heap()
            try:
                return await _run_one(load_scenario_text(SCENARIO, "agent_calls.toml"), sim,
                                      str(tmp_path / "state" / "cdr.sqlite"), alongside=application)
            finally:
                sim.close()

    report = asyncio.run(run())
    assert report.passed, report.text()
    assert seen["hold_idle"][0] == 409 and "READY" in seen["hold_idle"][1]
    offer = seen["offer"]
    assert offer["agent"] == "lee" and offer["queue"] == "account_transfer" and offer["endpoint"] == "2002"
    assert offer["info"]["calling"] == "01099998888" and offer["info"]["account"] == "110-234-567890"
    assert offer["info"]["service"] == "이체"
    assert seen["hold"][0] == 200 and seen["hold"][1]["state"] == "HOLD"
    assert seen["retrieve"][0] == 200 and seen["retrieve"][1]["state"] == "TALKING"
    assert seen["dtmf"][0] == 200
    assert seen["notify"][0] == 202 and seen["notify"][1]["state"] in ("queued", "sending", "sent")
    assert seen["blind-transfer"][0] == 400 and "extension:" in seen["blind-transfer"][1]["error"]
    assert seen["record-start"][0] == 503 and "recording is off" in seen["record-start"][1]["error"]
    assert seen["malformed"][0] == 400
    assert seen["someone_else"] == 403
    assert seen["hangup"][0] == 200
    assert seen["wrap_up"] == 200
    states = [e["state"] for e in seen["events"] if e.get("type") == "agent_state" and e.get("agent") == "lee"]
    assert states[:4] == ["RESERVED", "TALKING", "HOLD", "TALKING"] and "WRAP_UP" in states
    sent = next(e for e in seen["events"] if e.get("type") == "notification_sent")
    assert sent["agent"] == "lee" and sent["to"].startswith("010") and "*" in sent["to"]

"""A small contact center served for a browser without the whole daemon: the CTI engine, its
runner on real time, the agent API with its statistics route and the pages, on 127.0.0.1 of the
calling thread's network namespace, run by an asyncio loop in a thread of its own.

Callers arrive through the engine's own inputs (`queue_caller`, `answer`) as the call model
would report them; the pages see them only through the API and its WebSocket.  For the bad-input
tests, the screenshots' fallback and the page latency measurement; the call itself through the
carrier simulator is in tests/desktop/test_desktop_call.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Callable

from aiohttp import web

from firmware.config.passwords import hash_password
from pbx_cti.api.app import AgentApi, ApiSettings, Credentials
from pbx_cti.cti import AgentConfig, CtiConfig, CtiEngine, QueueConfig
from pbx_cti.cti.runner import CtiRunner
from pbx_cti.desktop.routes import add_page_routes
from pbx_cti.metrics.stats_api import add_stats_route
from runtime.bus import EventBus
from runtime.clock import LoopClock

PASSWORDS = {"kim": "kim-pass", "lee": "lee-pass", "park": "park-pass"}
SUPERVISOR = ("boss", "boss-pass")


def small_center() -> CtiConfig:
    """The embedded default's three agents and three queues."""
    return CtiConfig(
        agents={"kim": AgentConfig("kim", {"deposit_inquiry": 8, "account_transfer": 5}, "김상담"),
                "lee": AgentConfig("lee", {"account_transfer": 9, "incident_report": 6}, "이상담"),
                "park": AgentConfig("park", {"incident_report": 9, "deposit_inquiry": 4}, "박상담")},
        queues={name: QueueConfig(name, name, ring_timeout=30, wrap_up=120)
                for name in ("deposit_inquiry", "account_transfer", "incident_report")},
        not_ready_reasons=("break", "lunch", "training", "after-call-work"),
        wrap_up_codes=("resolved", "follow-up", "complaint"))


class ServedCenter:
    """`with ServedCenter() as box:` — box.base is the URL; box.run(fn) runs fn on the loop."""

    def __init__(self, settings: ApiSettings | None = None, config: CtiConfig | None = None,
                 engine: CtiEngine | None = None):
        self.settings = settings or ApiSettings(requests_per_second=500.0, request_burst=1000)
        self.engine = engine                  # one with a past already, or a fresh one of `config`
        self.config = engine.config if engine is not None else (config or small_center())
        self.loop: asyncio.AbstractEventLoop | None = None
        self.api: AgentApi | None = None
        self.runner: CtiRunner | None = None
        self.bus = EventBus()
        self.port = 0
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._others: list[web.AppRunner] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ServedCenter":
        self._thread = threading.Thread(target=self._serve, name="served-center", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the served center did not start within 30 s")
        if self._failure is not None:
            raise RuntimeError(f"the served center failed to start: {self._failure}") from self._failure
        return self

    def __exit__(self, *exc) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the thread that waits for the start
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        clock = LoopClock()
        self.runner = CtiRunner(self.engine or CtiEngine(self.config), clock, self.bus, wall_offset=time.time() - clock.now())
        hashes = {name: hash_password(pw, n=16, r=1, p=1) for name, pw in PASSWORDS.items()}
        credentials = Credentials(hashes, {SUPERVISOR[0]: hash_password(SUPERVISOR[1], n=16, r=1, p=1)})
        self.api = AgentApi(self.runner, self.bus, credentials, self.settings,
                            now=time.monotonic)
        add_stats_route(self.api)
        add_page_routes(self.api.app.router)
        web_runner = web.AppRunner(self.api.app, access_log=None, handle_signals=False)
        await web_runner.setup()
        site = web.TCPSite(web_runner, "127.0.0.1", 0)
        await site.start()
        self.port = web_runner.addresses[0][1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            for other in self._others:
                await other.cleanup()
            await web_runner.cleanup()

    def run(self, fn: Callable, *args, timeout: float = 10.0):
        """fn(*args) on the center's loop (the engine is not thread-safe); its result."""
        async def call():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)

    def serve_elsewhere(self, app: web.Application) -> int:
        """Another site on the same loopback (another port: another origin); its port."""
        async def start() -> int:
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self._others.append(runner)
            return runner.addresses[0][1]
        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def expire_tokens(self) -> None:
        """Every token issued so far past its lifetime, as after a long absence."""
        def expire():
            for session in self.api.sessions.values():
                session.expires = 0.0
        self.run(expire)

    # The call model's reports, as the distributor makes them for a real call.
    def queue_caller(self, caller: str, queue: str, info: dict, priority: int = 0) -> None:
        self.run(self.runner, "caller_queued", caller, queue, priority, info)

    def answer(self, caller: str, agent: str) -> None:
        self.run(self.runner, "offer_answered", caller, agent)

    def end_call(self, caller: str) -> None:
        self.run(self.runner, "call_ended", caller)

    def agent_state(self, agent: str) -> str:
        return self.run(lambda: self.runner.engine.agents[agent].state.value)

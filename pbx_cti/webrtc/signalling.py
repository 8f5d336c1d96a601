"""The page's signalling with the endpoint: one WebSocket of the agent API, token-authenticated.

    GET /api/v1/softphone?token=T   (Upgrade: websocket; a browser cannot set headers on one)

The page is a client of the API like any other: the agent's token (an agent's, logged in at an
extension) opens it; a stale or unknown token is refused with 401 before the upgrade, as every
API request is.  Messages are JSON objects:

    page -> box   {"type": "offer", "sdp": ...}   {"type": "answer-call"}   {"type": "reject"}
                  {"type": "hangup"}   {"type": "bye"} (the page stops its softphone: a call is cleared
                  with cause 16, not 41)
    box -> page   {"type": "hello", "agent", "extension"}   {"type": "answer", "sdp"}
                  {"type": "registered" | "unregistered"}   {"type": "incoming", "call", "caller", "called"}
                  {"type": "answered"}   {"type": "ended", "cause"}   {"type": "error", "error"}

The socket closing without a bye is the browser going away: the session ends as an IP phone
that fails.  A second page of an agent whose softphone is in a call is refused (close code 4009).
`install(api, runner)` adds the route; the endpoint itself runs in its own thread and loop
(`EndpointThread`), so aiortc's media work stays off the API's loop and off the line thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from typing import Callable

from aiohttp import WSMsgType, web

from .endpoint import SoftphoneError, WebRtcEndpoint

log = logging.getLogger("pribox.webrtc")

PATH = "/api/v1/softphone"
MAX_MESSAGE = 64 * 1024          # an SDP offer is a few kilobytes
REALTIME_PRIORITY = 5            # SCHED_FIFO, below the line thread's 10


class EndpointThread:
    """The endpoint in a thread of its own with its own event loop; `call` runs a function (or
    coroutine function) there and returns its result to the caller's loop."""

    def __init__(self, make_endpoint: Callable[[], WebRtcEndpoint], realtime_priority: bool = False):
        self._make = make_endpoint
        self.realtime_priority = realtime_priority
        self.realtime = False          # whether the thread got SCHED_FIFO
        self.loop: asyncio.AbstractEventLoop | None = None
        self.endpoint: WebRtcEndpoint | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> "EndpointThread":
        self._thread = threading.Thread(target=self._run, name="webrtc", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        if self.realtime_priority:
            # Media, like the line thread (SCHED_FIFO 10), but below it: the line's ticks come first.
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
                self.realtime = True
            except (OSError, AttributeError) as exc:
                log.warning("webrtc: no real-time priority for the endpoint's thread (%s): it runs as any thread", exc)
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.endpoint = self._make()
        except BaseException as exc:  # noqa: BLE001 -- handed to start()'s caller
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    @property
    def running(self) -> bool:
        return self.loop is not None and self.loop.is_running()

    async def call(self, fn, *args):
        if not self.running:
            raise SoftphoneError("the WebRTC endpoint is stopping")

        async def run():
            result = fn(*args)
            return await result if asyncio.iscoroutine(result) else result
        coro = run()
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError:           # the loop closed between the check and the call
            coro.close()
            raise SoftphoneError("the WebRTC endpoint is stopping") from None
        return await asyncio.wrap_future(future)

    def stop(self) -> None:
        if self.loop is None or not self.loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        """Every session closed, then what aiortc left running cancelled and awaited."""
        await self.endpoint.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


def install(api, runner: EndpointThread) -> None:
    """Add the softphone's WebSocket to an `AgentApi` (its token checks and limits apply)."""
    async def route(request: web.Request) -> web.StreamResponse:
        return await softphone_socket(api, runner, request)

    async def stop(app) -> None:
        await asyncio.get_running_loop().run_in_executor(None, runner.stop)

    api.app.router.add_get(PATH, route)
    api.app.on_shutdown.append(stop)


async def softphone_socket(api, runner: EndpointThread, request: web.Request) -> web.StreamResponse:
    from pbx_cti.api.app import Refused

    session = api.session(request)              # 401 for a missing, unknown or expired token
    if session.role != "agent":
        raise Refused(403, f"the softphone is an agent's; {session.who!r} is a {session.role}")
    agent = api.runner.engine.agents.get(session.who)
    if agent is None or agent.state.value == "LOGGED_OUT" or not agent.endpoint:
        raise Refused(409, f"agent {session.who!r} is not logged in at an extension: log in first")
    ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=MAX_MESSAGE)
    if not ws.can_prepare(request).ok:
        raise Refused(400, "this is the softphone's WebSocket: connect with an Upgrade: websocket request")
    await ws.prepare(request)
    loop = asyncio.get_running_loop()
    outbox: asyncio.Queue = asyncio.Queue()

    def send(message: dict) -> None:             # called on the endpoint's thread
        loop.call_soon_threadsafe(outbox.put_nowait, message)

    async def writer() -> None:
        while True:
            message = await outbox.get()
            try:
                await ws.send_str(json.dumps(message))
            except ConnectionError:          # the page is gone; what it missed ends with it
                return

    writing = asyncio.ensure_future(writer())
    try:
        soft = await runner.call(runner.endpoint.open, session.who, agent.endpoint, send)
    except SoftphoneError as exc:
        await ws.send_str(json.dumps({"type": "error", "error": str(exc)}))
        writing.cancel()
        await ws.close(code=4009, message=b"softphone busy on another page")
        return ws
    send({"type": "hello", "agent": session.who, "extension": agent.endpoint})
    goodbye = False
    try:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                if message.type == WSMsgType.ERROR:
                    break
                continue
            if _is_bye(message.data):
                goodbye = True       # the page stops its softphone (logout): not a vanished browser
                break
            reply = await _handle(runner, soft, message.data)
            if reply is not None:
                send(reply)
    finally:
        if runner.running:          # else the endpoint is stopping and closed every session itself
            await runner.call(lambda: soft.close("the page stopped its softphone" if goodbye
                                                 else "the page's socket closed", gone=not goodbye))
        await asyncio.sleep(0)               # the last messages, if the socket still takes them
        writing.cancel()
    return ws


def _is_bye(text: str) -> bool:
    try:
        message = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(message, dict) and message.get("type") == "bye"


async def _handle(runner: EndpointThread, soft, text: str) -> dict | None:
    try:
        message = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return {"type": "error", "error": f"not a JSON message: {exc}"}
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return {"type": "error", "error": 'expected a JSON object with a "type"'}
    kind = message["type"]
    actions = {"answer-call": soft.answer_call, "reject": soft.reject_call, "hangup": soft.hang_up}
    try:
        if kind == "offer":
            sdp = message.get("sdp")
            if not isinstance(sdp, str):
                return {"type": "error", "error": 'offer: "sdp" must be the offer\'s SDP text'}
            return {"type": "answer", "sdp": await runner.call(soft.start, sdp)}
        if kind in actions:
            await runner.call(actions[kind])
            return None
        return {"type": "error", "error": f"unknown message type {kind!r}; expected offer, answer-call, reject, hangup"}
    except SoftphoneError as exc:
        return {"type": "error", "error": str(exc)}
    except Exception:  # noqa: BLE001 -- one bad message must not end the agent's softphone
        log.exception("softphone: %s from the page failed", kind)
        return {"type": "error", "error": f"{kind} failed inside the box (logged); the softphone goes on"}

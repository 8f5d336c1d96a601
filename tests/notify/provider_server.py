"""A real HTTP server on 127.0.0.1 playing an AlimTalk/SMS provider that fails on command.

It answers the way NHN Cloud's KakaoTalk Bizmessage API does (a `header` with `isSuccessful`,
`resultCode`, `resultMessage`; `message.sendResults[]` per recipient) and honours the
idempotency header: a key it has taken already is refused with result -1005 and not delivered
again.  `deliveries[key]` counts what a recipient would actually have received.

Behaviours for the next requests are queued with `fail_next(kind, n)`, or set for all with
`outage = kind`:
    "500"           HTTP 500
    "timeout"       no answer for `hang_seconds` (longer than the client's timeout)
    "400"           HTTP 400, a permanent refusal
    "undeliverable" a 200 whose recipient result is `undeliverable_code`
    "deliver-hang"  delivers, then keeps the answer back (the box stops before reading it)
"""

from __future__ import annotations

import asyncio
import collections
import json

from aiohttp import web

IDEMPOTENCY_HEADER = "X-NC-API-IDEMPOTENCY-KEY"


class ProviderServer:
    def __init__(self, undeliverable_code: str = "3018", hang_seconds: float = 30.0):
        self.undeliverable_code = undeliverable_code
        self.hang_seconds = hang_seconds
        self.deliveries: collections.Counter = collections.Counter()
        self.delivered: list[dict] = []          # bodies delivered, in order (with "path")
        self.requests: list[tuple[str, dict, dict]] = []   # (path, headers, body) of every request
        self.queued: collections.deque = collections.deque()
        self.outage: str | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def alimtalk_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alimtalk/v2.3/appkeys/test/messages"

    @property
    def sms_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms/v3.0/appKeys/test/sender/sms"

    def fail_next(self, kind: str, count: int = 1) -> None:
        self.queued.extend([kind] * count)

    async def start(self) -> "ProviderServer":
        app = web.Application()
        app.router.add_post("/alimtalk/v2.3/appkeys/test/messages", self._handle)
        app.router.add_post("/sms/v3.0/appKeys/test/sender/sms", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2,
                                     handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def _answer(ok: bool, code: int, text: str, results: list | None = None, status: int = 200) -> web.Response:
        body = {"header": {"isSuccessful": ok, "resultCode": code, "resultMessage": text}}
        if results is not None:
            body["message"] = {"requestId": "req-" + str(len(results)), "sendResults": results}
        return web.json_response(body, status=status)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        headers = dict(request.headers)
        self.requests.append((request.path, headers, body))
        behaviour = self.queued.popleft() if self.queued else self.outage
        key = request.headers.get(IDEMPOTENCY_HEADER, "")
        recipient = body["recipientList"][0]["recipientNo"]
        if behaviour == "500":
            return web.json_response({"error": "down"}, status=500)
        if behaviour == "timeout":
            await asyncio.sleep(self.hang_seconds)
            return web.json_response({}, status=500)
        if behaviour == "400":
            return self._answer(False, -2001, "The 'recipientNo' must not be blank.", status=400)
        if behaviour == "undeliverable":
            return self._answer(True, 0, "success", [{"recipientNo": recipient, "resultCode": int(self.undeliverable_code),
                                                      "resultMessage": "cannot send to this recipient"}])
        if key and self.deliveries[key]:
            return self._answer(False, -1005, "The same 'X-NC-API-IDEMPOTENCY-KEY' was used within the last 10 minute.")
        self.deliveries[key] += 1
        self.delivered.append({"path": request.path, **body})
        if behaviour == "deliver-hang":
            await asyncio.sleep(self.hang_seconds)
        return self._answer(True, 0, "success", [{"recipientNo": recipient, "resultCode": 0, "resultMessage": "success"}])

    def delivered_to(self, path_part: str) -> list[dict]:
        return [d for d in self.delivered if path_part in d["path"]]


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)

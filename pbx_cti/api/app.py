"""The agent-application API over a `CtiRunner`: HTTP requests in, engine inputs out; the
runner's decisions out to WebSocket clients.

Every answer is JSON; every refused request is a 4xx with {"error": "..."} naming what was wrong.
Bad input changes nothing: the engine checks a request before it changes anything, and an
exception inside a handler is answered 500 and logged, never fatal to the box.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import enum
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from firmware.config.passwords import verify_password
from pbx_cti.acd.distributor import CallActionError
from pbx_cti.cti.decisions import Decision
from pbx_cti.notify.notifier import NotificationEvent
from pbx_cti.notify.service import notifier_for, submit_from_api
from pbx_cti.cti.model import AgentState, CtiError, InvalidTransition, UnknownAgent
from pbx_cti.cti.runner import CtiRunner
from runtime.bus import EventBus

log = logging.getLogger("pribox.api")
auth_log = logging.getLogger("pribox.auth")

PREFIX = "/api/v1"
CALL_ACTIONS = ("answer", "reject", "hold", "retrieve", "hangup", "blind-transfer", "consult-transfer",
                "conference", "make-call", "dtmf", "record-start", "record-stop", "notify")
SUPERVISE_MODES = ("monitor", "whisper", "barge")
FORCEABLE = ("READY", "NOT_READY", "LOGGED_OUT")
CONSULT_PHASES = ("start", "complete", "cancel")
BATCH = 512  # events per WebSocket frame at most


@dataclass
class ApiSettings:
    token_lifetime: float = 28800.0
    login_failures: int = 5
    login_window: float = 60.0
    requests_per_second: float = 50.0
    request_burst: int = 100
    client_queue: int = 10000

    @classmethod
    def from_section(cls, section) -> "ApiSettings":
        return cls(**{f.name: section[f.name] for f in dataclasses.fields(cls)})


@dataclass
class Credentials:
    agents: dict[str, str] = field(default_factory=dict)        # agent id -> scrypt hash
    supervisors: dict[str, str] = field(default_factory=dict)   # name -> scrypt hash


@dataclass
class Session:
    token: str
    who: str
    role: str            # "agent" or "supervisor"
    expires: float       # on the API's monotonic `now`


class Refused(Exception):
    """A request answered with a 4xx/5xx and a JSON reason."""

    def __init__(self, status: int, reason: str, headers: dict | None = None):
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


class SourceLimits:
    """Per source address: a token bucket for every request, and a count of failed logins in a
    sliding window (a source over the limit waits until its oldest failure leaves the window)."""

    def __init__(self, settings: ApiSettings, now: Callable[[], float]):
        self.settings, self.now = settings, now
        self._buckets: dict[str, tuple[float, float]] = {}
        self._failures: dict[str, collections.deque] = {}

    def request(self, source: str) -> None:
        now, s = self.now(), self.settings
        tokens, at = self._buckets.get(source, (float(s.request_burst), now))
        tokens = min(float(s.request_burst), tokens + (now - at) * s.requests_per_second)
        if tokens < 1.0:
            self._buckets[source] = (tokens, now)
            wait = (1.0 - tokens) / s.requests_per_second
            log.warning("API request flood from %s: refused (limit %.0f/s)", source, s.requests_per_second)
            raise Refused(429, f"too many requests from {source}: limit {s.requests_per_second:g}/s, "
                               f"retry in {wait:.2f} s", {"Retry-After": str(max(1, round(wait)))})
        self._buckets[source] = (tokens - 1.0, now)
        if len(self._buckets) > 10000:  # forget idle sources so a scan cannot grow the table
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}

    def check_login(self, source: str) -> None:
        failures = self._recent(source)
        if len(failures) >= self.settings.login_failures:
            wait = failures[0] + self.settings.login_window - self.now()
            auth_log.warning("API login from %s refused: %d failed logins in %.0f s",
                             source, len(failures), self.settings.login_window)
            raise Refused(429, f"too many failed logins from {source}: retry in {wait:.0f} s",
                          {"Retry-After": str(max(1, round(wait)))})

    def login_failed(self, source: str) -> None:
        self._recent(source).append(self.now())

    def _recent(self, source: str) -> collections.deque:
        failures = self._failures.setdefault(source, collections.deque())
        while failures and failures[0] <= self.now() - self.settings.login_window:
            failures.popleft()
        return failures


def _event_type(decision: Decision) -> str:
    name = type(decision).__name__
    return {"AgentStateChanged": "agent_state", "WithdrawOffer": "offer_withdrawn",
            "PendingStateChange": "pending_state"}.get(name) or "".join(
        "_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _jsonable(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def encode_event(decision: Decision) -> str:
    body = {"type": _event_type(decision)}
    body.update((f.name, getattr(decision, f.name)) for f in dataclasses.fields(decision))
    return json.dumps(body, default=_jsonable, separators=(",", ":"))


class Client:
    """One WebSocket: its own bounded queue of encoded events, drained by its writer task."""

    def __init__(self, ws: web.WebSocketResponse, session: Session, limit: int):
        self.ws, self.session, self.limit = ws, session, limit
        self.agent = session.who if session.role == "agent" else None
        self.pending: collections.deque[str] = collections.deque()
        self.wake = asyncio.Event()
        self.writer: asyncio.Task | None = None

    def offer(self, text: str) -> bool:
        """False when the queue is full: the client cannot keep up."""
        if len(self.pending) >= self.limit:
            return False
        self.pending.append(text)
        self.wake.set()
        return True

    async def write(self) -> None:
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                while self.pending:
                    count = min(len(self.pending), BATCH)
                    batch = [self.pending.popleft() for _ in range(count)]
                    await self.ws.send_str('{"type":"events","events":[' + ",".join(batch) + "]}")
        except (ConnectionError, RuntimeError) as exc:
            # The peer went away mid-send: the handler's read loop ends and cleans up.
            log.info("API client of %s: send failed (%s)", self.session.who, exc)


class EventHub:
    """The bus's decisions to every client: encoded once, queued per client inside the bus's
    publish (a deque append), sent by each client's own task.  A client whose queue is full is
    dropped after the publish, from the loop, and its agent goes NOT_READY."""

    def __init__(self, bus: EventBus, on_agent_gone: Callable[[str], None]):
        self.clients: set[Client] = set()
        self.on_agent_gone = on_agent_gone
        self._drops: set[asyncio.Task] = set()
        self._subscriptions = [bus.subscribe(Decision, self._publish),
                               bus.subscribe(NotificationEvent, self._publish)]

    def close(self) -> None:
        for subscription in self._subscriptions:
            subscription.cancel()

    def connected(self, agent: str) -> bool:
        return any(c.agent == agent for c in self.clients)

    def _publish(self, decision: Decision) -> None:
        if not self.clients:
            return
        text = encode_event(decision)
        agent = getattr(decision, "agent", None)
        slow = [c for c in self.clients if (c.agent is None or c.agent == agent) and not c.offer(text)]
        for client in slow:
            # Stop its writer now (no send from here); tell it and close it from the loop.
            self.clients.discard(client)
            if client.writer is not None:
                client.writer.cancel()
            log.warning("API client of %s dropped: %d events queued, it cannot keep up",
                        client.agent or f"supervisor {client.session.who}", len(client.pending))
            client.pending.clear()
            asyncio.get_running_loop().call_soon(self._start_drop, client)

    def _start_drop(self, client: Client) -> None:
        task = asyncio.ensure_future(self.drop(client))
        self._drops.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self._drops.discard)

    async def drop(self, client: Client) -> None:
        try:
            await asyncio.wait_for(client.ws.send_str(json.dumps(
                {"type": "dropped", "reason": f"more than {client.limit} events queued: the client cannot keep up"})), 1.0)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError):
            pass
        await client.ws.close(code=1008, message=b"too slow")
        if client.agent is not None and not self.connected(client.agent):
            self.on_agent_gone(client.agent)


def _agent_view(agent, now: float) -> dict:
    return {"agent": agent.agent_id, "state": agent.state.value, "reason": agent.reason,
            "since": agent.since, "seconds_in_state": max(0.0, now - agent.since) if agent.since else 0.0,
            "extension": agent.endpoint, "groups": list(agent.groups), "calls_handled": agent.calls,
            "caller": agent.caller, "pending_reason": agent.pending}


class AgentApi:
    """The aiohttp application over one runner; `app` is what the service serves."""

    def __init__(self, runner: CtiRunner, bus: EventBus, credentials: Credentials,
                 settings: ApiSettings | None = None, now: Callable[[], float] = time.monotonic, calls=None):
        self.runner, self.credentials, self.bus = runner, credentials, bus
        self.calls = calls          # pbx_cti.acd AgentCalls: the agents' calls on the switching core
        self.settings = settings or ApiSettings()
        self.now = now
        # Origins besides the box's own whose pages may call the API (scheme://host:port).
        self.allowed_origins: set[str] = set()
        self.sessions: dict[str, Session] = {}
        self.limits = SourceLimits(self.settings, now)
        self.hub = EventHub(bus, self.agent_gone)
        # Any configured hash: an unknown name costs as much as a wrong password.
        self._decoy = next(iter([*credentials.agents.values(), *credentials.supervisors.values()]), None)
        self.app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024)
        r = self.app.router
        r.add_post(PREFIX + "/login", self.login)
        r.add_post(PREFIX + "/supervisor/login", self.supervisor_login)
        r.add_get(PREFIX + "/agents", self.list_agents)
        r.add_get(PREFIX + "/agents/{agent}", self.show_agent)
        r.add_post(PREFIX + "/agents/{agent}/logout", self.logout)
        r.add_post(PREFIX + "/agents/{agent}/ready", self.ready)
        r.add_post(PREFIX + "/agents/{agent}/not-ready", self.not_ready)
        r.add_post(PREFIX + "/agents/{agent}/wrap-up", self.wrap_up)
        r.add_post(PREFIX + "/agents/{agent}/state", self.force_state)
        r.add_post(PREFIX + "/agents/{agent}/calls/{action}", self.call_action)
        r.add_post(PREFIX + "/agents/{agent}/supervise/{mode}", self.supervise)
        r.add_get(PREFIX + "/queues", self.list_queues)
        r.add_get(PREFIX + "/directory", self.directory)
        r.add_get(PREFIX + "/events", self.events)
        self.app.on_shutdown.append(self._close_clients)

    # ------------------------------------------------------------------ plumbing
    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        source = request.remote or "unknown"
        try:
            self.limits.request(source)
            self._check_origin(request)
            return await handler(request)
        except Refused as exc:
            return web.json_response({"error": exc.reason}, status=exc.status, headers=exc.headers)
        except UnknownAgent as exc:
            return web.json_response({"error": str(exc)}, status=404)
        except InvalidTransition as exc:
            return web.json_response({"error": str(exc)}, status=409)
        except CtiError as exc:
            return web.json_response({"error": str(exc)}, status=422)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            reason = {404: f"no such resource {request.path}",
                      405: f"{request.method} is not allowed on {request.path}",
                      413: "request body too large (64 KiB at most)"}.get(exc.status, exc.reason)
            return web.json_response({"error": reason}, status=exc.status)
        except Exception:
            log.exception("API request %s %s failed", request.method, request.path)
            return web.json_response({"error": "internal error; the request changed nothing it did not finish"},
                                     status=500)

    def _check_origin(self, request: web.Request) -> None:
        """A browser names the page that makes a request (Origin): a page served by another site
        must not drive an agent's session with a token it got hold of, nor open the WebSocket
        (browsers do not apply the same-origin rule to WebSockets).  No Origin: not a browser."""
        origin = request.headers.get("Origin")
        if origin is None or origin in self.allowed_origins:
            return
        parts = urlsplit(origin)
        if parts.scheme in ("http", "https") and parts.netloc and parts.netloc.lower() == request.host.lower():
            return
        log.warning("API request %s %s from %s refused: origin %r", request.method, request.path,
                    request.remote, origin)
        raise Refused(403, f"origin {origin!r} is not allowed: only pages served by this box "
                           f"({request.scheme}://{request.host}) may use the API")

    async def _body(self, request: web.Request, spec: dict[str, tuple[type, bool]]) -> dict:
        """The JSON object body, checked against {field: (type, required)}."""
        try:
            body = await request.json() if request.can_read_body else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise Refused(400, f"the body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise Refused(400, "the body must be a JSON object")
        unknown = sorted(set(body) - set(spec))
        if unknown:
            raise Refused(400, f"unknown field(s) {', '.join(unknown)}; expected {', '.join(spec) or 'none'}")
        for name, (kind, required) in spec.items():
            if name not in body:
                if required:
                    raise Refused(400, f"field {name!r} is required")
                continue
            value = body[name]
            if kind is str and not (isinstance(value, str) and value and len(value) <= 256):
                raise Refused(400, f"field {name!r}: expected a non-empty string (256 characters at most)")
            if kind is list and not (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
                raise Refused(400, f"field {name!r}: expected a list of non-empty strings")
        return body

    def session(self, request: web.Request) -> Session:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else request.query.get("token", "")
        if not token:
            raise Refused(401, "no token: log in and send Authorization: Bearer <token>")
        session = self.sessions.get(token)
        if session is None:
            raise Refused(401, "unknown token: log in again")
        if self.now() >= session.expires:
            del self.sessions[token]
            raise Refused(401, "token expired: log in again")
        return session

    def acting_on(self, request: web.Request) -> tuple[Session, str]:
        """The session and the agent of the path; an agent may act only on itself."""
        session, agent = self.session(request), request.match_info["agent"]
        if session.role == "agent" and session.who != agent:
            raise Refused(403, f"agent {session.who!r} may not act on agent {agent!r}")
        if agent not in self.runner.engine.agents:
            raise UnknownAgent(agent)
        return session, agent

    def supervisor(self, request: web.Request) -> Session:
        session = self.session(request)
        if session.role != "supervisor":
            raise Refused(403, f"only a supervisor may do this; {session.who!r} is an agent")
        return session

    def _issue(self, who: str, role: str) -> dict:
        token = secrets.token_urlsafe(32)
        self.sessions[token] = Session(token, who, role, self.now() + self.settings.token_lifetime)
        if len(self.sessions) > 1000:
            self.sessions = {t: s for t, s in self.sessions.items() if s.expires > self.now()}
        return {"token": token, "expires_in": self.settings.token_lifetime, "role": role, "who": who}

    async def _check_password(self, request: web.Request, stored: str | None, password: str, who: str) -> None:
        source = request.remote or "unknown"
        self.limits.check_login(source)
        decoy = stored or self._decoy
        ok = decoy is not None and await asyncio.to_thread(verify_password, password, decoy)
        if not (ok and stored is not None):
            self.limits.login_failed(source)
            auth_log.warning("API login failed for %r from %s", who, source)
            raise Refused(401, "wrong name or password")
        auth_log.info("API login of %r from %s", who, source)

    def _revoke(self, who: str, role: str) -> None:
        self.sessions = {t: s for t, s in self.sessions.items() if not (s.who == who and s.role == role)}

    # ------------------------------------------------------------------ requests
    async def login(self, request: web.Request) -> web.Response:
        body = await self._body(request, {"agent": (str, True), "password": (str, True),
                                          "extension": (str, True), "groups": (list, False)})
        agent_id = body["agent"]
        await self._check_password(request, self.credentials.agents.get(agent_id), body["password"], agent_id)
        agent = self.runner.engine.agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)  # configured with a hash but not in the engine: reload pending
        if agent.state is AgentState.LOGGED_OUT:
            self.runner("login", agent_id, body["extension"], body.get("groups"))
        elif agent.endpoint != body["extension"]:
            raise Refused(409, f"agent {agent_id!r} is already logged in at extension {agent.endpoint!r}; "
                               f"log out first")
        else:
            # The same agent at the same extension again (a second desktop, or the application
            # back after a restart or a lost connection): as Finesse does, the new sign-in takes
            # over and the earlier session is told and closed; the agent's state is untouched.
            await self._replace_sessions(agent_id, request.remote or "unknown")
        answer = self._issue(agent_id, "agent")
        answer["agent"] = _agent_view(agent, self.runner.wall_now())
        return web.json_response(answer)

    async def _replace_sessions(self, agent_id: str, source: str) -> None:
        self._revoke(agent_id, "agent")
        replaced = [c for c in self.hub.clients if c.agent == agent_id]
        for client in replaced:
            self.hub.clients.discard(client)        # closed on purpose: not an application gone
            if client.writer is not None:
                client.writer.cancel()
        if replaced:
            auth_log.info("API: agent %r signed in again from %s; %d earlier session(s) closed",
                          agent_id, source, len(replaced))
        for client in replaced:
            try:
                await asyncio.wait_for(client.ws.send_str(json.dumps(
                    {"type": "replaced", "reason": f"agent {agent_id!r} signed in again from {source}: "
                                                   f"this session is closed (its token no longer works)"})), 1.0)
                await client.ws.close(code=4001, message=b"signed in elsewhere")
            except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                pass

    async def supervisor_login(self, request: web.Request) -> web.Response:
        body = await self._body(request, {"name": (str, True), "password": (str, True)})
        await self._check_password(request, self.credentials.supervisors.get(body["name"]), body["password"],
                                   body["name"])
        return web.json_response(self._issue(body["name"], "supervisor"))

    async def show_agent(self, request: web.Request) -> web.Response:
        _, agent = self.acting_on(request)
        return web.json_response(_agent_view(self.runner.engine.agents[agent], self.runner.wall_now()))

    async def list_agents(self, request: web.Request) -> web.Response:
        self.supervisor(request)
        now = self.runner.wall_now()
        return web.json_response({"agents": [_agent_view(a, now) for _, a in sorted(self.runner.engine.agents.items())]})

    async def list_queues(self, request: web.Request) -> web.Response:
        self.supervisor(request)
        engine, now = self.runner.engine, self.runner.wall_now()
        out = []
        for name, q in sorted(engine.config.queues.items()):
            waiting = [engine.callers[key[-1]] for key in engine.waiting.get(name, [])]
            staff = [engine.agents[a] for a in engine.config.groups_by_name.get(q.group, [])
                     if q.group in engine.agents[a].groups]
            counts = collections.Counter(a.state.value for a in staff)
            c = engine.queue_counters[name]
            out.append({"queue": name, "group": q.group, "strategy": q.strategy.value, "waiting": len(waiting),
                        "longest_wait": max((now - w.entered for w in waiting), default=0.0),
                        "agents": {s.value: counts.get(s.value, 0) for s in AgentState if s is not AgentState.LOGGED_OUT},
                        "offered": c.offered, "answered": c.answered, "abandoned": c.abandoned, "handled": c.handled})
        return web.json_response({"queues": out})

    async def directory(self, request: web.Request) -> web.Response:
        """What an agent's desktop offers to pick from: the agents (to transfer or conference to
        their extension), the queues, the reason and wrap-up codes and the message templates."""
        self.session(request)
        engine, now = self.runner.engine, self.runner.wall_now()
        names = {agent_id: a.name for agent_id, a in engine.config.agents.items()}
        agents = [{"agent": agent_id, "name": names.get(agent_id, ""), "state": a.state.value,
                   "extension": a.endpoint or "", "groups": list(a.groups)}
                  for agent_id, a in sorted(engine.agents.items())]
        queues = [{"queue": name, "group": q.group} for name, q in sorted(engine.config.queues.items())]
        notifier = notifier_for(self.bus)
        templates = dict(notifier.settings.templates) if notifier is not None else {}
        return web.json_response({"agents": agents, "queues": queues,
                                  "not_ready_reasons": list(engine.config.not_ready_reasons),
                                  "wrap_up_codes": list(engine.config.wrap_up_codes),
                                  "templates": templates, "now": now})

    async def logout(self, request: web.Request) -> web.Response:
        session, agent = self.acting_on(request)
        await self._empty(request)
        self.runner("logout", agent)
        self._revoke(agent, "agent")
        return self._state(agent)

    async def ready(self, request: web.Request) -> web.Response:
        _, agent = self.acting_on(request)
        await self._empty(request)
        self.runner("ready", agent)
        return self._state(agent)

    async def not_ready(self, request: web.Request) -> web.Response:
        _, agent = self.acting_on(request)
        body = await self._body(request, {"reason": (str, True)})
        self.runner("not_ready", agent, body["reason"])
        return self._state(agent)

    async def wrap_up(self, request: web.Request) -> web.Response:
        _, agent = self.acting_on(request)
        body = await self._body(request, {"code": (str, True), "note": (str, False)})
        self.runner("wrap_up_code", agent, body["code"], body.get("note", ""))
        return self._state(agent)

    async def force_state(self, request: web.Request) -> web.Response:
        session = self.supervisor(request)
        _, agent = self.acting_on(request)
        body = await self._body(request, {"state": (str, True), "reason": (str, False)})
        state = body["state"]
        if state not in FORCEABLE:
            raise Refused(400, f"field 'state': expected one of {', '.join(FORCEABLE)}, got {state!r}")
        if state == "NOT_READY" and "reason" not in body:
            raise Refused(400, "field 'reason' is required to force NOT_READY")
        log.info("supervisor %r forces agent %r to %s", session.who, agent, state)
        # The engine writes the change (or, during a call, the pending one) to the event log
        # with `forced_by` naming the supervisor.
        self.runner("force_state", agent, state, body.get("reason", ""), session.who)
        if state == "LOGGED_OUT":
            self._revoke(agent, "agent")
        return self._state(agent)

    async def call_action(self, request: web.Request) -> web.Response:
        _, agent = self.acting_on(request)
        if request.match_info["action"] == "notify":
            return await self._notify(request, agent)
        body = await self._body(request, {"target": (str, False), "digits": (str, False), "number": (str, False),
                                          "template": (str, False), "phase": (str, False)})
        action = request.match_info["action"]
        if action not in CALL_ACTIONS:
            raise Refused(404, f"no call action {action!r}; one of {', '.join(CALL_ACTIONS)}")
        handler = self._call_handlers.get(action)
        if handler is None or self.calls is None:
            raise Refused(501, f"{action}: not available on this box yet" if self.calls is not None
                          else f"{action}: the box's switching core is not attached to the API")
        try:
            call_id = handler(agent, body)
        except CallActionError as exc:
            raise Refused(exc.status, str(exc)) from None
        return web.json_response({"agent": agent, "action": action, "call": call_id or "",
                                  **_agent_view(self.runner.engine.agents[agent], self.runner.wall_now())})

    async def _notify(self, request: web.Request, agent: str) -> web.Response:
        """An SMS or AlimTalk the agent sends during its call: to the caller unless `to` says
        otherwise, tied to the agent's current call; queued (202) before any delivery."""
        body = await self._body(request, {"kind": (str, False), "to": (str, False), "template": (str, False),
                                          "params": (dict, False), "text": (str, False), "call_id": (str, False),
                                          "idempotency_key": (str, False)})
        state = self.runner.engine.agents[agent]
        current = state.caller if state.state.value in ("TALKING", "HOLD", "WRAP_UP") else ""
        if body.get("call_id") and body["call_id"] != current:
            raise Refused(403, f"call {body['call_id']!r} is not agent {agent!r}'s call")
        body.setdefault("call_id", current)
        if "to" not in body:
            caller = self.calls.caller_number(current) if self.calls is not None and current else ""
            if not caller:
                raise Refused(400, "field 'to' is required (the agent has no call whose caller it could default to)")
            body["to"] = caller
        status, answer = await submit_from_api(self.bus, agent, body)
        return web.json_response(answer, status=status)

    @property
    def _call_handlers(self) -> dict:
        calls = self.calls

        def answer(agent, body):
            raise CallActionError(409, "the agent's extension answers on the phone itself (an ISDN extension "
                                       "of the center's PBX cannot be answered remotely)")

        def consult(agent, body):
            phase = body.get("phase") or ("start" if body.get("target") else "")
            if phase not in CONSULT_PHASES:
                raise CallActionError(400, f"field 'phase': expected one of {', '.join(CONSULT_PHASES)} "
                                           f"(\"start\" with a target), got {phase!r}")
            if phase == "start":
                if not body.get("target"):
                    raise CallActionError(400, "field 'target' is required to start a consultation "
                                               "(agent:<id>, extension:<n> or number:<digits>)")
                return calls.consult(agent, body["target"])
            if "target" in body:
                raise CallActionError(400, f"field 'target' belongs to phase \"start\", not {phase!r}")
            return calls.consult_complete(agent) if phase == "complete" else calls.consult_cancel(agent)

        def make_call(agent, body):
            if not body.get("number"):
                raise CallActionError(400, "field 'number' (the digits to call) is required")
            return calls.make_call(agent, body["number"])
        return {
            "answer": answer,
            "reject": lambda agent, body: calls.reject(agent),
            "hold": lambda agent, body: calls.hold(agent),
            "retrieve": lambda agent, body: calls.retrieve(agent),
            "hangup": lambda agent, body: calls.hang_up(agent),
            "dtmf": lambda agent, body: calls.send_dtmf(agent, body.get("digits") or ""),
            "blind-transfer": lambda agent, body: calls.transfer(agent, body.get("target") or ""),
            "consult-transfer": consult,
            "conference": lambda agent, body: calls.conference(agent),
            "make-call": make_call,
            "record-start": lambda agent, body: calls.start_recording(agent),
            "record-stop": lambda agent, body: calls.stop_recording(agent),
        }

    async def supervise(self, request: web.Request) -> web.Response:
        session = self.supervisor(request)
        _, agent = self.acting_on(request)
        body = await self._body(request, {"extension": (str, False)})
        mode = request.match_info["mode"]
        if mode not in SUPERVISE_MODES:
            raise Refused(404, f"no supervision mode {mode!r}; one of {', '.join(SUPERVISE_MODES)}")
        if self.calls is None:
            raise Refused(501, f"{mode}: the box's switching core is not attached to the API")
        try:
            call_id = self.calls.supervise(agent, mode, body.get("extension") or "")
        except CallActionError as exc:
            raise Refused(exc.status, str(exc)) from None
        log.info("supervisor %r: %s on agent %r's call %s", session.who, mode, agent, call_id)
        return web.json_response({"agent": agent, "mode": mode, "call": call_id})

    async def _empty(self, request: web.Request) -> None:
        await self._body(request, {})

    def _state(self, agent: str) -> web.Response:
        return web.json_response(_agent_view(self.runner.engine.agents[agent], self.runner.wall_now()))

    # ------------------------------------------------------------------ events
    async def events(self, request: web.Request) -> web.StreamResponse:
        session = self.session(request)
        ws = web.WebSocketResponse(heartbeat=30.0)
        if not ws.can_prepare(request).ok:
            raise Refused(400, "this is the WebSocket of events: connect with an Upgrade: websocket request")
        await ws.prepare(request)
        client = Client(ws, session, self.settings.client_queue)
        self.hub.clients.add(client)
        client.writer = asyncio.ensure_future(client.write())
        await ws.send_str(json.dumps({"type": "hello", "who": session.who, "role": session.role}))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    # The socket carries events only; requests go over HTTP.
                    await ws.send_str(json.dumps({"type": "error", "error": "send requests over HTTP, not the WebSocket"}))
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            client.writer.cancel()
            was_connected = client in self.hub.clients
            self.hub.clients.discard(client)
            if was_connected and client.agent is not None and not self.hub.connected(client.agent):
                self.agent_gone(client.agent)
        return ws

    def agent_gone(self, agent: str) -> None:
        """The agent's application went away: NOT_READY (a call in progress is kept)."""
        try:
            self.runner("app_disconnected", agent)
            if self.calls is not None:
                self.calls.d.app_lost(agent)     # its caller, per [cti] app_lost
        except CtiError as exc:  # the agent left the configuration meanwhile
            log.info("app-disconnected for %r: %s", agent, exc)

    async def _close_clients(self, app) -> None:
        for client in list(self.hub.clients):
            self.hub.clients.discard(client)
            if client.writer is not None:
                client.writer.cancel()
            await client.ws.close(code=1001, message=b"server shutdown")
        self.hub.close()

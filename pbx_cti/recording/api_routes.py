"""The recordings over the agent-application API (aiohttp handlers; described in
pbx_cti/api/openapi.json):

    GET /api/v1/recordings                 list, newest first: ?agent= &call= &date=YYYY-MM-DD
                                           &from= &to= (Unix seconds or ISO 8601, UTC) &limit= &offset=
    GET /api/v1/recordings/{id}            one recording's metadata
    GET /api/v1/recordings/{id}/audio      the WAV (audio/wav), streamed; Range requests answered 206

`add_routes(router, store, authorize)` puts them on an application's router.  `authorize(request,
row)` decides who gets what: with a row it raises when the requester may not have that
recording; with None it raises when the requester is not logged in at all, and returns the
agent the requester is limited to (an agent: itself) or None (a supervisor: everyone).
`make_authorize(session_of)` builds it from the API's sessions (role "agent" / "supervisor").
A refusal is an exception with an HTTP `status` (4xx) and a `reason` — `Denied` here, the
API's own `Refused` — answered as {"error": reason}."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Callable

from aiohttp import web

from .store import RecordingRow, RecordingStore

PREFIX = "/api/v1"
MAX_LIMIT = 1000


class Denied(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


Authorize = Callable[[web.Request, "RecordingRow | None"], "str | None"]


def make_authorize(session_of: Callable[[web.Request], object]) -> Authorize:
    """An agent gets its own calls' recordings, a supervisor every one.  `session_of(request)`
    returns the requester's session (`.who`, `.role`) or raises a 401 itself."""

    def authorize(request: web.Request, row: RecordingRow | None) -> str | None:
        session = session_of(request)
        if session.role == "supervisor":
            return None
        if session.role != "agent":
            raise Denied(403, f"role {session.role!r} may not have recordings")
        if row is not None and row.agent != session.who:
            raise Denied(403, f"agent {session.who!r} may not have recording {row.id} "
                              f"(it is of {'agent ' + repr(row.agent) if row.agent else 'no agent'})")
        return session.who

    return authorize


def _refusal(exc: Exception) -> web.Response | None:
    status, reason = getattr(exc, "status", None), getattr(exc, "reason", None)
    if isinstance(status, int) and (400 <= status < 500 or isinstance(exc, Denied)) and isinstance(reason, str):
        return web.json_response({"error": reason}, status=status)
    return None


def _time(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Denied(400, f"query {name}={text!r}: expected Unix seconds or an ISO 8601 date/time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def _count(name: str, text: str | None, default: int, high: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or not 0 <= int(text) <= high:
        raise Denied(400, f"query {name}={text!r}: expected an integer 0..{high}")
    return int(text)


def _filters(query) -> dict:
    unknown = sorted(set(query) - {"agent", "call", "date", "from", "to", "limit", "offset"})
    if unknown:
        raise Denied(400, f"unknown query parameter(s) {', '.join(unknown)}; "
                          "expected agent, call, date, from, to, limit, offset")
    since = _time("from", query["from"]) if "from" in query else None
    until = _time("to", query["to"]) if "to" in query else None
    if "date" in query:
        try:
            day = datetime.date.fromisoformat(query["date"])
        except ValueError:
            raise Denied(400, f"query date={query['date']!r}: expected YYYY-MM-DD") from None
        start = datetime.datetime.combine(day, datetime.time(), datetime.timezone.utc).timestamp()
        since = max(since, start) if since is not None else start
        until = min(until, start + 86400) if until is not None else start + 86400
    limit = _count("limit", query.get("limit"), 100, MAX_LIMIT)
    return dict(agent=query.get("agent") or None, call_id=query.get("call") or None, since=since, until=until,
                limit=limit or 1, offset=_count("offset", query.get("offset"), 0, 10**9))


def add_routes(router: web.UrlDispatcher, store: RecordingStore | Callable[[], RecordingStore | None],
               authorize: Authorize, prefix: str = PREFIX) -> None:
    """`store` may be a callable giving the current store (None while recording is off), for an
    API that outlives the recording service's restarts."""

    def current() -> RecordingStore:
        s = store() if callable(store) and not isinstance(store, RecordingStore) else store
        if s is None:
            raise Denied(503, "recording is not running on this box")
        return s

    async def find(request: web.Request) -> RecordingRow:
        authorize(request, None)                     # a stranger learns nothing, not even 404s
        recording_id = request.match_info["id"]
        row = await asyncio.to_thread(current().get, recording_id)
        if row is None:
            raise Denied(404, f"no recording {recording_id!r}")
        authorize(request, row)
        return row

    async def list_recordings(request: web.Request) -> web.Response:
        try:
            only = authorize(request, None)
            filters = _filters(request.query)
            if only is not None:
                if filters["agent"] not in (None, only):
                    raise Denied(403, f"agent {only!r} may not list agent {filters['agent']!r}'s recordings")
                filters["agent"] = only
            rows = await asyncio.to_thread(current().find, **filters)
        except Exception as exc:
            answer = _refusal(exc)
            if answer is None:
                raise
            return answer
        return web.json_response({"recordings": [r.to_json() for r in rows], "count": len(rows)})

    async def show_recording(request: web.Request) -> web.Response:
        try:
            row = await find(request)
        except Exception as exc:
            answer = _refusal(exc)
            if answer is None:
                raise
            return answer
        return web.json_response(row.to_json())

    async def recording_audio(request: web.Request) -> web.StreamResponse:
        try:
            row = await find(request)
            if row.status == "recording":
                raise Denied(409, f"recording {row.id} is still being recorded; its audio comes when the call ends")
            if not await asyncio.to_thread(Path(row.path).is_file):
                raise Denied(404, f"recording {row.id}: its audio is gone (deleted by retention or by hand)")
        except Exception as exc:
            answer = _refusal(exc)
            if answer is None:
                raise
            return answer
        # FileResponse streams the file (sendfile where it can) and answers Range with 206.
        return web.FileResponse(row.path, headers={
            "Content-Type": "audio/wav",
            "Content-Disposition": f'attachment; filename="{row.id}.wav"'})

    router.add_get(prefix + "/recordings", list_recordings)
    router.add_get(prefix + "/recordings/{id}", show_recording)
    router.add_get(prefix + "/recordings/{id}/audio", recording_audio)

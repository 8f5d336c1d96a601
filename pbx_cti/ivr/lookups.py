"""Runs an IVR session's lookups (HTTP JSON and SQLite) in worker threads, so a slow CRM or a
locked database never holds up the media tick or the asyncio loop.

    result = await run_lookup(request)        # the JSON document / the first row, or LookupFailure
    lookups = LookupRunner()                  # for many sessions: start() and forget
    lookups.start(action, lambda id, result: session.lookup_result(id, result, clock.now()))

HTTP uses the standard library's urllib in `asyncio.to_thread` with the node's timeout on the
socket (no extra dependency for one GET or POST per call); SQLite opens the database read-only
and aborts a query still running at the timeout through its progress handler.  Every failure
comes back as a LookupFailure naming what went wrong; nothing raises into the caller.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from .actions import Lookup, LookupFailure, LookupRequest

log = logging.getLogger("pribox.ivr.lookups")

MAX_RESPONSE_BYTES = 1 << 20  # a CRM answer for one caller; more is a misconfigured URL


async def run_lookup(request: LookupRequest) -> Any:
    """The lookup in a worker thread: the loop never waits for an HTTP server or a database."""
    return await asyncio.to_thread(lookup_in_place, request)


def lookup_in_place(request: LookupRequest) -> Any:
    """Blocking: the lookup's data, or a LookupFailure (never an exception)."""
    try:
        if request.source == "http":
            return http_lookup(request)
        if request.source == "sqlite":
            return sqlite_lookup(request)
        return LookupFailure(f"unknown lookup source {request.source!r}")
    except Exception as exc:  # a bug in a lookup must not take the call down with it
        log.exception("lookup failed: %r", request)
        return LookupFailure(f"{type(exc).__name__}: {exc}")


def http_lookup(request: LookupRequest) -> Any:
    """Blocking: one HTTP request with the request's timeout; the decoded JSON, or a failure."""
    data = None
    headers = {"Accept": "application/json", "User-Agent": "pribox-ivr", **request.headers}
    if request.method == "POST":
        data = json.dumps(dict(request.body or {}), ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json; charset=utf-8"
    req = urllib.request.Request(request.url, data=data, headers=headers, method=request.method)
    deadline = time.monotonic() + request.timeout
    try:
        with urllib.request.urlopen(req, timeout=request.timeout) as response:
            body = response.read(MAX_RESPONSE_BYTES + 1)
            if time.monotonic() > deadline:
                return LookupFailure(f"timed out after {request.timeout:g} s")
    except urllib.error.HTTPError as exc:
        return LookupFailure(f"HTTP {exc.code} {exc.reason}", not_found=exc.code == 404)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return LookupFailure(f"timed out after {request.timeout:g} s")
        return LookupFailure(f"cannot reach {request.url}: {reason}")
    except (socket.timeout, TimeoutError):
        return LookupFailure(f"timed out after {request.timeout:g} s")
    except (OSError, ValueError) as exc:  # bad URL, connection reset mid-body, ...
        return LookupFailure(f"{request.url}: {exc}")
    if len(body) > MAX_RESPONSE_BYTES:
        return LookupFailure(f"response larger than {MAX_RESPONSE_BYTES} bytes")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return LookupFailure(f"response is not JSON: {exc}")


def sqlite_lookup(request: LookupRequest) -> Any:
    """Blocking: the first row of the query as {column: value}, or a failure (no row: not found)."""
    path = Path(request.database)
    if not path.is_file():
        return LookupFailure(f"no database file {path}")
    deadline = time.monotonic() + request.timeout
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=request.timeout)
    except sqlite3.Error as exc:
        return LookupFailure(f"cannot open {path}: {exc}")
    try:
        # Called every 1000 virtual machine instructions: a nonzero return interrupts the query.
        connection.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
        connection.row_factory = sqlite3.Row
        row = connection.execute(request.query, request.params).fetchone()
    except sqlite3.OperationalError as exc:
        if time.monotonic() > deadline or "interrupted" in str(exc):
            return LookupFailure(f"timed out after {request.timeout:g} s")
        return LookupFailure(f"query failed: {exc}")
    except sqlite3.Error as exc:
        return LookupFailure(f"query failed: {exc}")
    finally:
        connection.close()
    if row is None:
        return LookupFailure("no row", not_found=True)
    return {key: row[key] for key in row.keys()}


class LookupRunner:
    """Starts lookups as tasks on the running loop and hands each result to a callback;
    `close()` cancels whatever is still waiting (the thread finishes on its own, its result
    is dropped)."""

    def __init__(self, run: Callable[[LookupRequest], Any] = run_lookup):
        self._run = run
        self._tasks: set[asyncio.Task] = set()

    def start(self, action: Lookup, on_result: Callable[[int, Any], None]) -> asyncio.Task:
        async def go() -> None:
            result = await self._run(action.request)
            on_result(action.id, result)

        task = asyncio.get_running_loop().create_task(go(), name=f"ivr-lookup-{action.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()

"""The health check a new firmware slot must pass before it is kept (`pribox upgrade confirm`).

Read from the running daemon's control socket (control_service.py), so the checks see what the
box really does rather than what a fresh process could open:

* services — every service the daemon runs is `running` and reports itself healthy (a layer's
  own `health()` decides; the ISDN service's D-channel check comes in through this one);
* spans    — every configured `[[span]]` is open with layer 1 up (the emulated spans are
  always cabled, so both must be up);
* isdn     — every `[[isdn]]` entry has a running, healthy ISDN service behind it.

After a boot the spans take a moment to align, so `confirm_when_healthy` re-runs the checks
until they pass or `wait` seconds are up; only then is the slot marked good.
"""

from __future__ import annotations

import os
from typing import Awaitable, Callable

from runtime.clock import Clock
from .control_service import CONTROL_SOCKET, query_status
from firmware.update.agent import HealthCheck, HealthResult, UpdateAgent

ISDN_SERVICE = "isdn"
LOOP_LAG_P99_LIMIT_MS = 250.0


def services_check(status: dict) -> HealthResult:
    services = status.get("services", [])
    if not services:
        return HealthResult("services", False, "the daemon runs no services")
    bad = [f"{s['name']} {s['state']}" + (f" ({s['detail'] or s['last_error']})" if s["state"] == "running"
                                           else f" ({s['last_error']})" if s["last_error"] else "")
           for s in services if s["state"] != "running" or not s["healthy"]]
    if bad:
        return HealthResult("services", False, "not healthy: " + "; ".join(bad))
    return HealthResult("services", True, f"all {len(services)} running and healthy")


def loop_check(status: dict) -> HealthResult:
    """The daemon's event loop keeps up: its lag over the last minute (the line runs in its own
    thread, but the D-channels' service, the consoles and the APIs wait on the loop)."""
    lag = status.get("event_loop_lag")
    if not lag or not lag.get("samples"):
        return HealthResult("loop", True, "event loop lag not measured yet")
    text = f"event loop lag p50 {lag['p50_ms']:.1f} ms, p99 {lag['p99_ms']:.1f} ms, max {lag['max_ms']:.1f} ms"
    if lag["p99_ms"] > LOOP_LAG_P99_LIMIT_MS:
        return HealthResult("loop", False, f"{text}: p99 over {LOOP_LAG_P99_LIMIT_MS:g} ms")
    return HealthResult("loop", True, text)


def spans_check(status: dict) -> HealthResult:
    configured = status.get("configured", {}).get("spans", [])
    if not configured:
        return HealthResult("spans", True, "no span configured")
    seen = {span["id"]: span for span in status.get("spans", [])}
    problems = []
    for span_id in configured:
        span = seen.get(span_id)
        if span is None or not span["open"]:
            problems.append(f"span {span_id} not open")
        elif not span["layer1_up"]:
            problems.append(f"span {span_id} layer 1 down ({', '.join(span['alarms']) or 'no alignment'})")
    if problems:
        return HealthResult("spans", False, "; ".join(problems))
    return HealthResult("spans", True, f"{len(configured)} configured, layer 1 up on all")


def isdn_check(status: dict) -> HealthResult:
    configured = status.get("configured", {}).get("isdn", [])
    if not configured:
        return HealthResult("isdn", True, "no [[isdn]] configured")
    if ISDN_SERVICE not in status.get("registered", []):
        return HealthResult("isdn", True, f"{len(configured)} [[isdn]] configured; "
                                          "this firmware has no ISDN service to check")
    service = next((s for s in status.get("services", []) if s["name"] == ISDN_SERVICE), None)
    if service is None:
        return HealthResult("isdn", False, "the ISDN service is not running")
    if service["state"] != "running" or not service["healthy"]:
        return HealthResult("isdn", False, f"{service['state']}: {service['detail'] or service['last_error']}")
    return HealthResult("isdn", True, service["detail"] or "D-channels up")


STATUS_CHECKS = (services_check, spans_check, isdn_check, loop_check)


def daemon_health_checks(fetch: Callable[[], Awaitable[dict]]) -> list[HealthCheck]:
    """UpdateAgent health checks over one status fetch per round: the first check of a round
    fetches, the others read what it got (the agent runs them in order)."""
    latest: dict = {}

    async def status_for(first: bool) -> dict | OSError:
        if first or "status" not in latest:
            try:
                latest["status"] = await fetch()
            except (OSError, ValueError, TimeoutError) as exc:
                latest["status"] = OSError(f"no answer from the pribox daemon: {exc}")
        return latest["status"]

    def make(check, first: bool) -> HealthCheck:
        async def run() -> HealthResult:
            status = await status_for(first)
            if isinstance(status, OSError):
                return HealthResult(check.__name__.removesuffix("_check"), False, str(status))
            return check(status)
        run.__name__ = check.__name__
        return run

    return [make(check, index == 0) for index, check in enumerate(STATUS_CHECKS)]


def socket_fetcher(state_dir: str | os.PathLike) -> Callable[[], Awaitable[dict]]:
    path = os.path.join(state_dir, CONTROL_SOCKET)
    return lambda: query_status(path)


async def confirm_when_healthy(agent: UpdateAgent, clock: Clock, *, wait: float = 0.0,
                               interval: float = 2.0,
                               report: Callable[[list[HealthResult]], None] | None = None) -> list[HealthResult]:
    """Run the agent's checks until all pass (then mark the booted slot good) or `wait`
    seconds pass on the clock; returns the last round's results."""
    deadline = clock.now() + wait
    while True:
        results = await agent.run_health_checks()
        if all(r.ok for r in results):
            await agent.rauc.mark("good", "booted")
            return results
        if report is not None:
            report(results)
        if clock.now() + interval > deadline:
            return results
        await clock.sleep(interval)

"""The daemon's `notify` service: it owns the outbox (`notify-outbox.sqlite` in the state
directory) and the task that sends from it; a reload of [notify] stops it (sends in flight get a
moment, the rest stay in the outbox) and starts it on the new settings.

Others reach the running notifier through the bus they share, so a restart of this service
never leaves them holding a stale one:

    notifier_for(bus)                       # the Notifier, or None while the service is down
    notify_from_ivr(bus, action)            # the IVR runner's on_notify: queue it, never wait
    await submit_from_api(bus, agent, body) # -> (HTTP status, JSON answer) for the agent API
    await status_from_api(bus, message_id)  # -> (200 | 404 | 503, JSON answer)
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any, Mapping

from firmware.appliance.services import BOX_SERVICES, Health, Service, ServiceContext, StopReason
from pbx_cti.cdr.schema import stateless_records_dir
from runtime.bus import EventBus

from .config_section import NotifySettings
from .model import NotifyInputError, UnknownMessage, masked
from .notifier import Notifier
from .outbox import OutboxError, path_in_state_dir
from .providers import provider_for

log = logging.getLogger("pribox.notify")

_RUNNING: "weakref.WeakKeyDictionary[EventBus, Notifier]" = weakref.WeakKeyDictionary()


def notifier_for(bus: EventBus) -> Notifier | None:
    return _RUNNING.get(bus)


def notify_from_ivr(bus: EventBus, action) -> None:
    """The IVR runner's `on_notify`: the flow's notify node, queued; the call never waits."""
    notifier = notifier_for(bus)
    if notifier is None:
        log.error("IVR call %s: notification %s to %s not sent: the notify service is not running",
                  action.call_id or "-", action.template or "text", masked(str(action.to)))
        return
    notifier.submit_ivr(action)


API_FIELDS = ("kind", "to", "template", "params", "text", "call_id", "idempotency_key")


async def submit_from_api(bus: EventBus, agent: str, body: Any) -> tuple[int, dict]:
    """`POST /agents/{agent}/calls/notify` with a JSON object of API_FIELDS: 202 and the message
    id; 400 naming the field that is wrong; 503 while the service is down."""
    notifier = notifier_for(bus)
    if notifier is None:
        return 503, {"error": "the notify service is not running"}
    if not isinstance(body, Mapping):
        return 400, {"error": "expected a JSON object", "field": ""}
    unknown = sorted(set(body) - set(API_FIELDS))
    if unknown:
        return 400, {"error": f"{unknown[0]}: unknown field (fields: {', '.join(API_FIELDS)})", "field": unknown[0]}
    try:
        message_id = await notifier.submit(agent=agent, **body)
    except NotifyInputError as exc:
        return 400, {"error": str(exc), "field": exc.field}
    except RuntimeError as exc:
        return 503, {"error": str(exc)}
    status = await notifier.status(message_id)
    return 202, {"message_id": message_id, "state": status.state.value}


async def status_from_api(bus: EventBus, message_id: str) -> tuple[int, dict]:
    """A message's status for the API: 200 and its fields (the number masked), 404, or 503."""
    notifier = notifier_for(bus)
    if notifier is None:
        return 503, {"error": "the notify service is not running"}
    try:
        return 200, (await notifier.status(message_id)).as_json()
    except UnknownMessage as exc:
        return 404, {"error": str(exc)}


class NotifyService(Service):
    name = "notify"

    def __init__(self, config):
        self.config = config
        self.settings = NotifySettings.from_section(config.notify)
        self.notifier: Notifier | None = None
        self._task: asyncio.Task | None = None
        self._bus: EventBus | None = None
        self.problem = ""

    async def start(self, ctx: ServiceContext) -> None:
        state_dir = ctx.state_dir or str(stateless_records_dir())
        provider = provider_for(self.settings, state_dir)
        wall_offset = time.time() - ctx.clock.now()
        try:
            self.notifier = await Notifier.open(path_in_state_dir(state_dir), provider, self.settings, ctx.clock,
                                                ctx.bus, wall_offset)
        except OutboxError as exc:
            # Restarting would not free the file: the box runs on, health says why, and
            # requests are refused (503) rather than accepted and lost.
            self.problem = str(exc)
            log.error("notify: %s; notifications are refused until this is fixed", exc)
            await provider.close()
            return
        self._task = asyncio.get_running_loop().create_task(self.notifier.run(), name="notify-sender")
        self._bus = ctx.bus
        _RUNNING[ctx.bus] = self.notifier
        counts = self.notifier.counts
        log.info("notify: provider %s, outbox %s (%d queued, %d being sent at the last stop)", provider.name,
                 path_in_state_dir(state_dir), counts.get("queued", 0), counts.get("sending", 0))

    async def run(self) -> None:
        if self._task is None:           # no outbox (see start): nothing to run, nothing to restart
            await asyncio.Event().wait()
        # The sending task ending by itself is a crash: the supervisor restarts the service.
        await asyncio.wait({self._task})
        if not self._task.cancelled() and self._task.exception() is not None:
            raise self._task.exception()
        raise RuntimeError("the notify sending task ended")

    async def stop(self, reason: StopReason) -> None:
        if self._bus is not None and _RUNNING.get(self._bus) is self.notifier:
            del _RUNNING[self._bus]
        if self.notifier is not None:
            notifier, self.notifier = self.notifier, None
            await notifier.close()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def health(self) -> Health:
        if self.notifier is None:
            return Health(False, self.problem or "not started")
        c = self.notifier.counts
        detail = (f"provider {self.notifier.provider.name}: {c.get('queued', 0)} queued, {c.get('sending', 0)} sending, "
                  f"{c.get('sent', 0)} sent, {c.get('failed', 0)} failed")
        return Health(self._task is not None and not self._task.done(), detail)


def _factory(config):
    section = config.notify
    if section is None or not section.enabled:
        return None
    return NotifyService(config)


BOX_SERVICES.add("notify", _factory, sections=("notify",))

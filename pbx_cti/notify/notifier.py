"""The notifier: the front the API and the IVR call, and the task that empties the outbox.

    notifier = await Notifier.open(state_dir, provider, settings, clock, bus, wall_offset)
    task = asyncio.create_task(notifier.run())
    message_id = await notifier.submit(kind="alimtalk", to="010-1234-5678", template="balance",
                                       params={"name": "홍길동", "account": "1234"}, call_id=..., agent=...)
    await notifier.status(message_id)        # MessageStatus: queued / sending / sent / failed
    await notifier.close()

`submit` checks the request (NotifyInputError naming the field), commits it to the outbox and
only then returns its id; the sending task reads nothing but the outbox, so whatever was
accepted is sent even across a crash.  A temporary failure is retried after `backoff` doubling
up to `backoff_max`, with jitter (half the wait drawn at random, so a recovered provider is not
hit by every box at once), until `max_attempts` or `max_age`.  Time is the box's clock plus
`wall_offset` (the outbox keeps wall-clock seconds, so ages survive a reboot).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import uuid
from dataclasses import dataclass
from typing import Any

from runtime.bus import Event, EventBus
from runtime.clock import Clock

from .config_section import NotifySettings
from .model import (Message, MessageStatus, NotifyInputError, Outcome, SendResult, UnknownMessage, masked,
                    validate)
from .outbox import OutboxStore
from .providers import Provider, describe_message

log = logging.getLogger("pribox.notify")

# A provider call that does not come back by itself is abandoned this long after its own
# timeout (and counts as a temporary failure).
SEND_GRACE = 5.0


@dataclass(frozen=True)
class NotificationEvent(Event):
    message_id: str
    kind: str
    to: str           # masked: events reach every agent's screen
    template: str
    call_id: str
    agent: str


@dataclass(frozen=True)
class NotificationQueued(NotificationEvent):
    pass


@dataclass(frozen=True)
class NotificationSent(NotificationEvent):
    channel: str = ""        # "alimtalk", or "sms" (an SMS, or an AlimTalk's fallback)
    attempts: int = 0
    fallback: bool = False


@dataclass(frozen=True)
class NotificationFailed(NotificationEvent):
    reason: str = ""
    attempts: int = 0


def backoff_delay(attempts: int, settings: NotifySettings, rng: random.Random) -> float:
    """The wait after the `attempts`-th failed attempt: backoff·2^(attempts-1) capped at
    backoff_max, of which the second half is drawn at random."""
    full = min(settings.backoff_max, settings.backoff * 2 ** min(attempts - 1, 40))
    return full / 2 + rng.uniform(0, full / 2)


class Notifier:
    def __init__(self, store: OutboxStore, provider: Provider, settings: NotifySettings, clock: Clock,
                 bus: EventBus | None = None, wall_offset: float = 0.0, rng: random.Random | None = None):
        self.store = store
        self.provider = provider
        self.settings = settings
        self.clock = clock
        self.bus = bus
        self.wall_offset = wall_offset
        self.rng = rng or random.Random()
        self.recovered: list[str] = []
        self.counts: dict[str, int] = {}   # for health(): refreshed after each change
        self._wakeup = asyncio.Event()
        self._closing = False
        self._pending: set[asyncio.Task] = set()      # submits not yet committed (submit_soon)
        self._in_flight: set[asyncio.Task] = set()    # sends waiting for the provider
        self._run_task: asyncio.Task | None = None

    @classmethod
    async def open(cls, path: str | os.PathLike, provider: Provider, settings: NotifySettings, clock: Clock,
                   bus: EventBus | None = None, wall_offset: float = 0.0, **kwargs) -> "Notifier":
        store = await asyncio.to_thread(OutboxStore, path)
        notifier = cls(store, provider, settings, clock, bus, wall_offset, **kwargs)
        try:
            await notifier.recover()
        except BaseException:
            await asyncio.to_thread(store.close)
            raise
        return notifier

    async def recover(self) -> None:
        """Rows a previous run left `sending` go out again first, with their idempotency keys."""
        self.recovered = await asyncio.to_thread(self.store.recover, self.now())
        if self.recovered:
            log.warning("notify: %d message(s) were being sent when the box stopped; sending them again with the "
                        "same idempotency key: %s", len(self.recovered), ", ".join(self.recovered[:10]))
        self.counts = await asyncio.to_thread(self.store.counts)

    def now(self) -> float:
        return self.clock.now() + self.wall_offset

    # -- the front --------------------------------------------------------------------------

    async def submit(self, *, kind: Any = "alimtalk", to: Any = None, template: Any = None, params: Any = None,
                     text: Any = None, call_id: Any = None, agent: Any = None,
                     idempotency_key: Any = None) -> str:
        """Check, commit, and return the message id.  A second submit of the same request with
        an idempotency key already used returns the first message's id and sends nothing more;
        a different request with that key is refused (NotifyInputError on idempotency_key)."""
        request = validate(self.settings.templates, kind=kind, to=to, template=template, params=params, text=text,
                           call_id=call_id, agent=agent, idempotency_key=idempotency_key,
                           sms_fallback=self.settings.sms_fallback)
        if self._closing:
            raise RuntimeError("the notifier is stopping; try again in a moment")
        message_id = uuid.uuid4().hex
        key = request.idempotency_key or f"pribox-{message_id}"
        stored_id, created, same = await asyncio.to_thread(self.store.insert, message_id, request, key, self.now())
        if not same:
            raise NotifyInputError("idempotency_key", f"{key!r} was used for a different request "
                                                      f"(message {stored_id})")
        if created:
            log.info("notification %s queued: %s %s to %s (call %s, agent %s)", stored_id, request.kind,
                     request.template or "text", masked(request.to), request.call_id or "-", request.agent or "-")
            self.counts["queued"] = self.counts.get("queued", 0) + 1
            self._publish(NotificationQueued(self.clock.now(), stored_id, request.kind, masked(request.to),
                                             request.template, request.call_id, request.agent))
            self._wakeup.set()
        return stored_id

    def submit_soon(self, *, kind: Any = "alimtalk", to: Any = None, template: Any = None, params: Any = None,
                    text: Any = None, call_id: Any = None, agent: Any = None,
                    idempotency_key: Any = None) -> asyncio.Task:
        """For callers that cannot await (the IVR's action callback): the request is checked
        now (NotifyInputError at once) and committed by a task whose result is the id."""
        request = dict(kind=kind, to=to, template=template, params=params, text=text, call_id=call_id, agent=agent,
                       idempotency_key=idempotency_key)
        validate(self.settings.templates, sms_fallback=self.settings.sms_fallback, **request)
        task = asyncio.get_running_loop().create_task(self.submit(**request))
        self._pending.add(task)
        task.add_done_callback(self._submitted)
        return task

    def _submitted(self, task: asyncio.Task) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a notification could not be queued: %s", task.exception())

    def submit_ivr(self, action) -> asyncio.Task | None:
        """An IVR `Notify` action: queued, never waited for; a bad request is logged (the call
        goes on)."""
        try:
            return self.submit_soon(kind=action.kind, to=action.to, template=action.template or None,
                                    params=dict(action.params), text=action.text or None, call_id=action.call_id)
        except NotifyInputError as exc:
            log.error("IVR call %s: notification not sent: %s", action.call_id or "-", exc)
            return None

    async def status(self, message_id: str) -> MessageStatus:
        status = await asyncio.to_thread(self.store.status, message_id)
        if status is None:
            raise UnknownMessage(f"no notification {message_id!r}")
        return status

    async def for_call(self, call_id: str) -> list[MessageStatus]:
        return await asyncio.to_thread(self.store.for_call, call_id)

    # -- the sending task -------------------------------------------------------------------

    async def run(self) -> None:
        """Send until closed: up to `parallel` sends in flight, each started as soon as a
        place is free, so one slow provider answer never holds the others back."""
        self._run_task = asyncio.current_task()
        try:
            while not self._closing:
                self._wakeup.clear()
                room = self.settings.parallel - len(self._in_flight)
                if room > 0:
                    batch = await asyncio.to_thread(self.store.claim_due, self.now(), room)
                    for item in batch:
                        task = asyncio.get_running_loop().create_task(self._send(*item))
                        self._in_flight.add(task)
                        task.add_done_callback(self._sent)
                    if batch:
                        self.counts = await asyncio.to_thread(self.store.counts)
                        continue
                    due = await asyncio.to_thread(self.store.next_due)
                    delay = None if due is None else max(0.0, due - self.now())
                else:
                    delay = None         # a finished send wakes us
                if delay == 0.0:
                    continue
                try:
                    await asyncio.wait_for(self._wakeup.wait(), delay)
                except asyncio.TimeoutError:
                    pass
        except BaseException:
            # Cut short (a crash, a cancel): what is in flight stays `sending` in the outbox and
            # goes out again at the next start with the same key.
            for task in self._in_flight:
                task.cancel()
            raise

    def _sent(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        self._wakeup.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("notify: a send failed unexpectedly: %s", task.exception())

    async def _send(self, message: Message, attempts: int, created: float) -> None:
        s = self.settings
        now = self.now()
        if now - created > s.max_age:
            await self._fail(message, attempts, f"expired: {now - created:.0f} s old, max_age is {s.max_age:g} s")
            return
        try:
            result = await asyncio.wait_for(self.provider.send(message, message.send_key()), s.timeout + SEND_GRACE)
        except asyncio.TimeoutError:
            result = SendResult.temporary(f"the provider did not answer within {s.timeout + SEND_GRACE:g} s")
        except Exception as exc:  # a provider bug must not lose the message: it is retried
            log.exception("notify: provider %s failed on %s", self.provider.name, message.id)
            result = SendResult.temporary(f"{type(exc).__name__}: {exc}")
        now = self.now()
        what = describe_message(message)
        if result.outcome is Outcome.ACCEPTED:
            await asyncio.to_thread(self.store.mark_sent, message.id, now, result.provider_id, result.reason)
            log.info("notification %s sent: %s (attempt %d)%s", message.id, what, attempts,
                     f"; {result.reason}" if result.reason else "")
            self._publish(NotificationSent(self.clock.now(), message.id, message.kind, masked(message.to),
                                           message.template, message.call_id, message.agent, message.channel,
                                           attempts, message.channel != message.kind))
        elif (result.outcome is Outcome.UNDELIVERABLE and message.channel == "alimtalk" and message.fallback_text
              and s.fallback_by == "provider"):
            # The request asked the provider to send the SMS itself: sending it here too would
            # reach the recipient twice.
            await asyncio.to_thread(self.store.mark_sent, message.id, now, result.provider_id,
                                    f"AlimTalk undeliverable ({result.reason}); the provider sends the SMS fallback",
                                    True)
            self._publish(NotificationSent(self.clock.now(), message.id, message.kind, masked(message.to),
                                           message.template, message.call_id, message.agent, "sms", attempts, True))
        elif result.outcome is Outcome.UNDELIVERABLE and message.channel == "alimtalk" and message.fallback_text:
            await asyncio.to_thread(self.store.fall_back, message.id, now, f"AlimTalk undeliverable ({result.reason}); "
                                                                           "sending the SMS")
            log.info("notification %s: %s undeliverable (%s); falling back to SMS", message.id, what, result.reason)
            self._wakeup.set()
        elif result.outcome is Outcome.TEMPORARY:
            if attempts >= s.max_attempts:
                await self._fail(message, attempts, f"gave up after {attempts} attempts: {result.reason}")
            elif now - created > s.max_age:
                await self._fail(message, attempts, f"gave up at max_age ({s.max_age:g} s): {result.reason}")
            else:
                when = now + backoff_delay(attempts, s, self.rng)
                await asyncio.to_thread(self.store.retry_at, message.id, now, when, result.reason)
                # A long outage logs each message's 1st, 2nd, 4th, 8th... failure, not every one.
                level = logging.WARNING if attempts & (attempts - 1) == 0 else logging.DEBUG
                log.log(level, "notification %s: %s failed (attempt %d: %s); next try in %.1f s", message.id, what,
                        attempts, result.reason, when - now)
        else:
            await self._fail(message, attempts, result.reason or result.outcome.value)
        self.counts = await asyncio.to_thread(self.store.counts)

    async def _fail(self, message: Message, attempts: int, reason: str) -> None:
        await asyncio.to_thread(self.store.mark_failed, message.id, self.now(), reason)
        log.error("notification %s failed: %s: %s", message.id, describe_message(message), reason)
        self._publish(NotificationFailed(self.clock.now(), message.id, message.kind, masked(message.to),
                                         message.template, message.call_id, message.agent, reason, attempts))

    def _publish(self, event: Event) -> None:
        if self.bus is not None:
            self.bus.publish(event)

    # -- stopping ---------------------------------------------------------------------------

    async def close(self, grace: float = 2.0) -> None:
        """Stop sending: sends in flight get `grace` seconds to come back, then are cut (their
        rows stay `sending` and go out again at the next start, with the same key)."""
        self._closing = True
        self._wakeup.set()
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=grace)
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace)
        if self._run_task is not None and not self._run_task.done():
            self._run_task.cancel()
            await asyncio.gather(self._run_task, return_exceptions=True)
        for task in self._in_flight:
            task.cancel()
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self.provider.close()
        await asyncio.to_thread(self.store.close)

"""The HTTP AlimTalk provider and the outbox against a real local provider that fails on command:
an outage (500s, then timeouts) and its recovery deliver everything once; a box stopped while
the provider had taken a message but not answered sends it again with the same key, and the
recipient gets it once; a 4xx is a permanent failure; an undeliverable AlimTalk goes out as its
SMS; the request carries the sender key, template code, parameters and both auth and
idempotency headers."""

from __future__ import annotations

import asyncio
import random
import sqlite3

import pytest

from pbx_cti.notify import (MessageState, NotificationFailed, NotificationQueued, NotificationSent, Notifier,
                            NotifyInputError)
from pbx_cti.notify.config_section import NotifySettings
from pbx_cti.notify.providers import HttpAlimTalkProvider
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.notify.provider_server import IDEMPOTENCY_HEADER, ProviderServer

TEMPLATES = {"balance": "#{name}님, 계좌 #{account} 잔액은 #{amount}원입니다.",
             "callback": "요청하신 상담 전화를 #{time}에 드리겠습니다."}


def settings_for(server: ProviderServer, **overrides) -> NotifySettings:
    values = dict(provider="http", url=server.alimtalk_url, sms_url=server.sms_url, sender_key="s" * 40,
                  sender_number="15881234", app_key="top-secret", timeout=0.3, backoff=0.02, backoff_max=0.15,
                  max_attempts=200, max_age=120, undeliverable_codes=("3018",), templates=TEMPLATES)
    values.update(overrides)
    return NotifySettings(**values)


class World:
    """A provider server, a notifier on a fresh outbox and the events it published."""

    def __init__(self, tmp_path, **overrides):
        self.tmp_path = tmp_path
        self.overrides = overrides
        self.bus = EventBus()
        self.events = []
        self.bus.subscribe(NotificationQueued, self.events.append)
        self.bus.subscribe(NotificationSent, self.events.append)
        self.bus.subscribe(NotificationFailed, self.events.append)
        self.server = ProviderServer(hang_seconds=1.0)
        self.notifier: Notifier | None = None
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> "World":
        await self.server.start()
        await self.open()
        return self

    async def open(self) -> Notifier:
        settings = settings_for(self.server, **self.overrides)
        self.notifier = await Notifier.open(self.tmp_path / "notify-outbox.sqlite", HttpAlimTalkProvider(settings),
                                            settings, LoopClock(), self.bus, rng=random.Random(7))
        self.task = asyncio.create_task(self.notifier.run())
        return self.notifier

    async def __aexit__(self, *exc) -> None:
        if self.notifier is not None:
            await self.notifier.close(grace=0.5)
        await self.server.stop()

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    async def settled(self, message_ids, timeout: float = 10.0) -> dict:
        """Wait until every message is sent or failed; their statuses."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            statuses = {m: await self.notifier.status(m) for m in message_ids}
            if all(s.state in (MessageState.SENT, MessageState.FAILED) for s in statuses.values()):
                return statuses
            assert asyncio.get_running_loop().time() < deadline, {m: s.state for m, s in statuses.items()}
            await asyncio.sleep(0.02)


async def submit_balance(notifier: Notifier, i: int, **extra) -> str:
    return await notifier.submit(kind="alimtalk", to=f"010-1234-{i:04d}", template="balance",
                                 params={"name": f"고객{i}", "account": f"110-{i:03d}", "amount": str(1000 * i)},
                                 call_id=f"call-{i}", agent="alice", **extra)


def test_an_outage_of_500s_and_timeouts_then_recovery_delivers_every_message_exactly_once(tmp_path):
    async def scenario():
        async with World(tmp_path) as world:
            world.server.outage = "500"
            ids = [await submit_balance(world.notifier, i) for i in range(12)]
            await asyncio.sleep(0.4)
            assert world.server.deliveries == {}
            states = [(await world.notifier.status(m)).state for m in ids]
            assert set(states) <= {MessageState.QUEUED, MessageState.SENDING}
            world.server.outage = "timeout"          # the provider now takes requests and never answers
            await asyncio.sleep(0.8)
            world.server.outage = None
            statuses = await world.settled(ids)
            assert all(s.state is MessageState.SENT for s in statuses.values())
            assert all(s.attempts >= 2 for s in statuses.values())   # each lived through the outage
            keys = {headers[IDEMPOTENCY_HEADER] for path, headers, _ in world.server.requests}
            assert len(keys) == 12 and all(world.server.deliveries[k] == 1 for k in keys)
            assert len(world.server.delivered) == 12
            assert len(world.of(NotificationSent)) == 12 and not world.of(NotificationFailed)
            counts = world.notifier.counts
            assert counts["sent"] == 12 and counts["queued"] == counts["sending"] == 0
            # Backoff spread the retries: far fewer requests than a tight loop would have made.
            assert len(world.server.requests) < 12 * 40

    asyncio.run(scenario())


def test_a_stop_while_the_provider_holds_the_answer_resends_with_the_same_key_and_delivers_once(tmp_path):
    async def scenario():
        async with World(tmp_path) as world:
            world.server.fail_next("deliver-hang", 3)
            ids = [await submit_balance(world.notifier, i) for i in range(3)]
            for _ in range(100):
                if sum(world.server.deliveries.values()) == 3:
                    break
                await asyncio.sleep(0.02)
            assert sum(world.server.deliveries.values()) == 3
            # The box goes down now: the provider took all three, the box never read the answers.
            await world.notifier.close(grace=0.05)
            world.notifier = None
            notifier = await world.open()
            assert sorted(notifier.recovered) == sorted(ids)
            statuses = await world.settled(ids)
            assert all(s.state is MessageState.SENT for s in statuses.values())
            assert all(count == 1 for count in world.server.deliveries.values())
            assert len(world.server.delivered) == 3
            # The retries carried the keys of the first attempts, and were refused as duplicates.
            sent_keys = [h[IDEMPOTENCY_HEADER] for _, h, _ in world.server.requests]
            assert len(sent_keys) == 6 and len(set(sent_keys)) == 3
            assert "already accepted" in statuses[ids[0]].reason

    asyncio.run(scenario())


def test_a_crash_with_rows_left_sending_is_resent_on_the_next_start_and_nothing_is_lost(tmp_path):
    async def scenario():
        async with World(tmp_path) as world:
            world.server.outage = "500"
            ids = [await submit_balance(world.notifier, i) for i in range(5)]
            await asyncio.sleep(0.1)
            # Kill the sending task as a crash would: no grace, whatever it held stays `sending`.
            world.task.cancel()
            await asyncio.gather(world.task, return_exceptions=True)
            await asyncio.sleep(0.05)      # outbox writes already handed to a thread land
            store = world.notifier.store
            await asyncio.to_thread(store.claim_due, 1e12, 10)    # every row still queued is now `sending`
            await world.notifier.close(grace=0)
            db = sqlite3.connect(tmp_path / "notify-outbox.sqlite")
            assert db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall() == [("sending", 5)]
            db.close()
            world.server.outage = None
            notifier = await world.open()
            assert sorted(notifier.recovered) == sorted(ids)
            statuses = await world.settled(ids)
            assert all(s.state is MessageState.SENT for s in statuses.values())
            assert sorted(world.server.deliveries.values()) == [1] * 5

    asyncio.run(scenario())


def test_a_4xx_is_a_permanent_failure_reported_once_and_not_retried(tmp_path):
    async def scenario():
        async with World(tmp_path) as world:
            world.server.fail_next("400")
            message_id = await submit_balance(world.notifier, 1)
            status = (await world.settled([message_id]))[message_id]
            assert status.state is MessageState.FAILED and status.attempts == 1
            assert "HTTP 400" in status.reason and "must not be blank" in status.reason
            failed = world.of(NotificationFailed)
            assert [(e.message_id, e.attempts) for e in failed] == [(message_id, 1)]
            assert failed[0].to == "010****0001" and failed[0].agent == "alice" and failed[0].call_id == "call-1"
            await asyncio.sleep(0.1)
            assert len(world.server.requests) == 1

    asyncio.run(scenario())


def test_max_attempts_gives_up_with_the_last_reason(tmp_path):
    async def scenario():
        async with World(tmp_path, max_attempts=3) as world:
            world.server.outage = "500"
            message_id = await submit_balance(world.notifier, 2)
            status = (await world.settled([message_id]))[message_id]
            assert status.state is MessageState.FAILED and status.attempts == 3
            assert status.reason == "gave up after 3 attempts: HTTP 500"
            assert len(world.server.requests) == 3

    asyncio.run(scenario())


def test_an_undeliverable_alimtalk_is_sent_as_its_sms_fallback_once(tmp_path):
    async def scenario():
        async with World(tmp_path) as world:
            world.server.fail_next("undeliverable")
            message_id = await submit_balance(world.notifier, 3, text="잔액 안내: 고객센터 앱에서 확인하세요")
            plain = await submit_balance(world.notifier, 4)    # no text: the fallback is the rendered template
            world.server.fail_next("undeliverable")
            statuses = await world.settled([message_id, plain])
            status = statuses[message_id]
            assert status.state is MessageState.SENT and status.channel == "sms" and status.fallback
            sms = world.server.delivered_to("/sms/")
            assert [s["body"] for s in sms][0] == "잔액 안내: 고객센터 앱에서 확인하세요"
            assert sms[0]["sendNo"] == "15881234" and sms[0]["recipientList"] == [{"recipientNo": "01012340003"}]
            sent = {e.message_id: e for e in world.of(NotificationSent)}
            assert sent[message_id].channel == "sms" and sent[message_id].fallback
            assert statuses[plain].state is MessageState.SENT
            # The SMS went out under its own key, derived from the AlimTalk's.
            sms_keys = [h[IDEMPOTENCY_HEADER] for p, h, _ in world.server.requests if "/sms/" in p]
            assert all(k.endswith(":sms") for k in sms_keys) and all(world.server.deliveries[k] == 1 for k in sms_keys)

    asyncio.run(scenario())


def test_with_the_provider_falling_back_the_box_never_sends_the_sms_itself(tmp_path):
    async def scenario():
        async with World(tmp_path, fallback_by="provider") as world:
            world.server.fail_next("undeliverable")
            message_id = await submit_balance(world.notifier, 8)
            status = (await world.settled([message_id]))[message_id]
            assert status.state is MessageState.SENT and "the provider sends the SMS fallback" in status.reason
            assert status.channel == "sms" and status.fallback
            assert [p for p, _, _ in world.server.requests] == ["/alimtalk/v2.3/appkeys/test/messages"]
            sent, = world.of(NotificationSent)
            assert sent.channel == "sms" and sent.fallback

    asyncio.run(scenario())


def test_the_request_is_shaped_like_an_alimtalk_api_with_auth_and_idempotency_headers(tmp_path):
    async def scenario():
        async with World(tmp_path, fallback_by="provider", auth="bearer") as world:
            message_id = await submit_balance(world.notifier, 5, idempotency_key="crm-7781")
            await world.settled([message_id])
            path, headers, body = world.server.requests[0]
            assert headers["Authorization"] == "Bearer top-secret" and "X-Secret-Key" not in headers
            assert headers[IDEMPOTENCY_HEADER] == "crm-7781"
            assert body == {"senderKey": "s" * 40, "templateCode": "balance", "recipientList": [{
                "recipientNo": "01012340005",
                "templateParameter": {"name": "고객5", "account": "110-005", "amount": "5000"},
                "resendParameter": {"isResend": True, "resendType": "SMS",
                                    "resendContent": "고객5님, 계좌 110-005 잔액은 5000원입니다.",
                                    "resendSendNo": "15881234"}}]}
            # The same idempotency key again (the agent application retried): the same message.
            assert await submit_balance(world.notifier, 5, idempotency_key="crm-7781") == message_id
            with pytest.raises(NotifyInputError, match="^idempotency_key: 'crm-7781' was used for a different request"):
                await submit_balance(world.notifier, 6, idempotency_key="crm-7781")
            await asyncio.sleep(0.1)
            assert len(world.server.requests) == 1 and len(world.of(NotificationQueued)) == 1

    asyncio.run(scenario())


def test_secret_key_auth_and_a_plain_sms(tmp_path):
    async def scenario():
        async with World(tmp_path) as world:
            message_id = await world.notifier.submit(kind="sms", to="+82 10 9876 5432", text="상담 예약이 확인되었습니다.")
            status = (await world.settled([message_id]))[message_id]
            assert status.state is MessageState.SENT and status.channel == "sms" and not status.fallback
            path, headers, body = world.server.requests[0]
            assert "/sms/" in path and headers["X-Secret-Key"] == "top-secret"
            assert body == {"body": "상담 예약이 확인되었습니다.", "sendNo": "15881234",
                            "recipientList": [{"recipientNo": "01098765432"}]}
            assert "top-secret" not in repr(world.notifier.settings)

    asyncio.run(scenario())


def test_bad_requests_are_refused_before_anything_is_stored(tmp_path):
    async def scenario():
        async with World(tmp_path) as world:
            cases = [
                (dict(kind="fax", to="01012345678", template="balance"), "kind"),
                (dict(to="02-123-4567", template="callback", params={"time": "3시"}), "to"),
                (dict(to="01012345678", template="nope"), "template"),
                (dict(to="01012345678", template="callback", params={}), "params.time"),
                (dict(to="01012345678", template="callback", params={"time": 3}), "params.time"),
                (dict(to="01012345678", template="callback", params={"time": "3시", "x": "y"}), "params.x"),
                (dict(to="01012345678", template="callback", params={"time": "3시"}, idempotency_key="a b"),
                 "idempotency_key"),
                (dict(kind="sms", to="01012345678"), "text"),
            ]
            for request, field in cases:
                with pytest.raises(NotifyInputError) as caught:
                    await world.notifier.submit(**request)
                assert caught.value.field == field, (request, str(caught.value))
                assert str(caught.value).startswith(field + ":")
            assert world.notifier.store.counts() == {"queued": 0, "sending": 0, "sent": 0, "failed": 0}
            assert world.events == [] and world.server.requests == []

    asyncio.run(scenario())

"""The embedded default: the outbox in SQLite with the local file provider — a line per delivered
message a field engineer can tail, nothing written twice across a crash, messages too old given
up, backoff with jitter — and the `notify` service as the daemon runs it, with the helpers the
PBX and the agent API call."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from firmware.appliance.services import ServiceContext, StopReason, load_box_services
from firmware.config.loader import load_text
from pbx_cti.ivr.actions import Notify
from pbx_cti.notify import MessageState, NotificationFailed, NotificationSent, Notifier, UnknownMessage
from pbx_cti.notify.config_section import NotifySettings
from pbx_cti.notify.notifier import backoff_delay
from pbx_cti.notify.outbox import OutboxError, OutboxStore
from pbx_cti.notify.providers import DELIVERED_FILE, LocalOutboxProvider
from pbx_cti.notify.service import NotifyService, notifier_for, notify_from_ivr, status_from_api, submit_from_api
from runtime.bus import EventBus
from runtime.clock import LoopClock, ManualClock

TEMPLATES = {"balance": "#{name}님, 계좌 #{account} 잔액 안내입니다."}
SETTINGS = NotifySettings(templates=TEMPLATES, backoff=0.02, backoff_max=0.1)


async def opened(tmp_path, bus=None, wall_offset=0.0, settings=SETTINGS) -> Notifier:
    return await Notifier.open(tmp_path / "notify-outbox.sqlite", LocalOutboxProvider(tmp_path / DELIVERED_FILE),
                               settings, LoopClock(), bus, wall_offset)


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def delivered_lines(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / DELIVERED_FILE).read_text(encoding="utf-8").splitlines()]


def test_the_local_outbox_writes_one_json_line_per_message_and_the_status_follows(tmp_path):
    async def scenario():
        bus = EventBus()
        sent = []
        bus.subscribe(NotificationSent, sent.append)
        notifier = await opened(tmp_path, bus)
        task = asyncio.create_task(notifier.run())
        first = await notifier.submit(to="010-2222-3333", template="balance", params={"name": "김민수", "account": "42"},
                                      call_id="c9", agent="bob")
        second = await notifier.submit(kind="sms", to="01122223333", text="콜백 예약 완료", call_id="c9")

        async def both_sent():
            states = [(await notifier.status(m)).state for m in (first, second)]
            return states == [MessageState.SENT] * 2
        await until(both_sent)
        lines = delivered_lines(tmp_path)
        assert [(l["id"], l["channel"], l["to"], l["text"]) for l in lines] == [
            (first, "alimtalk", "01022223333", "김민수님, 계좌 42 잔액 안내입니다."),
            (second, "sms", "01122223333", "콜백 예약 완료")]
        assert lines[0]["template"] == "balance" and lines[0]["params"] == {"name": "김민수", "account": "42"}
        assert lines[0]["call_id"] == "c9" and lines[0]["agent"] == "bob"
        assert [e.message_id for e in sent] == [first, second]
        assert [s.id for s in await notifier.for_call("c9")] == [first, second]
        assert notifier.counts["sent"] == 2
        with pytest.raises(UnknownMessage):
            await notifier.status("nope")
        await notifier.close()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_rows_left_sending_by_a_crash_are_delivered_once_by_the_local_outbox(tmp_path):
    async def scenario():
        notifier = await opened(tmp_path)
        ids = [await notifier.submit(to=f"0101234{i:04d}", template="balance", params={"name": "n", "account": str(i)})
               for i in range(4)]
        # The crash: two were delivered and their rows never left `sending`; two never went out.
        claimed = await asyncio.to_thread(notifier.store.claim_due, notifier.now(), 4)
        provider = notifier.provider
        for message, _, _ in claimed[:2]:
            assert (await provider.send(message, message.send_key())).outcome.value == "accepted"
        await notifier.close(grace=0)
        assert len(delivered_lines(tmp_path)) == 2

        notifier = await opened(tmp_path)              # the next boot: a new provider reads the file
        assert sorted(notifier.recovered) == sorted(ids)
        task = asyncio.create_task(notifier.run())

        async def all_sent():
            return (await asyncio.to_thread(notifier.store.counts))["sent"] == 4
        await until(all_sent)
        lines = delivered_lines(tmp_path)
        assert sorted(l["id"] for l in lines) == sorted(ids)           # each exactly once
        await notifier.close()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_a_message_older_than_max_age_is_given_up_not_sent(tmp_path):
    async def scenario():
        bus = EventBus()
        failed = []
        bus.subscribe(NotificationFailed, failed.append)
        notifier = await opened(tmp_path, bus)
        message_id = await notifier.submit(to="01012345678", template="balance", params={"name": "a", "account": "1"})
        await notifier.close()
        # The box was off for two hours: the outbox keeps wall-clock times, so the age is known.
        notifier = await opened(tmp_path, bus, wall_offset=7200.0)
        task = asyncio.create_task(notifier.run())

        async def failed_now():
            return (await notifier.status(message_id)).state is MessageState.FAILED
        await until(failed_now)
        status = await notifier.status(message_id)
        assert status.reason.startswith("expired: 7200 s old, max_age is 3600 s") and status.attempts == 1
        assert [e.message_id for e in failed] == [message_id]
        assert not (tmp_path / DELIVERED_FILE).exists()
        await notifier.close()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


@hsettings(max_examples=200, deadline=None)
@given(attempts=st.integers(1, 60), backoff=st.floats(0.01, 60), cap=st.floats(0.01, 3600), seed=st.integers(0, 99))
def test_backoff_doubles_up_to_its_cap_with_half_of_it_jittered(attempts, backoff, cap, seed):
    s = NotifySettings(backoff=backoff, backoff_max=max(cap, backoff))
    full = min(s.backoff_max, backoff * 2 ** (attempts - 1))
    delay = backoff_delay(attempts, s, random.Random(seed))
    assert full / 2 <= delay <= full
    assert backoff_delay(attempts + 1, s, random.Random(seed)) >= delay or full == s.backoff_max


def test_jitter_spreads_retries_of_many_messages():
    rng = random.Random(1)
    delays = [backoff_delay(3, SETTINGS, rng) for _ in range(200)]
    assert max(delays) - min(delays) > 0.3 * 0.08 / 2


def test_a_file_that_is_not_an_outbox_is_refused_with_its_name(tmp_path):
    path = tmp_path / "notify-outbox.sqlite"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(OutboxError, match=r"notify-outbox.sqlite: not a notification outbox"):
        OutboxStore(path)
    newer = tmp_path / "newer.sqlite"
    db = sqlite3.connect(newer)
    db.execute("PRAGMA user_version=9")
    db.close()
    with pytest.raises(OutboxError, match="schema version 9 is newer"):
        OutboxStore(newer)


def test_one_notifier_per_outbox_file(tmp_path):
    first = OutboxStore(tmp_path / "notify-outbox.sqlite")
    with pytest.raises(OutboxError, match=r"another notifier \(pid \d+\) is sending from this outbox"):
        OutboxStore(tmp_path / "notify-outbox.sqlite")
    first.close()
    OutboxStore(tmp_path / "notify-outbox.sqlite").close()       # free again once the first is gone


def test_the_outbox_is_in_wal_mode_and_commits_a_request_before_submit_returns(tmp_path):
    async def scenario():
        notifier = await opened(tmp_path)
        message_id = await notifier.submit(to="01012345678", template="balance", params={"name": "a", "account": "1"})
        # Another connection (another process) sees the row at once: it is committed.
        db = sqlite3.connect(tmp_path / "notify-outbox.sqlite")
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT state FROM messages WHERE id = ?", (message_id,)).fetchone() == ("queued",)
        db.close()
        await notifier.close()

    asyncio.run(scenario())


CONFIG = '''
[notify]
backoff = 0.02
[notify.templates]
balance = "#{name}님, 계좌 #{account} 잔액 안내입니다."
'''


def test_the_service_runs_in_the_daemon_and_serves_the_pbx_and_the_api(tmp_path):
    assert "notify" in load_box_services()
    config = load_text(CONFIG)

    async def scenario():
        bus = EventBus()
        service = NotifyService(config)
        await service.start(ServiceContext(config, LoopClock(), bus, str(tmp_path)))
        runner = asyncio.create_task(service.run())
        assert notifier_for(bus) is service.notifier
        assert service.health().ok and "provider outbox: 0 queued" in service.health().detail

        # The agent API: a good request is taken (202), a bad one names its field (400).
        status, answer = await submit_from_api(bus, "alice", {"kind": "alimtalk", "to": "010-5555-6666",
                                                              "template": "balance", "call_id": "c1",
                                                              "params": {"name": "이", "account": "9"}})
        assert status == 202 and answer["state"] in ("queued", "sending", "sent")
        code, shown = await status_from_api(bus, answer["message_id"])
        assert code == 200 and shown["to"] == "010****6666" and shown["agent"] == "alice" and shown["call_id"] == "c1"
        assert (await status_from_api(bus, "nope"))[0] == 404
        assert await submit_from_api(bus, "alice", {"to": "010-5555-6666", "template": "balance",
                                                    "params": {"name": "이"}}) == (
            400, {"error": "params.account: missing: template 'balance' has #{account}", "field": "params.account"})
        assert (await submit_from_api(bus, "alice", {"to": "01055556666", "colour": "red"}))[1]["field"] == "colour"
        assert (await submit_from_api(bus, "alice", ["not", "an", "object"]))[0] == 400

        # The IVR: queued without waiting; a bad one is logged and the call goes on.
        notify_from_ivr(bus, Notify("alimtalk", "01077778888", "balance", {"name": "박", "account": "7"}, "", "c2"))
        notify_from_ivr(bus, Notify("alimtalk", "0212345678", "balance", {"name": "박", "account": "7"}, "", "c3"))

        async def two_sent():
            return service.notifier.counts.get("sent") == 2
        await until(two_sent)
        lines = delivered_lines(tmp_path)
        assert [(l["agent"], l["call_id"], l["to"]) for l in lines] == [("alice", "c1", "01055556666"),
                                                                         ("", "c2", "01077778888")]
        assert "2 sent, 0 failed" in service.health().detail
        await service.stop(StopReason.SHUTDOWN)
        assert notifier_for(bus) is None
        assert (await submit_from_api(bus, "alice", {}))[0] == 503
        assert (await status_from_api(bus, answer["message_id"]))[0] == 503
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

    asyncio.run(scenario())


def test_a_service_whose_outbox_is_taken_keeps_the_box_running_and_refuses_requests(tmp_path):
    config = load_text(CONFIG)

    async def scenario():
        bus = EventBus()
        holder = OutboxStore(tmp_path / "notify-outbox.sqlite")
        service = NotifyService(config)
        await service.start(ServiceContext(config, LoopClock(), bus, str(tmp_path)))
        runner = asyncio.create_task(service.run())
        await asyncio.sleep(0.05)
        assert not runner.done()                   # no crash loop: a restart would not free the file
        health = service.health()
        assert not health.ok and "another notifier" in health.detail
        assert (await submit_from_api(bus, "alice", {"to": "01012345678", "template": "balance"}))[0] == 503
        await service.stop(StopReason.SHUTDOWN)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        holder.close()

    asyncio.run(scenario())


def test_no_service_when_disabled():
    from pbx_cti.notify.service import _factory
    assert _factory(load_text("[notify]\nenabled = false\n")) is None
    assert isinstance(_factory(load_text("")), NotifyService)


def test_backoff_delays_on_a_manual_clock_are_what_the_outbox_is_told(tmp_path):
    """The notifier's time is the box's clock plus the wall offset: on a ManualClock the next
    attempt lands exactly where the backoff puts it, and a provider that cannot write is retried."""
    async def scenario():
        clock = ManualClock(1000.0)
        notifier = Notifier(OutboxStore(tmp_path / "o.sqlite"), LocalOutboxProvider(tmp_path / "d.jsonl"), SETTINGS,
                            clock, None, wall_offset=5.0, rng=random.Random(3))
        message_id = await notifier.submit(to="01012345678", template="balance", params={"name": "a", "account": "1"})
        assert (await notifier.status(message_id)).created == 1005.0
        (message, attempts, created), = notifier.store.claim_due(notifier.now(), 1)
        expected = 1005.0 + backoff_delay(1, SETTINGS, random.Random(3))
        # The file cannot be written (here: its directory is a plain file): a temporary failure.
        (tmp_path / "blocked").write_text("")
        notifier.provider = LocalOutboxProvider(tmp_path / "blocked" / "d.jsonl")
        await notifier._send(message, attempts, created)
        status = await notifier.status(message_id)
        assert status.state is MessageState.QUEUED and status.next_attempt == pytest.approx(expected)
        assert "Not a directory" in status.reason
        notifier.store.close()

    asyncio.run(scenario())

"""GET /metrics on the running api service, scraped over real HTTP on 127.0.0.1 and parsed by
the Prometheus client's parser: queues and agents equal the engine's state after logins,
answered, waiting and abandoned callers; the optional bearer token is enforced."""

import asyncio

import aiohttp

from firmware.appliance.services import StopReason
from pbx_cti.cdr.record import CallRecord
from pbx_cti.cdr.schema import records_path
from pbx_cti.cdr.store import CdrStore
from tests.metrics.metrics_world import METRICS_TOKEN, base, busy_morning, scrape, start_service, value


def test_a_scrape_shows_queues_and_agents_as_the_engine_holds_them(tmp_path):
    async def scenario():
        service = await start_service(tmp_path)
        try:
            async with aiohttp.ClientSession() as http:
                await busy_morning(http, service)
                found = await scrape(http, service)
            engine = service.runner.engine
            assert value(found, "pribox_cti_up") == 1
            # Live: one caller waits, alice talks, bob is at lunch.
            assert value(found, "pribox_queue_waiting", queue="sales") == len(engine.waiting["sales"]) == 1
            waited = service.runner.wall_now() - engine.callers["c2"].entered
            assert 0 <= value(found, "pribox_queue_longest_wait_seconds", queue="sales") <= waited
            assert value(found, "pribox_queue_agents", queue="sales", state="TALKING") == 1
            assert value(found, "pribox_queue_agents", queue="sales", state="NOT_READY") == 1
            assert value(found, "pribox_queue_agents", queue="sales", state="READY") == 0
            assert value(found, "pribox_agents", state="TALKING") == 1
            assert value(found, "pribox_agents", state="NOT_READY") == 1
            assert value(found, "pribox_agent_state", agent="alice", state="TALKING", reason="") == 1
            assert value(found, "pribox_agent_state", agent="bob", state="NOT_READY", reason="lunch") == 1
            assert value(found, "pribox_agent_state_since_seconds", agent="bob") == engine.agents["bob"].since
            # Counters since the log began equal the engine's.
            counters = engine.queue_counters["sales"]
            assert (counters.offered, counters.answered, counters.abandoned) == (3, 1, 1)
            for what in ("offered", "answered", "abandoned", "handled"):
                assert value(found, f"pribox_queue_{what}_total", queue="sales") == getattr(counters, what)
            assert value(found, "pribox_agent_answered_total", agent="alice") == 1
            assert value(found, "pribox_agent_state_seconds_total", agent="bob", state="NOT_READY",
                         reason="lunch") >= 0
            # Today and this interval, from the event log (as `pribox stats` computes them).
            for period in ("today", "interval"):
                assert value(found, "pribox_queue_calls", queue="sales", period=period, outcome="offered") == 3
                assert value(found, "pribox_queue_calls", queue="sales", period=period, outcome="answered") == 1
                assert value(found, "pribox_queue_calls", queue="sales", period=period, outcome="abandoned") == 1
                assert value(found, "pribox_queue_service_level_ratio", queue="sales", period=period) == 1.0
            assert value(found, "pribox_queue_service_level_threshold_seconds") == 20
            assert value(found, "pribox_agent_calls_today", agent="alice") == 1
            assert value(found, "pribox_agent_calls_today", agent="bob") == 0
            # The support queue has had no call: no service level is made up for it.
            assert ("pribox_queue_service_level_ratio", (("period", "today"), ("queue", "support"))) not in found

            # The call ends; a scrape sees it at once (the log is read incrementally).
            service.runner("call_ended", "c1")
            async with aiohttp.ClientSession() as http:
                found = await scrape(http, service)
            assert value(found, "pribox_queue_handled_total", queue="sales") == 1
            assert value(found, "pribox_agent_state", agent="alice", state="WRAP_UP", reason="") == 1
        finally:
            await service.stop(StopReason.SHUTDOWN)

    asyncio.run(scenario())


def test_calls_closed_in_the_cdr_store_are_counted_by_cause(tmp_path):
    store = CdrStore(records_path(tmp_path))
    for call_id, cause in (("a", 16), ("b", 16), ("c", 17), ("d", None)):
        store.open(CallRecord(call_id, called_number="1588"))
        if cause is not None:
            store.close(call_id, cause=cause, cleared_by="calling")
    store.flush()

    async def scenario():
        service = await start_service(tmp_path)
        try:
            async with aiohttp.ClientSession() as http:
                found = await scrape(http, service)
        finally:
            await service.stop(StopReason.SHUTDOWN)
        assert value(found, "pribox_calls_total", cause="16") == 2
        assert value(found, "pribox_calls_total", cause="17") == 1
        assert sum(v for (name, _), v in found.items() if name == "pribox_calls_total") == 3   # "d" is open

    try:
        asyncio.run(scenario())
    finally:
        store.stop()


def test_with_a_metrics_token_a_scrape_must_bring_it(tmp_path):
    async def scenario():
        service = await start_service(tmp_path, metrics_token=METRICS_TOKEN)
        try:
            async with aiohttp.ClientSession() as http:
                for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"},
                                {"Authorization": METRICS_TOKEN}):
                    async with http.get(base(service) + "/metrics", headers=headers) as response:
                        assert response.status == 401
                        assert "Bearer" in response.headers["WWW-Authenticate"]
                        assert "metrics_token" in await response.text()
                found = await scrape(http, service, {"Authorization": f"Bearer {METRICS_TOKEN}"})
                assert value(found, "pribox_cti_up") == 1
        finally:
            await service.stop(StopReason.SHUTDOWN)

    asyncio.run(scenario())

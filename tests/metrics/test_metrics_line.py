"""Spans, D-channels and calls in /metrics, from a real emulated E1 line with the ISDN stacks
on it (no daemon: the collectors take the spans as the daemon's services hold them), served by
a real aiohttp server on 127.0.0.1 and read back with the Prometheus parser."""

import asyncio

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.events import Answered, IncomingCall
from pbx_cti.metrics.collectors import CtiCollector, IsdnCollector, SpanCollector
from pbx_cti.metrics.http import add_metrics_route
from tests.metrics.metrics_world import samples, value
from tests.support.isdn_spans import SpanPair


async def serve_and_scrape(registry: CollectorRegistry, prepared: list) -> dict:
    app = web.Application()

    async def prepare() -> None:
        prepared.append(True)

    add_metrics_route(app, registry, prepare=prepare)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                return samples(await response.text())
    finally:
        await runner.cleanup()


def test_spans_dchannels_and_calls_as_show_span_and_show_calls_read_them():
    rig = SpanPair()
    try:
        rig.up()
        call_id = rig.box.setup("15881234", calling="0212345678")
        offer = rig.wait("net", IncomingCall)
        rig.net.proceed(offer.call_id)
        rig.net.alert(offer.call_id)
        rig.net.answer(offer.call_id)
        rig.wait("box", Answered, call_id=call_id)
        second = rig.box.setup("15889999")
        rig.wait("net", IncomingCall)              # a second call, offered but not answered

        spans = {rig.box.span_id: rig.box.span, rig.net.span_id: rig.net.span}
        isdn = {rig.box.span_id: rig.box}
        registry = CollectorRegistry()
        registry.register(SpanCollector(lambda: spans))
        registry.register(IsdnCollector(lambda: isdn, lambda: {16: 5, 34: 1}))
        registry.register(CtiCollector(lambda: None, lambda: 0.0))
        prepared = []
        found = asyncio.run(serve_and_scrape(registry, prepared))
        assert prepared == [True]

        box = str(rig.box.span_id)
        assert value(found, "pribox_cti_up") == 0
        assert value(found, "pribox_span_up", span=box) == 1
        assert value(found, "pribox_span_frame_aligned", span=box) == 1
        assert all(value(found, "pribox_span_alarm", span=box, alarm=a) == 0 for a in ("los", "lof", "ais", "rai"))
        counters = rig.box.span.counters()
        for name in ("slips", "crc4_errors", "fas_errors", "far_end_block_errors", "los_events", "hdlc_bad_fcs"):
            assert value(found, f"pribox_span_{name}_total", span=box) == counters[name]
        current = rig.box.span.performance.current
        assert value(found, "pribox_span_pm_seconds", span=box, kind="frame_loss", window="current") == \
            current.frame_loss_secs
        assert value(found, "pribox_dchannel_up", span=box) == 1
        assert value(found, "pribox_dchannel_layer1_up", span=box) == 1
        assert value(found, "pribox_dchannel_frames_total", span=box, direction="rx") == rig.box.counters["frames_in"] > 0
        assert value(found, "pribox_dchannel_frames_total", span=box, direction="tx") == rig.box.counters["frames_out"] > 0
        assert value(found, "pribox_bchannels", span=box, state="in_use") == 2
        assert value(found, "pribox_bchannels", span=box, state="idle") == 28
        states = {labels: v for (name, labels), v in found.items() if name == "pribox_calls_active"}
        assert value(found, "pribox_calls_active", span=box, state="active") == 1
        assert sum(states.values()) == len(rig.box.stack.calls) == 2
        assert value(found, "pribox_calls_total", cause="16") == 5
        assert value(found, "pribox_calls_total", cause="34") == 1

        # Cut the line into the box: layer 1 and the D-channel go down, LOS shows.
        rig.box.disconnect(second, Cause.NORMAL_CLEARING)
        rig.line.te.rx_impairment.set_cut(True)
        rig.run(2.5)
        found = asyncio.run(serve_and_scrape(registry, prepared))
        assert value(found, "pribox_span_up", span=box) == 0
        assert value(found, "pribox_span_alarm", span=box, alarm="los") == 1
        assert value(found, "pribox_dchannel_layer1_up", span=box) == 0
        assert value(found, "pribox_span_los_events_total", span=box) == rig.box.span.counters()["los_events"] >= 2
        assert value(found, "pribox_span_pm_seconds", span=box, kind="frame_loss", window="current") >= 1
    finally:
        rig.close()

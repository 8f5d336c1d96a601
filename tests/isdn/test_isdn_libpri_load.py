"""A full PRI from libpri in real time: the daemon on the embedded default with libpri as the
carrier on the NT span's D-channel export places 30 calls at once (15 on timeslots it names, 15 where it picks the channel), each
sending its own DTMF string; the box answers all of them, hears every string on its own call
and timeslot, measures every test tone, and every B-channel is idle once libpri has cleared.
The virtual-time variants (network-picked channels, churn, 31st call) are in
test_isdn_concurrent.py; this one proves the same against a stack that is not ours, on the
wall clock, and prints the CPU the whole daemon spent on it."""

import asyncio
import gc
import json
import time

from runtime.bus import Event, EventBus
from firmware.config.loader import default_text
from firmware.appliance.daemon import Daemon, FileSource
from firmware.isdn.events import CallAudioReport, DtmfDigit, IsdnFault
from firmware.isdn.q931.channels import PRI_TIMESLOTS
from firmware.isdn.q931.link import CallStateError
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from hil_tests.carrier import TONE_DBM0, LibpriCarrier, libpri_far_end_config
from tests.isdn.test_isdn_concurrent import digits_for
from tests.support.daemon_harness import run_beside, until


def test_libpri_fills_the_span_with_thirty_calls_in_real_time(tmp_path):
    text = default_text().replace('handler = "pbx"', 'handler = "answer"').replace("[console]\nenabled = true", "[console]\nenabled = false").replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")).replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2")
    config = tmp_path / "box.toml"
    config.write_text(libpri_far_end_config(text, str(tmp_path / "span2.dchan")))
    bus = EventBus()
    events = []
    bus.subscribe(Event, events.append)
    daemon = Daemon(FileSource(str(config)), load_box_services(), bus=bus, notifier=Notifier(environ={}))
    seen = {}

    async def scenario():
        await until(lambda: daemon.ctx is not None and daemon.ctx.peer("isdn") is not None
                     and 1 in daemon.ctx.peer("isdn").spans, 5, "isdn service")
        spans = daemon.ctx.peer("spans").spans
        box = daemon.ctx.peer("isdn").spans[1]
        carrier = LibpriCarrier(spans[2], daemon.clock, tone_seconds=0.3, ring_seconds=0.2)
        carrier.start()
        gc.collect()
        gc.freeze()  # as the demo does: a full collection must not stall real-time line pacing
        try:
            await until(lambda: carrier.ready and box.in_service, 5, "libpri and the box's D-channel up, channels restarted")
            wall, cpu = time.monotonic(), time.process_time()
            # TS17..31 asked for by number, then 15 calls where the carrier picks (TS1..15).
            calls = [carrier.place_call(timeslot=ts, digits=digits_for(n)) for n, ts in enumerate(PRI_TIMESLOTS[15:])]
            calls += [carrier.place_call(timeslot=None, digits=digits_for(15 + n)) for n in range(15)]
            seen["picked"] = [c.timeslot for c in calls[15:]]
            try:
                carrier.place_call(timeslot=None)
            except CallStateError as exc:
                seen["31st"] = str(exc)
            await until(lambda: all(c.answered_at is not None for c in calls), 5, "30 calls answered")
            seen["in_use_at_peak"] = sum(s == "in use" for s in box.stack.channels.summary().values())
            await until(lambda: all(c.done for c in calls), 8, "libpri to clear all 30 calls")
            seen["wall"], seen["cpu"] = time.monotonic() - wall, time.process_time() - cpu
            await until(lambda: not box.stack.calls, 3, "the box to finish its calls")
            seen["calls"] = calls
            seen["left"] = (set(box.stack.channels.summary().values()), box.counters["faults"],
                            box.counters["tx_queue_full"])
        finally:
            gc.unfreeze()
            carrier.close()

    assert asyncio.run(run_beside(daemon, scenario)) == 0
    calls = seen["calls"]
    assert seen["in_use_at_peak"] == 30
    assert seen["picked"] == list(PRI_TIMESLOTS[:15]) and "no idle B-channel (cause 34)" in seen["31st"]
    assert all(c.released_cause == 16 for c in calls)
    heard: dict[int, tuple[str, set[int]]] = {}
    for e in events:
        if isinstance(e, DtmfDigit) and e.span_id == 1:
            digits, timeslots = heard.get(e.call_id, ("", set()))
            heard[e.call_id] = (digits + e.digit, timeslots | {e.timeslot})
    by_timeslot = {next(iter(ts)): digits for digits, ts in heard.values() if len(ts) == 1}
    assert len(heard) == 30 and by_timeslot == {c.timeslot: c.digits for c in calls}
    reports = [e for e in events if isinstance(e, CallAudioReport) and e.span_id == 1]
    assert len(reports) == 30 and all(abs(r.tone_level_dbm0 - TONE_DBM0) <= 0.5 for r in reports)
    assert {r.timeslot: r.digits for r in reports} == {c.timeslot: c.digits for c in calls}
    assert seen["left"] == ({"idle"}, 0, 0) and not [e for e in events if isinstance(e, IsdnFault)]
    print(json.dumps({"libpri_calls": 30, "wall_s": round(seen["wall"], 2), "cpu_s": round(seen["cpu"], 3)}))

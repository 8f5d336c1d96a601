"""The daemon on the embedded default configuration, on virtual time: spans align, both
D-channels reach multiple-frame-established, the carrier simulator's call is answered by the box,
the DTMF it sends in-band is detected, the call clears; and stopping the daemon clears an active
call with cause 41, which the far end sees."""

import asyncio

from runtime.bus import Event, EventBus
from runtime.clock import LoopClock, virtual_time_loop
from firmware.config.loader import default_text
from firmware.appliance.daemon import Daemon, FileSource
from firmware.isdn.events import CallAudioReport, DtmfDigit, IsdnEvent
from firmware.isdn.q931.events import Released
from firmware.isdn.stack import DataLinkUp
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import ServiceState, load_box_services
from firmware.appliance.supervisor import format_status
from hil_tests.carrier import StackCarrier
from tests.support.daemon_harness import run_beside, until


def _daemon(tmp_path, loop):
    config = tmp_path / "box.toml"
    config.write_text(default_text().replace('handler = "pbx"', 'handler = "answer"').replace("[console]\nenabled = true", "[console]\nenabled = false").replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")).replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2"))
    bus = EventBus()
    events = []
    bus.subscribe(Event, events.append)
    daemon = Daemon(FileSource(str(config)), load_box_services(), clock=LoopClock(loop), bus=bus,
                    notifier=Notifier(environ={}))
    return daemon, events


def _run(loop, daemon, scenario):
    try:
        return loop.run_until_complete(run_beside(daemon, scenario))
    finally:
        loop.close()


def test_default_config_carrier_call_answered_with_dtmf_then_shutdown_clears_with_41(tmp_path):
    loop = virtual_time_loop()
    daemon, events = _daemon(tmp_path, loop)
    seen = {}

    async def scenario():
        await until(lambda: daemon.ctx is not None and daemon.ctx.peer("isdn") is not None
                     and 1 in daemon.ctx.peer("isdn").spans, 5, "isdn service")
        isdn = daemon.ctx.peer("isdn")
        box, net = isdn.spans[1], isdn.spans[2]
        seen["roles"] = (box.role, net.role)
        await until(lambda: box.in_service and net.in_service, 3, "both D-channels up, channels restarted")
        seen["up_at"] = loop.time()
        spans = daemon.ctx.peer("spans").spans
        seen["aligned"] = all(s.status().line.multiframe_aligned for s in spans.values())
        seen["layer2"] = (box.status()["layer2"], net.status()["layer2"])
        carrier = StackCarrier(net)
        first = carrier.place_call()
        await until(lambda: first.done, 10, "the first call to clear")
        await asyncio.sleep(0.1)
        seen["first"] = first
        carrier.hangup_after_audio = False
        second = carrier.place_call()
        await until(lambda: second.answered_at is not None, 5, "the second call answered")
        seen["health"] = format_status(daemon.status())
        seen["second"] = second
        daemon.request_stop("SIGTERM")

    assert _run(loop, daemon, scenario) == 0
    assert seen["roles"] == ("user", "network")
    assert seen["aligned"] and seen["up_at"] < 1.0
    assert seen["layer2"] == ("MULTIPLE_FRAME_ESTABLISHED",) * 2
    first = seen["first"]
    assert first.answered_at is not None and first.released_cause == 16
    digits = [e for e in events if isinstance(e, DtmfDigit)]
    assert "".join(d.digit for d in digits if d.call_id == 1) == "1234#"
    report = next(e for e in events if isinstance(e, CallAudioReport))
    assert report.span_id == 1 and abs(report.tone_level_dbm0 + 10.0) <= 0.5
    assert "isdn         running         0  span 1: D-channel up, 1 call; span 2: D-channel up, 1 call" \
        in seen["health"]
    second = seen["second"]
    # The box went down: its DISCONNECT carried cause 41 and the carrier saw it.
    assert second.cause_received == 41 and second.released_cause == 41
    released = [e.event.cause for e in events if isinstance(e, IsdnEvent) and isinstance(e.event, Released)
                and e.event.call_id == 2]
    assert released == [41, 41]
    assert sum(isinstance(e, IsdnEvent) and isinstance(e.event, DataLinkUp) for e in events) == 4
    assert [e.state for e in events if getattr(e, "service", None) == "isdn"][-1] is ServiceState.STOPPED


def test_an_isdn_entry_on_an_exported_dchannel_is_left_alone_and_said_so(tmp_path):
    loop = virtual_time_loop()
    daemon, events = _daemon(tmp_path, loop)
    config = tmp_path / "box.toml"
    config.write_text(config.read_text().replace('wire_role = "listen"',
                                                 f'wire_role = "listen"\ndchannel_export = "{tmp_path / "x.dchan"}"', 1))
    seen = {}

    async def scenario():
        await until(lambda: daemon.ctx is not None and daemon.ctx.peer("isdn") is not None
                     and 1 in daemon.ctx.peer("isdn").spans, 5, "isdn service")
        isdn = daemon.ctx.peer("isdn")
        await until(lambda: isdn.spans[1].status()["layer1"] == "ACTIVE", 3, "layer 1 on span 1")
        seen["spans"] = list(isdn.spans)
        seen["health"] = isdn.health()

    assert _run(loop, daemon, scenario) == 0
    assert seen["spans"] == [1, 3, 4]
    assert not seen["health"].ok
    assert "span 2: not ours (D-channel exported)" in seen["health"].detail

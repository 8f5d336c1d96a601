"""The PBX inside the daemon on the embedded default, on the virtual clock: the carrier's call
runs the seed's flow, `show calls` follows it, a stop clears it with cause 41, and its record is
in the CDR database, closed."""

from __future__ import annotations

import asyncio

import pytest

from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from firmware.config.loader import default_text
from hil_tests.carrier import StackCarrier
from pbx_cti.cdr.reader import CdrReader
from pbx_cti.cdr.schema import records_path
from pbx_cti.ivr.prompts_setup import make_prompts
from pbx_cti.pbx.model import CallEnded
from runtime.bus import EventBus
from runtime.clock import LoopClock, virtual_time_loop
from tests.support.daemon_harness import until


def test_a_daemon_stop_clears_an_ivr_call_with_41_and_closes_its_record(tmp_path):
    prompts = tmp_path / "prompts"
    make_prompts(prompts, report=lambda line: None)
    text = default_text().replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")).replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2")
    text = text.replace("[console]\nenabled = true", "[console]\nenabled = false")
    text += f'\n[ivr]\nprompt_dir = "{prompts}"\n'
    config = tmp_path / "box.toml"
    config.write_text(text)
    state = tmp_path / "state"
    bus = EventBus()
    ended = []
    bus.subscribe(CallEnded, ended.append)
    loop = virtual_time_loop()
    daemon = Daemon(FileSource(str(config)), load_box_services(), clock=LoopClock(loop), bus=bus,
                    notifier=Notifier(environ={}), state_dir=str(state))
    seen = {}

    async def scenario():
        try:
            await until(lambda: daemon.ctx is not None and daemon.ctx.peer("isdn") is not None
                        and 2 in daemon.ctx.peer("isdn").spans, 5, "isdn service")
            isdn = daemon.ctx.peer("isdn")
            box, net = isdn.spans[1], isdn.spans[2]
            await until(lambda: box.in_service and net.in_service, 3, "both D-channels up and restarted")
            carrier = StackCarrier(net, digits="", tone_seconds=0.0, hangup_after_audio=False)
            call = carrier.place_call(timeslot=9)
            await until(lambda: call.answered_at is not None, 3, "the IVR answers")
            await asyncio.sleep(4.0)
            from firmware.isdn.show_calls import show_calls
            seen["show"] = show_calls(isdn.spans.values(), loop.time())
            seen["call"] = call
        finally:
            daemon.request_stop("test")

    async def main():
        scene = asyncio.ensure_future(scenario())
        code = await daemon.run(install_signals=False)
        await scene
        return code

    try:
        assert loop.run_until_complete(main()) == 0
    finally:
        loop.close()
    assert "route ivr main" in seen["show"] and "IVR       : node menu" in seen["show"]
    assert seen["call"].cause_received == 41
    assert ended and ended[0].summary["cause"] == 41
    record = CdrReader(records_path(str(state))).calls()[0]
    assert record.state == "closed" and record.cause == 41 and record.cleared_by == "box"
    assert record.called_number == "15881234" and record.called_mapped == "7000"
    assert record.calling_number == "0212345678" and record.redirecting_number == "07012345678"
    assert record.route_entry == "7000" and record.route_target == "ivr:main"
    assert list(record.ivr_path) == ["greeting", "menu"] and record.answer_time is not None
    assert record.legs[0].span == 1 and record.legs[0].channel == 9

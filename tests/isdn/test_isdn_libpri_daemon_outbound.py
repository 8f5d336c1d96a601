"""The daemon on the embedded default in real time with libpri as the carrier: at the first
D-channel link-up the box restarts its B-channels (the [[isdn]] default), libpri acknowledges,
and then the box places a call out on the PRI through the IsdnSpan API, in u-law, on the channel
its [[isdn]] hunting picks, which the carrier answers and the box clears."""

import asyncio

from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from firmware.config.loader import default_text
from firmware.isdn.events import IsdnEvent
from firmware.isdn.q931.events import Answered, Released, RestartDone
from hil_tests.carrier import LibpriCarrier, libpri_far_end_config
from runtime.bus import Event, EventBus
from tests.support.daemon_harness import run_beside, until


def test_first_link_up_restart_then_an_outbound_call_to_libpri(tmp_path):
    text = default_text().replace("[console]\nenabled = true", "[console]\nenabled = false").replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")).replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2")
    # Span 1 hunts upwards (the user side's default is down, from timeslot 31).
    text = text.replace('span = 1\nswitchtype = "euroisdn_e1"\nrole = "user"\n',
                        'span = 1\nswitchtype = "euroisdn_e1"\nrole = "user"\nhunting = "ascending"\n')
    assert 'hunting = "ascending"' in text
    config = tmp_path / "box.toml"
    config.write_text(libpri_far_end_config(text, str(tmp_path / "span2.dchan")))
    bus = EventBus()
    events = []
    bus.subscribe(Event, events.append)
    daemon = Daemon(FileSource(str(config)), load_box_services(), bus=bus, notifier=Notifier(environ={}))
    seen = {}

    def box_events(kind):
        return [e.event for e in events if isinstance(e, IsdnEvent) and e.span_id == 1 and isinstance(e.event, kind)]

    async def scenario():
        await until(lambda: daemon.ctx is not None and daemon.ctx.peer("isdn") is not None
                     and 1 in daemon.ctx.peer("isdn").spans, 5, "isdn service")
        spans = daemon.ctx.peer("spans").spans
        box = daemon.ctx.peer("isdn").spans[1]
        carrier = LibpriCarrier(spans[2], daemon.clock, ring_seconds=0.2)
        carrier.start()
        try:
            await until(lambda: box_events(RestartDone), 5, "the box's RESTART acknowledged")
            seen["restart"] = box_events(RestartDone)
            seen["libpri_restarts"] = [e for e in carrier.peer.history if e.kind == "restart"]
            assert not box.restarting
            call_id = box.setup("0212345678", calling="15881234", law="ulaw")
            seen["law"] = box.law_of(call_id)
            await until(lambda: box_events(Answered), 5, "libpri to answer the box's call")
            seen["ring"] = next(e for e in carrier.peer.history if e.kind == "ring")
            box.disconnect(call_id)
            await until(lambda: box_events(Released), 5, "the call to clear")
        finally:
            carrier.close()

    assert asyncio.run(run_beside(daemon, scenario)) == 0
    (done,) = seen["restart"]
    assert done.whole_interface and done.acknowledged and not done.by_peer and len(done.timeslots) == 30
    assert len(seen["libpri_restarts"]) == 1
    ring = seen["ring"]
    assert (ring.called, ring.calling, ring.layer1, ring.channel) == ("0212345678", "15881234", 0x22, 1)
    assert seen["law"] == "ulaw"
    assert box_events(Released)[0].cause == 16

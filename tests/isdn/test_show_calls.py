"""`show calls` and `show channels` over a lockstep box and carrier: a ringing call's state and
setup time, an answered call's connected time, a call the box places (its own calling number),
restarting and out-of-service channels, and what each says when there is nothing to show."""

from types import SimpleNamespace

import firmware.isdn.console_commands  # noqa: F401  (registers the commands, as the daemon's import does)
from firmware.console.commands import registry
from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.calls import IN_RECEIVED
from firmware.isdn.show_calls import bearer_text, duration_text, show_calls, show_channels
from tests.support.isdn_line import BoxAndCarrier


def run(command: str, ctx) -> str:
    parsed = registry.parse(command)
    return parsed.node.handler(ctx, parsed.args)


def test_a_ringing_call_then_answered_then_gone():
    rig = BoxAndCarrier(hangup_after_audio=False)
    try:
        rig.up()
        ctx = SimpleNamespace(services=SimpleNamespace(
            clock=rig.clock, isdn=SimpleNamespace(spans={rig.box.span_id: rig.box, rig.net.span_id: rig.net})))
        assert run("show calls", ctx) == "No active calls"
        call = rig.carrier.place_call(timeslot=20, forwarded_from=None)
        rig.run_until(lambda: any(c.state == IN_RECEIVED for c in rig.box.stack.calls.values()), 1.0)
        box_call = next(iter(rig.box.stack.calls.values()))
        rig.run(0.5)
        ringing = show_calls([rig.box], rig.clock.now())
        assert ringing.startswith("Total active calls: 1\n")
        assert "Channel   : B19 (TS20)" in ringing and "Redirect" not in ringing
        assert "State     : U7 Call received" in ringing
        assert "Up        : setup 00:00:00 ago, not connected" in ringing
        rig.run_until(lambda: call.answered_at is not None and box_call.connect_time is not None, 5.0)
        rig.run(10.5 - (rig.clock.now() - box_call.connect_time))   # AnswerAndListen hangs up at 60 s
        answered = run("show calls", ctx)
        assert answered.count("connected 00:00:10 ago") == 2 and "Total active calls: 2" in answered
        rig.box.try_disconnect(box_call.id, 16)
        rig.run_until(lambda: not rig.box.stack.calls and not rig.net.stack.calls, 2.0)
        assert run("show calls", ctx) == "No active calls"
    finally:
        rig.close()


def test_a_call_the_box_places_carries_our_numbers_and_bearer():
    rig = BoxAndCarrier()
    try:
        rig.up()
        rig.box.setup("0311223344", calling="15881234",
                      bearer=ie.BearerCapability(ie.TransferCapability.AUDIO_3K1, ie.Layer1.ULAW))
        out = show_calls([rig.box], rig.clock.now())
        assert "outgoing" in out and "callref 0x0001" in out
        assert "Calling   : 15881234" in out and "Called    : 0311223344" in out
        assert "State     : U1 Call initiated" in out and "Bearer    : 3.1kHz audio, G.711 u-law" in out
    finally:
        rig.close()


def test_show_channels_names_restarting_and_out_of_service_channels():
    rig = BoxAndCarrier()
    try:
        rig.up()
        rig.box.stack.q931.set_out_of_service(31)
        rig.box.restart([5])
        out = show_channels([rig.box, rig.net], rig.box.span_id)
        assert "B5       5     restarting" in out and "B30      31    out of service" in out
        assert "28 idle, 0 in use, 1 restarting, 1 out of service" in out
        rig.run(0.2)
        assert "B5       5     idle" in show_channels([rig.box])
        both = show_channels([rig.net, rig.box])
        assert both.index("span 1 (Se1:15)") < both.index("span 2 (Se2:15)")     # in span order
        nothing = SimpleNamespace(services=SimpleNamespace(clock=rig.clock))
        assert run("show channels", nothing).startswith("No ISDN D-channel is running")
        assert run("show calls", nothing).startswith("No active calls (no ISDN D-channel is running")
    finally:
        rig.close()


def test_durations_and_bearers_read_plainly():
    assert duration_text(0) == "00:00:00" and duration_text(3725.9) == "01:02:05" and duration_text(-3) == "00:00:00"
    assert bearer_text(None) == "-"
    assert bearer_text(ie.BearerCapability(ie.TransferCapability.UNRESTRICTED_DIGITAL, None)) == "64k data"
    assert bearer_text(ie.BearerCapability(0x1F, 0x1E)) == "capability 0x1F, layer 1 0x1E"

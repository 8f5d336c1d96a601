"""The console sees the daemon's ISDN service: `show isdn status` from `ctx.services.isdn`, and
`debug isdn q931` fed by the service's per-span IsdnTrace events."""

from types import SimpleNamespace

import firmware.isdn.console_commands  # noqa: F401  (registers show isdn status, as the daemon's import does)
from firmware.console import isdn_debug
from firmware.console.commands import CommandTree, registry
from firmware.console.debugging import debug_topics
from firmware.isdn.events import IsdnTrace
from tests.support.isdn_line import BoxAndCarrier


def test_show_isdn_status_at_the_console_and_the_debug_topic_takes_the_service_traces():
    rig = BoxAndCarrier(hangup_after_audio=False)
    try:
        rig.up()
        call = rig.carrier.place_call(timeslot=7)
        rig.run_until(lambda: call.answered_at is not None, 5.0)
        parsed = registry.parse("sh isdn st")
        ctx = SimpleNamespace(services=SimpleNamespace(isdn=SimpleNamespace(spans={2: rig.box, 1: rig.net})))
        out = parsed.node.handler(ctx, parsed.args)
        assert out.startswith("Global ISDN Switchtype = primary-net5")
        assert out.count("1 Active Layer 3 Call(s)") == 2 and "channel B7 (TS7)" in out
        nothing = parsed.node.handler(SimpleNamespace(services=SimpleNamespace()), parsed.args)
        assert nothing.startswith("No ISDN D-channel is running")
        isdn_debug.install(CommandTree())   # afresh: other tests register their own "isdn q931"
        topic = debug_topics["isdn q931"]
        assert IsdnTrace in topic.kinds
        trace = next(e for e in rig.events if isinstance(e, IsdnTrace))
        assert topic.format(trace).startswith("ISDN Se")
    finally:
        rig.close()

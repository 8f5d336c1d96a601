"""Calls the box places: the dial plan sends 2001 to an agent's extension behind a second PRI
(the center's existing PBX, the simulator in the user role), and the caller and the extension
are bridged on the media plane — E1 in, E1 out, audio both ways."""

from __future__ import annotations

import pytest

from drivers.lockstep import LockstepLine
from firmware.config.loader import default_text, load_text
from firmware.isdn.answer import AnswerAndListen
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.events import CallAudioReport
from firmware.isdn.stack import PriStack
from hil_tests.carrier import StackCarrier
from pbx_cti.ivr.prompts_setup import make_prompts
from pbx_cti.pbx.core import Pbx, PbxSpanHandler
from pbx_cti.pbx.model import CallEnded
from pbx_cti.pbx.service import build_plan
from runtime.bus import Event, EventBus
from runtime.clock import ManualClock

# The embedded default has the center's PBX on span 3 (trunk group "center", the extension trunk).
CENTER = '''
[[dialplan]]
pattern = "_2XXX"
target = "extension:2001"
'''


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    directory = tmp_path_factory.mktemp("prompts")
    make_prompts(directory, report=lambda line: None)
    return directory


class TwoPris:
    def __init__(self, config, *, phone_hangs_up_after: float = 60.0, carrier_hangs_up: bool = True,
                 state_dir: str | None = None, carrier_digits: str = "2580"):
        self.clock, self.bus = ManualClock(), EventBus()
        self.events: list[Event] = []
        self.bus.subscribe(Event, self.events.append)
        self.carrier_line = LockstepLine(clock=self.clock, bus=self.bus, nt_config={"id": 2}, te_config={"id": 1}).open()
        self.center_line = LockstepLine(clock=self.clock, bus=self.bus, nt_config={"id": 3}, te_config={"id": 4}).open()
        self.plan = build_plan(config, state_dir)
        self.pbx = Pbx(lambda: self.plan, self.clock, self.bus)
        self.box = IsdnSpan(self.carrier_line.te, PriStack("user"), clock=self.clock, bus=self.bus)
        self.box_center = IsdnSpan(self.center_line.nt, PriStack("network"), clock=self.clock, bus=self.bus)
        self.box.handler = PbxSpanHandler(self.box, self.pbx)
        self.box_center.handler = PbxSpanHandler(self.box_center, self.pbx)
        self.net = IsdnSpan(self.carrier_line.nt, PriStack("network"), clock=self.clock, bus=self.bus)
        self.carrier = StackCarrier(self.net, digits=carrier_digits, tone_seconds=1.0 if carrier_digits else 0.0,
                                    hangup_after_audio=carrier_hangs_up)
        self.phone = IsdnSpan(self.center_line.te, PriStack("user"), clock=self.clock, bus=self.bus)
        self.phone.handler = AnswerAndListen(self.phone, ring_seconds=1.0, max_call_seconds=phone_hangs_up_after)
        self.stacks = [self.box, self.box_center, self.net, self.phone]
        for isdn in self.stacks:
            isdn.start()

    def run_until(self, condition, timeout):
        self.carrier_line.run_until(condition, timeout, step=0.01)

    def close(self):
        for isdn in self.stacks:
            isdn.stop()
        self.carrier_line.close()
        self.center_line.close()


def test_a_call_to_an_extension_goes_out_on_the_second_pri_and_is_bridged(prompts):
    text = default_text()
    config = load_text(text + CENTER + f'\n[ivr]\nprompt_dir = "{prompts}"\n', "two-pris.toml")
    rig = TwoPris(config)
    try:
        rig.run_until(lambda: all(s.in_service for s in rig.stacks), 3.0)
        call = rig.carrier.place_call(called="2001", timeslot=4)
        rig.run_until(lambda: call.done, 15.0)
        rig.carrier_line.run(0.3)
    finally:
        rig.close()
    assert call.answered_at is not None and call.released_cause == 16
    # The phone behind the second PRI answered and heard the caller's digits and tone.
    report = next(e for e in rig.events if isinstance(e, CallAudioReport) and e.span_id == 4)
    assert report.digits == "2580" and abs(report.tone_level_dbm0 + 10.0) <= 0.5
    ended = next(e for e in rig.events if isinstance(e, CallEnded)).summary
    assert ended["route"]["kind"] == "extension" and ended["route"]["dialled"] == "2001"
    assert ended["route"]["out_span"] == 3 and ended["cause"] == 16 and ended["cleared_by"] == "caller"
    assert not rig.box.stack.calls and not rig.box_center.stack.calls and not rig.pbx.active and not rig.pbx.outbound


def test_an_extension_trunk_with_no_free_channel_clears_the_caller_with_34(prompts):
    text = default_text()
    config = load_text(text + CENTER + f'\n[ivr]\nprompt_dir = "{prompts}"\n', "two-pris.toml")
    rig = TwoPris(config)
    try:
        rig.run_until(lambda: all(s.in_service for s in rig.stacks), 3.0)
        rig.center_line.nt.wire.plugged = False                  # the center's PRI is down
        rig.run_until(lambda: not rig.box_center.in_service, 5.0)
        call = rig.carrier.place_call(called="2001", timeslot=5)
        rig.run_until(lambda: call.done, 5.0)
    finally:
        rig.close()
    assert call.cause_received == 34 and call.answered_at is None


NAMED_TRUNK = 'extension_trunk = "center"    # where agents\' extensions are rung\n'


def test_config_check_wants_the_extension_trunk_when_the_dial_plan_names_extensions():
    from firmware.config.errors import ConfigError
    with pytest.raises(ConfigError, match="the dial plan names extensions: say which trunk group"):
        load_text(default_text().replace(NAMED_TRUNK, "") + CENTER, "box.toml")
    with pytest.raises(ConfigError, match='pbx.extension_trunk: no \\[\\[trunk_group\\]\\] named "nowhere"'):
        load_text(default_text().replace(NAMED_TRUNK, 'extension_trunk = "nowhere"\n') + CENTER, "box.toml")


def test_when_the_extension_hangs_up_the_caller_is_cleared_with_its_cause(prompts):
    text = default_text()
    config = load_text(text + CENTER + f'\n[ivr]\nprompt_dir = "{prompts}"\n', "two-pris.toml")
    rig = TwoPris(config, phone_hangs_up_after=2.0, carrier_hangs_up=False)
    try:
        rig.run_until(lambda: all(s.in_service for s in rig.stacks), 3.0)
        call = rig.carrier.place_call(called="2001", timeslot=6)
        rig.run_until(lambda: call.done, 15.0)
        rig.carrier_line.run(0.3)
    finally:
        rig.close()
    assert call.answered_at is not None and call.cause_received == 16
    ended = next(e for e in rig.events if isinstance(e, CallEnded)).summary
    assert ended["cleared_by"] == "called" and ended["cause"] == 16

"""Legs the box places over SIP, on the virtual clock (tests/sip/agent_rig.py): an extension with
a registered contact rings that phone (INVITE with our offer, the caller's law first), is bridged
when it answers, and its refusals reach the caller or the contact center as Q.850 causes (RFC
3398); without a contact the extension trunk is used as before; the registrar's presence
reaches the bus as `ExtensionPresence`; a `trunk:` route whose name is a `[[sip_trunk]]` goes
out over SIP with the gateway's outbound mapping and Diversion; E1 -> SIP and SIP -> E1."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.sip import events as sip
from pbx_cti.ivr.prompts_setup import make_prompts
from pbx_cti.pbx.endpoints import PHONE, SPANS, extension as where_is_extension
from pbx_cti.pbx.model import CallEnded, CallUpdated
from pbx_cti.pbx.presence import ExtensionPresence
from tests.pbx.test_pbx_outbound import CENTER
from tests.sip.agent_rig import PEER_TRUNK, AgentRig
from tests.support.pbx_line import pbx_config
from tests.support.sip_pbx import SIP070

OUT_TO_PEER = PEER_TRUNK + '''
translation_out = "peer-out"

[[translation_profile]]
name = "peer-out"
called = "peer-called"

[[translation_rule]]
name = "peer-called"
[[translation_rule.rule]]
match = '/^0519(\\d+)$/'
replace = '/+82519\\1/'
set_type = "international"

[[dialplan]]
pattern = "_0519X."
target = "trunk:peer"

[[dialplan]]
pattern = "_031X."
target = "trunk:carrier"
'''


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    directory = tmp_path_factory.mktemp("prompts")
    make_prompts(directory, report=lambda line: None)
    return directory


def tone(hz: float, seconds: float, amplitude: float = 6000.0) -> np.ndarray:
    n = int(seconds * 8000)
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(n) / 8000)).astype(np.int16)


def strongest_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(float)))
    return float(np.argmax(spectrum[1:]) + 1) * 8000 / len(samples)


def test_an_extension_with_a_registered_phone_is_rung_over_sip_and_both_hear_each_other(prompts):
    rig = AgentRig(pbx_config(prompts, SIP070 + CENTER), phones=("2001",))
    try:
        rig.up()
        assert where_is_extension(rig.pbx.sip, rig.plan, "2001").kind == PHONE
        call = rig.carrier.call_box("2001")
        phone = rig.phones["2001"]
        rig.run_until(lambda: call.answered, 4.0)
        agent = next(iter(phone.by_id.values()))
        assert agent.incoming.offer.codec == "PCMA"             # the caller's law first: no transcoding
        rig.far_rtp.media.play(call.leg_no, tone(1000, 1.5))
        rig.far_rtp.media.play(agent.leg_no, tone(600, 1.5))
        rig.far_rtp.media.record(call.leg_no, seconds=2.0)
        rig.far_rtp.media.record(agent.leg_no, seconds=2.0)
        rig.run(1.6)
        caller_heard = rig.far_rtp.media.recorded(call.leg_no)
        agent_heard = rig.far_rtp.media.recorded(agent.leg_no)
        call.hang_up()
        rig.run_until(lambda: agent.released is not None and not rig.pbx.active, 2.0)
    finally:
        rig.close()
    assert abs(strongest_hz(agent_heard[-4000:]) - 1000) < 20
    assert abs(strongest_hz(caller_heard[-4000:]) - 600) < 20
    ended = rig.of(CallEnded)[0].summary
    assert ended["route"]["kind"] == "extension" and ended["route"]["out_sip"].startswith("sip:2001@")
    assert ended["cleared_by"] == "caller" and agent.released.cause == 16
    assert rig.pool.legs_open() == 0 and not rig.box.ua.calls


def test_without_a_registered_contact_the_extension_trunk_is_used(prompts):
    rig = AgentRig(pbx_config(prompts, SIP070 + CENTER), phones=("2001",), unregistered=("2001",))
    try:
        rig.run(0.5)
        destination = where_is_extension(rig.pbx.sip, rig.plan, "2001")
    finally:
        rig.close()
    assert destination.kind == SPANS and destination.group == "center"


@pytest.mark.parametrize("cause, status", [(17, 486), (21, 403), (19, 480)])
def test_a_phone_that_refuses_clears_the_caller_with_the_rfc3398_cause(prompts, cause, status):
    rig = AgentRig(pbx_config(prompts, SIP070 + CENTER), phones=("2001",))
    try:
        rig.up()
        rig.phones["2001"].refuse_cause = cause
        call = rig.carrier.call_box("2001")
        rig.run_until(lambda: call.released is not None, 3.0)
    finally:
        rig.close()
    failure = next(e for e in call.events if isinstance(e, sip.Disconnected))
    # the phone's status became a Q.850 cause in the core and that cause went back to the carrier
    assert call.released.cause == cause and failure.status == status
    assert rig.pool.legs_open() == 0 and not rig.pbx.active


class Center:
    """The core's ContactCenter as the distributor is to it: what it was told, and its answers."""

    def __init__(self):
        self.told: list[tuple] = []

    def route(self, call, action):
        self.told.append(("route", call.id))
        call.data["queue"] = "q"
        return None

    def agent_answered(self, call, agent):
        self.told.append(("answered", agent))
        return True

    def agent_connected(self, call, agent):
        self.told.append(("connected", agent))

    def agent_failed(self, call, agent, cause):
        self.told.append(("failed", agent, cause))

    def call_gone(self, call):
        self.told.append(("gone", call.id))

    def request_callback(self, call, action):
        pass


def test_the_contact_centers_offer_rings_the_agents_sip_phone_and_a_refusal_is_agent_failed(prompts):
    rig = AgentRig(pbx_config(prompts, SIP070), phones=("2001", "2002"))
    center = rig.pbx.center = Center()
    try:
        rig.up()
        call = rig.carrier.call_box("07012345678")      # the IVR answers: a caller the center could queue
        rig.run_until(lambda: call.answered, 2.0)
        call_id = next(iter(rig.pbx.by_call))
        rig.pbx.call(call_id).data["queue"] = "q"        # as the center's route() marks a queued caller
        rig.phones["2002"].refuse_cause = 17
        assert rig.pbx.offer(call_id, "kim", "2002") is None
        rig.run_until(lambda: any(t[0] == "failed" for t in center.told), 3.0)
        assert rig.pbx.offer(call_id, "lee", "2001") is None
        rig.run_until(lambda: ("connected", "lee") in center.told, 3.0)
        bridged = rig.pbx.agent_leg_media(call_id)
        call.hang_up()
        rig.run_until(lambda: not rig.pbx.active and not rig.box.ua.calls, 3.0)
    finally:
        rig.close()
    assert ("failed", "kim", 17) in center.told                  # 486 Busy Here -> cause 17
    assert bridged is not None and ("gone", call_id) in center.told
    update = next(u for u in rig.of(CallUpdated) if u.fields.get("agent") == "lee")
    assert update.fields["out_sip"].startswith("sip:2001@")
    assert rig.pool.legs_open() == 0


def test_registering_and_unregistering_a_phone_is_extension_presence_on_the_bus(prompts):
    rig = AgentRig(pbx_config(prompts, SIP070), phones=("2001",))
    try:
        rig.up()
        phone = rig.phones["2001"].calls
        phone.ua.trunks["box"] = phone.ua.status["box"].trunk = \
            type(phone.ua.trunks["box"])(**{**phone.ua.trunks["box"].__dict__, "expires": 0})
        phone.ua.status["box"].timers["register"] = rig.clock.now()     # re-REGISTER with Expires: 0
        phone.ua.handle_timer(rig.clock.now())
        phone._pump()
        rig.run_until(lambda: not rig.registered("2001"), 2.0)
    finally:
        rig.close()
    presence = [(e.extension, e.available) for e in rig.of(ExtensionPresence)]
    assert presence == [("2001", True), ("2001", False)]


def test_a_trunk_route_to_a_sip_trunk_goes_out_over_sip_mapped_with_diversion_e1_to_sip(prompts):
    rig = AgentRig(pbx_config(prompts, SIP070 + OUT_TO_PEER), phones=(), peer=True, pri=True)
    try:
        rig.up()
        call = rig.pri.place_call(called="05199990000", calling="0212345678", forwarded_from="15881234")
        rig.run_until(lambda: call.answered_at is not None if hasattr(call, "answered_at") else
                      any(c.answered for c in rig.peer.by_id.values()), 4.0)
        far = next(iter(rig.peer.by_id.values()))
        rig.run(0.5)
        invite = far.incoming
        rig.far_rtp.media.play(far.leg_no, tone(600, 1.0))
        rig.pri.hangup(call)
        rig.run_until(lambda: far.released is not None and not rig.pbx.active, 3.0)
    finally:
        rig.close()
    assert invite.called == "825199990000"                # the peer-out mapping: international
    assert invite.calling.digits == "0212345678"
    # Diversion: the forwarding number as the inbound mapping left it (national, with its 0)
    assert invite.redirecting is not None and invite.redirecting.digits == "015881234"
    assert invite.redirecting.reason == sip.REASON_UNCONDITIONAL      # the PRI's reason, kept
    ended = rig.of(CallEnded)[0].summary
    assert ended["route"]["kind"] == "trunk" and ended["route"]["out_sip"] == "peer"
    assert far.released.cause == 16 and ended["cleared_by"] == "caller"


def test_a_sip_trunk_call_routed_to_the_pri_goes_out_on_a_b_channel_with_early_media(prompts):
    rig = AgentRig(pbx_config(prompts, SIP070 + OUT_TO_PEER), phones=(), pri=True)
    try:
        rig.up()
        call = rig.carrier.call_box("0311234567", redirecting="15881234")
        rig.run_until(lambda: call.answered, 6.0)
        progress = [e for e in call.events if isinstance(e, (sip.Progress, sip.Alerting))]
        box_call = rig.pri.calls[0]
        call.hang_up()
        rig.run_until(lambda: not rig.pbx.active and not rig.box.ua.calls, 3.0)
    finally:
        rig.close()
    # the PRI's in-band ALERTING (progress indicator 8) became 183 with SDP: early media
    assert progress and progress[0].media is not None
    assert box_call.called == "0311234567"
    ended = rig.of(CallEnded)[0].summary
    assert ended["route"]["kind"] == "trunk" and ended["route"]["out_span"] == 1


def test_the_contact_center_hears_extension_presence_an_agent_whose_phone_goes_is_not_ready(tmp_path):
    from pbx_cti.cti.model import REASON_DEVICE_UNAVAILABLE, AgentState
    from tests.acd.center_rig import Center
    center = Center(tmp_path)
    try:
        center.runner("login", "lee", "2002")
        center.runner("ready", "lee")
        center.bus.publish(ExtensionPresence(center.clock.now(), "2002", False))   # lee's phone unregistered
        center.run(0.1)
        gone = center.engine.agents["lee"]
        state_gone, reason_gone = gone.state, gone.reason
        refused = None
        try:
            center.runner("ready", "lee")
        except Exception as exc:        # the engine refuses READY while the device is away
            refused = str(exc)
        center.bus.publish(ExtensionPresence(center.clock.now(), "2002", True))    # registered again
        center.run(0.1)
        center.runner("ready", "lee")
        back = center.engine.agents["lee"].state
    finally:
        center.close()
    assert state_gone is AgentState.NOT_READY and reason_gone == REASON_DEVICE_UNAVAILABLE
    assert refused is not None and "unavailable" in refused
    assert back is AgentState.READY


def test_show_sip_registrations_lists_each_extensions_contacts(prompts):
    from pbx_cti.pbx.sip_console import show_sip_registrations
    rig = AgentRig(pbx_config(prompts, SIP070), phones=("2001", "2002"))
    try:
        before = show_sip_registrations(rig.registrar, rig.clock.now())
        rig.up()
        rig.run(5.0)
        table = show_sip_registrations(rig.registrar, rig.clock.now())
    finally:
        rig.close()
    assert before == "No SIP phone is registered"
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["Extension", "Reachable", "Contact"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"2001", "2002"} and rows["2001"][1] == "yes"
    assert rows["2001"][2].startswith("sip:2001@127.0.0.10") and rows["2001"][3] == "127.0.0.10:5060"
    assert rows["2001"][5] in ("54s", "55s") and rows["2001"][6] in ("4s", "5s")    # 60 s granted, 5 s ago
    assert show_sip_registrations(None, 0.0).startswith("No registrar")


def test_sip_phone_section_takes_extensions_with_passwords_and_names_bad_keys():
    from firmware.config.errors import ConfigError
    from firmware.config.loader import default_text, load_text
    from pbx_cti.pbx.sip_service import _sip_from_config, phones_registrar
    from runtime.bus import EventBus
    config = load_text(default_text() + '\n[[sip_phone]]\nextension = "2002"\npassword = "secret-2002"\n', "box.toml")
    registrar = phones_registrar(config, "127.0.0.1", EventBus())
    assert registrar.password_of("2002") == "secret-2002" and registrar.password_of("2001") is None
    assert _sip_from_config(config) is not None          # phones alone start the sip service
    with pytest.raises(ConfigError) as bad:
        load_text(default_text() + '\n[[sip_phone]]\nextension = "20a2"\npassword = "short"\n'
                  '\n[[sip_phone]]\nextension = "2003"\npassword = "secret-2003"\n'
                  '\n[[sip_phone]]\nextension = "2003"\npassword = "secret-2004"\n', "box.toml")
    text = str(bad.value)
    assert "sip_phone[0].extension" in text and "sip_phone[0].password" in text
    assert "duplicate sip_phone extension" in text


def connected_call(rig, center):
    """A 070 caller in the IVR, offered to lee at 2001's SIP phone, answered and bridged."""
    call = rig.carrier.call_box("07012345678")
    rig.run_until(lambda: call.answered, 2.0)
    call_id = next(iter(rig.pbx.by_call))
    rig.pbx.call(call_id).data["queue"] = "q"
    assert rig.pbx.offer(call_id, "lee", "2001") is None
    rig.run_until(lambda: ("connected", "lee") in center.told, 3.0)
    return call, call_id


def test_a_supervisor_on_a_sip_phone_listens_in_and_a_transfer_rings_another_sip_phone(prompts):
    rig = AgentRig(pbx_config(prompts, SIP070), phones=("2001", "2002"))
    center = rig.pbx.center = Center()
    try:
        rig.up()
        call, call_id = connected_call(rig, center)
        assert rig.pbx.supervise(call_id, "2002", "monitor") is None
        supervisor_phone = rig.phones["2002"]
        rig.run_until(lambda: any(c.leg is not None for c in supervisor_phone.by_id.values()), 3.0)
        supervisor = next(iter(supervisor_phone.by_id.values()))
        rig.far_rtp.media.play(call.leg_no, tone(1000, 1.0))
        rig.far_rtp.media.record(supervisor.leg_no, seconds=1.5)
        rig.run(1.2)
        monitored = rig.far_rtp.media.recorded(supervisor.leg_no)
        agent = next(iter(rig.phones["2001"].by_id.values()))
        # blind transfer of the caller from lee (2001) to 2002's phone: 2001 is cleared, 2002 rings
        supervisor.hang_up()
        rig.run_until(lambda: supervisor.released is not None, 2.0)
        assert rig.pbx.transfer(call_id, "extension", "2002") is None
        rig.run_until(lambda: agent.released is not None and len(supervisor_phone.by_id) == 2
                      and all(c.leg is not None for c in supervisor_phone.by_id.values()), 4.0)
        call.hang_up()
        rig.run_until(lambda: not rig.pbx.active and not rig.box.ua.calls, 3.0)
    finally:
        rig.close()
    assert abs(strongest_hz(monitored[-4000:]) - 1000) < 20       # the supervisor heard the caller
    update = [u.fields for u in rig.of(CallUpdated) if "out_sip" in u.fields and "agent" not in u.fields]
    assert update and update[-1]["out_sip"].startswith("sip:2002@")
    assert rig.pool.legs_open() == 0


def test_a_callback_rings_the_agents_sip_phone_then_dials_the_customer_on_a_sip_trunk(prompts):
    rig = AgentRig(pbx_config(prompts, SIP070 + OUT_TO_PEER), phones=("2001",), peer=True)
    center = rig.pbx.center = Center()
    try:
        rig.up()
        assert rig.pbx.call_back("cb-1", "lee", "2001", "05199990000", "peer", present="15881234") is None
        rig.run_until(lambda: any(c.leg is not None for c in rig.peer.by_id.values()), 4.0)
        agent = next(iter(rig.phones["2001"].by_id.values()))
        customer = next(iter(rig.peer.by_id.values()))
        rig.far_rtp.media.play(customer.leg_no, tone(600, 1.0))
        rig.far_rtp.media.record(agent.leg_no, seconds=1.5)
        rig.run(1.2)
        heard = rig.far_rtp.media.recorded(agent.leg_no)
        customer.hang_up()
        rig.run_until(lambda: not rig.pbx.active and not rig.box.ua.calls, 3.0)
    finally:
        rig.close()
    assert ("answered", "lee") in center.told
    assert agent.incoming.calling.digits == "05199990000"          # the agent sees whom it calls back
    assert customer.incoming.called == "825199990000"               # the peer trunk's outbound mapping
    assert customer.incoming.calling.digits == "15881234"           # the number the customer knows
    assert abs(strongest_hz(heard[-4000:]) - 600) < 20
    ended = rig.of(CallEnded)[0].summary
    assert ended["route"]["kind"] == "callback" and ended["route"]["out_sip"] == "peer"
    assert ended["route"]["dialled"] == "+825199990000"     # E.164 inside the box; the URI says the same


def test_a_registration_that_expires_unrefreshed_makes_the_extension_unavailable(prompts):
    rig = AgentRig(pbx_config(prompts, SIP070), phones=("2001",))
    try:
        rig.up()
        status = rig.phones["2001"].calls.ua.status["box"]
        status.timers.pop("register")                   # the phone dies: no refresh
        rig.run_until(lambda: not rig.registered("2001"), 61.0)
        gone_at = rig.clock.now()
        destination = where_is_extension(rig.pbx.sip, rig.plan, "2001")
    finally:
        rig.close()
    assert 59.0 <= gone_at <= 61.0                       # the 60 s it registered for
    assert [(e.extension, e.available) for e in rig.of(ExtensionPresence)] == [("2001", True), ("2001", False)]
    assert destination.kind == SPANS                     # back to the extension trunk

"""SRTP toward agents' SIP phones (`[sip] phone_srtp = "mandatory"`), on the virtual clock of
agent_rig.py: the box rings a registered phone with an RTP/SAVP offer carrying its SDES key, the
phone answers with its own, the box's leg is keyed from the answer and the caller and the agent
hear each other through it.  A phone that offers plain RTP to a box whose phones must use SRTP is
refused with 488 saying why."""

from __future__ import annotations

from dataclasses import replace

from firmware.sip import events as sip
from tests.pbx.test_pbx_outbound import CENTER
from tests.sip.agent_rig import AgentRig
from tests.sip.live_box import prompts_in
from tests.sip.test_sip_pbx_agents import strongest_hz, tone
from tests.support.pbx_line import pbx_config
from tests.support.sip_pbx import SIP070


def test_a_phone_is_rung_with_srtp_and_the_call_is_heard_both_ways_through_the_keyed_leg(tmp_path):
    rig = AgentRig(pbx_config(prompts_in(tmp_path), SIP070 + CENTER), phones=("2001",))
    rig.box.ua.phone_srtp = "mandatory"
    phone = rig.phones["2001"]
    phone.calls.ua.trunks["box"] = replace(phone.calls.ua.trunks["box"], srtp="optional")   # it takes SRTP offers
    try:
        rig.up()
        call = rig.carrier.call_box("2001")
        rig.run_until(lambda: call.answered, 4.0)
        agent = next(iter(phone.by_id.values()))
        offer = agent.incoming.offer
        assert offer.srtp_receive_key is not None                    # the box offered RTP/SAVP with its key
        mine = phone.calls.ua.media_of(agent.id)                      # the phone's answer: its own key
        assert mine.srtp_receive_key == offer.srtp_receive_key and mine.srtp_send_key is not None
        agent.leg.set_srtp(mine.srtp_send_key, mine.srtp_receive_key)   # the phone's media, keyed
        box_leg = rig.handler.legs.media[next(i for i, c in rig.box.ua.calls.items() if c.phone)].session
        assert box_leg.srtp and box_leg.srtp_keys == (offer.srtp_receive_key, mine.srtp_send_key)
        rig.run(0.2)
        failures_before = box_leg.stats()["srtp_failures"]          # packets sent before the phone's keys were set
        rig.far_rtp.media.play(call.leg_no, tone(1000, 1.5))
        rig.far_rtp.media.play(agent.leg_no, tone(600, 1.5))
        rig.far_rtp.media.record(call.leg_no, seconds=2.0)
        rig.far_rtp.media.record(agent.leg_no, seconds=2.0)
        rig.run(1.6)
        caller_heard = rig.far_rtp.media.recorded(call.leg_no)
        agent_heard = rig.far_rtp.media.recorded(agent.leg_no)
        stats = box_leg.stats()
        call.hang_up()
        rig.run_until(lambda: agent.released is not None and not rig.pbx.active, 2.0)
    finally:
        rig.close()
    assert stats["srtp_failures"] == failures_before and stats["packets_received"] > 60
    assert abs(strongest_hz(agent_heard[-4000:]) - 1000) < 20        # the caller, through SRTP to the phone
    assert abs(strongest_hz(caller_heard[-4000:]) - 600) < 20        # the agent, through SRTP from the phone


def test_a_phone_offering_plain_rtp_is_refused_when_phones_must_use_srtp(tmp_path):
    rig = AgentRig(pbx_config(prompts_in(tmp_path), SIP070 + CENTER), phones=("2001",))
    rig.box.ua.phone_srtp = "mandatory"
    try:
        rig.up()
        call = rig.phones["2001"].call_box("7000")                  # the phone calls the IVR, plain RTP
        rig.run_until(lambda: call.released is not None, 3.0)
    finally:
        rig.close()
    gone = [e for e in call.events if isinstance(e, sip.Disconnected)]
    assert gone and gone[0].status == 488
    assert rig.box.ua.counters["rejected_sdp"] == 1

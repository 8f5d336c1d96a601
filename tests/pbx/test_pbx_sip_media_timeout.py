"""A SIP far end that dies without a BYE (no RTP, no RTCP) is found by the media timeout: the
box clears the call with cause 102, frees the agent's extension at once and writes the record;
a call whose far end keeps talking, or that is on hold, is never cleared by it."""

from __future__ import annotations

import logging

import pytest

from pbx_cti.ivr.prompts_setup import make_prompts
from pbx_cti.pbx.model import CallEnded
from pbx_cti.pbx.sip_legs import MEDIA_TIMEOUT as DEFAULT_TIMEOUT
from tests.pbx.test_pbx_outbound import CENTER
from tests.support.pbx_line import pbx_config
from tests.support.sip_pbx import CARRIER, SIP070, SipPbx


MEDIA_TIMEOUT = 8.0          # short, so the test runs fast: the checks scale with it


def test_the_default_leaves_rtcp_room_to_arrive_many_times():
    assert DEFAULT_TIMEOUT >= 6 * 7.5          # RTCP every 5 s +-50 % (RFC 3550)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    directory = tmp_path_factory.mktemp("prompts")
    make_prompts(directory, report=lambda line: None)
    return directory


def bridged_call(prompts):
    rig = SipPbx(pbx_config(prompts, SIP070 + CENTER), center=True, phone_call_seconds=3600.0)
    rig.box.handler.media_timeout = MEDIA_TIMEOUT
    rig.up()
    call = rig.place_call(called="2001")
    rig.run_until(lambda: call.answered, 5.0)
    rig.run(1.0)
    return rig, call


def test_a_trunk_gone_silent_is_cleared_with_cause_102_and_the_agent_freed_at_once(prompts, caplog):
    rig, call = bridged_call(prompts)
    try:
        rig.box.endpoint.transport.network.pop(CARRIER)
        rig.carrier.endpoint.transport.network = {}
        rig.carrier_rtp.close(call.leg.leg)
        gone = rig.clock.now()
        rig.run(MEDIA_TIMEOUT - 1.0)
        assert rig.pbx.active and any(s.stack.calls for s in rig.stacks)      # not before the timeout
        with caplog.at_level(logging.WARNING, logger="pribox.pbx.sip"):
            rig.run_until(lambda: not rig.pbx.active, 15.0 + MEDIA_TIMEOUT)
            freed = rig.clock.now() - gone
            rig.run_until(lambda: all(not s.stack.calls for s in rig.stacks), 2.0)
            rig.run(40.0)                          # the BYE's transaction gives up meanwhile (timer F)
        assert MEDIA_TIMEOUT <= freed <= 10.0 + MEDIA_TIMEOUT + 1   # first check at 10 s, then every 8/6 s
        [ended] = rig.of(CallEnded)
        assert ended.summary["cause"] == 102 and ended.summary["cleared_by"] == "box"
        assert rig.pool.legs_open() == 0 and not rig.box.ua.calls
        assert any("no RTP or RTCP" in r.message for r in caplog.records)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        rig.close()


def test_a_far_end_that_keeps_talking_or_is_held_is_never_cleared(prompts):
    rig, call = bridged_call(prompts)
    try:
        rig.run(3 * MEDIA_TIMEOUT)
        assert rig.pbx.active and not rig.of(CallEnded)
        [sip_call] = list(rig.box.ua.calls)
        rig.box.hold(sip_call)                     # the far end goes recvonly; RTCP still flows
        rig.run(3 * MEDIA_TIMEOUT)
        assert rig.pbx.active and not rig.of(CallEnded)
        call.hang_up()
        rig.run_until(lambda: not rig.pbx.active, 3.0)
        assert rig.of(CallEnded)[0].summary["cause"] == 16
    finally:
        rig.close()

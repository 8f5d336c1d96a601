"""SIP calls in the switching core, on the virtual clock: the carrier's 070 trunk calls the box,
the gateway maps 070-1234-5678 to route point 7000, the IVR answers on an RTP leg and hears the
caller's RFC 4733 digit; a SIP caller is bridged to an agent's extension behind the center's PRI
(RTP <-> E1 through the media plane); the CDR's legs say "sip"."""

from __future__ import annotations

import json
import socket
import sqlite3

import numpy as np
import pytest

from dsp.prompts import PromptStore
from firmware.isdn.events import CallAudioReport
from firmware.sip import events as sip
from pbx_cti.cdr.record import Leg as CdrLeg
from pbx_cti.ivr.prompts_setup import make_prompts
from pbx_cti.pbx.media import RtpLegMedia
from pbx_cti.pbx.model import CallEnded, CallStarted
from pbx_cti.pbx.sip_legs import RtpLegPool, SipLegs
from tests.pbx.test_pbx_outbound import CENTER
from tests.support.pbx_line import pbx_config
from tests.support.sip_pbx import SIP070, SipPbx, free_even_port

# Extensions 2XXX dialled out on the center's PRI, as the outbound tests set them.
EXTENSION = CENTER


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    directory = tmp_path_factory.mktemp("prompts")
    make_prompts(directory, report=lambda line: None)
    return directory


def tone(hz: float, seconds: float, amplitude: float = 6000.0) -> np.ndarray:
    n = int(seconds * 8000)
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(n) / 8000)).astype(np.int16)


def test_a_070_trunk_call_reaches_the_ivr_on_an_rtp_leg_and_its_rfc4733_digit_is_heard(prompts):
    rig = SipPbx(pbx_config(prompts, SIP070))
    greeting = PromptStore()
    greeting.load_directory(prompts)
    try:
        call = rig.place_call(redirecting="15881234")
        rig.run_until(lambda: call.answered, 2.0)
        # The caller hears the greeting over RTP, then presses 2 (RFC 4733) during the menu.
        rig.run(greeting["greeting"].duration + 2.0)
        heard = call.leg.stats()["packets_received"]
        call.leg.send_digits("2", duration=0.12)
        rig.run_until(lambda: call.released is not None, 40.0)
    finally:
        rig.close()
    assert call.released.cause == 16                      # BYE from the box after the all-busy prompt
    ended = rig.of(CallEnded)[0].summary
    assert ended["trunk"] == "sip070" and ended["span"] is None
    assert ended["numbers_in"]["called"] == "07012345678" and ended["numbers"]["called"] == "7000"
    assert ended["numbers"]["calling"] == "0212345678" and ended["numbers"]["redirecting"] == "15881234"
    assert ended["route"]["kind"] == "ivr" and ended["route"]["target"] == "main"
    assert ended["ivr_path"][:3] == ["greeting", "menu", "service"]
    assert ended["digits"] == "2" and ended["data"]["skill"] == "account_transfer"
    assert ended["cleared_by"] == "box"
    assert heard >= 50 * greeting["greeting"].duration      # the prompts came as 20 ms packets
    assert rig.pool.legs_open() == 0 and not rig.pbx.active and not rig.box.ua.calls


def test_the_caller_hears_the_ivr_prompts_over_rtp(prompts):
    rig = SipPbx(pbx_config(prompts, SIP070))
    try:
        call = rig.place_call()
        rig.run_until(lambda: call.answered, 2.0)
        rig.carrier_rtp.media.record(call.leg.leg, seconds=3.0)
        rig.run(2.0)
        heard = rig.carrier_rtp.media.recorded(call.leg.leg)
        received = call.leg.stats()["packets_received"]
        call.hang_up()
        rig.run_until(lambda: call.released is not None and not rig.pbx.active, 2.0)
    finally:
        rig.close()
    assert received >= 90                                  # 20 ms packets for about 2 s
    assert np.sqrt(np.mean(heard.astype(float) ** 2)) > 300    # the greeting, not silence
    ended = rig.of(CallEnded)[0].summary
    assert ended["cleared_by"] == "caller" and ended["cause"] == 16


def test_a_sip_caller_is_bridged_to_an_agents_extension_behind_the_pri(prompts):
    rig = SipPbx(pbx_config(prompts, SIP070 + EXTENSION), center=True, phone_call_seconds=60.0)
    try:
        rig.up()
        call = rig.place_call(called="2001")
        rig.run_until(lambda: call.answered, 5.0)
        # the caller's tone crosses RTP -> media plane bridge -> E1 to the extension
        rig.carrier_rtp.media.play(call.leg.leg, tone(1000, 1.5))
        rig.run(2.0)
        call.hang_up()
        rig.run_until(lambda: call.released is not None and not rig.pbx.active, 3.0)
        rig.run(0.3)
    finally:
        rig.close()
    started = rig.of(CallStarted)[0].summary
    assert started["trunk"] == "sip070"
    ended = rig.of(CallEnded)[0].summary
    assert ended["route"]["kind"] == "extension" and ended["route"]["out_span"] == 3
    report = next(e for e in rig.events if isinstance(e, CallAudioReport) and e.span_id == 4)
    # the phone heard the caller's whole tone (played at about -10 dBm0) through RTP and the E1
    assert abs(report.tone_level_dbm0 - (-10.0)) < 3.0 and report.tone_seconds > 1.3
    assert ended["cleared_by"] == "caller"


def test_cdr_legs_of_a_sip_call_are_of_kind_sip(prompts, tmp_path):
    from pbx_cti.cdr.store import open_store
    rig = SipPbx(pbx_config(prompts, SIP070))
    rig.pbx.cdr = open_store(tmp_path / "cdr.sqlite")
    try:
        call = rig.place_call()
        rig.run_until(lambda: call.answered, 2.0)
        call.hang_up()
        rig.run_until(lambda: call.released is not None and not rig.pbx.active, 2.0)
    finally:
        rig.close()
        rig.pbx.cdr.stop()
    with sqlite3.connect(tmp_path / "cdr.sqlite") as db:
        (legs,) = db.execute("SELECT legs FROM calls").fetchone()
    legs = [CdrLeg.from_dict(leg) for leg in json.loads(legs)]
    assert legs and legs[0].kind == "sip" and legs[0].trunk_group == "sip070" and legs[0].span is None


def test_with_no_free_rtp_port_the_invite_gets_503_and_the_core_keeps_nothing(prompts):
    rig = SipPbx(pbx_config(prompts, SIP070))
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        taken.bind(("127.0.0.1", free_even_port()))
        port = taken.getsockname()[1]
        rig.pool.ports, rig.pool._next = (port, port), port      # the range's one port is in use
        call = rig.place_call()
        rig.run_until(lambda: call.released is not None, 2.0)
    finally:
        taken.close()
        rig.close()
    assert call.released.cause == 47
    failure = next(e for e in call.events if isinstance(e, sip.Disconnected))
    assert failure.status == 503
    assert not rig.pbx.active and not rig.of(CallStarted) and rig.pool.legs_open() == 0


def test_rtp_leg_pool_hands_out_even_ports_from_its_range_and_takes_legs_back():
    from runtime.clock import ManualClock
    clock = ManualClock()
    pool = RtpLegPool("127.0.0.1", (31000, 31006), now=clock.now, ntp_offset=0.0)
    try:
        a = pool.open(("127.0.0.1", 40000), "PCMA")
        b = pool.open(("127.0.0.1", 40002), "PCMU", payload_type=0)
        assert a.local[1] % 2 == 0 and 31000 <= a.local[1] <= 31006 and b.local[1] != a.local[1]
        media = RtpLegMedia(b)
        assert media.law == "ulaw" and pool.legs_open() == 2
        media.close()
        media.close()                      # idempotent
        assert pool.legs_open() == 1
    finally:
        pool.close()
    with pytest.raises(ValueError, match="even first port"):
        RtpLegPool("127.0.0.1", (31001, 31006), now=clock.now)
    with pytest.raises(ValueError, match="must be negative"):
        SipLegs(None, pool, span_id=1)


def test_a_trunk_that_sends_dtmf_by_sip_info_reaches_the_ivr_all_the_same(prompts):
    config = pbx_config(prompts, SIP070.replace("keepalive = 0\n", 'keepalive = 0\ndtmf = "info"\n'))
    rig = SipPbx(config)
    greeting = PromptStore()
    greeting.load_directory(prompts)
    try:
        call = rig.place_call()
        rig.run_until(lambda: call.answered, 2.0)
        answer = next(e for e in call.events if isinstance(e, sip.Answered)).media
        rig.run(greeting["greeting"].duration + 2.0)
        rig.carrier.send_dtmf(call.id, "2")
        rig.run_until(lambda: call.released is not None, 40.0)
    finally:
        rig.close()
    assert answer.telephone_event_pt is None                # the box's answer left RFC 4733 out
    ended = rig.of(CallEnded)[0].summary
    assert ended["digits"] == "2" and ended["data"]["skill"] == "account_transfer"


def test_an_invite_without_an_sdp_offer_gets_the_box_offer_in_its_200_and_a_leg_that_waits(prompts):
    rig = SipPbx(pbx_config(prompts, SIP070))
    answers = []
    carrier_endpoint = rig.carrier.endpoint
    carrier_endpoint.datagram_received = lambda data, source: answers.append(data)
    invite = ("INVITE sip:07012345678@127.0.0.1 SIP/2.0\r\n"
              "Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-nosdp-1\r\n"
              "From: <sip:0212345678@127.0.0.2>;tag=nosdp\r\nTo: <sip:07012345678@127.0.0.1>\r\n"
              "Call-ID: nosdp-1@127.0.0.2\r\nCSeq: 1 INVITE\r\nContact: <sip:0212345678@127.0.0.2>\r\n"
              "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
    try:
        rig.box.endpoint.datagram_received(invite, ("127.0.0.2", 5060))
        rig.run(1.0)
        legs = rig.box.handler.legs
        waiting = set(legs.awaiting_answer)
    finally:
        rig.close()
    ok = [data for data in answers if data.split(b" ", 2)[1] == b"200"]
    assert ok, answers
    # the box's offer (RFC 3261 13.2.1): the trunk's first codec and telephone-event; the leg sends
    # nothing until the ACK's answer names the carrier's address (tests/sip/test_sip_reinvite.py)
    assert b"m=audio " in ok[0] and b" RTP/AVP 8 101" in ok[0]
    assert waiting and not rig.of(sip.Released)
    assert rig.of(CallStarted)


def test_a_call_the_core_fails_to_take_is_refused_with_503_not_left_ringing(prompts):
    rig = SipPbx(pbx_config(prompts, SIP070))

    def broken_plan():
        raise RuntimeError("the pbx service has not loaded a plan")
    rig.pbx.plan_source = broken_plan
    try:
        call = rig.place_call()
        rig.run_until(lambda: call.released is not None, 2.0)
    finally:
        rig.close()
    assert call.released.cause == 41
    assert next(e for e in call.events if isinstance(e, sip.Disconnected)).status == 503
    assert rig.pool.legs_open() == 0 and not rig.box.ua.calls and rig.box.faults == 0


def test_show_sip_calls_lists_the_call_its_rtp_figures_and_the_pbx_route(prompts):
    from types import SimpleNamespace

    from pbx_cti.pbx.sip_console import NO_SIP, _show, show_sip_calls
    rig = SipPbx(pbx_config(prompts, SIP070))
    try:
        call = rig.place_call()
        rig.run_until(lambda: call.answered, 2.0)
        rig.run(1.0)
        text = show_sip_calls(rig.box, rig.box.handler)
        console = _show(SimpleNamespace(services=SimpleNamespace(
            sip=SimpleNamespace(calls=rig.box, handler=rig.box.handler))), {})
        call.hang_up()
        rig.run_until(lambda: call.released is not None and not rig.pbx.active, 2.0)
        after = show_sip_calls(rig.box, rig.box.handler)
    finally:
        rig.close()
    header, row, *pbx_lines = text.splitlines()
    assert "Pkts in/out" in header and "MOS" in header
    assert " in  sip070 " in row and "active" in row and "PCMA" in row and "127.0.0.2:5060" in row
    assert f"127.0.0.1:{call.rtp_port}" in row
    assert "route ivr main" in pbx_lines[0] and "IVR       : node" in pbx_lines[1]
    assert console == text and after == "No active SIP calls"
    assert _show(SimpleNamespace(services=SimpleNamespace()), {}) == NO_SIP

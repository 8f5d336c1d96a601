"""Interop with real libpri (Debian libpri-dev, EuroISDN E1) in both pairings:
libpri network <-> our user, and our network <-> libpri user."""

import pytest

from firmware.isdn.q931.events import (Alerting, Answered, CallProceeding, Disconnected, IncomingCall, InfoDigits,
                                       Released, RestartDone, SetupAcknowledged, StatusReceived)
from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.events import ProtocolError
from firmware.isdn.q931.messages import MessageType as MT, decode
from firmware.isdn.stack import DataLinkDown, DataLinkUp
from tests.support.q931_libpri_link import LibpriLink, lib

ROLES = ["user", "network"]


@pytest.fixture(params=ROLES)
def link(request):
    lk = LibpriLink(request.param)
    lk.up()
    yield lk
    lk.close()


def inbound(lk, **kwargs):
    call = lk.lp_setup(kwargs.pop("called", "15881234"), kwargs.pop("channel", 5), **kwargs)
    return call, lk.wait_ours(IncomingCall)


def answer(lk, inc):
    now = lk.now()
    lk.stack.proceed(inc.call_id, now)
    lk.stack.alert(inc.call_id, now)
    lk.stack.answer(inc.call_id, now)
    for kind in ("PROCEEDING", "RINGING", "ANSWER"):
        assert lk.wait_libpri(kind).channel == inc.timeslot
    deadline = lk.now() + 2
    while lk.stack.q931.state_of(inc.call_id) != 10:      # the user side waits for CONNECT ACK
        assert lk.now() < deadline, "no CONNECT ACKNOWLEDGE from libpri"
        lk.step()


def settle(lk):
    lk.run_for(0.1)
    assert not lk.stack.calls, lk.stack.calls
    assert all(state == "idle" for state in lk.stack.channels.summary().values())
    # Neither side found anything wrong with the other: no error STATUS either way, no
    # protocol error reported by our stack.
    for direction, _, frame in lk.tap:
        if len(frame) > 4 and not frame[2] & 1:
            msg = decode(frame[4:])
            if msg.type == MT.STATUS:
                assert msg.get(ie.Cause).value in (30, 31), (direction, msg)
    assert not [e for e in lk.events if isinstance(e, ProtocolError)]


@pytest.mark.parametrize("clearer", ["libpri", "us"])
def test_inbound_call_answered_and_cleared_from_either_side(link, clearer):
    call, inc = inbound(link, redirecting="07012345678", reason=15)
    assert inc.called == "15881234" and inc.calling.digits == "0212345678" and inc.timeslot == 5
    assert inc.calling.type_of_number == 2 and inc.bearer.layer1 == 3 and inc.sending_complete
    assert (inc.called_number.type_of_number, inc.called_number.numbering_plan) == (2, 1)    # national, ISDN
    assert inc.redirecting.digits == "07012345678" and inc.redirecting.reason == 15
    answer(link, inc)
    if clearer == "libpri":
        lib.lp_hangup(link.peer, call, 16)
        assert link.wait_ours(Disconnected).cause == 16
    else:
        link.stack.disconnect(inc.call_id, link.now(), 16)
        assert link.wait_libpri("HANGUP_REQ").cause == 16
    assert link.wait_ours(Released).call_id == inc.call_id
    settle(link)


def test_inbound_call_rejected_busy(link):
    call, inc = inbound(link)
    link.stack.disconnect(inc.call_id, link.now(), 17)
    assert link.wait_libpri("HANGUP").cause == 17
    settle(link)


def test_caller_abandons_before_answer(link):
    call, inc = inbound(link)
    link.stack.proceed(inc.call_id, link.now())
    link.stack.alert(inc.call_id, link.now(), inband=True)
    link.wait_libpri("RINGING")
    lib.lp_hangup(link.peer, call, 16)
    assert link.wait_ours(Disconnected).cause == 16
    link.wait_ours(Released)
    settle(link)


def test_outbound_call(link):
    cid = link.stack.setup("0212345678", link.now(), calling="15881234", timeslot=9)
    ring = link.wait_libpri("RING")
    assert (ring.callednum, ring.callingnum, ring.channel, ring.layer1, ring.complete) == (
        "0212345678", "15881234", 9, 0x23, 1)
    lib.lp_proceeding(link.peer, ring.call, 9, 0)
    lib.lp_acknowledge(link.peer, ring.call, 9, 0)
    lib.lp_answer(link.peer, ring.call, 9)
    assert link.wait_ours(CallProceeding).timeslot == 9
    link.wait_ours(Alerting)
    link.wait_ours(Answered)
    assert link.stack.q931.state_of(cid) == 10
    link.stack.disconnect(cid, link.now())
    assert link.wait_libpri("HANGUP_REQ").cause == 16
    link.wait_ours(Released)
    settle(link)


def test_outbound_call_rejected_busy_by_libpri(link):
    cid = link.stack.setup("0212345678", link.now(), timeslot=4)
    ring = link.wait_libpri("RING")
    lib.lp_proceeding(link.peer, ring.call, 4, 0)     # libpri only clears a call it has answered
    lib.lp_hangup(link.peer, ring.call, 17)
    assert link.wait_ours(Disconnected).cause == 17
    assert link.wait_ours(Released).cause == 17
    settle(link)


def test_overlap_receiving_from_libpri(link):
    lib.lp_set_overlap(link.peer, 1)
    call, inc = inbound(link, called="1588", complete=False)
    assert not inc.sending_complete and inc.called == "1588"
    link.stack.setup_ack(inc.call_id, link.now())
    link.wait_libpri("SETUP_ACK")
    assert lib.lp_information(link.peer, call, b"1234") == 0
    digits = "".join(link.wait_ours(InfoDigits).digits for _ in range(4))
    assert digits == "1234" and link.stack.calls[inc.call_id].called == "15881234"
    answer(link, inc)
    lib.lp_hangup(link.peer, call, 16)
    link.wait_ours(Released)
    settle(link)


def test_overlap_sending_to_libpri_up_to_sending_complete(link):
    cid = link.stack.setup("02", link.now(), sending_complete=False, timeslot=3)
    ring = link.wait_libpri("RING")
    assert ring.callednum == "02" and not ring.complete
    lib.lp_need_more_info(link.peer, ring.call, 3)
    link.wait_ours(SetupAcknowledged)
    link.stack.send_info(cid, "1234", link.now())
    link.stack.send_info(cid, "5678", link.now(), sending_complete=True)
    first = link.wait_libpri("INFO_RECEIVED")
    last = link.wait_libpri("INFO_RECEIVED")
    assert (first.callednum, first.complete) == ("1234", 0)
    assert (last.callednum, last.complete) == ("5678", 1)
    lib.lp_proceeding(link.peer, ring.call, 3, 0)
    lib.lp_answer(link.peer, ring.call, 3)
    link.wait_ours(Answered)
    link.stack.disconnect(cid, link.now())
    link.wait_ours(Released)
    settle(link)


def test_restart_of_a_channel_both_ways(link):
    call, inc = inbound(link, channel=7)
    answer(link, inc)
    assert lib.lp_reset_channel(link.peer, 7) == 0
    done = link.wait_ours(RestartDone)
    assert done.by_peer and done.timeslots == (7,)
    assert link.wait_ours(Released).call_id == inc.call_id
    link.wait_libpri("RESTART_ACK")
    link.stack.restart(link.now(), [12])
    assert link.wait_libpri("RESTART").channel == 12
    done = link.wait_ours(RestartDone)
    assert not done.by_peer and done.acknowledged and done.timeslots == (12,)
    settle(link)


def test_restart_of_the_interface_both_ways(link):
    # libpri restarts an interface channel by channel (as Asterisk does at start-up); its RESTART
    # always carries class "indicated channels".
    calls = [inbound(link, channel=ts) for ts in (1, 17)]
    timeslots = list(range(1, 16)) + list(range(17, 32))
    for ts in timeslots:
        assert lib.lp_reset_channel(link.peer, ts) == 0
    done = [link.wait_ours(RestartDone) for _ in timeslots]
    assert sorted(d.timeslots[0] for d in done) == timeslots and all(d.by_peer for d in done)
    assert len([link.wait_ours(Released) for _ in calls]) == 2
    calls = [inbound(link, channel=ts) for ts in (2, 18)]
    link.stack.restart(link.now())
    assert {link.wait_ours(Released).call_id for _ in calls} == {inc.call_id for _, inc in calls}
    done = link.wait_ours(RestartDone)
    assert not done.by_peer and done.whole_interface and done.acknowledged
    settle(link)


def test_data_link_reestablished_mid_call_keeps_the_call(link):
    call, inc = inbound(link)
    answer(link, inc)
    link.cut = True
    link.stack.layer1_changed(False, link.now())
    link.wait_ours(DataLinkDown)
    link.run_for(0.5)
    assert link.stack.q931.state_of(inc.call_id) == 10 and link.stack.calls[inc.call_id].timer == "t309"
    link.cut = False
    link.stack.layer1_changed(True, link.now())
    link.wait_ours(DataLinkUp)
    link.run_for(0.3)
    assert link.stack.q931.state_of(inc.call_id) == 10 and link.stack.calls[inc.call_id].timer is None
    assert not [e for e in link.events if isinstance(e, Released)]
    lib.lp_hangup(link.peer, call, 16)       # the call still works end to end
    assert link.wait_ours(Disconnected).cause == 16
    link.wait_ours(Released)
    settle(link)


def test_status_enquiry_answered_by_libpri(link):
    call, inc = inbound(link)
    answer(link, inc)
    link.stack.status_enquiry(inc.call_id, link.now())
    status = link.wait_ours(StatusReceived)
    assert status.cause == 30 and status.peer_state == 10
    assert link.stack.q931.state_of(inc.call_id) == 10
    lib.lp_hangup(link.peer, call, 16)
    link.wait_ours(Released)
    settle(link)


def test_glare_on_a_channel(link):
    ours = link.stack.setup("111", link.now(), timeslot=5)
    theirs = link.lp_setup("222", 5)
    if link.stack.role == "user":
        # libpri is the network: its call wins; its application refuses ours with cause 44.
        ring = link.wait_libpri("RING")
        lib.lp_hangup(link.peer, ring.call, 44)
        inc = link.wait_ours(IncomingCall)
        assert inc.timeslot == 5
        released = link.wait_ours(Released)
        assert (released.call_id, released.cause) == (ours, 44)
        answer(link, inc)
        lib.lp_hangup(link.peer, theirs, 16)
    else:
        # We are the network: libpri's SETUP for our channel is refused with cause 44.
        assert link.wait_libpri("HANGUP").cause == 44
        ring = link.wait_libpri("RING")
        assert ring.channel == 5
        lib.lp_answer(link.peer, ring.call, 5)
        link.wait_ours(Answered)
        link.stack.disconnect(ours, link.now())
    link.wait_ours(Released)
    settle(link)


def test_we_abandon_our_call_while_libpri_rings(link):
    cid = link.stack.setup("0212345678", link.now(), timeslot=20)
    ring = link.wait_libpri("RING")
    lib.lp_proceeding(link.peer, ring.call, 20, 0)
    lib.lp_acknowledge(link.peer, ring.call, 20, 1)
    assert link.wait_ours(Alerting).inband
    link.stack.disconnect(cid, link.now())
    assert link.wait_libpri("HANGUP_REQ").cause == 16
    assert link.wait_ours(Released).cause == 16
    settle(link)


def test_preferred_channel_busy_is_replaced_by_another(link):
    first, inc1 = inbound(link, channel=5)
    answer(link, inc1)
    second, inc2 = inbound(link, channel=5, exclusive=False)
    assert inc2.timeslot != 5
    answer(link, inc2)                     # libpri sees PROCEEDING etc. on the channel we chose
    for call in (first, second):
        lib.lp_hangup(link.peer, call, 16)
    assert {link.wait_ours(Released).call_id for _ in range(2)} == {inc1.call_id, inc2.call_id}
    settle(link)

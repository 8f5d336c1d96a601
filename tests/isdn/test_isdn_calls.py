"""Two instances of our PRI stack (user <-> network) through LAPD on a ManualClock: every call
scenario of issue 3, in both directions."""

import pytest

from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.calls import Q931Timers
from firmware.isdn.q931.channels import ChannelState
from firmware.isdn.q931.events import (Alerting, Answered, CallProceeding, Disconnected, FacilityReceived, IncomingCall,
                                       InfoDigits, Notified, Progress, Released, RestartDone, SetupAcknowledged,
                                       StatusReceived)
from firmware.isdn.stack import DataLinkDown, DataLinkUp
from tests.support.isdn_pair import StackPair

BOTH = [("user", "network"), ("network", "user")]


@pytest.fixture
def pair():
    p = StackPair()
    p.up()
    p.take("user"), p.take("network"), p.messages()
    return p


def call_up(p, caller, callee, **setup_kwargs):
    cid = p.side(caller).setup("0212345678", p.now, calling="01099998888", **setup_kwargs)
    p.pump()
    (inc,) = p.take(callee, IncomingCall)
    return cid, inc


def answer(p, callee, inc):
    p.side(callee).proceed(inc.call_id, p.now)
    p.side(callee).alert(inc.call_id, p.now)
    p.side(callee).answer(inc.call_id, p.now)
    p.pump()


def idle(p):
    return all(state == ChannelState.IDLE.value for side in (p.user, p.net)
               for state in side.channels.summary().values()) and not p.user.calls and not p.net.calls


@pytest.mark.parametrize("caller,callee", BOTH)
@pytest.mark.parametrize("clearer", ["caller", "callee"])
def test_call_answered_and_cleared_from_either_side(pair, caller, callee, clearer):
    p = pair
    cid, inc = call_up(p, caller, callee)
    assert inc.called == "0212345678" and inc.calling.digits == "01099998888" and inc.sending_complete
    assert inc.bearer.capability == ie.TransferCapability.SPEECH and inc.bearer.layer1 == ie.Layer1.ALAW
    answer(p, callee, inc)
    events = p.take(caller)
    assert [type(e) for e in events] == [CallProceeding, Alerting, Answered]
    assert events[0].timeslot == inc.timeslot
    assert p.side(caller).q931.state_of(cid) == 10 and p.side(callee).q931.state_of(inc.call_id) == 10
    ids = {"caller": (caller, cid), "callee": (callee, inc.call_id)}
    who, call_id = ids[clearer]
    other, other_id = ids["callee" if clearer == "caller" else "caller"]
    p.side(who).disconnect(call_id, p.now)
    p.pump()
    assert [type(e) for e in p.take(other)] == [Disconnected, Released]
    assert [(type(e), e.cause) for e in p.take(who)] == [(Released, 16)]
    names = [n for _, n in p.messages()]
    assert names == ["SETUP", "CALL_PROC", "ALERTING", "CONNECT", "CONNECT_ACK", "DISCONNECT", "RELEASE",
                     "RELEASE_COMP"]
    assert idle(p)


@pytest.mark.parametrize("caller,callee", BOTH)
def test_rejected_busy_before_and_after_proceeding(pair, caller, callee):
    p = pair
    cid, inc = call_up(p, caller, callee)
    p.side(callee).disconnect(inc.call_id, p.now, 17)
    p.pump()
    assert [(type(e), e.cause) for e in p.take(caller)] == [(Released, 17)]
    assert [n for _, n in p.messages()] == ["SETUP", "RELEASE_COMP"]
    cid, inc = call_up(p, caller, callee)
    p.side(callee).proceed(inc.call_id, p.now)
    p.side(callee).disconnect(inc.call_id, p.now, 17)
    p.pump()
    assert [(type(e).__name__, e.cause) for e in p.take(caller) if not isinstance(e, CallProceeding)] == [
        ("Disconnected", 17), ("Released", 17)]
    assert idle(p)


@pytest.mark.parametrize("caller,callee", BOTH)
def test_caller_abandons_while_ringing(pair, caller, callee):
    p = pair
    cid, inc = call_up(p, caller, callee)
    p.side(callee).alert(inc.call_id, p.now, inband=True)
    p.pump()
    assert p.take(caller, Alerting)[0].inband
    p.run_for(5)
    p.side(caller).disconnect(cid, p.now, 16)
    p.pump()
    assert [type(e) for e in p.take(callee)] == [Disconnected, Released]
    assert idle(p)


@pytest.mark.parametrize("caller,callee", BOTH)
def test_overlap_receiving_to_sending_complete(pair, caller, callee):
    p = pair
    cid, inc = call_up(p, caller, callee, sending_complete=False)
    assert not inc.sending_complete
    p.side(callee).setup_ack(inc.call_id, p.now)
    p.pump()
    (ack,) = p.take(caller, SetupAcknowledged)
    assert ack.timeslot == inc.timeslot
    p.side(caller).send_info(cid, "12", p.now)
    p.run_for(3)
    p.side(caller).send_info(cid, "3", p.now, sending_complete=True)
    p.pump()
    digits = p.take(callee, InfoDigits)
    assert [(d.digits, d.sending_complete) for d in digits] == [("12", False), ("3", True)]
    assert p.side(callee).calls[inc.call_id].called == "0212345678123"
    answer(p, callee, inc)
    assert p.side(caller).q931.state_of(cid) == 10
    p.run_for(60)        # no overlap timer left running once complete
    assert p.side(caller).q931.state_of(cid) == 10


@pytest.mark.parametrize("caller,callee", BOTH)
def test_overlap_receiving_times_out_with_cause_28(pair, caller, callee):
    p = pair
    cid, inc = call_up(p, caller, callee, sending_complete=False)
    p.side(callee).setup_ack(inc.call_id, p.now)
    p.run_for(16)        # T302 = 15 s
    assert [(type(e), e.cause) for e in p.take(caller) if isinstance(e, (Disconnected, Released))] == [
        (Disconnected, 28), (Released, 28)]
    assert idle(p)


@pytest.mark.parametrize("initiator", ["user", "network"])
def test_restart_one_channel_clears_its_call_and_answers(pair, initiator):
    p = pair
    cid, inc = call_up(p, "user", "network")
    answer(p, "network", inc)
    other = "network" if initiator == "user" else "user"
    p.take("user"), p.take("network")
    p.side(initiator).restart(p.now, [inc.timeslot])
    assert p.side(initiator).channels.state[inc.timeslot] in (ChannelState.RESTARTING, ChannelState.IDLE)
    p.pump()
    assert [n for _, n in p.messages()][-2:] == ["RESTART", "RESTART_ACK"]
    done = p.take(initiator, RestartDone)
    assert done and done[0].timeslots == (inc.timeslot,) and not done[0].by_peer
    peer_events = p.take(other)
    assert any(isinstance(e, RestartDone) and e.by_peer for e in peer_events)
    assert any(isinstance(e, Released) for e in peer_events)
    assert idle(p)


@pytest.mark.parametrize("initiator", ["user", "network"])
def test_restart_whole_interface(pair, initiator):
    p = pair
    calls = [call_up(p, "user", "network") for _ in range(3)]
    for _, inc in calls:
        answer(p, "network", inc)
    p.side(initiator).restart(p.now)
    p.pump()
    done = p.take(initiator, RestartDone)
    assert done[0].whole_interface and len(done[0].timeslots) == 30
    assert len([e for e in p.take("network" if initiator == "user" else "user") if isinstance(e, Released)]) == 3
    assert idle(p)


def test_unanswered_restart_takes_channels_out_of_service(pair):
    p = pair
    p.drop = lambda direction, frame: direction == "nu" and len(frame) > 4 and not frame[2] & 1
    p.user.restart(p.now, [5])
    p.run_for(121 * 3 + 1)
    done = p.take("user", RestartDone)
    assert done and not done[-1].acknowledged
    assert p.user.channels.state[5] is ChannelState.OUT_OF_SERVICE
    assert [n for d, n in p.messages() if d == "un"].count("RESTART") == 3


@pytest.mark.parametrize("caller,callee", BOTH)
def test_active_call_survives_a_short_data_link_outage(pair, caller, callee):
    p = pair
    cid, inc = call_up(p, caller, callee)
    answer(p, callee, inc)
    p.take(caller), p.take(callee), p.messages()
    for side in (p.user, p.net):
        side.layer1_changed(False, p.now)
    p.pump()
    assert p.take("user", DataLinkDown) and p.take("network", DataLinkDown)
    p.run_for(3)
    for side in (p.user, p.net):
        side.layer1_changed(True, p.now)
    p.run_for(2)
    assert p.take("user", DataLinkUp) and p.take("network", DataLinkUp)
    assert ("STATUS" in [n for _, n in p.messages()])
    assert p.side(caller).q931.state_of(cid) == 10 and p.side(callee).q931.state_of(inc.call_id) == 10
    assert not p.take(caller, Released) and not p.take(callee, Released)
    p.side(caller).disconnect(cid, p.now)
    p.pump()
    assert idle(p)


def test_call_cleared_with_cause_27_when_link_stays_down_past_t309(pair):
    p = pair
    cid, inc = call_up(p, "user", "network")
    answer(p, "network", inc)
    for side in (p.user, p.net):
        side.layer1_changed(False, p.now)
    p.run_for(7)
    assert [(type(e), e.cause) for e in p.take("user", Released)] == [(Released, 27)]
    assert [(type(e), e.cause) for e in p.take("network", Released)] == [(Released, 27)]
    assert idle(p)


def test_calls_being_set_up_are_cleared_when_the_link_drops(pair):
    p = pair
    cid, inc = call_up(p, "network", "user")
    p.user.layer1_changed(False, p.now)
    p.net.layer1_changed(False, p.now)
    p.pump()
    assert p.take("user", Released) and p.take("network", Released)
    assert idle(p)


@pytest.mark.parametrize("asker,answerer", BOTH)
def test_status_enquiry_answered_with_call_state(pair, asker, answerer):
    p = pair
    cid, inc = call_up(p, "user", "network")
    answer(p, "network", inc)
    p.take(asker)
    ask_id = cid if asker == "user" else inc.call_id
    p.side(asker).status_enquiry(ask_id, p.now)
    p.pump()
    (status,) = p.take(asker, StatusReceived)
    assert status.cause == 30 and status.peer_state == 10
    assert p.side(asker).q931.state_of(ask_id) == 10


def test_glare_on_a_channel_network_wins_with_cause_44(pair):
    p = pair
    ucall = p.user.setup("111", p.now, timeslot=5)
    ncall = p.net.setup("222", p.now, timeslot=5)
    p.pump()
    (inc_user,) = p.take("user", IncomingCall)
    assert inc_user.timeslot == 5
    assert [(type(e), e.cause) for e in p.take("user", Released)] == [(Released, 44)]
    assert not p.take("network", IncomingCall)
    assert p.user.channels.owner[5] == inc_user.call_id
    answer(p, "user", inc_user)
    assert p.net.q931.state_of(ncall) == 10


def test_glare_on_a_preferred_channel_moves_the_user_call(pair):
    p = pair
    ucall = p.user.setup("111", p.now, timeslot=5, exclusive=False)
    p.net.setup("222", p.now, timeslot=5)
    p.pump()
    (inc_net,) = p.take("network", IncomingCall)
    assert inc_net.timeslot != 5
    p.net.proceed(inc_net.call_id, p.now)
    p.pump()
    (proc,) = p.take("user", CallProceeding)
    assert proc.timeslot == inc_net.timeslot
    assert p.user.channels.owner[inc_net.timeslot] == ucall


@pytest.mark.parametrize("caller,callee", BOTH)
def test_t303_retransmits_setup_then_gives_up(pair, caller, callee):
    p = pair
    cid = p.side(caller).setup("123", p.now)
    p.run_for(9)            # the callee's layer above never answers the SETUP
    (released,) = p.take(caller, Released)
    assert released.cause == (102 if caller == "user" else 18)
    assert p.take(callee, Released)
    assert [n for _, n in p.messages()] == ["SETUP", "SETUP", "RELEASE_COMP"]


@pytest.mark.parametrize("caller,callee", BOTH)
def test_t310_and_t301_clear_a_call_that_stalls(pair, caller, callee):
    p = pair
    cid, inc = call_up(p, caller, callee)
    p.side(callee).proceed(inc.call_id, p.now)
    p.run_for(31)
    assert [type(e) for e in p.take(caller) if isinstance(e, Released)] == [Released]
    assert idle(p)


def test_timers_are_configurable_per_span():
    p = StackPair(user_kwargs={"q931_timers": Q931Timers(t303=1.0)})
    p.up()
    p.user.setup("1", p.now)
    p.run_for(2.5)
    assert p.take("user", Released)
    with pytest.raises(ValueError, match="T303"):
        Q931Timers(t303=-1)


def test_redirected_070_call_reports_the_redirecting_number(pair):
    p = pair
    redirect = ie.RedirectingNumber("07012345678", ie.TypeOfNumber.NATIONAL, ie.NumberingPlan.ISDN,
                                    ie.Presentation.ALLOWED, ie.Screening.NETWORK_PROVIDED,
                                    ie.RedirectReason.UNCONDITIONAL)
    cid = p.net.setup("15881234", p.now, redirecting=redirect, display="KT forward", progress=3,
                      called_type=ie.TypeOfNumber.NATIONAL)
    p.pump()
    (inc,) = p.take("user", IncomingCall)
    assert inc.redirecting == redirect and inc.display == "KT forward" and inc.progress == 3
    assert inc.called_number == ie.CalledNumber("15881234", ie.TypeOfNumber.NATIONAL, ie.NumberingPlan.ISDN)


def test_all_channels_busy_rejects_with_cause_34(pair):
    p = pair
    for _ in range(30):
        call_up(p, "network", "user")
    with pytest.raises(ValueError, match="no idle B-channel"):
        p.net.setup("1", p.now)
    # A user SETUP with no channel when all are taken: the network has nothing to give.
    p.user.q931.channels.state[1] = ChannelState.IDLE
    p.user.q931.channels.owner.pop(1, None)
    p.user.setup("2", p.now, timeslot=1, exclusive=False)
    p.pump()
    assert [(type(e), e.cause) for e in p.take("user", Released)] == [(Released, 34)]


@pytest.mark.parametrize("caller,callee", BOTH)
def test_progress_notify_and_facility_pass_through(pair, caller, callee):
    p = pair
    cid, inc = call_up(p, caller, callee)
    p.side(callee).proceed(inc.call_id, p.now)
    p.side(callee).progress(inc.call_id, p.now, 8)
    p.pump()
    assert [e.description for e in p.take(caller, Progress)] == [8]
    p.side(callee).alert(inc.call_id, p.now)
    p.side(callee).answer(inc.call_id, p.now)
    p.pump()
    p.side(callee).notify(inc.call_id, 0x71, p.now)
    p.side(caller).facility(cid, b"\x91\xa1\x06\x02\x01\x01\x02\x01\x00", p.now)
    p.pump()
    assert [e.description for e in p.take(caller, Notified)] == [0x71]
    assert [e.body for e in p.take(callee, FacilityReceived)] == [b"\x91\xa1\x06\x02\x01\x01\x02\x01\x00"]
    p.side(caller).send_info(cid, "*1", p.now)           # keypad digits during the call
    p.pump()
    assert [e.digits for e in p.take(callee, InfoDigits)] == ["*1"]
    assert p.side(caller).q931.state_of(cid) == 10


@pytest.mark.parametrize("caller,callee", BOTH)
def test_t305_then_t308_when_the_far_end_stops_answering_clearing(pair, caller, callee):
    p = pair
    cid, inc = call_up(p, caller, callee)
    answer(p, callee, inc)
    p.messages()
    q = p.side(callee).q931
    # The far end's Q.931 goes deaf (LAPD still acknowledges): DISCONNECT and RELEASE go unanswered.
    q.receive = lambda payload, now: None
    p.side(caller).disconnect(cid, p.now)
    p.run_for(30 + 4 + 4 + 1)
    sent = [n for d, n in p.messages() if d == ("un" if caller == "user" else "nu")]
    assert sent[:3] == ["DISCONNECT", "RELEASE", "RELEASE"]       # T305, then T308 twice
    (released,) = p.take(caller, Released)
    assert released.cause == 102 if caller == "network" else released.cause in (16, 102)
    # The B-channel is not trusted until a RESTART for it is acknowledged.
    assert "RESTART" in sent
    assert p.side(caller).channels.state[inc.timeslot] is ChannelState.RESTARTING


def test_out_of_service_channel_is_refused_and_never_picked(pair):
    p = pair
    p.net.q931.set_out_of_service(5)
    p.user.setup("1", p.now, timeslot=5)
    p.pump()
    assert [e.cause for e in p.take("user", Released)] == [44]
    for _ in range(29):
        call_up(p, "network", "user")
    assert 5 not in p.net.channels.owner and len(p.net.channels.owner) == 29
    with pytest.raises(ValueError, match="no idle B-channel"):
        p.net.setup("1", p.now)
    p.net.q931.set_out_of_service(5, False)
    assert p.net.channels.state[5] is ChannelState.IDLE


def test_spontaneous_link_reset_clears_overlap_calls_and_keeps_active_ones(pair):
    p = pair
    active, inc_a = call_up(p, "user", "network")
    answer(p, "network", inc_a)
    overlap, inc_o = call_up(p, "user", "network", sending_complete=False)
    p.net.setup_ack(inc_o.call_id, p.now)
    p.pump()
    p.take("user"), p.take("network")
    p.user.lapd.establish(p.now)        # a no-op while up; a peer-side reset comes from SABME
    from firmware.isdn.lapd_frames import Frame, Kind, encode as lapd_encode
    p.user.receive_frame(lapd_encode(Frame(sapi=0, cr=1, tei=0, kind=Kind.SABME, pf=True)), p.now)
    p.run_for(1)
    assert p.user.q931.state_of(active) == 10
    assert any(e.call_id == overlap and e.cause == 41 for e in p.take("user", Released))


def test_inband_announcement_on_disconnect_can_be_heard_before_release():
    p = StackPair()
    p.user.q931.hold_inband_disconnect = True
    p.up()
    cid, inc = call_up(p, "user", "network")
    p.net.proceed(inc.call_id, p.now)
    p.net.disconnect(inc.call_id, p.now, 1, inband=True)      # "number unobtainable" announcement
    p.pump()
    (disc,) = p.take("user", Disconnected)
    assert disc.cause == 1 and disc.inband
    assert p.user.q931.state_of(cid) == 12 and not p.take("user", Released)
    p.run_for(5)                                                # listening to the announcement
    p.user.disconnect(cid, p.now)
    p.pump()
    assert [e.cause for e in p.take("user", Released)] == [1]
    assert idle(p)


def test_far_end_t305_ends_an_announcement_nobody_hangs_up():
    p = StackPair()
    p.user.q931.hold_inband_disconnect = True
    p.up()
    cid, inc = call_up(p, "user", "network")
    p.net.proceed(inc.call_id, p.now)
    p.net.disconnect(inc.call_id, p.now, 17, inband=True)
    p.run_for(31)
    assert [e.cause for e in p.take("user", Released)] == [102]
    assert idle(p)


def test_call_the_far_end_dropped_during_the_outage_is_cleared_on_reconnection():
    p = StackPair(network_kwargs={"q931_timers": Q931Timers(t309=None)})   # the far end keeps nothing
    p.up()
    cid, inc = call_up(p, "user", "network")
    answer(p, "network", inc)
    for side in (p.user, p.net):
        side.layer1_changed(False, p.now)
    p.run_for(1)
    assert [e.cause for e in p.take("network", Released)] == [41]
    assert p.user.q931.state_of(cid) == 10
    for side in (p.user, p.net):
        side.layer1_changed(True, p.now)
    p.run_for(2)
    # Our STATUS (state 10) meets a far end that knows no such call: RELEASE COMPLETE, cause 101.
    assert [e.cause for e in p.take("user", Released)] == [101]
    assert idle(p)


def test_restart_asked_before_the_link_is_up_goes_out_once_it_is():
    p = StackPair()
    p.user.restart(p.now)
    p.up()
    p.run_for(1)
    assert [n for _, n in p.messages()] == ["RESTART", "RESTART_ACK"]
    (done,) = p.take("user", RestartDone)
    assert done.whole_interface and done.acknowledged
    assert idle(p)


def test_t308_gets_its_own_retransmission_after_t303_used_one(pair):
    p = pair
    cid = p.user.setup("1", p.now)
    p.run_for(4.5)                     # T303 expired once: SETUP sent again
    q = p.net.q931
    q.receive = lambda payload, now: None          # from now on the far end hears nothing
    p.user.disconnect(cid, p.now)
    p.run_for(30 + 4 + 4 + 1)          # T305, then T308 twice
    sent = [n for d, n in p.messages() if d == "un"]
    assert sent[:5] == ["SETUP", "SETUP", "DISCONNECT", "RELEASE", "RELEASE"]

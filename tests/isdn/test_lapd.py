"""LAPD state machine in lockstep on a ManualClock: both roles, windowing, recovery, timers."""

import pytest

from firmware.isdn.lapd import (AWAITING_ESTABLISHMENT, ESTABLISHED, RELEASED, TIMER_RECOVERY, DlData,
                                DlError, DlEstablished, DlReleased, DlUnitData, Lapd, LapdTimers, Role)
from firmware.isdn.lapd_frames import Frame, Kind, decode, encode, frmr_info
from tests.support.lapd_wire import Wire


def make_wire(**timer_args) -> Wire:
    timers = LapdTimers(**timer_args)
    return Wire(Lapd(Role.USER, timers), Lapd(Role.NETWORK, timers))


def up_wire(**timer_args) -> Wire:
    w = make_wire(**timer_args)
    w.a.establish(w.now)
    w.pump()
    assert w.take_events("a") == [DlEstablished()]
    assert w.take_events("b") == [DlEstablished()]
    return w


def data(events) -> list[bytes]:
    return [e.payload for e in events if isinstance(e, DlData)]


def errors(events) -> list[str]:
    return [e.code for e in events if isinstance(e, DlError)]


@pytest.mark.parametrize("initiator", ["a", "b"])
def test_establishment_either_role_uses_the_cr_bit_of_its_role(initiator):
    w = make_wire()
    getattr(w, initiator).establish(w.now)
    w.pump()
    assert w.a.state == w.b.state == ESTABLISHED
    (d1, sabme), (d2, ua) = w.tap
    assert (sabme.kind, sabme.pf, ua.kind, ua.pf) == (Kind.SABME, True, Kind.UA, True)
    # Commands from the network carry C/R=1, from the user C/R=0; responses the opposite.
    if initiator == "a":  # user commands
        assert (d1, sabme.cr, d2, ua.cr) == ("ab", 0, "ba", 0)
    else:
        assert (d1, sabme.cr, d2, ua.cr) == ("ba", 1, "ab", 1)
    assert w.take_events("a") == [DlEstablished()] and w.take_events("b") == [DlEstablished()]


def test_wire_octets_of_user_sabme_and_network_ua():
    user = Lapd(Role.USER)
    user.establish(0.0)
    assert user.frames_to_send() == [bytes([0x00, 0x01, 0x7F])]
    net = Lapd(Role.NETWORK)
    net.receive_frame(bytes([0x00, 0x01, 0x7F]), 0.0)
    assert net.frames_to_send() == [bytes([0x00, 0x01, 0x73])]
    assert net.state == ESTABLISHED


def test_sabme_collision_completes_on_both_sides():
    w = make_wire()
    w.a.establish(w.now)
    w.b.establish(w.now)
    w.pump()
    assert w.a.state == w.b.state == ESTABLISHED
    assert w.take_events("a") == [DlEstablished()] and w.take_events("b") == [DlEstablished()]


def test_send_while_released_establishes_first_then_delivers():
    w = make_wire()
    w.a.send(b"SETUP", w.now)
    w.pump()
    assert w.kinds() == ["ab:SABME", "ba:UA", "ab:I", "ba:RR"]
    assert data(w.take_events("b")) == [b"SETUP"]


def test_data_flows_both_ways_in_order():
    w = up_wire()
    for i in range(5):
        w.a.send(b"a%d" % i, w.now)
        w.b.send(b"b%d" % i, w.now)
    w.pump()
    assert data(w.take_events("b")) == [b"a%d" % i for i in range(5)]
    assert data(w.take_events("a")) == [b"b%d" % i for i in range(5)]
    assert w.a.outstanding == w.b.outstanding == 0


def test_window_of_k_7_holds_the_eighth_frame_until_acknowledged():
    w = up_wire()
    held: list[bytes] = []
    w.drop = lambda d, f: d == "ab" and held.append(f) is None  # hold a's frames on the wire
    for i in range(10):
        w.a.send(bytes([i]), w.now)
    w.pump()
    assert len(held) == 7 and w.a.outstanding == 7 and w.a.queued == 10
    w.drop = lambda d, f: False
    for f in held:
        w.b.receive_frame(f, w.now)
    w.pump()
    assert data(w.take_events("b")) == [bytes([i]) for i in range(10)]
    assert w.a.outstanding == 0 and w.a.queued == 0


def test_sequence_numbers_wrap_modulo_128():
    w = up_wire()
    payloads = [i.to_bytes(2, "big") for i in range(300)]
    for p in payloads:
        w.a.send(p, w.now)
    w.pump()
    assert data(w.take_events("b")) == payloads
    ns = [f.ns for d, f in w.tap if f.kind == Kind.I]
    assert ns[:3] == [0, 1, 2] and ns[127:130] == [127, 0, 1]
    assert w.a.counters["retransmitted"] == 0


def test_lost_i_frame_is_recovered_by_rej():
    w = up_wire()
    lost = []
    w.drop = lambda d, f: d == "ab" and decode(f).kind == Kind.I and decode(f).ns == 2 and not lost and lost.append(1) is None
    for i in range(6):
        w.a.send(bytes([i]), w.now)
    w.pump()
    assert data(w.take_events("b")) == [bytes([i]) for i in range(6)]
    assert "ba:REJ" in w.kinds()
    assert w.b.counters["rx_out_of_sequence"] == 3  # frames 3, 4, 5 arrived early, once each REJ'd
    assert w.a.counters["retransmitted"] == 4


def test_lost_acknowledgement_is_recovered_by_t200_enquiry():
    w = up_wire()
    w.drop = lambda d, f: d == "ba" and decode(f).kind == Kind.RR and not decode(f).pf
    w.a.send(b"x", w.now)
    w.pump()
    assert w.a.outstanding == 1
    w.drop = lambda d, f: False
    start = len(w.tap)
    w.run_for(1.0)  # T200
    assert w.kinds(start) == ["ab:RR", "ba:RR"]  # enquiry P=1, answer F=1
    poll, final = w.tap[start][1], w.tap[start + 1][1]
    assert poll.pf and poll.cr == 0 and final.pf and final.cr == 0
    assert w.a.state == ESTABLISHED and w.a.outstanding == 0
    assert data(w.take_events("b")) == [b"x"]


def test_lost_i_frame_without_followers_is_retransmitted_after_t200():
    w = up_wire()
    w.drop = lambda d, f: d == "ab" and decode(f).kind == Kind.I and w.a.counters["retransmitted"] == 0
    w.a.send(b"only", w.now)
    w.run_for(1.5)
    assert data(w.take_events("b")) == [b"only"]
    assert w.a.counters["retransmitted"] == 1 and w.a.state == ESTABLISHED


def test_n200_exhaustion_reestablishes_and_recovers_when_the_wire_returns():
    w = up_wire()
    w.cut = True
    w.a.send(b"lost", w.now)
    w.run_for(1.0 * 4 + 0.01)  # T200, then N200 enquiries
    ev = w.take_events("a")
    assert errors(ev) == ["I"] and DlReleased() in ev
    assert w.a.state == AWAITING_ESTABLISHMENT
    w.run_for(4.0)  # SABME unanswered N200 times more: G, keep calling
    assert errors(w.take_events("a")) == ["G"]
    assert w.a.state == AWAITING_ESTABLISHMENT
    w.cut = False
    w.run_for(1.0)
    assert w.a.state == ESTABLISHED and DlEstablished() in w.take_events("a")
    w.a.send(b"after", w.now)
    w.pump()
    assert data(w.take_events("b"))[-1:] == [b"after"]


def test_t203_idle_link_is_polled_and_stays_up():
    w = up_wire(t203=10.0)
    start = len(w.tap)
    w.run_for(35.0)
    kinds = w.kinds(start)
    assert kinds.count("ab:RR") + kinds.count("ba:RR") == 12  # each side polls every 10 s, answered
    assert w.a.counters["t203_expiry"] == 3 and w.b.counters["t203_expiry"] == 3
    assert w.a.state == w.b.state == ESTABLISHED
    assert w.take_events("a") == [] and w.take_events("b") == []


def test_t203_poll_unanswered_ends_in_reestablishment():
    w = up_wire(t203=10.0)
    w.drop = lambda d, f: d == "ba"
    w.run_for(10.0 + 3 * 1.0 + 0.5)
    assert w.a.state == TIMER_RECOVERY
    w.run_for(0.6)
    assert "I" in errors(w.take_events("a")) and w.a.state == AWAITING_ESTABLISHMENT


def test_rnr_stops_the_sender_until_the_receiver_is_ready():
    w = up_wire()
    w.b.set_own_busy(True, w.now)
    w.pump()
    assert w.a.peer_busy
    for i in range(3):
        w.a.send(bytes([i]), w.now)
    w.run_for(3.0)  # a polls the busy peer every T200 and sends nothing
    assert not [k for k in w.kinds() if k == "ab:I"]
    assert w.a.state == ESTABLISHED and w.a.peer_busy
    w.b.set_own_busy(False, w.now)
    w.pump()
    assert data(w.take_events("b")) == [b"\x00", b"\x01", b"\x02"]
    assert not w.a.peer_busy and w.a.outstanding == 0


def test_i_frames_into_a_busy_receiver_are_discarded_then_resent():
    w = up_wire()
    w.a.send(b"1", w.now)
    w.b.set_own_busy(True, w.now)  # RNR is still on its way when a's I frame arrives
    w.pump()
    assert w.b.counters["rx_discarded_busy"] == 1 and w.take_events("b") == []
    w.b.set_own_busy(False, w.now)
    w.run_for(2.0)
    assert data(w.take_events("b")) == [b"1"]


def test_frmr_from_the_peer_reestablishes_the_link():
    w = up_wire()
    # FRMR is a response: from the network side it carries C/R=0.
    frmr = encode(Frame(Kind.FRMR, 0, True, info=frmr_info(b"\x01\x00", 0, 0, 0, w=True)))
    w.a.receive_frame(frmr, w.now)
    ev = [e for e in (w.a.next_event(), w.a.next_event()) if e]
    assert DlError("K") in ev and DlReleased() in ev
    assert w.a.frames_to_send() == [bytes([0x00, 0x01, 0x7F])]
    w.a.establish(w.now)  # no-op while establishment is under way
    w.b.receive_frame(bytes([0x00, 0x01, 0x7F]), w.now)
    w.pump()
    assert w.a.state == ESTABLISHED and w.b.counters["mdl_error_F"] == 1


def test_nr_error_triggers_mdl_error_j_and_reestablishment():
    w = up_wire()
    bogus = encode(Frame(Kind.RR, 1, False, nr=5))  # acknowledges frames never sent
    w.a.receive_frame(bogus, w.now)
    w.pump()
    assert "J" in errors(w.take_events("a"))
    assert w.a.state == w.b.state == ESTABLISHED
    assert w.a.counters["reestablishments"] == 1


def test_layer1_loss_reports_release_and_recovery_reestablishes():
    w = up_wire()
    w.a.layer1_changed(False, w.now)
    w.b.layer1_changed(False, w.now)
    assert w.take_events("a") == [DlReleased()] and w.take_events("b") == [DlReleased()]
    assert w.a.state == w.b.state == RELEASED and w.a.get_timer() is None
    w.a.send(b"queued during alarm", w.now)
    w.run_for(30.0)
    assert w.a.frames_to_send() == [] and w.a.state == RELEASED
    w.b.layer1_changed(True, w.now)
    w.a.layer1_changed(True, w.now)
    w.pump()
    assert w.a.state == w.b.state == ESTABLISHED
    assert w.take_events("a") == [DlEstablished()]
    assert w.take_events("b") == [DlEstablished(), DlData(b"queued during alarm")]


def test_one_sided_layer1_loss_is_survived_by_the_peer():
    w = up_wire()
    w.a.layer1_changed(False, w.now)
    w.run_for(15.0)  # b's T203 poll goes unanswered: b re-establishes and keeps calling
    assert w.b.state == AWAITING_ESTABLISHMENT
    assert DlReleased() in w.take_events("b")
    w.a.layer1_changed(True, w.now)
    w.run_for(2.0)
    assert w.a.state == w.b.state == ESTABLISHED


def test_release_and_peer_release():
    w = up_wire()
    w.a.release(w.now)
    w.pump()
    assert w.kinds()[-2:] == ["ab:DISC", "ba:UA"]
    assert w.a.state == w.b.state == RELEASED
    assert w.take_events("a") == [DlReleased()] and w.take_events("b") == [DlReleased()]
    w.run_for(30.0)  # released by request: nobody calls again
    assert w.a.state == w.b.state == RELEASED


def test_dm_answer_to_sabme_is_retried_after_t200():
    w = make_wire()
    w.a.establish(w.now)
    w.b.receive_frame(b"", w.now)  # counted, ignored
    sabme = w.a.frames_to_send()
    assert decode(sabme[0]).kind == Kind.SABME
    w.a.receive_frame(encode(Frame(Kind.DM, 0, True)), w.now)
    assert w.a.state == RELEASED and w.take_events("a") == [DlReleased()]
    assert w.a.get_timer() == pytest.approx(1.0)
    w.run_for(1.0)
    assert w.a.state == ESTABLISHED


def test_released_entity_answers_polled_commands_with_dm():
    net = Lapd(Role.NETWORK)
    net.receive_frame(encode(Frame(Kind.RR, 0, True, nr=0)), 0.0)  # RR command from the user, P=1
    (dm,) = net.frames_to_send()
    assert decode(dm) == Frame(Kind.DM, 0, True)


def test_ui_frames_are_delivered_as_unit_data():
    user = Lapd(Role.USER)
    user.receive_frame(encode(Frame(Kind.UI, 1, False, info=b"hi")), 0.0)
    assert user.next_event() == DlUnitData(b"hi")


@pytest.mark.parametrize("frame,counter", [
    (b"", "rx_too_short"),
    (b"\x00\x01", "rx_too_short"),
    (b"\x01\x01\x7f", "rx_bad_address"),
    (b"\x00\x00\x7f", "rx_bad_address"),
    (b"\x00\x01\xff", "rx_bad_control"),
    (b"\x00\x01\x0d\x00", "rx_bad_control"),
    (b"\x04\x01\x7f", "rx_other_address"),     # SAPI 1
    (b"\x00\x03\x7f", "rx_other_address"),     # TEI 1
    (b"\x02\x01\x7f", "rx_wrong_cr"),          # SABME as a response
    (b"\x00\x01\x73", "rx_wrong_cr"),          # UA as a command, into the network side
    (b"\x00\x01\x7fabc", "rx_info_not_permitted"),
    (b"\x00\x01\x00\x00" + bytes(261), "rx_too_long"),
])
def test_malformed_frames_are_counted_and_ignored(frame, counter):
    w = up_wire()
    w.b.receive_frame(frame, w.now)
    w.pump()
    assert w.b.counters[counter] == 1
    assert w.b.state == ESTABLISHED and w.a.state == ESTABLISHED


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="N200"):
        LapdTimers(n200=0)
    with pytest.raises(ValueError, match="k="):
        LapdTimers(k=200)
    with pytest.raises(ValueError, match="role"):
        Lapd("user")
    with pytest.raises(ValueError, match="N201"):
        Lapd(Role.USER).send(bytes(300), 0.0)


def test_an_immediate_layer3_answer_carries_the_acknowledgement():
    w = up_wire()
    w.b.receive_frame(encode(Frame(Kind.I, 0, False, ns=0, nr=0, info=b"SETUP")), w.now)
    assert w.b.next_event() == DlData(b"SETUP")
    w.b.send(b"CALL PROCEEDING", w.now)  # answered before the frames were drained
    (only,) = w.b.frames_to_send()
    assert decode(only) == Frame(Kind.I, 1, False, ns=0, nr=1, info=b"CALL PROCEEDING")
    w.b.receive_frame(encode(Frame(Kind.I, 0, False, ns=1, nr=1, info=b"INFO")), w.now)
    (ack,) = w.b.frames_to_send()  # nothing to answer with: a plain RR
    assert decode(ack) == Frame(Kind.RR, 0, False, nr=2)  # a response from the network: C/R=0


def test_layer1_loss_discards_unacknowledged_frames_and_the_new_link_starts_clean():
    w = up_wire()
    w.drop = lambda d, f: d == "ab"  # a's I frames never arrive
    w.a.send(b"lost with the line", w.now)
    w.pump()
    assert w.a.outstanding == 1
    w.a.layer1_changed(False, w.now)
    assert w.a.queued == 0 and w.a.counters["discarded_i"] == 1
    w.drop = lambda d, f: False
    w.a.layer1_changed(True, w.now)
    w.a.send(b"after", w.now)
    w.run_for(2.0)
    assert data(w.take_events("b")) == [b"after"]


def test_layer1_loss_during_establishment_is_reported_once():
    user = Lapd(Role.USER)
    user.establish(0.0)
    user.layer1_changed(False, 0.1)
    user.layer1_changed(True, 0.2)
    user.layer1_changed(False, 0.3)
    assert [user.next_event(), user.next_event()] == [DlReleased(), None]
    assert user.frames_to_send() == []


def test_status_snapshot_names_the_q921_state():
    w = up_wire()
    w.a.send(b"x", w.now)
    st = w.a.status()
    assert (st["q921_state"], st["q921_state_name"], st["role"], st["layer1"]) == \
        (7, "MULTIPLE_FRAME_ESTABLISHED", "user", "up")
    assert (st["vs"], st["va"], st["outstanding"], st["t200_running"]) == (1, 0, 1, True)
    assert Lapd(Role.NETWORK).status()["q921_state_name"] == "TEI_ASSIGNED"


def test_disc_unanswered_n200_times_gives_mdl_error_h_and_a_release():
    w = up_wire()
    w.cut = True
    w.a.release(w.now)
    w.run_for(1.0 * 4 + 0.01)
    ev = w.take_events("a")
    assert errors(ev) == ["H"] and ev[-1] == DlReleased()
    assert w.kinds().count("ab:DISC") == 4 and w.a.state == RELEASED
    w.a.release(w.now)  # already released: confirmed at once
    assert w.take_events("a") == [DlReleased()]


def test_awaiting_release_answers_sabme_with_dm_and_accepts_dm_as_confirmation():
    net = Lapd(Role.NETWORK)
    net.receive_frame(encode(Frame(Kind.SABME, 0, True)), 0.0)
    net.frames_to_send()
    net.release(0.0)
    assert decode(net.frames_to_send()[0]).kind == Kind.DISC
    net.receive_frame(encode(Frame(Kind.SABME, 0, True)), 0.1)
    assert decode(net.frames_to_send()[0]) == Frame(Kind.DM, 0, True)
    net.receive_frame(encode(Frame(Kind.DM, 1, True)), 0.2)  # DM response from the user: C/R=1
    assert net.state == RELEASED and DlReleased() in [net.next_event(), net.next_event()]


def test_peer_reset_with_frames_in_flight_discards_them_and_reports_the_reset():
    w = up_wire()
    w.drop = lambda d, f: d == "ab"
    w.a.send(b"in flight", w.now)
    w.pump()
    w.drop = lambda d, f: False
    w.b.receive_frame(b"", w.now)
    w.a.receive_frame(encode(Frame(Kind.SABME, 1, True)), w.now)  # the network resets the link
    assert w.a.counters["discarded_i"] == 1 and w.a.counters["mdl_error_F"] == 1
    assert DlEstablished() in w.take_events("a") and w.a.outstanding == 0


def test_busy_receiver_answers_a_polled_i_frame_with_rnr_final():
    w = up_wire()
    w.a.set_own_busy(True, w.now)
    w.a.frames_to_send()
    w.a.receive_frame(encode(Frame(Kind.I, 1, True, ns=0, nr=0, info=b"x")), w.now)
    assert decode(w.a.frames_to_send()[0]) == Frame(Kind.RNR, 1, True, nr=0)
    assert w.a.counters["rx_discarded_busy"] == 1


def test_dm_final_during_timer_recovery_reestablishes():
    w = up_wire()
    w.cut = True
    w.a.send(b"x", w.now)
    w.run_for(1.0)  # T200: enquiry, timer recovery
    assert w.a.state == TIMER_RECOVERY
    w.a.receive_frame(encode(Frame(Kind.DM, 0, True)), w.now)
    assert "B" in errors(w.take_events("a")) and w.a.state == AWAITING_ESTABLISHMENT

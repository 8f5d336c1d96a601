"""A full PRI at once, on virtual time (lockstep line, ManualClock): the carrier simulator's
network stack fills all 30 B-channels with calls that each send their own DTMF string; the box
answers every one, hears each string on its own call and timeslot only and measures each test
tone; a 31st SETUP is refused with cause 34 (no circuit/channel available, Q.931 5.2.3.1) or,
asking exclusively for a busy channel, 44; the calls clear from both ends and every B-channel
is idle again.  Then 200 calls with random holding times churn through the span and nothing is
left behind.  Also measures the CPU one virtual second of 30 listened calls costs."""

import json
import random
import time

import pytest

from firmware.isdn.events import CallAudioReport, DtmfDigit, IsdnEvent, IsdnFault, IsdnTrace
from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.channels import PRI_TIMESLOTS
from firmware.isdn.q931.events import IncomingCall
from firmware.isdn.q931.link import CallStateError
from firmware.isdn.q931.messages import MessageType, encode
from firmware.isdn.show_calls import show_calls, show_channels
from hil_tests.carrier import TONE_DBM0, after_answer_audio
from tests.support.isdn_line import BoxAndCarrier

DTMF_ALPHABET = "0123456789*#ABCD"


def digits_for(n: int) -> str:
    """A different string per call, so a digit heard on the wrong call shows."""
    return DTMF_ALPHABET[n % 16] + DTMF_ALPHABET[(n * 7 + 3) % 16] + DTMF_ALPHABET[(n * 5 + 1) % 16]


class CallMap:
    """The box's call id for each carrier call, matched by call reference as the box saw the SETUP."""

    def __init__(self, rig: BoxAndCarrier):
        self.rig = rig
        self.box_id_by_ref: dict[int, int] = {}
        rig.bus.subscribe(IsdnEvent, self._on_event)

    def _on_event(self, e: IsdnEvent) -> None:
        if e.span_id == self.rig.box.span_id and isinstance(e.event, IncomingCall):
            self.box_id_by_ref[self.rig.box.stack.calls[e.event.call_id].call_ref] = e.event.call_id

    def place(self, **kwargs):
        call = self.rig.carrier.place_call(**kwargs)
        call.call_ref = self.rig.net.stack.calls[call.key].call_ref
        return call

    def box_id(self, call) -> int:
        return self.box_id_by_ref[call.call_ref]


def heard_by_call(rig: BoxAndCarrier) -> dict[int, tuple[str, set[int]]]:
    out: dict[int, tuple[str, set[int]]] = {}
    for d in rig.of(DtmfDigit, rig.box.span_id):
        digits, timeslots = out.get(d.call_id, ("", set()))
        out[d.call_id] = (digits + d.digit, timeslots | {d.timeslot})
    return out


def raw_setup(rig: BoxAndCarrier, call_ref: int, channel: ie.ChannelId) -> None:
    """A SETUP the carrier's own stack would not send (its table is full too): straight onto LAPD."""
    payload = encode(MessageType.SETUP, call_ref, 0, [
        ie.SendingComplete(), ie.BearerCapability(), channel,
        ie.CalledNumber("15881234", ie.TypeOfNumber.NATIONAL, ie.NumberingPlan.ISDN)])
    rig.net.stack.lapd.send(payload, rig.clock.now())


def assert_all_idle(rig: BoxAndCarrier) -> None:
    for isdn in (rig.box, rig.net):
        assert not isdn.stack.calls, f"span {isdn.span_id} still has calls {list(isdn.stack.calls)}"
        assert set(isdn.stack.channels.summary().values()) == {"idle"}, isdn.stack.channels.summary()
        assert not isdn.stack.channels.owner
        assert not isdn.bearer.open_timeslots(), f"span {isdn.span_id} still carries {isdn.bearer.open_timeslots()}"
    text = show_channels([rig.box])
    assert text.endswith("30 idle, 0 in use, 0 restarting, 0 out of service"), text
    handler = rig.box.handler
    assert not handler._timers and not handler._timeslots and not handler.listener._by_timeslot
    assert handler.listener._handle is None       # nobody listens: the listener stopped polling
    assert not rig.of(IsdnFault)
    assert rig.box.counters["faults"] == rig.net.counters["faults"] == 0


@pytest.mark.parametrize("exclusive", [False, True], ids=["network-picks", "exclusive-1-to-30"])
def test_thirty_calls_at_once_each_heard_on_its_own_channel_then_a_31st_refused(exclusive):
    rig = BoxAndCarrier(hangup_after_audio=False, max_call_seconds=600)
    calls_map = CallMap(rig)
    try:
        rig.up()
        wanted = {ts: digits_for(n) for n, ts in enumerate(PRI_TIMESLOTS)}
        calls = [calls_map.place(timeslot=ts if exclusive else None, digits=wanted[ts]) for ts in PRI_TIMESLOTS]
        assert sorted(c.timeslot for c in calls) == list(PRI_TIMESLOTS)
        with pytest.raises(CallStateError, match="no idle B-channel"):
            rig.carrier.place_call()          # the carrier's own table is full too
        rig.run_until(lambda: all(c.answered_at is not None for c in calls), 3.0)
        assert rig.box.handler.answered == 30

        # A 31st SETUP, whatever the carrier's table says: no channel left on the box.
        raw_setup(rig, 0x7001, ie.ChannelId(1, exclusive=False))   # preferred, any other will do
        raw_setup(rig, 0x7002, ie.ChannelId(7, exclusive=True))    # only timeslot 7
        rig.run(0.1)
        rejects = [t.text for t in rig.of(IsdnTrace, rig.box.span_id) if "TX -> RELEASE_COMP" in t.text]
        assert rig.box.stack.q931.counters["setup_rejected_cause_34"] == 1
        assert rig.box.stack.q931.counters["setup_rejected_cause_44"] == 1
        assert len(rejects) == 2, rejects
        assert "callref = 0xF001" in rejects[0] and "0x80A2 - No circuit/channel available" in rejects[0]    # 34
        assert "callref = 0xF002" in rejects[1] and "0x80AC" in rejects[1]    # 44
        assert len(rig.box.stack.calls) == 30
        calls_text = show_calls([rig.box], rig.clock.now())
        assert calls_text.startswith("Total active calls: 30") and calls_text.count("State     : U10") == 30
        assert show_channels([rig.box]).endswith("0 idle, 30 in use, 0 restarting, 0 out of service")

        audio_seconds = after_answer_audio("123")[1]
        rig.run(audio_seconds + 0.2)
        heard = heard_by_call(rig)
        for call in calls:
            box_id = calls_map.box_id(call)
            assert heard.get(box_id) == (call.digits, {call.timeslot}), (call.timeslot, call.digits, heard.get(box_id))
        assert sum(len(d) for d, _ in heard.values()) == 90     # nothing heard beyond each call's own

        # Clear: even calls from the carrier, odd ones from the box, in one burst.
        for n, call in enumerate(calls):
            if n % 2:
                rig.box.disconnect(calls_map.box_id(call), Cause.NORMAL_CLEARING)
            else:
                rig.carrier.hangup(call, Cause.NORMAL_CLEARING)
        rig.run_until(lambda: all(c.done for c in calls), 2.0)
        rig.run(0.1)
        assert all(c.released_cause == 16 for c in calls)
        assert [c.cause_received for n, c in enumerate(calls) if n % 2] == [16] * 15
        reports = {r.call_id: r for r in rig.of(CallAudioReport, rig.box.span_id)}
        assert len(reports) == 30
        for call in calls:
            report = reports[calls_map.box_id(call)]
            assert report.digits == call.digits and report.timeslot == call.timeslot
            assert abs(report.tone_level_dbm0 - TONE_DBM0) <= 0.5 and 0.9 <= report.tone_seconds <= 1.1
        assert_all_idle(rig)
    finally:
        rig.close()


def test_two_hundred_calls_churn_with_random_holding_times_and_nothing_is_left_behind():
    rng = random.Random(20261126)
    rig = BoxAndCarrier(hangup_after_audio=False, max_call_seconds=600)
    calls_map = CallMap(rig)
    placed, blocked = [], 0
    clear_plan = {}        # carrier call -> ("carrier" | "box", holding seconds from SETUP)
    try:
        rig.up()
        n = peak = 0
        while n < 200:
            rig.run(rng.expovariate(12.0))            # ~12 calls/s against ~2.7 s held: over 30 erlang
            peak = max(peak, sum(s == "in use" for s in rig.box.stack.channels.summary().values()))
            try:
                call = calls_map.place(digits=digits_for(n))
            except CallStateError:
                blocked += 1                          # all 30 busy: the network would not offer it
                continue
            n += 1
            placed.append(call)
            holding = rng.choice((rng.uniform(0.2, 1.0), rng.uniform(1.0, 6.0), rng.uniform(1.0, 6.0)))
            who = rng.choice(("carrier", "box"))
            clear_plan[id(call)] = (who, holding)
            rig.clock.call_later(holding, lambda call=call, who=who: _clear(rig, calls_map, call, who))
        rig.run_until(lambda: all(c.done for c in placed), 10.0)
        rig.run(0.2)
        assert_all_idle(rig)
        heard = heard_by_call(rig)
        reports = {r.call_id: r for r in rig.of(CallAudioReport, rig.box.span_id)}
        listened_through = 0
        for call in placed:
            box_id = calls_map.box_id(call)
            who, holding = clear_plan[id(call)]
            digits, timeslots = heard.get(box_id, ("", set()))
            assert timeslots <= {call.timeslot}
            assert call.digits.startswith(digits), (call.digits, digits)   # never another call's digit
            if call.answered_at is None:
                assert box_id not in reports and not digits
                continue
            sent_by = call.answered_at + 0.3 + len(call.digits) * 0.16 + 0.1
            released = call.log[-1][0]
            if released > sent_by:
                listened_through += 1
                assert digits == call.digits and reports[box_id].digits == call.digits
        assert listened_through > 100 and blocked > 0 and peak == 30
        assert rig.box.handler.answered == sum(c.answered_at is not None for c in placed)
    finally:
        rig.close()


def _clear(rig: BoxAndCarrier, calls_map: CallMap, call, who: str) -> None:
    if call.done:
        return
    if who == "carrier":
        rig.carrier.hangup(call, Cause.NORMAL_CLEARING)
    else:
        rig.box.try_disconnect(calls_map.box_id(call), Cause.NORMAL_CLEARING)


def test_cpu_of_one_virtual_second_of_thirty_listened_calls():
    rig = BoxAndCarrier(hangup_after_audio=False, max_call_seconds=600)
    try:
        rig.up()
        rig.run(0.5)
        start = time.process_time()
        rig.run(1.0)
        idle = time.process_time() - start
        calls = [rig.carrier.place_call(digits="1" * 50) for _ in PRI_TIMESLOTS]
        rig.run_until(lambda: all(c.answered_at is not None for c in calls), 3.0)
        rig.run(0.3)
        listener = rig.box.handler.listener
        spent = {"listener": 0.0}
        real_drain = listener._drain

        def timed_drain(timeslot, listening, now):
            t = time.process_time()
            real_drain(timeslot, listening, now)
            spent["listener"] += time.process_time() - t

        listener._drain = timed_drain
        start = time.process_time()
        rig.run(1.0)
        busy = time.process_time() - start
        # The audio runs in the media plane inside the line's advance; Python only drains.
        assert len(listener._by_timeslot) == 30 and spent["listener"] <= busy
        print(json.dumps({"virtual_seconds": 1.0, "calls": 30, "cpu_s_idle_line": round(idle, 4),
                          "cpu_s_30_calls_whole_rig": round(busy, 4),
                          "cpu_s_box_listener_drains": round(spent["listener"], 4)}))
        assert busy < 1.0            # the whole rig, both ends and the line, faster than real time
    finally:
        rig.close()


def test_the_daemon_carries_thirty_calls_at_once_on_the_default_config(tmp_path):
    """The same full span through the real daemon (spans service, isdn service, asyncio timers on
    the virtual-time loop), so the pacing of the service path is under load too."""
    import asyncio

    from runtime.clock import virtual_time_loop
    from tests.support.daemon_harness import until as _until
    from tests.isdn.test_isdn_daemon import _daemon, _run
    from hil_tests.carrier import StackCarrier

    loop = virtual_time_loop()
    daemon, events = _daemon(tmp_path, loop)
    seen = {}

    async def scenario():
        await _until(lambda: daemon.ctx is not None and daemon.ctx.peer("isdn") is not None
                     and 1 in daemon.ctx.peer("isdn").spans, 5, "isdn service")
        isdn = daemon.ctx.peer("isdn")
        box, net = isdn.spans[1], isdn.spans[2]
        await _until(lambda: box.in_service and net.in_service, 3, "both D-channels up")
        carrier = StackCarrier(net, hangup_after_audio=False)
        start = time.process_time()
        await asyncio.sleep(1.0)
        seen["cpu_idle_second"] = time.process_time() - start
        calls = [carrier.place_call(digits=digits_for(n)) for n in range(30)]
        await _until(lambda: all(c.answered_at is not None for c in calls), 5, "30 calls answered")
        await asyncio.sleep(after_answer_audio("123")[1] + 0.2)
        start = time.process_time()
        await asyncio.sleep(1.0)
        seen["cpu_one_second"] = time.process_time() - start
        seen["calls"] = calls
        seen["box_ids"] = {box.stack.calls[cid].timeslot: cid for cid in box.stack.calls}
        # Twenty clear (ten from each end) while ten stay up for the daemon's stop to clear.
        for n, call in enumerate(calls[:20]):
            if n % 2:
                box.disconnect(seen["box_ids"][call.timeslot], 16)
            else:
                carrier.hangup(call, 16)
        await _until(lambda: all(c.done for c in calls[:20]), 3, "20 calls cleared")
        await asyncio.sleep(0.1)      # the carrier is done at its RELEASE COMPLETE; the box a moment later
        seen["after_twenty"] = (len(box.stack.calls), len(net.stack.calls),
                                sum(s == "idle" for s in box.stack.channels.summary().values()))
        daemon.request_stop("SIGTERM")
        await _until(lambda: all(c.done for c in calls), 2, "the stop to clear the last 10 calls")
        await asyncio.sleep(0.1)
        seen["left"] = (dict(box.stack.calls), dict(net.stack.calls),
                        set(box.stack.channels.summary().values()), set(net.stack.channels.summary().values()))
        seen["faults"] = (box.counters["faults"], net.counters["faults"], box.counters["tx_queue_full"],
                          net.counters["tx_queue_full"])

    assert _run(loop, daemon, scenario) == 0
    calls = seen["calls"]
    heard: dict[int, str] = {}
    for e in events:
        if isinstance(e, DtmfDigit) and e.span_id == 1:
            heard[e.call_id] = heard.get(e.call_id, "") + e.digit
            assert seen["box_ids"][e.timeslot] == e.call_id
    for call in calls:
        assert heard[seen["box_ids"][call.timeslot]] == call.digits, call.timeslot
    reports = [e for e in events if isinstance(e, CallAudioReport) and e.span_id == 1]
    assert len(reports) == 30 and all(abs(r.tone_level_dbm0 - TONE_DBM0) <= 0.5 for r in reports)
    assert reports_heard_whole(reports, calls, seen["box_ids"])
    assert seen["after_twenty"] == (10, 10, 20)
    assert [c.released_cause for c in calls] == [16] * 20 + [41] * 10
    assert [c.cause_received for c in calls[20:]] == [41] * 10
    assert seen["left"] == ({}, {}, {"idle"}, {"idle"}) and seen["faults"] == (0, 0, 0, 0)
    print(json.dumps({"daemon_virtual_seconds": 1.0, "calls": 30, "cpu_s": round(seen["cpu_one_second"], 4),
                      "cpu_s_no_calls": round(seen["cpu_idle_second"], 4)}))


def reports_heard_whole(reports, calls, box_ids) -> bool:
    by_id = {r.call_id: r for r in reports}
    return all(by_id[box_ids[c.timeslot]].digits == c.digits for c in calls)


def test_both_ends_placing_calls_on_a_full_span_glare_resolves_and_nothing_sticks():
    """20 calls each way at once: the network hunts up from TS1, the box down from TS31; on the
    ten timeslots both chose, the network's SETUP wins (Q.931 5.7), the box's own calls there
    are refused with 44 and every channel is used exactly once."""
    rig = BoxAndCarrier(hangup_after_audio=False, max_call_seconds=600)
    try:
        rig.up()
        carrier_calls, box_calls = [], []
        for n in range(20):
            carrier_calls.append(rig.carrier.place_call(digits=digits_for(n)))
            box_calls.append(rig.box.setup("0212345678", calling="15881234"))
        rig.run(3.0)
        box_q931, net_q931 = rig.box.stack.q931, rig.net.stack.q931
        assert box_q931.counters["glare_yielded"] == 10 and net_q931.counters["setup_rejected_cause_44"] == 10
        assert len(rig.box.stack.calls) == len(rig.net.stack.calls) == 30
        assert all(c.answered_at is not None for c in carrier_calls)
        assert set(rig.box.stack.channels.summary().values()) == {"in use"}
        owners = {ts: rig.box.stack.calls[cid] for ts, cid in rig.box.stack.channels.owner.items()}
        assert sum(call.outgoing for call in owners.values()) == 10
        glared = set(box_calls) - set(rig.box.stack.calls)
        assert len(glared) == 10
        heard = heard_by_call(rig)
        assert sorted(d for d, _ in heard.values()) == sorted(c.digits for c in carrier_calls)
        for call_id in list(rig.box.stack.calls):
            rig.box.try_disconnect(call_id, Cause.NORMAL_CLEARING)
        rig.run(1.0)
        assert all(c.done for c in carrier_calls)
        assert_all_idle(rig)
    finally:
        rig.close()


def test_a_new_call_on_a_timeslot_does_not_inherit_the_last_calls_digit():
    """The box hangs up the span's only listened call while its caller holds 5; the DTMF bank
    then stops (nobody listens) believing 5 still sounds.  The next call on that timeslot,
    whose caller is holding 5 as the box answers, must hear its 5."""
    from dsp.dtmf import DtmfGenerator
    from firmware.isdn.q931.events import Answered

    rig = BoxAndCarrier(hangup_after_audio=False, max_call_seconds=600)

    def held_five():
        dtmf = DtmfGenerator(level_dbm0=-10.0, on_ms=3000, off_ms=0)
        dtmf.put("5")
        return dtmf

    def hold_five_after_answer(e: IsdnEvent) -> None:
        # the carrier starts its own after-answer audio on Answered; the caller keeps holding 5
        if e.span_id == rig.net.span_id and isinstance(e.event, Answered):
            rig.clock.call_later(0.0, lambda: rig.net.bearer.play(5, held_five()))

    rig.bus.subscribe(IsdnEvent, hold_five_after_answer)
    calls_map = CallMap(rig)
    try:
        rig.up()
        first = calls_map.place(timeslot=5)
        rig.run_until(lambda: first.answered_at is not None, 3.0)
        rig.run(0.5)
        rig.box.disconnect(calls_map.box_id(first), Cause.NORMAL_CLEARING)
        rig.run_until(lambda: first.done, 1.0)
        rig.run(0.1)
        assert rig.box.handler.listener._handle is None    # the receiver stopped with 5 sounding
        second = calls_map.place(timeslot=5)
        rig.net.bearer.play(5, held_five())           # held from before the box answers
        rig.run_until(lambda: second.answered_at is not None, 3.0)
        rig.run(0.5)
        heard = heard_by_call(rig)
        assert heard[calls_map.box_id(first)] == ("5", {5})
        assert heard.get(calls_map.box_id(second)) == ("5", {5})
    finally:
        rig.close()


def test_resetting_a_bank_channel_that_does_not_exist_names_it():
    from dsp.dtmf import DtmfReceiverBank

    bank = DtmfReceiverBank(30)
    bank.reset(29)
    for bad in (30, -1, "4"):
        with pytest.raises(ValueError, match=r"channel .* out of range 0\.\.29"):
            bank.reset(bad)

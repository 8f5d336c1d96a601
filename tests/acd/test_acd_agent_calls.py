"""An agent's own calls on the contact-center rig (center_rig.py, lockstep on one virtual clock):
an outgoing call (make-call), a consultation of a colleague, an extension or a number while the
caller holds, completed, cancelled or refused; a conference of the three that outlives any one
leaving; and an agent's device that vanishes mid-call.  Who hears whom is checked on the real
media plane: every party speaks its own tone and each side's received audio is analysed."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.config.loader import default_text, load_text
from hil_tests import carrier as carrier_sim
from pbx_cti.acd.distributor import CallActionError, LostPolicy
from pbx_cti.cdr.record import CLOSED
from pbx_cti.cti.decisions import CallProgress
from pbx_cti.cti.eventlog import K_AGENT_STATE
from pbx_cti.cti.model import AgentState
from tests.acd.center_rig import EXTENSIONS, Center, PhoneScript

S = AgentState
OUTSIDE = "0212345678"
# The embedded default has no way out for an agent's own call; a center adds one like this.
OUT_CONFIG = load_text(default_text() + '\n[[dialplan]]\nname = "out"\npattern = "_0."\ntarget = "trunk:carrier"\n',
                       "embedded default + a way out")
TONES = {"caller": 500.0, "2001": 800.0, "2002": 1100.0, "2003": 1400.0, "outside": 1700.0}


def voice(hz: float):
    return lambda: carrier_sim.TestTone(hz, -13.0, 600.0)


@pytest.fixture
def rig(tmp_path):
    center = Center(tmp_path, config=OUT_CONFIG)
    for extension in EXTENSIONS.values():
        center.phones.voices[extension] = voice(TONES[extension])
    center.progress = []
    center.bus.subscribe(CallProgress, lambda e: center.progress.append((e.agent, e.what)))
    yield center
    center.close()


def work(rig, *agents, ready=True):
    for agent in agents:
        rig.runner("login", agent, EXTENSIONS[agent])
        if ready:
            rig.runner("ready", agent)


def state(rig, agent):
    a = rig.engine.agents[agent]
    return a.state, a.reason


def heard(rig, audio, timeslot, seconds: float = 0.4) -> set[str]:
    """Which parties' tones the line sends toward `timeslot` of `audio` over the next seconds."""
    audio.record(timeslot, seconds=seconds + 1.0)
    audio.recorded(timeslot)
    rig.run(seconds)
    x = audio.recorded(timeslot).astype(float)[-int(seconds * 8000 * 0.8):]
    if len(x) == 0 or not np.any(x):
        return set()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 8000)
    total = spectrum.sum()
    out = set()
    for name, hz in TONES.items():
        band = (freqs > hz - 15) & (freqs < hz + 15)
        if spectrum[band].sum() > 0.05 * total:
            out.add(name)
    return out


def caller_talks(rig, call):
    rig.net.bearer.play(call.timeslot, voice(TONES["caller"])())


def caller_hears(rig, call):
    return heard(rig, rig.net.bearer, call.timeslot)


def phone_hears(rig, extension):
    return heard(rig, rig.pbx_side.bearer, rig.phones.answered(extension).timeslot)


def outside_call(rig):
    """The box's call to OUTSIDE as the carrier sees it (answered after its ring), speaking."""
    def placed():
        return next((c for c in rig.carrier.calls if not c.outgoing and c.called == OUTSIDE and not c.done), None)
    rig.run_until(lambda: placed() is not None, 3.0)
    call = placed()
    rig.run_until(lambda: call.answered_at is not None, 5.0)
    rig.net.bearer.play(call.timeslot, voice(TONES["outside"])())
    return call


def connected(rig, agent="lee", key="2"):
    """A caller who pressed `key` talking with `agent` (the only one ready), both speaking."""
    work(rig, agent)
    call = rig.place_call(key)
    rig.run_until(lambda: state(rig, agent)[0] is S.TALKING and rig.core_connected(), 5.0)
    rig.run(0.2)
    caller_talks(rig, call)
    return call


def settled(rig):
    assert not rig.live_calls() and not rig.pbx.by_call and not rig.pbx.active and not rig.pbx.outbound
    assert all(not isdn.stack.calls for isdn in rig.stacks)
    assert all(isdn.counters["faults"] == 0 for isdn in rig.stacks)
    assert not rig.engine.callers and not rig.engine.own_calls() and not rig.distributor.own
    rows = rig.cdr_rows()
    assert {r.call_id for r in rows} >= set(rig.started) and all(r.state == CLOSED for r in rows)
    return {r.call_id: r for r in rows}


# -- make-call ----------------------------------------------------------------------------------
def test_make_call_rings_the_agent_first_then_dials_out_and_puts_the_agent_back_after(rig):
    work(rig, "lee", ready=False)
    call_id = rig.calls.make_call("lee", OUTSIDE)
    assert state(rig, "lee") == (S.TALKING, "outbound")
    assert not any(c.called == OUTSIDE for c in rig.carrier.calls)      # nothing dialled before lee answers
    rig.run_until(lambda: rig.phones.answered("2002") is not None, 3.0)
    far = outside_call(rig)
    rig.run(0.2)
    assert phone_hears(rig, "2002") == {"outside"}
    assert heard(rig, rig.net.bearer, far.timeslot) == {"2002"}
    # Held: the far end hears music, not lee; retrieved: they talk again; digits go out.
    assert rig.calls.hold("lee") == call_id and state(rig, "lee")[0] is S.HOLD
    assert heard(rig, rig.net.bearer, far.timeslot) == set() and phone_hears(rig, "2002") == set()
    assert rig.calls.retrieve("lee") == call_id and state(rig, "lee") == (S.TALKING, "outbound")
    assert heard(rig, rig.net.bearer, far.timeslot) == {"2002"}
    rig.carrier.hangup(far)
    rig.run(1.0)
    assert state(rig, "lee") == (S.NOT_READY, "login")
    rows = settled(rig)
    row = rows[call_id]
    assert (row.direction, row.agent, row.route_target) == ("out", "lee", "make-call:trunk:carrier")
    talking = [r for r in rig.event_records() if r.kind == K_AGENT_STATE and r.agent == "lee"
               and r.data["state"] == "TALKING"]
    assert talking[-1].caller == call_id and talking[-1].data["reason"] == "outbound"


def test_a_ready_agent_on_its_own_call_is_offered_nothing_and_is_ready_again_after(rig):
    work(rig, "lee")
    call_id = rig.calls.make_call("lee", OUTSIDE)
    rig.run_until(lambda: rig.phones.answered("2002") is not None, 3.0)
    far = outside_call(rig)
    waiting = rig.place_call("2")
    rig.run(2.0)
    assert rig.engine.callers[next(iter(rig.engine.callers))].status == "waiting"
    assert rig.phones.rung["2002"] == 1
    with pytest.raises(CallActionError) as refused:
        rig.calls.make_call("lee", OUTSIDE)
    assert refused.value.status == 409 and "TALKING" in str(refused.value)
    rig.calls.hang_up("lee")
    rig.run(2.5)
    assert far.done and rig.pbx.call(call_id) is None
    assert state(rig, "lee")[0] is S.TALKING and rig.engine.agents["lee"].caller != call_id   # the waiting caller
    rig.carrier.hangup(waiting)
    rig.run(1.0)
    settled(rig)


def test_make_call_refuses_a_number_the_dial_plan_does_not_send_out_and_bad_digits(rig):
    work(rig, "lee", ready=False)
    with pytest.raises(CallActionError) as refused:
        rig.calls.make_call("lee", "7000")
    assert refused.value.status == 409 and "ivr:main" in str(refused.value)
    with pytest.raises(CallActionError) as refused:
        rig.calls.make_call("lee", "02-123")
    assert refused.value.status == 400 and "number" in str(refused.value)
    assert state(rig, "lee") == (S.NOT_READY, "login") and not rig.pbx.by_call


def test_an_unanswered_make_call_puts_the_agent_back(rig):
    rig.phones.scripts["2002"] = PhoneScript("busy")
    work(rig, "lee", ready=False)
    rig.calls.make_call("lee", OUTSIDE)
    rig.run(1.0)
    assert state(rig, "lee") == (S.NOT_READY, "login")
    assert not any(c.called == OUTSIDE for c in rig.carrier.calls)
    settled(rig)


# -- consultation -------------------------------------------------------------------------------
def test_consult_an_agent_then_complete_the_caller_talks_with_the_colleague(rig):
    call = connected(rig)
    work(rig, "kim", ready=False)
    assert caller_hears(rig, call) == {"2002"}
    call_id = rig.calls.consult("lee", "agent:kim")
    assert state(rig, "lee")[0] is S.HOLD and state(rig, "kim") == (S.TALKING, "consult")
    rig.run_until(lambda: rig.phones.answered("2001") is not None, 3.0)
    rig.run(0.2)
    assert caller_hears(rig, call) == set()            # music on hold (the rig's prompts are silent)
    assert phone_hears(rig, "2002") == {"2001"} and phone_hears(rig, "2001") == {"2002"}
    assert ("lee", "consult-connected") in rig.progress
    assert rig.calls.consult_complete("lee") == call_id
    rig.run(0.3)
    assert state(rig, "lee")[0] is S.WRAP_UP and rig.phones.answered("2002") is None
    assert caller_hears(rig, call) == {"2001"} and phone_hears(rig, "2001") == {"caller"}
    assert state(rig, "kim") == (S.TALKING, "consult")
    assert rig.calls.hold("kim") == call_id and caller_hears(rig, call) == set()
    assert rig.calls.retrieve("kim") == call_id and caller_hears(rig, call) == {"2001"}
    rig.carrier.hangup(call)
    rig.run(1.0)
    assert state(rig, "kim") == (S.NOT_READY, "login")
    row = settled(rig)[call_id]
    assert row.agent == "kim" and row.queue == "account_transfer"


def test_cancel_brings_the_agent_back_to_the_caller_and_the_colleague_back_to_ready(rig):
    call = connected(rig)
    work(rig, "park")
    rig.calls.consult("lee", "agent:park")
    rig.run_until(lambda: rig.phones.answered("2003") is not None, 3.0)
    assert rig.calls.retrieve("lee")                   # retrieve while consulting = cancel
    rig.run(0.3)
    assert state(rig, "lee") == (S.TALKING, "") and state(rig, "park")[0] is S.READY
    assert rig.phones.answered("2003") is None
    assert caller_hears(rig, call) == {"2002"} and phone_hears(rig, "2002") == {"caller"}
    assert ("lee", "consult-cancelled") in rig.progress
    rig.carrier.hangup(call)
    rig.run(1.0)
    settled(rig)


def test_a_refused_consultation_leaves_the_caller_on_hold(rig):
    rig.phones.scripts["2003"] = PhoneScript("busy")
    call = connected(rig)
    work(rig, "park", ready=False)
    rig.calls.consult("lee", "extension:2003")
    rig.run(0.5)
    assert ("lee", "consult-refused") in rig.progress
    assert state(rig, "lee")[0] is S.HOLD and caller_hears(rig, call) == set()
    with pytest.raises(CallActionError) as refused:
        rig.calls.consult_complete("lee")
    assert refused.value.status == 409 and "not consulting" in str(refused.value)
    rig.calls.retrieve("lee")
    rig.run(0.2)
    assert caller_hears(rig, call) == {"2002"}
    rig.calls.hang_up("lee")
    rig.run(1.0)
    settled(rig)


def test_the_consulted_agent_rejects_and_goes_back_to_where_it_was(rig):
    rig.phones.scripts["2001"] = PhoneScript("ring")
    call = connected(rig)
    work(rig, "kim", ready=False)
    rig.calls.consult("lee", "agent:kim")
    rig.run(0.5)
    rig.calls.reject("kim")
    rig.run(0.5)
    assert state(rig, "kim") == (S.NOT_READY, "login") and ("lee", "consult-refused") in rig.progress
    assert state(rig, "lee")[0] is S.HOLD and not any(c.extension == "2001" for c in rig.phones.calls.values())
    rig.calls.retrieve("lee")
    rig.carrier.hangup(call)
    rig.run(1.0)
    settled(rig)


def test_consult_refuses_bad_targets_and_busy_colleagues(rig):
    call = connected(rig)
    work(rig, "kim", ready=False)
    for target, status in (("queue:x", 404), ("trunk:x", 400), ("agent:nobody", 404), ("agent:lee", 400), ("number:12a", 400),
                           ("agent:park", 409)):
        with pytest.raises(CallActionError) as refused:
            rig.calls.consult("lee", target)
        assert refused.value.status == status, (target, refused.value)
    assert state(rig, "lee") == (S.TALKING, "") and caller_hears(rig, call) == {"2002"}
    rig.carrier.hangup(call)
    rig.run(1.0)
    settled(rig)


def test_the_caller_hanging_up_during_a_consultation_ends_it_for_everyone(rig):
    call = connected(rig)
    work(rig, "kim", ready=False)
    rig.calls.consult("lee", "agent:kim")
    rig.run_until(lambda: rig.phones.answered("2001") is not None, 3.0)
    rig.carrier.hangup(call)
    rig.run(1.0)
    assert state(rig, "kim") == (S.NOT_READY, "login") and state(rig, "lee")[0] is S.WRAP_UP
    assert not rig.distributor.consulting
    settled(rig)


# -- conference ---------------------------------------------------------------------------------
def conference_with_outside(rig):
    call = connected(rig)
    rig.calls.consult("lee", "number:" + OUTSIDE)
    far = outside_call(rig)
    rig.run(0.2)
    rig.calls.conference("lee")
    rig.run(0.2)
    assert state(rig, "lee") == (S.TALKING, "")
    assert caller_hears(rig, call) == {"2002", "outside"}
    assert phone_hears(rig, "2002") == {"caller", "outside"}
    assert heard(rig, rig.net.bearer, far.timeslot) == {"caller", "2002"}
    return call, far


def test_a_conference_outlives_the_consulted_party_leaving(rig):
    call, far = conference_with_outside(rig)
    rig.carrier.hangup(far)
    rig.run(0.5)
    assert caller_hears(rig, call) == {"2002"} and phone_hears(rig, "2002") == {"caller"}
    assert ("lee", "consult-left") in rig.progress
    rig.calls.hang_up("lee")
    rig.run(1.0)
    settled(rig)


def test_the_agent_drops_out_of_a_conference_and_the_other_two_talk_on(rig):
    call, far = conference_with_outside(rig)
    rig.calls.hang_up("lee")
    rig.run(0.5)
    assert state(rig, "lee")[0] is S.WRAP_UP and ("lee", "left-conference") in rig.progress
    assert caller_hears(rig, call) == {"outside"} and heard(rig, rig.net.bearer, far.timeslot) == {"caller"}
    rig.carrier.hangup(call)
    rig.run(1.0)
    assert far.done
    settled(rig)


def test_the_caller_leaving_a_conference_leaves_the_agent_and_the_party_talking(rig):
    call, far = conference_with_outside(rig)
    rig.carrier.hangup(call)
    rig.run(0.5)
    assert not far.done and ("lee", "caller-left") in rig.progress
    assert state(rig, "lee")[0] is S.TALKING
    assert phone_hears(rig, "2002") == {"outside"} and heard(rig, rig.net.bearer, far.timeslot) == {"2002"}
    rig.calls.hang_up("lee")
    rig.run(1.0)
    assert far.done and state(rig, "lee")[0] is S.WRAP_UP
    settled(rig)


# -- an agent's device that vanishes ---------------------------------------------------------------
def test_device_gone_with_requeue_puts_the_caller_at_the_head_of_its_queue(tmp_path):
    rig = Center(tmp_path, policy=LostPolicy(device_lost="requeue"))
    try:
        work(rig, "lee")
        first = rig.place_call("2")
        rig.run_until(lambda: state(rig, "lee")[0] is S.TALKING, 5.0)
        second = rig.place_call("2")
        rig.run(2.0)
        rig.distributor.device_gone("2002", "test")
        rig.run(0.5)
        assert state(rig, "lee") == (S.NOT_READY, "device-unavailable")
        assert rig.phones.answered("2002") is None
        first_id = rig.started[0]
        assert rig.engine.position(first_id) == 1          # ahead of the caller who arrived later
        work(rig, "kim")
        rig.run_until(lambda: state(rig, "kim")[0] is S.TALKING, 5.0)
        assert rig.engine.agents["kim"].caller == first_id
        for call in (first, second):
            rig.carrier.hangup(call)
        rig.run(1.0)
        settled(rig)
    finally:
        rig.close()


def test_device_gone_with_hold_keeps_the_caller_for_the_agent_and_rings_it_when_it_is_back(rig):
    call = connected(rig)
    rig.distributor.device_gone("2002", "test")
    rig.run(0.5)
    assert state(rig, "lee") == (S.HOLD, "") and rig.engine.agents["lee"].pending == "device-unavailable"
    assert rig.phones.answered("2002") is None and not call.done
    assert caller_hears(rig, call) == set()
    rig.distributor.device_back("2002")
    rig.run_until(lambda: rig.phones.answered("2002") is not None, 3.0)
    rig.run(0.2)
    assert state(rig, "lee")[0] is S.TALKING and ("lee", "reconnected") in rig.progress
    assert caller_hears(rig, call) == {"2002"}
    rig.carrier.hangup(call)
    rig.run(1.0)
    assert state(rig, "lee") == (S.NOT_READY, "device-unavailable")
    settled(rig)


def test_device_gone_with_hold_queues_the_caller_again_when_the_agent_does_not_come_back(rig):
    call = connected(rig)
    rig.distributor.device_gone("2002")
    rig.run(29.0)
    assert state(rig, "lee")[0] is S.HOLD
    rig.run(1.5)
    assert state(rig, "lee") == (S.NOT_READY, "device-unavailable")
    assert [c.status for c in rig.engine.callers.values()] == ["waiting"]
    assert ("lee", "requeued") in rig.progress
    work(rig, "kim")
    rig.run_until(lambda: state(rig, "kim")[0] is S.TALKING, 5.0)
    rig.run(0.2)
    assert caller_hears(rig, call) == {"2001"}
    rig.carrier.hangup(call)
    rig.run(1.0)
    settled(rig)


def test_the_application_gone_keeps_the_call_by_default_and_requeues_by_policy(tmp_path):
    for policy, expect in ((LostPolicy(), S.TALKING), (LostPolicy(app_lost="requeue"), S.NOT_READY)):
        rig = Center(tmp_path / policy.app_lost, policy=policy)
        try:
            work(rig, "lee")
            call = rig.place_call("2")
            rig.run_until(lambda: state(rig, "lee")[0] is S.TALKING, 5.0)
            rig.runner("app_disconnected", "lee")
            rig.distributor.app_lost("lee")
            rig.run(0.5)
            assert state(rig, "lee")[0] is expect
            if expect is S.NOT_READY:
                assert state(rig, "lee")[1] == "app-disconnected"
                assert [c.status for c in rig.engine.callers.values()] == ["waiting"]
            rig.carrier.hangup(call)
            rig.run(1.0)
            settled(rig)
        finally:
            rig.close()


def test_a_cti_restart_keeps_an_agents_own_call_and_ends_it_with_the_call(rig):
    work(rig, "lee", ready=False)
    call_id = rig.calls.make_call("lee", OUTSIDE)
    rig.run_until(lambda: rig.phones.answered("2002") is not None, 3.0)
    far = outside_call(rig)
    rig.restart_cti()
    assert state(rig, "lee") == (S.TALKING, "outbound") and rig.distributor.own == {call_id: {"lee"}}
    rig.carrier.hangup(far)
    rig.run(1.0)
    assert state(rig, "lee") == (S.NOT_READY, "login")
    settled(rig)


# -- consulting a skill group's queue ------------------------------------------------------------
def test_consult_a_queue_rings_the_groups_next_agent_and_completes_to_it(rig):
    rig.phones.scripts["2001"] = PhoneScript("busy")       # kim's phone refuses: the engine goes on to park
    call = connected(rig)
    work(rig, "kim", "park")
    call_id = rig.calls.consult("lee", "queue:deposit_inquiry")
    rig.run_until(lambda: rig.phones.answered("2003") is not None, 5.0)
    rig.run(0.2)
    assert state(rig, "kim") == (S.NOT_READY, "offer-failed") and state(rig, "park") == (S.TALKING, "")
    assert rig.engine.agents["park"].caller == "cx-" + call_id
    assert phone_hears(rig, "2002") == {"2003"} and caller_hears(rig, call) == set()
    rig.calls.consult_complete("lee")
    rig.run(0.3)
    assert caller_hears(rig, call) == {"2003"} and state(rig, "lee")[0] is S.WRAP_UP
    assert rig.calls.hang_up("park") == call_id
    rig.run(1.0)
    assert call.done and state(rig, "park")[0] is S.WRAP_UP
    rows = settled(rig)
    assert rows[call_id].agent == "park"
    counters = rig.engine.queue_counters["deposit_inquiry"]
    assert (counters.offered, counters.answered, counters.handled) == (1, 1, 1)


def test_a_queued_consultation_nobody_takes_is_cancelled_and_the_caller_retrieved(rig):
    call = connected(rig)
    work(rig, "park", ready=False)
    call_id = rig.calls.consult("lee", "queue:incident_report")
    rig.run(2.0)
    assert [c.status for c in rig.engine.callers.values()] == ["connected", "waiting"]
    assert caller_hears(rig, call) == set()
    assert rig.calls.retrieve("lee") == call_id
    rig.run(0.2)
    assert caller_hears(rig, call) == {"2002"} and list(rig.engine.callers) == [call_id]
    assert rig.engine.queue_counters["incident_report"].abandoned == 1
    rig.calls.hang_up("lee")
    rig.run(1.0)
    settled(rig)


def test_a_cti_reload_mid_consultation_lets_the_agent_complete_it(rig):
    call = connected(rig)
    work(rig, "kim")
    call_id = rig.calls.consult("lee", "queue:deposit_inquiry")
    rig.run_until(lambda: rig.phones.answered("2001") is not None, 5.0)
    rig.restart_cti()
    rig.run(0.2)
    assert state(rig, "kim") == (S.TALKING, "") and rig.distributor.consulting[call_id][1] == "queue:deposit_inquiry"
    rig.calls.consult_complete("lee")
    rig.run(0.2)
    assert caller_hears(rig, call) == {"2001"}
    rig.carrier.hangup(call)
    rig.run(1.0)
    settled(rig)


def test_a_consulted_agent_who_took_the_caller_can_consult_and_transfer_on(rig):
    call = connected(rig)
    work(rig, "kim", "park", ready=False)
    call_id = rig.calls.consult("lee", "agent:kim")
    rig.run_until(lambda: rig.phones.answered("2001") is not None, 3.0)
    rig.run(0.2)
    rig.calls.consult_complete("lee")
    rig.run(0.3)
    with pytest.raises(CallActionError) as refused:
        rig.calls.make_call("kim", OUTSIDE)
    assert refused.value.status == 409
    rig.calls.consult("kim", "agent:park")
    with pytest.raises(CallActionError) as refused:
        rig.calls.transfer("kim", "extension:2009")
    assert refused.value.status == 409 and "consultation is in progress" in str(refused.value)
    rig.run_until(lambda: rig.phones.answered("2003") is not None, 3.0)
    rig.run(0.2)
    rig.calls.consult_complete("kim")
    rig.run(0.3)
    assert state(rig, "kim") == (S.NOT_READY, "login")           # back from its own (consulted) call
    assert state(rig, "park") == (S.TALKING, "consult") and caller_hears(rig, call) == {"2003"}
    rig.calls.transfer("park", "queue:account_transfer")
    rig.run(0.5)
    assert state(rig, "park") == (S.NOT_READY, "login")
    assert rig.engine.callers[call_id].status == "waiting"
    rig.runner("ready", "lee")                                   # lee (wrap-up) takes it back
    rig.run_until(lambda: state(rig, "lee")[0] is S.TALKING, 5.0)
    rig.carrier.hangup(call)
    rig.run(1.0)
    settled(rig)


def test_a_device_gone_while_consulting_ends_the_consultation_and_parks_the_caller(rig):
    call = connected(rig)
    work(rig, "kim", ready=False)
    rig.calls.consult("lee", "agent:kim")
    rig.run_until(lambda: rig.phones.answered("2001") is not None, 3.0)
    rig.run(0.2)
    rig.distributor.device_gone("2002")
    rig.run(0.5)
    assert state(rig, "kim") == (S.NOT_READY, "login") and rig.phones.answered("2001") is None
    assert state(rig, "lee")[0] is S.HOLD and not rig.distributor.consulting and not call.done
    rig.run(2.5 + rig.distributor.policy.hold_seconds)
    assert state(rig, "lee") == (S.NOT_READY, "device-unavailable")
    rig.carrier.hangup(call)
    rig.run(1.0)
    settled(rig)

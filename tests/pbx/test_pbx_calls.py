"""The call path in virtual time: the carrier calls 1588-1234, the gateway maps it to route
point 7000, the dial plan sends it to the IVR flow "main" (the seed's: greeting, menu, skill
group, all busy), and the caller hears real prompts and is cleared with a cause."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.prompts import PromptStore
from firmware.isdn.q931.events import Released
from pbx_cti.ivr.prompts_setup import make_prompts
from pbx_cti.pbx.model import CallEnded, CallRouted, CallStarted
from tests.support.pbx_line import PbxAndCarrier, pbx_config


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    directory = tmp_path_factory.mktemp("prompts")
    make_prompts(directory)
    return directory


def heard_prompt(recorded: np.ndarray, prompt: np.ndarray) -> float:
    """Peak normalised cross-correlation of a prompt inside what the caller recorded."""
    a = recorded.astype(np.float64)
    b = prompt.astype(np.float64)
    if len(a) < len(b):
        return 0.0
    n = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    corr = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)[:len(a) - len(b) + 1]
    window = np.concatenate(([0.0], np.cumsum(a * a)))
    energy = np.sqrt((window[len(b):] - window[:-len(b)]) * np.dot(b, b)) + 1e-9
    return float(np.max(corr / energy))


def dtmf(digits: str):
    from dsp.dtmf import DtmfGenerator
    gen = DtmfGenerator(level_dbm0=-10.0, on_ms=80, off_ms=80)
    gen.put(digits)
    return gen


def caller_hears(rig, timeslot: int, until, timeout: float) -> np.ndarray:
    """Run until `until()`, keeping what the line brings the caller on `timeslot`."""
    rig.net.bearer.record(timeslot, seconds=5)
    chunks = []

    def drain():
        if rig.net.bearer.is_open(timeslot):
            chunks.append(rig.net.bearer.recorded(timeslot))
            rig.clock.call_later(0.05, drain)
    rig.clock.call_later(0.05, drain)
    rig.run_until(until, timeout)
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


def test_the_seed_call_greeting_menu_skill_group_then_all_busy(prompts):
    rig = PbxAndCarrier(pbx_config(prompts), digits="", tone_seconds=0.1, hangup_after_audio=False)
    store = PromptStore()
    store.load_directory(prompts)
    greeting = store["greeting"].duration
    try:
        rig.up()
        call = rig.carrier.place_call(timeslot=1)
        # The caller listens to the greeting, then presses 2 while the menu is being read.
        rig.run_until(lambda: call.answered_at is not None, 3.0)
        rig.clock.call_later(greeting + 2.0, lambda: rig.net.bearer.play(1, dtmf("2")))
        heard = caller_hears(rig, 1, lambda: call.done, 40.0)
    finally:
        rig.close()
    assert call.answered_at is not None
    assert call.cause_received == 16                     # the box cleared after the all-busy prompt
    ended = rig.of(CallEnded)[0].summary
    assert ended["numbers_in"]["called"] == "15881234" and ended["numbers"]["called"] == "7000"
    assert ended["numbers"]["calling"] == "0212345678" and ended["numbers"]["redirecting"] == "07012345678"
    assert ended["route"]["kind"] == "ivr" and ended["route"]["target"] == "main"
    assert ended["ivr_path"][:3] == ["greeting", "menu", "service"]
    assert ended["ivr_path"][-2:] == ["account_transfer", "all_busy"]     # no CTI: nobody can take it
    assert ended["digits"] == "2" and ended["data"]["menu_choice"] == "2" and ended["data"]["skill"] == "account_transfer"
    assert ended["cause"] == 16 and ended["cleared_by"] == "box"
    assert heard_prompt(heard, store["greeting"].samples) > 0.99              # 안녕하세요? 고객님
    assert heard_prompt(heard, store["menu"].samples[:8000]) > 0.99           # the menu, cut by the key
    assert heard_prompt(heard, store["connecting"].samples) > 0.99
    assert heard_prompt(heard, store["all_busy"].samples[:-800]) > 0.99       # 지금은 모든 상담사가 통화중입니다


def test_an_unknown_number_is_refused_with_cause_1(prompts):
    rig = PbxAndCarrier(pbx_config(prompts), hangup_after_audio=False)
    try:
        rig.up()
        call = rig.carrier.place_call(called="15889999", timeslot=3)
        rig.run_until(lambda: call.done, 5.0)
    finally:
        rig.close()
    assert call.answered_at is None and call.cause_received == 1
    ended = rig.of(CallEnded)[0].summary
    assert ended["route"]["entry"] == -1 and ended["cause"] == 1


def test_after_hours_the_caller_hears_an_announcement_as_early_media_and_is_never_answered(prompts):
    import time as _time
    today = _time.strftime("%Y-%m-%d", _time.gmtime())
    config = pbx_config(prompts, replace={'target = "ivr:main"': 'target = "ivr:main"\nschedule = "office"\n'
                                                                   'after_hours = "announcement:goodbye"'},
                        extra=f'\n[[schedule]]\nname = "office"\nhours = ["mon-sun 00:00-24:00"]\nholidays = [{today}]\n')
    store = PromptStore()
    store.load_directory(prompts)
    rig = PbxAndCarrier(config, hangup_after_audio=False)
    try:
        rig.up()
        call = rig.carrier.place_call(timeslot=2)
        heard = caller_hears(rig, 2, lambda: call.done, 20.0)
    finally:
        rig.close()
    assert call.answered_at is None and call.cause_received == 16
    from firmware.isdn.q931.events import Progress
    assert any(p.description == 8 for p in rig.of(Progress))       # in-band information now available
    assert heard_prompt(heard, store["goodbye"].samples[:-800]) > 0.99
    ended = rig.of(CallEnded)[0].summary
    assert ended["route"]["after_hours"] and ended["route"]["schedule"] == "office"


def test_a_caller_who_hangs_up_in_the_menu_is_recorded_as_such(prompts):
    rig = PbxAndCarrier(pbx_config(prompts), digits="", tone_seconds=0.1, hangup_after_audio=False)
    try:
        rig.up()
        call = rig.carrier.place_call(timeslot=4)
        rig.run_until(lambda: call.answered_at is not None, 3.0)
        rig.run(4.0)                                  # in the menu
        rig.carrier.hangup(call, 16)
        rig.run_until(lambda: call.done, 3.0)
        rig.run(0.2)
    finally:
        rig.close()
    ended = rig.of(CallEnded)[0].summary
    assert ended["cleared_by"] == "caller" and ended["cause"] == 16
    assert ended["ivr_path"] == ["greeting", "menu"] and ended["answered_at"] is not None
    assert not rig.box.bearer.open_timeslots()


def test_a_new_plan_takes_new_calls_while_a_call_in_progress_keeps_its_own(prompts):
    rig = PbxAndCarrier(pbx_config(prompts), digits="", tone_seconds=0.1, hangup_after_audio=False)
    try:
        rig.up()
        first = rig.carrier.place_call(timeslot=5)
        rig.run_until(lambda: first.answered_at is not None, 3.0)
        from pbx_cti.pbx.service import build_plan
        rig.plan = build_plan(pbx_config(prompts, replace={'target = "ivr:main"': 'target = "reject:17"'}), None)
        second = rig.carrier.place_call(timeslot=6)
        rig.run_until(lambda: second.done, 3.0)
        assert second.cause_received == 17 and not first.done       # the first call still in its IVR
        rig.run_until(lambda: first.done, 60.0)
    finally:
        rig.close()
    routes = {e.summary["timeslot"]: e.summary["route"]["kind"] for e in rig.of(CallEnded)}
    assert routes == {5: "ivr", 6: "reject"}


def test_show_calls_tells_where_a_call_is_in_the_ivr(prompts):
    from firmware.isdn.show_calls import show_calls
    rig = PbxAndCarrier(pbx_config(prompts), digits="", tone_seconds=0.1, hangup_after_audio=False)
    try:
        rig.up()
        call = rig.carrier.place_call(timeslot=7)
        rig.run_until(lambda: call.answered_at is not None, 3.0)
        rig.run(4.0)
        text = show_calls([rig.box], rig.clock.now())
    finally:
        rig.close()
    assert "called 15881234 -> 7000, route ivr main" in text
    assert "IVR       : node menu (greeting > menu), digits (none)" in text


def test_overlap_receiving_waits_for_the_whole_number_before_routing(prompts):
    rig = PbxAndCarrier(pbx_config(prompts), digits="", tone_seconds=0.1, hangup_after_audio=False)
    try:
        rig.up()
        from firmware.isdn.q931 import ies as ie
        call_id = rig.net.setup("70", calling=ie.CallingNumber("0212345678", ie.TypeOfNumber.NATIONAL,
                                                                ie.NumberingPlan.ISDN),
                                timeslot=8, exclusive=True, sending_complete=False)
        rig.run(0.5)
        assert not rig.of(CallRouted)                  # 70 is not a number yet: SETUP ACKNOWLEDGE, wait
        rig.net.send_info(call_id, "0")
        rig.run(0.5)
        assert not rig.of(CallRouted)
        rig.net.send_info(call_id, "0")               # 7000: the dial plan is settled
        rig.run(0.5)
        routed = rig.of(CallRouted)
        assert len(routed) == 1 and routed[0].route["target"] == "main"
        rig.net.disconnect(call_id, 16)
        rig.run(0.5)
    finally:
        rig.close()
    from firmware.isdn.q931.events import SetupAcknowledged
    assert rig.of(SetupAcknowledged)
    assert rig.of(CallEnded)[0].summary["numbers_in"]["called"] == "7000"


def test_a_box_whose_prompt_directory_is_empty_plays_the_images_own_prompts(prompts, tmp_path, monkeypatch):
    from pbx_cti.pbx import service
    monkeypatch.setattr(service, "IMAGE_PROMPT_DIR", str(prompts))
    plan = service.build_plan(pbx_config(tmp_path / "not-there"), None)
    assert "greeting" in plan.prompts and "all_busy" in plan.prompts
    monkeypatch.setattr(service, "IMAGE_PROMPT_DIR", str(tmp_path / "no-image-either"))
    assert len(service.build_plan(pbx_config(tmp_path / "not-there"), None).prompts) == 0

"""A connected call recorded through the real media plane: the far ends speak known tones into
the box's two bridged legs (on two spans), and the stereo WAV has the caller on the left and
the agent on the right, in step within 20 ms — also across pause/resume, a stalled event loop
whose rings overflowed, and a caller who hung up first."""

from __future__ import annotations

import numpy as np
import pytest

from pbx_cti.recording.recorder import CallRecorder
from pbx_cti.recording.store import RecordingStore
from pbx_cti.recording.wav import RATE, read_stereo
from runtime.clock import ManualClock
from tests.recording.media_rig import AGENT_HZ, CALLER_HZ, CallRig, band_level, onsets, tone

ALIGNED = 0.020


@pytest.fixture
def rig():
    rig = CallRig()
    yield rig
    rig.close()


def section(pcm: np.ndarray, start: float, end: float) -> np.ndarray:
    return pcm[int(start * RATE):int(end * RATE)]


def test_the_caller_is_on_the_left_the_agent_on_the_right_and_they_stay_in_step(rig, tmp_path):
    store = RecordingStore(tmp_path / "recordings.sqlite")
    # An IVR recorded the caller before the bridge: that old audio must not lead the file.
    rig.caller.record(5.0)
    rig.caller_says(tone(CALLER_HZ, 0.3))
    rig.run(0.6)
    recorder = CallRecorder(rig.caller, rig.agent, tmp_path / "call.wav", rig.clock, call_id="call-1",
                            agent="alice", queue="sales", caller="0212345678", reason="queue", store=store,
                            wall=lambda: 1_800_000_000.0 + rig.clock.now())
    recorder.start()
    assert store.get(recorder.id) is None or store.get(recorder.id).status == "recording"
    rig.at(0.50, lambda: rig.caller_says(tone(CALLER_HZ, 0.4)))
    rig.at(1.50, lambda: rig.agent_says(tone(AGENT_HZ, 0.4)))
    rig.at(2.50, lambda: (rig.caller_says(tone(CALLER_HZ, 0.3)), rig.agent_says(tone(AGENT_HZ, 0.3))))
    rig.at(3.25, lambda: rig.agent_says(tone(AGENT_HZ, 0.2)))
    rig.at(3.40, lambda: rig.caller_says(tone(CALLER_HZ, 0.2)))
    rig.run(4.0)
    assert store.get(recorder.id).status == "recording"     # the row exists while the call goes on
    row = recorder.stop().result(timeout=5)
    left, right = read_stereo(tmp_path / "call.wav")
    assert len(left) == len(right) and abs(len(left) / RATE - 4.0) <= 0.02
    assert row.status == "complete" and row.bytes == 44 + 4 * len(left) and row.duration == len(left) / RATE
    assert store.get(recorder.id) == row and row.reason == "queue" and row.agent == "alice"
    # Each party on its own side.
    talk = section(left, 0.6, 0.8)
    assert band_level(talk, CALLER_HZ) > -25 and band_level(talk, AGENT_HZ) < -60
    talk = section(right, 1.6, 1.8)
    assert band_level(talk, AGENT_HZ) > -25 and band_level(talk, CALLER_HZ) < -60
    assert band_level(section(right, 0.6, 0.8), CALLER_HZ) < -60   # the agent heard the caller: not recorded as the agent
    # Nothing from before the recorder started, and the timing of what was said kept.
    heard_left, heard_right = onsets(left), onsets(right)
    assert len(heard_left) == 3 and len(heard_right) == 3, (heard_left, heard_right)
    assert abs(heard_left[0] - 0.5) <= 0.05                                  # the lines' own delay
    assert abs((heard_right[0] - heard_left[0]) - 1.0) <= ALIGNED
    assert abs(heard_right[1] - heard_left[1]) <= ALIGNED                    # said together
    assert abs((heard_left[2] - heard_right[2]) - 0.15) <= ALIGNED


def test_pause_keeps_one_file_with_silence_of_the_paused_length(rig, tmp_path):
    recorder = CallRecorder(rig.caller, rig.agent, tmp_path / "call.wav", rig.clock, call_id="call-2",
                            reason="on-demand", wall=rig.clock.now)
    recorder.start()
    rig.at(0.2, lambda: rig.caller_says(tone(CALLER_HZ, 0.3)))
    rig.at(1.0, recorder.pause)
    rig.at(1.2, lambda: rig.agent_says(tone(AGENT_HZ, 0.5)))       # the account number: not recorded
    rig.at(2.3, recorder.resume)
    rig.at(2.5, lambda: rig.agent_says(tone(AGENT_HZ, 0.3)))
    rig.run(3.0)
    recorder.stop().result(timeout=5)
    left, right = read_stereo(tmp_path / "call.wav")
    assert abs(len(left) / RATE - 3.0) <= 0.02
    assert np.abs(section(right, 1.01, 2.28)).max() == 0 and np.abs(section(left, 1.01, 2.28)).max() == 0
    assert onsets(left) and abs(onsets(left)[0] - 0.2) <= 0.05
    assert len(onsets(right)) == 1 and abs(onsets(right)[0] - 2.5) <= 0.05


def test_a_stalled_loop_loses_audio_as_silence_in_step_and_a_caller_who_hangs_up_is_silence(rig, tmp_path):
    # The recorder drains on a clock of its own here, so the line can run on while it stalls.
    drains = ManualClock(rig.clock.now())
    recorder = CallRecorder(rig.caller, rig.agent, tmp_path / "call.wav", drains, call_id="call-3",
                            wall=rig.clock.now, ring_seconds=1.0)

    def run(seconds: float, stalled: bool = False) -> None:
        rig.run(seconds)
        if not stalled:
            drains.advance(rig.clock.now() - drains.now())
        else:
            drains.run_until(drains.now())   # time passes for the line only

    recorder.start()
    rig.at(0.3, lambda: rig.caller_says(tone(CALLER_HZ, 0.2)))
    run(1.0)
    run(2.5, stalled=True)                       # 2.5 s undrained into 1 s rings: 1.5 s lost each side
    drains.advance(rig.clock.now() - drains.now())
    rig.at(0.3, lambda: (rig.caller_says(tone(CALLER_HZ, 0.2)), rig.agent_says(tone(AGENT_HZ, 0.2))))
    run(1.0)
    rig.caller.close()                           # the caller hangs up; the agent is still talking
    rig.at(0.2, lambda: rig.agent_says(tone(AGENT_HZ, 0.3)))
    run(1.0)
    recorder.stop().result(timeout=5)
    left, right = read_stereo(tmp_path / "call.wav")
    assert abs(len(left) / RATE - 5.5) <= 0.03                # the stall is in the file at its true length
    heard_left, heard_right = onsets(left), onsets(right)
    assert len(heard_left) == 2 and len(heard_right) == 2, (heard_left, heard_right)
    assert abs(heard_left[1] - 3.8) <= 0.05 and abs(heard_right[0] - heard_left[1]) <= ALIGNED
    assert abs(heard_right[1] - 4.7) <= 0.05
    assert np.abs(section(left, 4.6, 5.5)).max() == 0


def test_the_recorder_stops_itself_when_both_legs_are_gone(rig, tmp_path):
    recorder = CallRecorder(rig.caller, rig.agent, tmp_path / "call.wav", rig.clock, call_id="call-4",
                            wall=rig.clock.now)
    recorder.start()
    rig.run(1.0)
    rig.caller.close()
    rig.agent.close()
    rig.run(1.0)
    assert not recorder.running
    row = recorder.stop().result(timeout=5)
    assert row.status == "complete" and 0.9 <= row.duration <= 1.6

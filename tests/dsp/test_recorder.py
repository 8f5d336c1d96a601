"""Incremental stereo WAV recording: readable after close, after truncation, and after kill -9."""

import os
import signal
import subprocess
import sys
import textwrap
import wave

import numpy as np
import pytest

from dsp.recorder import HEADER_BYTES, StereoWavRecorder
from hil_tests.speechlike import speech_like

CALLER = speech_like(3.0, seed=21)
AGENT = speech_like(3.0, seed=22)


def read_wav(path):
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        raw = wav.readframes(wav.getnframes())
    # A file cut mid-frame ends in a partial frame, which a player drops.
    frames = np.frombuffer(raw[:len(raw) // 4 * 4], "<i2").reshape(-1, 2)
    return frames[:, 0], frames[:, 1]


def record(path, blocks=160, **kwargs):
    with StereoWavRecorder(path, durable=False, **kwargs) as recorder:
        for start in range(0, CALLER.size, blocks):
            recorder.append(CALLER[start:start + blocks], AGENT[start:start + blocks])
    return recorder


def test_closed_recording_holds_caller_left_and_agent_right(tmp_path):
    record(tmp_path / "call.wav")
    left, right = read_wav(tmp_path / "call.wav")
    np.testing.assert_array_equal(left, CALLER)
    np.testing.assert_array_equal(right, AGENT)


def test_header_only_claims_committed_audio(tmp_path):
    path = tmp_path / "call.wav"
    recorder = StereoWavRecorder(path, commit_every_frames=8000, durable=False)
    recorder.append(CALLER[:7999], AGENT[:7999])
    assert recorder.frames_committed == 0 and len(read_wav(path)[0]) == 0
    recorder.append(CALLER[7999:8001], AGENT[7999:8001])
    assert recorder.frames_committed == 8001
    np.testing.assert_array_equal(read_wav(path)[0], CALLER[:8001])
    recorder.close()
    recorder.close()
    with pytest.raises(ValueError, match="recording is closed"):
        recorder.append(CALLER[:1], AGENT[:1])


@pytest.mark.parametrize("seed", range(8))
def test_a_recording_truncated_at_a_random_point_still_opens(tmp_path, seed):
    path = tmp_path / "call.wav"
    record(path)
    data = path.read_bytes()
    cut = np.random.default_rng(seed).integers(HEADER_BYTES, len(data))
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(data[:cut])
    left, right = read_wav(truncated)
    frames = (cut - HEADER_BYTES) // 4
    np.testing.assert_array_equal(left, CALLER[:frames])
    np.testing.assert_array_equal(right, AGENT[:frames])


def test_kill_9_mid_call_leaves_a_playable_file_up_to_the_last_commit(tmp_path):
    path = tmp_path / "call.wav"
    script = textwrap.dedent(f"""
        import os, sys, numpy as np
        from dsp.recorder import StereoWavRecorder
        from hil_tests.speechlike import speech_like
        caller, agent = speech_like(3.0, seed=21), speech_like(3.0, seed=22)
        recorder = StereoWavRecorder({str(path)!r}, commit_every_frames=4000)
        for start in range(0, 20000, 160):
            recorder.append(caller[start:start + 160], agent[start:start + 160])
        print(recorder.frames_committed, flush=True)
        sys.stdin.read()  # wait to be killed, recording still open
    """)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    committed = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    child.stdin.close()
    assert committed == 20000 - 20000 % 4000
    left, right = read_wav(path)
    np.testing.assert_array_equal(left, CALLER[:committed])
    np.testing.assert_array_equal(right, AGENT[:committed])


@pytest.mark.parametrize("call, message", [
    (lambda r: r.append(np.zeros(4, np.int16), np.zeros(5, np.int16)), "expected equal lengths, got 4 and 5"),
    (lambda r: r.append(np.zeros(4, np.float64), np.zeros(4, np.int16)), "caller: expected dtype int16"),
    (lambda r: r.append(np.zeros(4, np.int16), [0, 0, 0, 0]), "agent: expected a numpy array"),
])
def test_bad_blocks_are_value_errors_naming_them(tmp_path, call, message):
    with StereoWavRecorder(tmp_path / "call.wav", durable=False) as recorder:
        with pytest.raises(ValueError, match=message):
            call(recorder)


def test_bad_settings_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="commit_every_frames: expected a positive int"):
        StereoWavRecorder(tmp_path / "a.wav", commit_every_frames=0)
    with pytest.raises(ValueError, match="sample_rate: expected a positive int"):
        StereoWavRecorder(tmp_path / "a.wav", sample_rate=-8000)

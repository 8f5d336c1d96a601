"""The default flow's prompts are Korean speech made at set-up (espeak-ng through the box's
prompt converter), and the default flow validates against them."""

from pathlib import Path

import numpy as np
import pytest

from dsp.prompts import RATE, load_prompt
from pbx_cti.ivr.flow import load_flow_file
from pbx_cti.ivr.prompts_setup import DEFAULT_PROMPTS, main, make_prompts

DEFAULT_FLOW = Path(__file__).resolve().parents[2] / "pbx_cti" / "ivr" / "default" / "main.toml"
FRAME = RATE // 50  # 20 ms


@pytest.fixture(scope="module")
def prompt_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("prompts")
    assert main([str(directory)]) == 0
    return directory


def speech_measures(samples: np.ndarray) -> tuple[int, float, int]:
    """(frames of 20 ms with speech energy, largest share of the energy in one 50 Hz band,
    distinct dominant bands over the loud frames)."""
    x = samples.astype(np.float64)
    frames = x[: x.size // FRAME * FRAME].reshape(-1, FRAME)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    loud = frames[rms > 32768 * 10 ** (-40 / 20)]  # above -40 dBFS
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    bands = spectrum[: spectrum.size // 50 * 50].reshape(50, -1).sum(axis=1)  # 50 bands of 80 Hz
    peak_share = float(bands.max() / bands.sum()) if bands.sum() > 0 else 0.0
    dominant = {int(np.argmax(np.abs(np.fft.rfft(f * np.hanning(FRAME))))) for f in loud}
    return len(loud), peak_share, len(dominant)


def test_every_prompt_is_speech_not_silence_or_a_tone(prompt_dir):
    for name in DEFAULT_PROMPTS:
        prompt = load_prompt(prompt_dir / f"{name}.wav")
        assert prompt.source_format == "16-bit PCM 8000 Hz mono"
        assert 1.0 < prompt.duration < 12.0, name
        loud_frames, peak_share, dominant = speech_measures(prompt.samples)
        assert loud_frames >= 25, (name, loud_frames)          # at least half a second of sound
        assert peak_share < 0.5, (name, peak_share)            # energy spread, not one line
        assert dominant >= 5, (name, dominant)                 # the sound changes: syllables, formants


def test_the_measures_tell_a_tone_and_silence_from_speech():
    t = np.arange(RATE * 2) / RATE
    tone = (8000 * np.sin(2 * np.pi * 425 * t)).astype(np.int16)
    frames, share, dominant = speech_measures(tone)
    assert frames > 25 and share > 0.9 and dominant == 1
    assert speech_measures(np.zeros(RATE * 2, dtype=np.int16))[0] == 0


def test_the_default_flow_validates_against_the_prompts(prompt_dir, tmp_path):
    flow = load_flow_file(DEFAULT_FLOW, prompt_dir=prompt_dir)
    assert flow.entry == "greeting" and flow.warnings == ()
    (tmp_path / "greeting.wav").write_bytes((prompt_dir / "greeting.wav").read_bytes())
    from pbx_cti.ivr.flow import FlowError
    with pytest.raises(FlowError) as caught:
        load_flow_file(DEFAULT_FLOW, prompt_dir=tmp_path)
    assert any('node "menu": field "prompts[0]": unknown prompt "menu"' in str(i) for i in caught.value.issues)


def test_existing_prompts_are_kept_unless_forced(tmp_path):
    studio = tmp_path / "greeting.wav"
    studio.write_bytes(b"studio recording")
    written = make_prompts(tmp_path, {"greeting": "안녕하세요", "goodbye": "안녕히 계십시오"}, report=lambda _: None)
    assert written == [tmp_path / "goodbye.wav"] and studio.read_bytes() == b"studio recording"
    assert make_prompts(tmp_path, {"greeting": "안녕하세요"}, force=True, report=lambda _: None) == [studio]
    assert load_prompt(studio).duration > 0.3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["goodbye.wav", "greeting.wav"]  # no scratch left

"""The bench's listening-quality model and the audio paths it scores: the model's anchors
(identity, noise, delay, its errors), the goals through E1 G.711 and RTP G.729, loss ordering,
and the both-ways tone check a load run puts every answered call through."""

import numpy as np
import pytest

from dsp import codecs, lib
from dsp.line_port import LinePort, PortMedia, WireEnd
from hil_tests.bench import audio_quality
from hil_tests.bench.audio_quality import AudioPath, PathEnd, measure_audio, port_media_end, verify_path
from hil_tests.bench.listening_model import QualityError, score


@pytest.fixture(scope="module")
def speech():
    return audio_quality.reference_speech(quick=True)[0]


def with_noise(x: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    power = np.mean(x.astype(float) ** 2)
    return x + rng.standard_normal(x.size) * np.sqrt(power / 10 ** (snr_db / 10))


def test_identical_signals_score_the_top_of_the_scale(speech):
    same = score(speech, speech)
    assert same.pesq == 4.5 and same.mos_lqo > 4.5 and same.delay_ms == 0.0


def test_noise_lowers_the_score_step_by_step_and_lands_near_published_p862_figures(speech):
    scores = [score(speech, with_noise(speech, snr)).pesq for snr in (40, 30, 20, 10, 0)]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 5
    assert 3.7 <= scores[1] <= 4.1            # 30 dB SNR
    assert 2.3 <= scores[3] <= 3.0            # 10 dB SNR


def test_a_delay_and_a_level_change_are_found_and_forgiven(speech):
    delayed = np.concatenate([np.zeros(400), speech * 0.5])
    result = score(speech, delayed)
    assert result.delay_ms == 50.0 and result.pesq > 4.4


def test_g729_scores_below_g711_and_above_the_goal(speech):
    n = speech.size // 80 * 80
    frames = codecs.G729Encoder().encode(speech[:n])
    g729 = codecs.G729Decoder().decode(frames.slots, frames.lengths)
    alaw = codecs.decode_alaw(codecs.encode_alaw(speech))
    assert 3.5 <= score(speech, g729).pesq < score(speech, alaw).pesq


def test_what_cannot_be_compared_is_refused_with_the_reason(speech):
    with pytest.raises(QualityError, match="reference: expected at least 2 s"):
        score(speech[:8000], speech)
    with pytest.raises(QualityError, match="degraded: expected at least 1 s"):
        score(speech, speech[:100])
    with pytest.raises(QualityError, match="silent"):
        score(speech, np.zeros(speech.size))


def test_measure_audio_meets_the_goals_and_orders_the_impairments():
    result = measure_audio(quick=True)
    assert result["goals_met"] and result["pesq_g711"] >= 4.0 and result["pesq_g729"] >= 3.5
    assert "not the ITU reference code" in result["model"]
    for name, clean in (("g711", "g711_rtp"), ("g729", "g729")):
        assert result[f"pesq_{name}_loss5"] < result[f"pesq_{name}_loss1"] <= result[f"pesq_{clean}"]
        assert 0.03 <= result[f"loss_seen_{name}_loss5"] <= 0.08
        buffer = result[f"jitter_buffer_{name}_jitter20"]
        assert buffer["jitter_ms"] > 2 and buffer["late"] + buffer["missing"] == 0   # absorbed, not concealed
    assert result["pesq_g711_each_way"][0] == pytest.approx(result["pesq_g711_each_way"][1], abs=0.05)


class SpanPair:
    def __init__(self):
        a, b = WireEnd.pair(8)
        self.ports = [LinePort(a, clock_line=False), LinePort(b, clock_line=True)]
        for port in self.ports:
            port.start(0.0)
        self.now = 0.0
        self.run(0.3)
        self.far, self.near = (PortMedia(p) for p in self.ports)

    def run(self, seconds: float) -> None:
        for _ in range(int(round(seconds / 0.001))):
            self.now += 0.001
            for port in self.ports:
                port.advance(self.now)


def test_verify_path_passes_a_call_heard_both_ways():
    spans = SpanPair()
    for media in (spans.far, spans.near):
        media.open(12, lib.MEDIA_CODEC_ALAW)
    check = verify_path(AudioPath(port_media_end(spans.far, 12), port_media_end(spans.near, 12), spans.run))
    assert check.ok, check.notes
    assert -11.0 < check.level_a_to_b_dbm0 < -9.0 and -11.0 < check.level_b_to_a_dbm0 < -9.0


def test_verify_path_names_the_dead_direction_of_a_one_way_call():
    spans = SpanPair()
    for media in (spans.far, spans.near):
        media.open(3, lib.MEDIA_CODEC_ALAW)
    near = port_media_end(spans.near, 3)
    muted = PathEnd(lambda samples: None, near.start_recording, near.recorded)   # b's microphone dead
    check = verify_path(AudioPath(port_media_end(spans.far, 3), muted, spans.run))
    assert check.a_to_b and not check.b_to_a and not check.ok
    assert any("a heard b's 1804 Hz" in note for note in check.notes)


def test_verify_path_flags_a_path_that_loops_back():
    spans = SpanPair()
    spans.far.open(5, lib.MEDIA_CODEC_ALAW)
    a = port_media_end(spans.far, 5)
    looped = PathEnd(a.play, a.start_recording, a.recorded)     # "b" is the same channel: a hears itself
    spans.near.open(5, lib.MEDIA_CODEC_ALAW)
    check = verify_path(AudioPath(a, looped, spans.run))
    assert not check.ok

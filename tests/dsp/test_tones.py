"""Call-progress tones: table, generator cadence and level, detector on clean, coded and noisy audio."""

import warnings

import numpy as np
import pytest

from dsp.dtmf import DtmfGenerator
from dsp.levels import power_dbm0
from dsp.tones import TONES, CallProgressBank, CallProgressDetector, ToneGenerator, tone_spec
from hil_tests.speech import speech_corpus

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

KR_NAMES = ["dial", "ringback", "busy", "congestion", "fax_cng", "fax_ced"]


def listen(x: np.ndarray, country: str = "KR") -> list:
    det = CallProgressDetector(country)
    reports = []
    for i in range(0, x.size, 160):        # 20 ms ticks
        reports += det.process(x[i:i + 160])
    return reports


def test_korean_table_matches_the_reference_and_marks_congestion_assumed():
    kr = TONES["KR"]
    assert kr["dial"].freqs_hz == (350.0, 440.0) and kr["dial"].continuous
    assert kr["ringback"].freqs_hz == (440.0, 480.0) and kr["ringback"].cadence_ms == (1000, 2000)
    assert kr["busy"].freqs_hz == (480.0, 620.0) and kr["busy"].cadence_ms == (500, 500)
    assert kr["congestion"].assumed and not kr["busy"].assumed
    with pytest.raises(ValueError, match="no tone 'howler' in the KR table"):
        tone_spec("KR", "howler")
    with pytest.raises(ValueError, match="no tone table for country 'XX'"):
        CallProgressDetector("XX")


def test_generator_cadence_and_level():
    x = ToneGenerator("KR", "busy", level_dbm0=-20).generate(8000 * 2)
    on = (np.abs(x.reshape(-1, 40)).max(axis=1) > 0).repeat(40)
    edges = np.flatnonzero(np.diff(on.astype(int))) + 1
    assert list(edges) == [4000, 8000, 12000]
    assert power_dbm0(x[:4000]) == pytest.approx(-20 + 10 * np.log10(2), abs=0.1)
    once = ToneGenerator("KR", "ringback", repeat=False).generate(8000 * 10)
    assert once.size == 3 * 8000


@pytest.mark.parametrize("name", KR_NAMES)
def test_each_korean_tone_is_recognised_with_its_cadence_and_nothing_else(name):
    spec = tone_spec("KR", name)
    x = ToneGenerator("KR", name, level_dbm0=-20).generate(8000 * 7)
    reports = listen(x)
    assert [r.name for r in reports] == [name]
    r = reports[0]
    if spec.continuous:
        assert r.duration_s >= 0.5 and r.on_s is None
    else:
        assert r.on_s == pytest.approx(spec.cadence_ms[0] / 1000, abs=0.03)
        if r.off_s is not None:
            assert r.off_s == pytest.approx(spec.cadence_ms[1] / 1000, abs=0.03)


@pytest.mark.parametrize("name", ["ringback", "busy", "fax_cng"])
def test_tones_through_ulaw_with_noise_at_low_level(name):
    rng = np.random.default_rng(5)
    x = ToneGenerator("KR", name, level_dbm0=-30).generate(8000 * 7).astype(float)
    x += rng.normal(0, 20, x.size)                          # about −50 dBm0 of line noise
    lin = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    coded = np.frombuffer(audioop.ulaw2lin(audioop.lin2ulaw(lin.tobytes(), 2), 2), dtype=np.int16)
    assert [r.name for r in listen(coded)] == [name]


def test_us_ringback_cadence_is_not_taken_for_korean():
    x = ToneGenerator("US", "ringback", level_dbm0=-20).generate(8000 * 13)
    assert [r.name for r in listen(x, "US")] == ["ringback"]
    assert listen(x, "KR") == []


def test_speech_and_dtmf_are_not_taken_for_call_progress_tones():
    for clip in speech_corpus()[::8]:
        x = np.clip(np.round(clip * 12000), -32768, 32767).astype(np.int16)
        assert listen(x) == []
    assert listen(DtmfGenerator(level_dbm0=-10).render("0123456789*#ABCD" * 3)) == []


def test_detector_rejects_bad_buffers():
    det = CallProgressDetector()
    with pytest.raises(ValueError, match="expected dtype int16"):
        det.process(np.zeros(10))
    with pytest.raises(ValueError, match="min_level_dbm0"):
        CallProgressDetector("KR", min_level_dbm0=-200)
    with pytest.raises(ValueError, match="level"):
        ToneGenerator("KR", "busy", level_dbm0=20)


def test_bank_reports_each_channel_its_own_tone():
    names = ["busy", "ringback", "fax_ced", "congestion"]
    block = np.stack([ToneGenerator("KR", n, level_dbm0=-25).generate(8000 * 4) for n in names])
    bank = CallProgressBank(len(names))
    heard = [[] for _ in names]
    for start in range(0, block.shape[1], 160):
        for c, reports in enumerate(bank.process(block[:, start:start + 160])):
            heard[c] += [r.name for r in reports]
    assert heard == [[n] for n in names]
    with pytest.raises(ValueError, match="expected 4 rows"):
        bank.process(np.zeros((2, 160), dtype=np.int16))

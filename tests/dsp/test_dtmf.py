"""DTMF receiver at the ITU-T Q.24 edges, generator, G.711, bank and chunking behaviour."""

import warnings

import numpy as np
import pytest

from dsp.dtmf import (DIGITS, DtmfEvent, DtmfGenerator, DtmfParams, DtmfReceiver, DtmfReceiverBank,
                      detect_digits, digit_frequencies)
from dsp.levels import power_dbm0
from tests.support.dtmf_signals import framed, silence, to_int16, tone_pair

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the G.711 reference (Python 3.11)


def detected(x: np.ndarray) -> str:
    return detect_digits(framed(x))


def test_generator_digits_are_all_detected_with_their_timing():
    gen = DtmfGenerator(level_dbm0=-10, on_ms=60, off_ms=60)
    audio = gen.render(DIGITS)
    assert audio.size == len(DIGITS) * 120 * 8
    events = DtmfReceiver().process(audio)
    starts = [e for e in events if e.kind == "start"]
    ends = [e for e in events if e.kind == "end"]
    assert "".join(e.digit for e in starts) == DIGITS
    assert [e.digit for e in ends] == list(DIGITS)
    for i, (s, e) in enumerate(zip(starts, ends)):
        onset = i * 120 * 8
        assert abs(s.sample - onset) <= 51, (s, onset)
        assert abs(e.sample - (onset + 480)) <= 51, (e, onset + 480)


@pytest.mark.parametrize("dev", [0.015, -0.015])
def test_frequency_deviation_of_1_5_percent_is_accepted(dev):
    for d in DIGITS:
        assert detected(tone_pair(d, 60, low_dev=dev)) == d
        assert detected(tone_pair(d, 60, high_dev=dev)) == d
        assert detected(tone_pair(d, 60, low_dev=dev, high_dev=-dev)) == d


@pytest.mark.parametrize("dev", [0.035, -0.035, 0.025, 0.05])
def test_frequency_deviation_of_3_5_percent_is_rejected(dev):
    for d in DIGITS:
        assert detected(tone_pair(d, 60, low_dev=dev)) == ""
        assert detected(tone_pair(d, 60, high_dev=dev)) == ""


@pytest.mark.parametrize("phase", np.linspace(0, 6, 7))
def test_twist_limits_normal_8_db_and_reverse_4_db_accepted(phase):
    for d in DIGITS:
        assert detected(tone_pair(d, 60, -10, -18, phase=phase)) == d   # normal: high group 8 dB lower
        assert detected(tone_pair(d, 60, -14, -10, phase=phase)) == d   # reverse: high group 4 dB higher


@pytest.mark.parametrize("phase", np.linspace(0, 6, 7))
def test_twist_beyond_limits_rejected_normal_10_db_reverse_6_db(phase):
    for d in DIGITS:
        assert detected(tone_pair(d, 60, -10, -20, phase=phase)) == ""
        assert detected(tone_pair(d, 60, -16, -10, phase=phase)) == ""


@pytest.mark.parametrize("level", [-36.0, -20.0, -3.0, 0.0])
def test_levels_from_minus_36_to_0_dbm0_per_tone_are_accepted(level):
    # at 0 dBm0 per tone the sum clips at full scale, as it would in a codec
    for d in DIGITS:
        assert detected(tone_pair(d, 60, level)) == d


def test_one_tone_below_minus_40_dbm0_is_rejected():
    for d in DIGITS:
        assert detected(tone_pair(d, 60, -42.0)) == ""
        assert detected(tone_pair(d, 60, -20.0, -43.0)) == ""


@pytest.mark.parametrize("ms", [40, 35])
def test_tones_of_35_ms_and_more_are_accepted_at_any_alignment(ms):
    for d in "159D":
        for lead in range(0, 51, 5):
            assert detect_digits(framed(tone_pair(d, ms), lead_samples=800 + lead)) == d, lead


@pytest.mark.parametrize("ms", [20, 23, 27])
def test_tones_shorter_than_28_ms_are_rejected_at_any_alignment(ms):
    for d in "159D":
        for lead in range(0, 51, 5):
            assert detect_digits(framed(tone_pair(d, ms), lead_samples=800 + lead)) == "", lead


def test_an_interruption_of_10_ms_does_not_split_a_digit():
    for lead in range(0, 51, 3):
        x = np.concatenate([tone_pair("5", 60), silence(10), tone_pair("5", 60, phase=1.7)])
        assert detect_digits(framed(x, lead_samples=800 + lead)) == "5", lead


def test_a_pause_of_40_ms_separates_two_equal_digits():
    for lead in range(0, 51, 3):
        x = np.concatenate([tone_pair("5", 45), silence(40), tone_pair("5", 45)])
        assert detect_digits(framed(x, lead_samples=800 + lead)) == "55", lead


def test_back_to_back_different_digits_without_pause_are_both_reported():
    x = np.concatenate([tone_pair("1", 80), tone_pair("9", 80)])
    assert detected(x) == "19"


@pytest.mark.parametrize("law", ["alaw", "ulaw"])
@pytest.mark.parametrize("level", [-30, -3])
def test_digits_survive_g711(law, level):
    gen = DtmfGenerator(level_dbm0=level, on_ms=50, off_ms=50)
    linear = gen.render(DIGITS)
    encode, decode = {"alaw": (audioop.lin2alaw, audioop.alaw2lin),
                      "ulaw": (audioop.lin2ulaw, audioop.ulaw2lin)}[law]
    coded = decode(encode(linear.tobytes(), 2), 2)
    assert detect_digits(np.frombuffer(coded, dtype=np.int16)) == DIGITS


def test_chunk_size_does_not_change_the_events():
    audio = DtmfGenerator(level_dbm0=-15, on_ms=45, off_ms=45).render("0123456789ABCD#*")
    whole = DtmfReceiver().process(audio)
    rx = DtmfReceiver()
    rng = np.random.default_rng(7)
    pieces: list[DtmfEvent] = []
    i = 0
    while i < audio.size:
        n = int(rng.integers(1, 400))
        pieces += rx.process(audio[i:i + n])
        i += n
    assert pieces == whole


def test_bank_gives_each_channel_what_a_single_receiver_gives():
    channels = 12
    rng = np.random.default_rng(3)
    sequences = ["".join(rng.choice(list(DIGITS), 5)) for _ in range(channels)]
    gen = DtmfGenerator(level_dbm0=-12, on_ms=50, off_ms=50)
    block = np.stack([gen.render(s) for s in sequences])
    bank = DtmfReceiverBank(channels)
    events = [[] for _ in range(channels)]
    for start in range(0, block.shape[1], 160):   # 20 ms ticks
        for c, ev in enumerate(bank.process(block[:, start:start + 160])):
            events[c] += ev
    for c in range(channels):
        assert events[c] == DtmfReceiver().process(block[c])
        assert "".join(e.digit for e in events[c] if e.kind == "start") == sequences[c]


def test_current_reports_the_digit_in_progress():
    rx = DtmfReceiver()
    rx.process(to_int16(tone_pair("7", 60)))
    assert rx.current == "7"
    rx.process(to_int16(silence(60)))
    assert rx.current is None


def test_unread_events_keep_the_newest_and_count_the_lost():
    rx = DtmfReceiver()
    audio = DtmfGenerator(on_ms=40, off_ms=45).render("1234567890" * 4)   # 80 events
    from dsp import ffi, lib   # the queue holds 64 events; read nothing until the end
    lib.dtmf_rx(rx._state, ffi.from_buffer("int16_t[]", audio), audio.size)
    events = rx.process(np.zeros(0, dtype=np.int16))
    assert len(events) == 64 and rx.lost_events == 16
    assert events[-1] == DtmfEvent("end", "0", events[-1].sample)


def test_generator_level_twist_and_timing():
    gen = DtmfGenerator(level_dbm0=-20, twist_db=0, on_ms=70, off_ms=30)
    x = gen.render("8")
    assert x.size == 800
    assert np.all(x[560:] == 0)
    assert power_dbm0(x[:560]) == pytest.approx(-20 + 10 * np.log10(2), abs=0.1)
    gen.set_level(-10, twist_db=3)
    tone = gen.render("8")[:560].astype(float)
    low, high = digit_frequencies("8")
    t = np.arange(560)
    amp_low = 2 * abs(np.dot(tone, np.exp(-2j * np.pi * low * t / 8000))) / 560
    amp_high = 2 * abs(np.dot(tone, np.exp(-2j * np.pi * high * t / 8000))) / 560
    assert 20 * np.log10(amp_low / amp_high) == pytest.approx(3.0, abs=0.2)


def test_generator_rejects_bad_digits_and_settings():
    gen = DtmfGenerator()
    with pytest.raises(ValueError, match="not a DTMF digit: 'x'"):
        gen.put("12x4")
    assert gen.pending == 0
    with pytest.raises(ValueError, match="level"):
        gen.set_level(10)
    with pytest.raises(ValueError, match="timing"):
        gen.set_timing(0, 50)
    assert gen.put("abcd") == 4 and detect_digits(gen.render("")) == ""


def test_receiver_rejects_bad_buffers_with_a_clear_error():
    rx = DtmfReceiver()
    with pytest.raises(ValueError, match="expected dtype int16"):
        rx.process(np.zeros(160, dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected a 1-D \(samples,\) array, got shape \(2, 80\)"):
        rx.process(np.zeros((2, 80), dtype=np.int16))
    with pytest.raises(ValueError, match="got list"):
        rx.process([0] * 160)
    bank = DtmfReceiverBank(4)
    with pytest.raises(ValueError, match=r"expected 4 rows"):
        bank.process(np.zeros((3, 160), dtype=np.int16))
    with pytest.raises(ValueError, match="parameters out of range"):
        DtmfReceiver(DtmfParams(max_deviation=0.2))
    with pytest.raises(ValueError, match="not a DTMF digit"):
        digit_frequencies("E")

"""G.711 packet-loss concealment: repeat the pitch, fade by 60 ms, blend back without a click."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dsp import codecs, ffi, lib
from dsp.codecs import Codec
from dsp.media import MediaBatch
from hil_tests.speechlike import tone


def new_plc():
    plc = ffi.new("plc_state_t *")
    lib.plc_init(plc)
    return plc


def run(plc, signal, lost_frames):
    """Feed 80-sample frames, concealing those in lost_frames; returns what was played."""
    out = signal.copy()
    for f in range(signal.size // 80):
        frame = out[f * 80:(f + 1) * 80]
        if f in lost_frames:
            lib.plc_conceal(plc, ffi.from_buffer("int16_t[]", frame), 80)
        else:
            lib.plc_good(plc, ffi.from_buffer("int16_t[]", frame), 80)
    return out


def snr_db(reference, signal):
    noise = max(np.sum((reference.astype(float) - signal) ** 2), 1.0)
    return 10 * np.log10(np.sum(reference.astype(float) ** 2) / noise)


@pytest.mark.parametrize("freq", [95.0, 130.0, 170.0, 200.0])
def test_a_lost_frame_of_a_periodic_sound_is_continued(freq):
    signal = tone(0.2, freq, -12)
    played = run(new_plc(), signal, {10})
    concealed = played[800:880]
    assert snr_db(signal[800:880], concealed) > 15   # silence would score 0 dB
    np.testing.assert_array_equal(played[:800], signal[:800])


def test_a_long_loss_fades_to_silence_by_60_ms():
    signal = tone(0.3, 200.0, -6)
    played = run(new_plc(), signal, set(range(10, 20)))
    rms = [np.sqrt(np.mean(played[f * 80:(f + 1) * 80].astype(float) ** 2)) for f in range(10, 20)]
    level = np.sqrt(np.mean(signal.astype(float) ** 2))
    assert rms[0] > 0.9 * level and rms[1] < rms[0] and rms[3] < rms[1]
    assert all(r == 0 for r in rms[6:])


def test_recovery_blends_into_the_good_audio_without_a_click():
    signal = tone(0.3, 130.0, -6)
    played = run(new_plc(), signal, {10, 11})
    steps = np.abs(np.diff(played[950:1000].astype(int)))
    typical = np.abs(np.diff(signal.astype(int))).max()
    assert steps.max() <= 1.5 * typical
    np.testing.assert_array_equal(played[992:], signal[992:])  # after 4 ms it is the received audio


def test_a_loss_before_enough_history_is_silence():
    played = run(new_plc(), tone(0.05, 200.0), {2})
    assert (played[160:240] == 0).all()


def test_batch_conceals_lost_g711_frames_and_stays_transparent_otherwise():
    batch = MediaBatch(1, frames_per_tick=2)
    batch.configure(0, line_law=Codec.ALAW, net_codec=Codec.ALAW)
    buffers = batch.new_buffers()
    line = codecs.encode_alaw(tone(0.4, 150.0, -10))
    received = []
    for t in range(20):
        buffers.net_in[0] = line[t * 160:(t + 1) * 160]
        buffers.net_in_lengths[0] = [0, 80] if t == 8 else [80, 80]
        batch.run(buffers)
        received.append(buffers.line_out[0].copy())
        if t < 8:
            np.testing.assert_array_equal(buffers.line_out[0], buffers.net_in[0])
    concealed = codecs.decode_alaw(received[8][:80])
    assert snr_db(codecs.decode_alaw(line[1280:1360]), concealed) > 10
    np.testing.assert_array_equal(received[12], line[1920:2080])  # transparent again after recovery


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.int16, st.integers(1, 12).map(lambda n: n * 80)), st.sets(st.integers(0, 11)))
def test_random_audio_and_losses_never_break_it(signal, lost):
    played = run(new_plc(), signal, lost)
    good = [f for f in range(signal.size // 80) if f not in lost and f - 1 not in lost]
    for f in good:
        np.testing.assert_array_equal(played[f * 80:(f + 1) * 80], signal[f * 80:(f + 1) * 80])

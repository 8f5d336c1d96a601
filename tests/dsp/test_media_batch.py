"""The per-tick batch: every channel's codecs in one C call, checked against the codecs alone,
against raw bcg729, and with hostile buffers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp import ffi, lib
from dsp import codecs
from dsp.codecs import Codec, G729Decoder, G729Encoder
from dsp.media import Direction, MediaBatch, TickBuffers
from hil_tests.peers._bcg729_ref import lib as ref
from dsp.compare import best_lag_snr_db
from hil_tests.speechlike import speech_like, tone

SPEECH = speech_like(2.0, seed=11)


def ticks(signal: np.ndarray, samples: int):
    for start in range(0, signal.size - samples + 1, samples):
        yield signal[start:start + samples]


def level_meter():
    return ffi.gc(lib.level_meter_new(), lib.level_meter_free)


def test_same_law_g711_is_bit_transparent_both_ways():
    batch = MediaBatch(2, frames_per_tick=1)
    batch.configure(0, line_law=Codec.ALAW, net_codec=Codec.ALAW)
    batch.configure(1, line_law=Codec.ULAW, net_codec=Codec.ULAW)
    buffers = batch.new_buffers()
    every_code = np.arange(256, dtype=np.uint8)
    for half in (every_code[:80], every_code[80:160], every_code[160:240]):
        buffers.line_in[:] = half
        buffers.net_in[:] = half[::-1]
        buffers.net_in_lengths[:] = 80
        assert batch.run(buffers) == 2
        np.testing.assert_array_equal(buffers.net_out, buffers.line_in)
        np.testing.assert_array_equal(buffers.line_out, buffers.net_in)
        assert (buffers.net_out_lengths == 80).all()


def test_cross_law_channel_uses_the_direct_conversion():
    batch = MediaBatch(1, frames_per_tick=2)
    batch.configure(0, line_law=Codec.ALAW, net_codec=Codec.ULAW)
    buffers = batch.new_buffers()
    codes = np.random.default_rng(1).integers(0, 256, 160, dtype=np.uint8)
    buffers.line_in[0] = codes
    buffers.net_in[0] = codes[::-1]
    buffers.net_in_lengths[:] = 80
    batch.run(buffers)
    np.testing.assert_array_equal(buffers.net_out[0], codecs.alaw_to_ulaw(codes))
    np.testing.assert_array_equal(buffers.line_out[0], codecs.ulaw_to_alaw(codes[::-1].copy()))
    np.testing.assert_array_equal(batch.pcm_from_line[0], codecs.decode_alaw(codes))
    np.testing.assert_array_equal(batch.pcm_to_line[0], codecs.decode_ulaw(codes[::-1].copy()))


@pytest.mark.parametrize("frames_per_tick", [1, 2, 3, 4])
@pytest.mark.parametrize("line_law", [Codec.ALAW, Codec.ULAW])
def test_g729_channels_match_the_codecs_alone_tick_after_tick(frames_per_tick, line_law):
    # Three G.729 channels with different audio (one with VAD), to show their states stay apart.
    batch = MediaBatch(3, frames_per_tick)
    samples = batch.samples_per_tick
    signals = [SPEECH, speech_like(2.0, seed=12, pause_fraction=0.5), tone(2.0, 700)]
    vads = [False, True, False]
    for channel, vad in enumerate(vads):
        batch.configure(channel, line_law=line_law, net_codec=Codec.G729, vad=vad)
    line_octets = [codecs.encode(line_law, s) for s in signals]
    # What arrives from the network: the same audio, encoded by a separate encoder per channel.
    sent = [G729Encoder(vad=v).encode(codecs.decode(line_law, o)) for o, v in zip(line_octets, vads)]
    encoders = [G729Encoder(vad=v) for v in vads]
    decoders = [G729Decoder() for _ in vads]
    buffers = batch.new_buffers()
    n_ticks = SPEECH.size // samples
    for t in range(n_ticks):
        span = slice(t * samples, (t + 1) * samples)
        frames = slice(t * frames_per_tick, (t + 1) * frames_per_tick)
        for c in range(3):
            buffers.line_in[c] = line_octets[c][span]
            slots, lengths = buffers.g729_in(c)
            slots[:] = sent[c].slots[frames]
            lengths[:] = sent[c].lengths[frames]
        batch.run(buffers)
        for c in range(3):
            expected_up = encoders[c].encode(codecs.decode(line_law, line_octets[c][span]))
            out_slots, out_lengths = buffers.g729_out(c)
            np.testing.assert_array_equal(out_lengths, expected_up.lengths)
            for f, n in enumerate(expected_up.lengths):
                np.testing.assert_array_equal(out_slots[f, :n], expected_up.slots[f, :n])
            expected_down = decoders[c].decode(sent[c].slots[frames], sent[c].lengths[frames])
            np.testing.assert_array_equal(batch.pcm_to_line[c], expected_down)
            np.testing.assert_array_equal(buffers.line_out[c], codecs.encode(line_law, expected_down))
    stats = batch.stats(1)
    assert stats["ticks"] == n_ticks and stats["sid_out"] > 0 and stats["untransmitted_out"] > 0
    assert stats["sid_in"] == stats["sid_out"]


@pytest.mark.parametrize("signal", [SPEECH, tone(1.0, 440), tone(1.0, 1200, -24)], ids=["speech", "440Hz", "1200Hz"])
def test_g711_to_g729_and_back_snr_within_half_a_db_of_raw_bcg729(signal):
    # Ours: A-law from the line, G.729 out, looped back in the next tick, A-law down the line.
    batch = MediaBatch(1, frames_per_tick=2)
    batch.configure(0, line_law=Codec.ALAW, net_codec=Codec.G729)
    buffers = batch.new_buffers()
    received = []
    for block in ticks(codecs.encode_alaw(signal), batch.samples_per_tick):
        buffers.line_in[0] = block
        batch.run(buffers)
        received.append(codecs.decode_alaw(buffers.line_out[0]))
        buffers.net_in[:] = buffers.net_out
        buffers.net_in_lengths[:] = buffers.net_out_lengths
    ours = np.concatenate(received)[batch.samples_per_tick:]  # drop the loopback's one-tick delay
    span = ours.size

    def raw_loop(pcm):
        out = np.empty_like(pcm)
        ref.bcg729_ref_full_duplex(1, pcm.size // 80, ffi.from_buffer("int16_t[]", pcm), ffi.from_buffer("int16_t[]", out))
        return out[:span]

    ours_snr, _ = best_lag_snr_db(signal[:span], ours)
    # bcg729's own loop on the same signal G.729 saw in our path (the line's A-law, decoded):
    # this isolates our layer and batch, and must agree within 0.5 dB.
    same_input = codecs.decode_alaw(codecs.encode_alaw(signal))
    same_input_snr, _ = best_lag_snr_db(signal[:span], raw_loop(same_input))
    assert abs(ours_snr - same_input_snr) <= 0.5, (ours_snr, same_input_snr)
    # bcg729 on the linear signal itself: the A-law line may not cost more than 0.5 dB.
    linear_snr, _ = best_lag_snr_db(signal[:span], raw_loop(signal))
    assert ours_snr >= linear_snr - 0.5, (ours_snr, linear_snr)


def test_missing_and_bad_frames_are_counted_and_concealed():
    batch = MediaBatch(2, frames_per_tick=2)
    batch.configure(0, net_codec=Codec.G729)
    batch.configure(1, net_codec=Codec.ALAW)
    buffers = batch.new_buffers()
    sent = G729Encoder().encode(SPEECH[:1600])
    g711_lost, g729_lost = None, None
    for t in range(10):
        slots, lengths = buffers.g729_in(0)
        slots[:] = sent.slots[2 * t:2 * t + 2]
        lengths[:] = sent.lengths[2 * t:2 * t + 2]
        buffers.net_in[1] = codecs.encode_alaw(SPEECH[t * 160:(t + 1) * 160])
        buffers.net_in_lengths[1] = 80
        if t == 6:
            buffers.net_in_lengths[:, 0] = 0      # one frame lost on both channels
            buffers.net_in_lengths[:, 1] = 77     # and a frame with an impossible length
        batch.run(buffers)
        if t == 6:
            g711_lost = (batch.pcm_to_line[1].copy(), buffers.line_out[1].copy())
            g729_lost = batch.pcm_to_line[0].copy()
    assert batch.stats(0) | batch.stats(1) == batch.stats(0)  # same keys
    for channel in (0, 1):
        stats = batch.stats(channel)
        assert stats["frames_missing"] == 2 and stats["frames_bad"] == 1 and stats["frames_in"] == 18
    # Both codecs conceal the lost frames with sound rather than a gap of silence.
    assert np.abs(g711_lost[0]).max() > 0 and (g711_lost[1] != lib.G711_ALAW_SILENCE).any()
    assert np.abs(g729_lost).max() > 0


def test_idle_channels_send_silence_and_nothing_to_the_network():
    batch = MediaBatch(2, frames_per_tick=2)
    batch.configure(0, line_law=Codec.ULAW, net_codec=Codec.G729)
    batch.idle(0)
    buffers = batch.new_buffers()
    buffers.line_in[:] = 0x12
    buffers.net_out_lengths[:] = 99
    assert batch.run(buffers) == 0
    assert (buffers.line_out[0] == lib.G711_ULAW_SILENCE).all()
    assert (buffers.line_out[1] == lib.G711_ALAW_SILENCE).all()
    assert (buffers.net_out_lengths == 0).all()


def test_taps_see_each_directions_linear_audio_inside_the_tick():
    batch = MediaBatch(2, frames_per_tick=2)
    batch.configure(1, line_law=Codec.ALAW, net_codec=Codec.ULAW)
    from_line, to_line, extra = level_meter(), level_meter(), level_meter()
    process = ffi.addressof(lib, "level_meter_process")
    batch.attach_tap(1, Direction.FROM_LINE, process, from_line)
    batch.attach_tap(1, Direction.FROM_LINE, process, extra)
    batch.attach_tap(1, Direction.TO_LINE, process, to_line)
    buffers = batch.new_buffers()
    energy_from, energy_to = 0.0, 0.0
    for t, block in enumerate(ticks(SPEECH[:1600], 160)):
        buffers.line_in[1] = codecs.encode_alaw(block)
        buffers.net_in[1] = codecs.encode_ulaw(block[::-1].copy())
        buffers.net_in_lengths[1] = 80
        batch.run(buffers)
        energy_from += float(np.sum(batch.pcm_from_line[1].astype(np.int64) ** 2))
        energy_to += float(np.sum(batch.pcm_to_line[1].astype(np.int64) ** 2))
    assert from_line.samples == to_line.samples == extra.samples == 1600
    assert from_line.energy == energy_from and extra.energy == energy_from
    assert to_line.energy == energy_to
    batch.clear_taps(1, Direction.FROM_LINE)
    batch.run(buffers)
    assert from_line.samples == 1600 and to_line.samples == 1760


def test_tap_limit_and_bad_tap_arguments():
    batch = MediaBatch(1)
    process = ffi.addressof(lib, "level_meter_process")
    meters = [level_meter() for _ in range(lib.MEDIA_MAX_TAPS + 1)]
    for meter in meters[:-1]:
        batch.attach_tap(0, Direction.TO_LINE, process, meter)
    with pytest.raises(ValueError, match="already 4 taps"):
        batch.attach_tap(0, Direction.TO_LINE, process, meters[-1])
    with pytest.raises(ValueError, match="process: expected a cffi function pointer"):
        batch.attach_tap(0, Direction.FROM_LINE, "level_meter_process", meters[-1])
    with pytest.raises(ValueError, match="state: expected a cffi pointer"):
        batch.attach_tap(0, Direction.FROM_LINE, process, 1234)
    with pytest.raises(ValueError, match="direction: expected Direction.FROM_LINE or Direction.TO_LINE, got 7"):
        batch.attach_tap(0, 7, process, meters[-1])


@pytest.mark.parametrize("field, bad, message", [
    ("line_in", np.zeros((2, 160), np.int16), "line_in: expected dtype uint8, got int16"),
    ("line_out", np.zeros((2, 80), np.uint8), r"line_out: expected shape \(2, 160\), got \(2, 80\)"),
    ("net_in", np.zeros(320, np.uint8), r"net_in: expected shape \(2, 160\), got \(320,\)"),
    ("net_in_lengths", np.zeros((2, 3), np.uint8), r"net_in_lengths: expected shape \(2, 2\), got \(2, 3\)"),
    ("net_out", np.zeros((2, 320), np.uint8)[:, ::2], "net_out: expected a C-contiguous array"),
    ("net_out_lengths", [[0, 0], [0, 0]], "net_out_lengths: expected a numpy array of uint8, got list"),
])
def test_bad_buffers_are_value_errors_naming_them(field, bad, message):
    batch = MediaBatch(2, frames_per_tick=2)
    buffers = batch.new_buffers()
    setattr(buffers, field, bad)
    with pytest.raises(ValueError, match=message):
        batch.run(buffers)


def test_bad_configuration_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="channels: expected an int in 1..4096, got 0"):
        MediaBatch(0)
    with pytest.raises(ValueError, match="frames_per_tick: expected an int in 1..32"):
        MediaBatch(1, frames_per_tick=33)
    batch = MediaBatch(2)
    with pytest.raises(ValueError, match="channel: expected an int in 0..1, got 2"):
        batch.configure(2, net_codec=Codec.ALAW)
    with pytest.raises(ValueError, match="line_law: expected Codec.ALAW or Codec.ULAW"):
        batch.configure(0, line_law=Codec.G729, net_codec=Codec.ALAW)
    with pytest.raises(ValueError, match="net_codec: expected a Codec or None, got 9"):
        batch.configure(0, net_codec=9)
    with pytest.raises(ValueError, match="buffers: expected TickBuffers"):
        batch.run({"line_in": None})
    read_only = batch.new_buffers()
    read_only.line_out.flags.writeable = False
    with pytest.raises(ValueError, match="line_out: expected a writable array"):
        batch.run(read_only)


def test_c_core_rejects_bad_arguments_without_crashing():
    assert lib.media_batch_new(0, 2) == ffi.NULL
    assert lib.media_batch_new(2, 0) == ffi.NULL
    assert lib.media_batch_new(lib.MEDIA_MAX_CHANNELS + 1, 2) == ffi.NULL
    batch = ffi.gc(lib.media_batch_new(2, 2), lib.media_batch_free)
    assert lib.media_batch_run(batch, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL,
                               ffi.NULL) == lib.MEDIA_ERR_ARGUMENT
    assert lib.media_batch_configure(batch, -1, 1, 1, 0) == lib.MEDIA_ERR_CHANNEL
    assert lib.media_batch_configure(batch, 0, 3, 1, 0) == lib.MEDIA_ERR_CODEC
    assert lib.media_batch_attach_tap(batch, 0, 0, ffi.NULL, ffi.NULL) == lib.MEDIA_ERR_ARGUMENT
    assert lib.media_batch_stats(ffi.NULL, 0, ffi.NULL) == lib.MEDIA_ERR_ARGUMENT
    assert lib.g729_encode(ffi.NULL, ffi.NULL, 1, ffi.NULL, ffi.NULL) == lib.G729_ERR_ARGUMENT
    lib.g711_linear_to_alaw(ffi.NULL, ffi.NULL, 100)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_random_configurations_and_buffers_never_break_the_tick(data):
    channels = data.draw(st.integers(1, 6))
    frames = data.draw(st.integers(1, 4))
    batch = MediaBatch(channels, frames)
    codec_choice = st.sampled_from([None, Codec.ALAW, Codec.ULAW, Codec.G729])
    for channel in range(channels):
        batch.configure(channel, line_law=data.draw(st.sampled_from([Codec.ALAW, Codec.ULAW])),
                        net_codec=data.draw(codec_choice), vad=data.draw(st.booleans()))
    buffers = batch.new_buffers()
    for _ in range(data.draw(st.integers(1, 3))):
        size = channels * batch.samples_per_tick
        buffers.line_in[:] = np.frombuffer(data.draw(st.binary(min_size=size, max_size=size)), np.uint8).reshape(
            channels, -1)
        buffers.net_in[:] = np.frombuffer(data.draw(st.binary(min_size=size, max_size=size)), np.uint8).reshape(
            channels, -1)
        lengths = data.draw(st.lists(st.sampled_from([0, 2, 10, 80, 1, 255]), min_size=channels * frames,
                                     max_size=channels * frames))
        buffers.net_in_lengths[:] = np.array(lengths, np.uint8).reshape(channels, frames)
        batch.run(buffers)
        assert set(buffers.net_out_lengths.ravel().tolist()) <= {0, 2, 10, 80}
    for channel in range(channels):
        stats = batch.stats(channel)
        assert stats["frames_in"] + stats["frames_missing"] in (0, stats["ticks"] * frames)

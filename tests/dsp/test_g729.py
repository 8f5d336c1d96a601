"""G.729 through our layer, checked against raw libbcg729 (hil_tests.peers._bcg729_ref)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dsp import codecs
from dsp.codecs import FRAME_OCTETS, FRAME_SAMPLES, G729Decoder, G729Encoder, G729Error
from hil_tests.peers._bcg729_ref import ffi as ref_ffi
from hil_tests.peers._bcg729_ref import lib as ref
from dsp.compare import best_lag_snr_db
from hil_tests.speechlike import speech_like, tone


class RawEncoder:
    def __init__(self, vad=False):
        self.ctx = ref_ffi.gc(ref.initBcg729EncoderChannel(1 if vad else 0), ref.closeBcg729EncoderChannel)

    def encode(self, pcm):
        """-> list of bytes per frame (10, 2 or 0 octets)"""
        out = []
        bits = ref_ffi.new("uint8_t[10]")
        length = ref_ffi.new("uint8_t *")
        for f in range(pcm.size // FRAME_SAMPLES):
            frame = np.ascontiguousarray(pcm[f * FRAME_SAMPLES:(f + 1) * FRAME_SAMPLES])
            ref.bcg729Encoder(self.ctx, ref_ffi.from_buffer("int16_t[]", frame), bits, length)
            out.append(bytes(ref_ffi.buffer(bits, length[0])))
        return out


class RawDecoder:
    def __init__(self):
        self.ctx = ref_ffi.gc(ref.initBcg729DecoderChannel(), ref.closeBcg729DecoderChannel)

    def decode(self, frame: bytes | None):
        """One frame: 10 octets speech, 2 octets SID, None erased/untransmitted."""
        out = np.empty(FRAME_SAMPLES, np.int16)
        pcm = ref_ffi.from_buffer("int16_t[]", out)
        if frame is None:
            ref.bcg729Decoder(self.ctx, ref_ffi.NULL, 0, 1, 0, 0, pcm)
        else:
            bits = ref_ffi.new("uint8_t[10]", frame)
            ref.bcg729Decoder(self.ctx, bits, len(frame), 0, len(frame) == 2, 0, pcm)
        return out


SPEECH = speech_like(4.0, seed=7)
# Speech, then a second of low background noise, then speech: VAD must send SIDs and stop.
WITH_PAUSE = np.concatenate([speech_like(1.0, seed=3, pause_fraction=0.0), speech_like(1.0, seed=4, level_dbfs=-200,
                             noise_dbfs=-50), speech_like(1.0, seed=5, pause_fraction=0.0)])


def frames_as_bytes(frames):
    return [bytes(slot[:length]) for slot, length in zip(frames.slots, frames.lengths)]


@pytest.mark.parametrize("vad", [False, True])
def test_encoder_output_is_bit_exact_with_raw_bcg729(vad):
    ours = frames_as_bytes(G729Encoder(vad=vad).encode(WITH_PAUSE))
    theirs = RawEncoder(vad=vad).encode(WITH_PAUSE)
    assert ours == theirs
    if vad:
        assert 2 in {len(f) for f in ours} and 0 in {len(f) for f in ours}


@pytest.mark.parametrize("signal", [SPEECH, tone(1.0, 440), tone(1.0, 1700, -30)], ids=["speech", "440Hz", "1700Hz"])
def test_encode_decode_snr_equals_bcg729_own_loop(signal):
    ours = G729Decoder().decode(*G729Encoder().encode(signal))
    raw_dec = RawDecoder()
    theirs = np.concatenate([raw_dec.decode(f) for f in RawEncoder().encode(signal)])
    ours_snr, ours_lag = best_lag_snr_db(signal, ours)
    theirs_snr, theirs_lag = best_lag_snr_db(signal, theirs)
    assert abs(ours_snr - theirs_snr) <= 0.5
    assert ours_lag == theirs_lag
    np.testing.assert_array_equal(ours, theirs)
    assert ours_snr > 3.0  # sanity: the codec reproduces the waveform, not noise


@pytest.mark.parametrize("ptime_frames", [1, 2, 3, 4])
def test_raw_bcg729_payloads_decode_through_ours(ptime_frames):
    frames = RawEncoder(vad=True).encode(WITH_PAUSE)
    raw_dec, our_dec = RawDecoder(), G729Decoder()
    for start in range(0, len(frames), ptime_frames):
        group = frames[start:start + ptime_frames]
        theirs = np.concatenate([raw_dec.decode(f or None) for f in group])
        # What a peer sends for this ptime (RFC 3551): the frames it has, SID last.
        packets = codecs.g729_frames_to_payloads(*_to_slots(group))
        ours = np.zeros(len(group) * FRAME_SAMPLES, np.int16)
        covered = 0
        for first, payload in packets:
            if first > covered:
                ours[covered * 80:first * 80] = our_dec.conceal(first - covered)
            pcm = our_dec.decode_payload(payload)
            ours[first * 80:first * 80 + pcm.size] = pcm
            covered = first + pcm.size // 80
        if covered < len(group):
            ours[covered * 80:] = our_dec.conceal(len(group) - covered)
        np.testing.assert_array_equal(ours, theirs)


def _to_slots(frames):
    slots = np.zeros((len(frames), FRAME_OCTETS), np.uint8)
    lengths = np.zeros(len(frames), np.uint8)
    for i, f in enumerate(frames):
        slots[i, :len(f)] = np.frombuffer(f, np.uint8)
        lengths[i] = len(f)
    return slots, lengths


@pytest.mark.parametrize("ptime_frames", [1, 2, 3, 4])
def test_our_payloads_decode_through_raw_bcg729(ptime_frames):
    encoder = G729Encoder(vad=True)
    raw_dec, raw_ref_dec = RawDecoder(), RawDecoder()
    reference_frames = RawEncoder(vad=True).encode(WITH_PAUSE)
    decoded, expected = [], []
    step = ptime_frames * FRAME_SAMPLES
    for start in range(0, WITH_PAUSE.size, step):
        block = WITH_PAUSE[start:start + step]
        received = [None] * (block.size // FRAME_SAMPLES)
        for first, payload in encoder.encode_payloads(block):
            assert len(payload) % 10 in (0, 2)
            n_speech = len(payload) // 10
            for i in range(n_speech):
                received[first + i] = payload[i * 10:(i + 1) * 10]
            if len(payload) % 10:
                received[first + n_speech] = payload[-2:]
        decoded.extend(raw_dec.decode(f) for f in received)
    expected = [raw_ref_dec.decode(f or None) for f in reference_frames]
    np.testing.assert_array_equal(np.concatenate(decoded), np.concatenate(expected))


def test_payload_layout_follows_rfc3551():
    slots = np.arange(40, dtype=np.uint8).reshape(4, 10)
    packets = codecs.g729_frames_to_payloads(slots, np.array([10, 10, 2, 0], np.uint8))
    assert packets == [(0, slots[:2].tobytes() + slots[2, :2].tobytes())]
    # A SID can only be last: speech after it goes in the next payload.
    packets = codecs.g729_frames_to_payloads(slots, np.array([2, 10, 10, 0], np.uint8))
    assert packets == [(0, slots[0, :2].tobytes()), (1, slots[1:3].tobytes())]
    # An untransmitted frame splits payloads; the second starts 2 frames (160 samples) later.
    packets = codecs.g729_frames_to_payloads(slots, np.array([10, 0, 10, 10], np.uint8))
    assert packets == [(0, slots[0].tobytes()), (2, slots[2:].tobytes())]
    assert codecs.g729_frames_to_payloads(slots, np.zeros(4, np.uint8)) == []
    frames = codecs.g729_payload_to_frames(slots[:3].tobytes() + b"\x12\x34")
    assert frames.lengths.tolist() == [10, 10, 10, 2]
    assert frames.slots[3, :2].tobytes() == b"\x12\x34" and not frames.slots[3, 2:].any()


@pytest.mark.parametrize("length", [1, 3, 9, 11, 15, 21, 39])
def test_payload_of_bad_length_names_the_problem(length):
    with pytest.raises(G729Error, match=f"payload of {length} octets: payload length is not 10\\*n or 10\\*n\\+2"):
        G729Decoder().decode_payload(bytes(length))


def test_bad_frame_length_is_rejected_before_any_decoding():
    decoder = G729Decoder()
    with pytest.raises(G729Error, match="frame length is not 0, 2"):
        decoder.decode(np.zeros((2, 10), np.uint8), np.array([10, 7], np.uint8))


def test_frame_erasure_conceals_then_fades_like_bcg729():
    frames = RawEncoder().encode(SPEECH)
    lost = set(range(100, 106)) | set(range(200, 240))
    raw_dec, our_dec = RawDecoder(), G729Decoder()
    theirs, ours = [], []
    for i, f in enumerate(frames):
        if i in lost:
            theirs.append(raw_dec.decode(None))
            ours.append(our_dec.conceal(1))
        else:
            theirs.append(raw_dec.decode(f))
            ours.append(our_dec.decode_payload(f))
    np.testing.assert_array_equal(np.concatenate(ours), np.concatenate(theirs))
    energy = [float(np.mean(ours[i].astype(float) ** 2)) for i in range(200, 240)]
    assert energy[0] > 0  # concealment continues the sound rather than muting at once
    assert energy[-1] < energy[0] / 100  # and fades out over a long loss (G.729 4.4)


def test_sid_frames_give_comfort_noise_at_the_background_level():
    encoder, decoder = G729Encoder(vad=True), G729Decoder()
    frames = encoder.encode(WITH_PAUSE)
    pcm = decoder.decode(*frames)
    pause = slice(8000 + 2400, 16000 - 800)  # inside the pause, past the VAD hangover
    assert 2 in frames.lengths[(8000 + 2400) // 80:(16000 - 800) // 80]
    background_rms = np.sqrt(np.mean(WITH_PAUSE[pause].astype(float) ** 2))
    comfort_rms = np.sqrt(np.mean(pcm[pause].astype(float) ** 2))
    assert comfort_rms > 0
    assert abs(20 * np.log10(comfort_rms / background_rms)) < 6


def test_rfc3389_comfort_noise_round_trip():
    encoder, decoder = G729Encoder(vad=True), G729Decoder()
    encoder.encode(WITH_PAUSE[:16000])
    payload = encoder.comfort_noise()
    assert len(payload) == codecs.RFC3389_MAX_OCTETS and payload[0] < 128
    noise = np.concatenate([decoder.decode_comfort_noise(payload)] + [decoder.conceal(1) for _ in range(20)])
    rms = np.sqrt(np.mean(noise.astype(float) ** 2))
    background_rms = np.sqrt(np.mean(WITH_PAUSE[10400:15200].astype(float) ** 2))
    assert abs(20 * np.log10(rms / background_rms)) < 10
    with pytest.raises(G729Error, match="noise-level octet"):
        decoder.decode_comfort_noise(b"")
    with pytest.raises(G729Error, match="without VAD"):
        G729Encoder().comfort_noise()


@pytest.mark.parametrize("bad, message", [
    (np.zeros(81, np.int16), "pcm: expected a size that is a multiple of 80, got 81"),
    (np.zeros(80, np.float32), "pcm: expected dtype int16, got float32"),
    (b"\x00" * 160, "pcm: expected a numpy array of int16, got bytes"),
])
def test_bad_pcm_is_a_value_error_naming_it(bad, message):
    with pytest.raises(ValueError, match=message):
        G729Encoder().encode(bad)


def test_bad_frames_are_value_errors_naming_them():
    decoder = G729Decoder()
    with pytest.raises(ValueError, match=r"slots: expected shape \(3, 10\), got \(2, 10\)"):
        decoder.decode(np.zeros((2, 10), np.uint8), np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="lengths: expected dtype uint8, got int64"):
        decoder.decode(np.zeros((2, 10), np.uint8), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="n_frames: expected a non-negative int"):
        decoder.conceal(-1)
    with pytest.raises(ValueError, match="payload: expected bytes, got str"):
        decoder.decode_payload("abc")


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.int16, st.integers(0, 8).map(lambda n: n * 80)), st.booleans())
def test_random_audio_always_encodes_to_valid_frames(pcm, vad):
    frames = G729Encoder(vad=vad).encode(pcm)
    assert frames.lengths.size == pcm.size // 80
    assert set(frames.lengths.tolist()) <= ({0, 2, 10} if vad else {10})
    assert G729Decoder().decode(*frames).size == pcm.size


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64))
def test_random_payloads_decode_or_raise_cleanly(payload):
    decoder = G729Decoder()
    if len(payload) % 10 in (0, 2):
        assert decoder.decode_payload(payload).size == -(-len(payload) // 10) * 80
    else:
        with pytest.raises(G729Error):
            decoder.decode_payload(payload)
    assert decoder.decode_comfort_noise(payload or b"\x00").size == 80


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 2, 10, 1, 255]), st.binary(min_size=10, max_size=10)), max_size=8))
def test_random_frame_slots_decode_or_raise_cleanly(frames):
    slots = np.frombuffer(b"".join(b for _, b in frames), np.uint8).reshape(-1, 10).copy()
    lengths = np.array([n for n, _ in frames], np.uint8)
    if set(lengths.tolist()) <= {0, 2, 10}:
        assert G729Decoder().decode(slots, lengths).size == lengths.size * 80
        for first, payload in codecs.g729_frames_to_payloads(slots, lengths):
            assert 0 <= first < lengths.size and len(payload) % 10 in (0, 2)
    else:
        with pytest.raises(G729Error, match="frame length"):
            G729Decoder().decode(slots, lengths)

"""G.711 against Python's audioop: every 16-bit input, every code, both laws, both directions."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dsp import codecs

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)


def _audioop(func, data: np.ndarray, dtype) -> np.ndarray:
    return np.frombuffer(func(data.tobytes(), 2), dtype)


@pytest.mark.parametrize("ours, theirs", [(codecs.encode_alaw, audioop.lin2alaw),
                                          (codecs.encode_ulaw, audioop.lin2ulaw)])
def test_encode_matches_audioop_on_all_65536_inputs(ours, theirs):
    np.testing.assert_array_equal(ours(ALL_SAMPLES), _audioop(theirs, ALL_SAMPLES, np.uint8))


@pytest.mark.parametrize("ours, theirs", [(codecs.decode_alaw, audioop.alaw2lin),
                                          (codecs.decode_ulaw, audioop.ulaw2lin)])
def test_decode_matches_audioop_on_all_256_codes(ours, theirs):
    np.testing.assert_array_equal(ours(ALL_CODES), _audioop(theirs, ALL_CODES, np.int16))


def test_direct_law_conversion_matches_audioop_decode_then_encode_on_all_codes():
    via_linear_a2u = _audioop(audioop.lin2ulaw, _audioop(audioop.alaw2lin, ALL_CODES, np.int16), np.uint8)
    via_linear_u2a = _audioop(audioop.lin2alaw, _audioop(audioop.ulaw2lin, ALL_CODES, np.int16), np.uint8)
    np.testing.assert_array_equal(codecs.alaw_to_ulaw(ALL_CODES), via_linear_a2u)
    np.testing.assert_array_equal(codecs.ulaw_to_alaw(ALL_CODES), via_linear_u2a)


def test_law_round_trip_is_transparent_for_every_code():
    # Decoding then re-encoding in the same law gives the code back: the tables are consistent.
    np.testing.assert_array_equal(codecs.encode_alaw(codecs.decode_alaw(ALL_CODES)), ALL_CODES)
    ulaw_round_trip = codecs.encode_ulaw(codecs.decode_ulaw(ALL_CODES))
    # mu-law has two zeros (0x7F "-0" and 0xFF "+0"); both decode to 0, which encodes as 0xFF.
    expected = ALL_CODES.copy()
    expected[0x7F] = 0xFF
    np.testing.assert_array_equal(ulaw_round_trip, expected)


def test_silence_codes():
    silence = np.zeros(8, np.int16)
    assert set(codecs.encode_alaw(silence)) == {codecs.lib.G711_ALAW_SILENCE}
    assert set(codecs.encode_ulaw(silence)) == {codecs.lib.G711_ULAW_SILENCE}


def test_out_parameter_is_filled_in_place():
    out = np.zeros(ALL_SAMPLES.size, np.uint8)
    result = codecs.encode_ulaw(ALL_SAMPLES, out=out)
    assert result is out
    np.testing.assert_array_equal(out, _audioop(audioop.lin2ulaw, ALL_SAMPLES, np.uint8))


@pytest.mark.parametrize("bad, message", [
    (np.zeros(10, np.int32), "pcm: expected dtype int16, got int32"),
    (np.zeros((2, 5), np.int16), "pcm: expected 1 dimension(s)"),
    (np.zeros(20, np.int16)[::2], "pcm: expected a C-contiguous array"),
    ([1, 2, 3], "pcm: expected a numpy array of int16, got list"),
])
def test_bad_pcm_is_a_value_error_naming_it(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        codecs.encode_alaw(bad)


def test_bad_out_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match=r"out: expected shape \(4,\), got \(3,\)"):
        codecs.decode_alaw(np.zeros(4, np.uint8), out=np.zeros(3, np.int16))
    with pytest.raises(ValueError, match="out: expected dtype int16, got uint8"):
        codecs.decode_alaw(np.zeros(4, np.uint8), out=np.zeros(4, np.uint8))
    read_only = np.zeros(4, np.uint8)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="out: expected a writable array"):
        codecs.encode_alaw(np.zeros(4, np.int16), out=read_only)


def test_law_selector_rejects_g729():
    with pytest.raises(ValueError, match="law: expected Codec.ALAW or Codec.ULAW"):
        codecs.encode(codecs.Codec.G729, np.zeros(4, np.int16))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.int16, st.integers(0, 2000)))
def test_random_blocks_match_audioop(pcm):
    np.testing.assert_array_equal(codecs.encode_alaw(pcm), _audioop(audioop.lin2alaw, pcm, np.uint8))
    np.testing.assert_array_equal(codecs.encode_ulaw(pcm), _audioop(audioop.lin2ulaw, pcm, np.uint8))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.uint8, st.integers(0, 2000)), st.sampled_from([codecs.Codec.ALAW, codecs.Codec.ULAW]))
def test_random_codes_decode_like_audioop(codes, law):
    theirs = audioop.alaw2lin if law == codecs.Codec.ALAW else audioop.ulaw2lin
    np.testing.assert_array_equal(codecs.decode(law, codes), _audioop(theirs, codes, np.int16))

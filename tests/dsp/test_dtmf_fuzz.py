"""Property tests: no buffer crashes the DTMF or tone receivers, and noise gives no digits."""

import numpy as np
from hypothesis import given, settings, strategies as st

from dsp.dtmf import DtmfReceiver, DtmfReceiverBank
from dsp.tones import CallProgressDetector

int16 = st.integers(min_value=-32768, max_value=32767)


@settings(max_examples=200, deadline=None)
@given(st.lists(int16, max_size=3000), st.lists(st.integers(1, 700), min_size=1, max_size=8))
def test_any_buffer_in_any_chunking_never_crashes(values, chunks):
    x = np.array(values, dtype=np.int16)
    rx = DtmfReceiver()
    tones = CallProgressDetector()
    i = 0
    k = 0
    while i < x.size:
        n = chunks[k % len(chunks)]
        for e in rx.process(x[i:i + n]):
            assert e.digit in "0123456789*#ABCD" and e.kind in ("start", "end")
        tones.process(x[i:i + n])
        i += n
        k += 1


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(-40.0, -6.0))
def test_white_noise_at_moderate_level_gives_no_digits(seed, level_dbm0):
    rng = np.random.default_rng(seed)
    sigma = 32767 / np.sqrt(2) * 10 ** ((level_dbm0 - 3.14) / 20)
    x = np.clip(np.round(rng.normal(0, sigma, 8000 * 2)), -32768, 32767).astype(np.int16)
    assert DtmfReceiver().process(x) == []
    assert CallProgressDetector().process(x) == []


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(0, 400), st.integers(0, 2**32 - 1))
def test_full_scale_random_blocks_on_a_bank(channels, n, seed):
    rng = np.random.default_rng(seed)
    block = rng.integers(-32768, 32768, size=(channels, n), dtype=np.int16)
    out = DtmfReceiverBank(channels).process(block)
    assert len(out) == channels

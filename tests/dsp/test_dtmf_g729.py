"""DTMF through G.729 (bcg729 encode → decode through the reference peer module, until the core's
own G.729 path lands from the codecs work)."""

import numpy as np
import pytest

from dsp.dtmf import DIGITS, DtmfGenerator, detect_digits
from hil_tests.peers._spandsp_ref import ffi, lib


def g729_roundtrip(x: np.ndarray) -> np.ndarray:
    x = np.concatenate([x, np.zeros((-x.size) % 80, dtype=np.int16)])
    y = np.zeros_like(x)
    assert lib.ref_g729_roundtrip(ffi.from_buffer("int16_t[]", x), ffi.from_buffer("int16_t[]", y), x.size) == 0
    return y


@pytest.mark.parametrize("level", [-30, -20, -10, -3])
def test_70_ms_digits_survive_g729_at_every_level(level):
    x = DtmfGenerator(level_dbm0=level, on_ms=70, off_ms=70).render(DIGITS * 2)
    assert detect_digits(g729_roundtrip(x)) == DIGITS * 2


@pytest.mark.parametrize("level", [-30, -20])
def test_50_ms_digits_survive_g729_at_moderate_levels(level):
    # at −10 dBm0 and above G.729 smears a few 50 ms digits below the 85 % share-of-power
    # talk-off guard; spandsp loses some there as well
    x = DtmfGenerator(level_dbm0=level, on_ms=50, off_ms=50).render(DIGITS * 2)
    assert detect_digits(g729_roundtrip(x)) == DIGITS * 2

"""Elastic store slips and line impairments."""

import numpy as np
import pytest

from dsp.line import ElasticStore, LineImpairment


def numbered(start: int, n: int) -> np.ndarray:
    frames = np.zeros((n, 32), np.uint8)
    ids = np.arange(start, start + n)
    frames[:, 0] = ids & 0xFF
    frames[:, 1] = ids >> 8
    return frames


def ids_of(frames: np.ndarray) -> list[int]:
    return [int(f[0]) | int(f[1]) << 8 for f in frames]


def test_reads_wait_until_half_full_then_pass_frames_in_order():
    store = ElasticStore(depth_frames=16)
    out = np.zeros((4, 32), np.uint8)
    assert store.read(out) == 0 and (out == 0xFF).all()
    store.write(numbered(0, 7))
    assert not store.primed
    store.write(numbered(7, 1))
    assert store.fill == 8 and store.primed
    store.read(out)
    assert ids_of(out) == [0, 1, 2, 3] and store.slips == 0


def test_overflow_drops_whole_arriving_frames_one_slip_each():
    store = ElasticStore(depth_frames=16)
    assert store.write(numbered(0, 20)) == 4
    assert store.slips == 4 and store.overflow_slips == 4 and store.fill == 16
    out = np.zeros((16, 32), np.uint8)
    store.read(out)
    assert ids_of(out) == list(range(16))


def test_underflow_repeats_the_last_frame_one_slip_each():
    store = ElasticStore(depth_frames=8)
    store.write(numbered(0, 4))
    out = np.zeros((7, 32), np.uint8)
    assert store.read(out) == 3
    assert ids_of(out) == [0, 1, 2, 3, 3, 3, 3]
    assert store.underflow_slips == 3 and store.slips == 3


@pytest.mark.parametrize("ppm", [500, -500, 50])
def test_clock_offset_slips_at_the_rate_the_offset_implies(ppm):
    """Writer at 8000 * (1 + ppm) frames/s, reader at 8000 in 10 ms ticks: once the fill has
    drifted to an edge, one slip per 1 / (8000 * |ppm|) s."""
    store = ElasticStore(depth_frames=200)
    seconds = 30 if abs(ppm) >= 500 else 150
    written = 0
    out = np.zeros((80, 32), np.uint8)
    first_slip_tick = None
    for tick in range(seconds * 100):
        due = round((tick + 1) * 80 * (1 + ppm * 1e-6))
        store.write(numbered(0, due - written))
        written = due
        store.read(out)
        if first_slip_tick is None and store.slips:
            first_slip_tick, slips_then = tick, store.slips
    assert first_slip_tick is not None
    expected = abs(ppm) * 1e-6 * 8000 * (seconds - (first_slip_tick + 1) / 100)
    assert abs(store.slips - slips_then - expected) <= 0.1 * expected + 1
    assert (store.overflow_slips if ppm > 0 else store.underflow_slips) == store.slips


def test_bad_arguments():
    with pytest.raises(ValueError, match="depth_frames"):
        ElasticStore(depth_frames=1)
    store = ElasticStore()
    with pytest.raises(ValueError, match="uint8"):
        store.write(np.zeros((2, 32), np.float32))
    with pytest.raises(ValueError, match=r"\(nx32\)"):
        store.read(np.zeros(64, np.uint8))


def test_ber_flips_the_expected_number_of_bits_reproducibly():
    frames = np.zeros((8000 * 2, 32), np.uint8)
    line = LineImpairment(seed=5)
    line.set_ber(1e-3)
    line.apply(frames)
    flipped = int(np.unpackbits(frames).sum())
    nbits = frames.size * 8
    assert flipped == line.errors_injected
    assert abs(flipped - nbits * 1e-3) < 5 * (nbits * 1e-3) ** 0.5
    again = np.zeros_like(frames)
    other = LineImpairment(seed=5)
    other.set_ber(1e-3)
    other.apply(again)
    assert (again == frames).all(), "same seed, same errors"


def test_ber_gaps_span_calls():
    """Errors land the same whether the frames go through in one call or many."""
    one = np.zeros((1000, 32), np.uint8)
    many = np.zeros((1000, 32), np.uint8)
    a, b = LineImpairment(seed=11), LineImpairment(seed=11)
    a.set_ber(1e-3)
    b.set_ber(1e-3)
    a.apply(one)
    for i in range(0, 1000, 7):
        b.apply(many[i:i + 7])
    assert (one == many).all()


def test_burst_cut_and_ais():
    frames = np.zeros((4, 32), np.uint8)
    line = LineImpairment()
    line.burst(12)
    line.apply(frames)
    assert frames[0, 0] == 0xFF and frames[0, 1] == 0xF0 and frames[0, 2:].sum() == 0
    assert line.errors_injected == 12
    line.set_ais(True)
    line.apply(frames)
    assert (frames == 0xFF).all()
    line.set_cut(True)
    line.apply(frames)
    assert (frames == 0).all(), "a cut wins over AIS"
    line.set_cut(False)
    line.set_ais(False)
    frames[:] = 0x55
    line.apply(frames)
    assert (frames == 0x55).all()


def test_impairment_argument_errors():
    line = LineImpairment()
    with pytest.raises(ValueError, match="bit-error rate"):
        line.set_ber(1.5)
    with pytest.raises(ValueError, match="nbits"):
        line.burst(-1)
    with pytest.raises(ValueError, match="seed"):
        LineImpairment(seed=-1)

"""Conference and supervisor mixes: exact sums, saturation instead of wrap-around."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dsp import mixing
from dsp.mixing import SupervisorMode


def reference_conference(pcm):
    total = pcm.astype(np.int64).sum(axis=0)
    return np.clip(total - pcm.astype(np.int64), -32768, 32767).astype(np.int16)


def test_each_party_hears_the_others_not_itself():
    pcm = np.array([[100, -200, 300], [1, 2, 3], [-50, 50, 0]], np.int16)
    np.testing.assert_array_equal(mixing.conference(pcm), [[-49, 52, 3], [50, -150, 300], [101, -198, 303]])


def test_loud_parties_saturate_instead_of_wrapping():
    pcm = np.array([[30000, -30000], [30000, -30000], [30000, -30000]], np.int16)
    np.testing.assert_array_equal(mixing.conference(pcm), [[32767, -32768]] * 3)


def test_supervisor_modes_route_the_right_voices():
    caller, agent, supervisor = (np.full(4, v, np.int16) for v in (1000, 20, 3))
    monitor = mixing.supervisor_mix(caller, agent, supervisor, SupervisorMode.MONITOR)
    assert (monitor.to_caller == 20).all() and (monitor.to_agent == 1000).all() and (monitor.to_supervisor == 1020).all()
    whisper = mixing.supervisor_mix(caller, agent, supervisor, SupervisorMode.WHISPER)
    assert (whisper.to_caller == 20).all() and (whisper.to_agent == 1003).all() and (whisper.to_supervisor == 1020).all()
    barge = mixing.supervisor_mix(caller, agent, supervisor, SupervisorMode.BARGE)
    assert (barge.to_caller == 23).all() and (barge.to_agent == 1003).all() and (barge.to_supervisor == 1020).all()


def test_weighted_mix_rounds_and_saturates():
    pcm = np.array([[1000, 32767, -3], [1000, 32767, 0]], np.int16)
    half = mixing.UNITY // 2
    out = mixing.mix(pcm, [[half, half], [mixing.UNITY * 2, 0], [-mixing.UNITY, 0]])
    np.testing.assert_array_equal(out, [[1000, 32767, -2], [2000, 32767, -6], [-1000, -32767, 3]])


@pytest.mark.parametrize("call, message", [
    (lambda: mixing.conference(np.zeros((2, 4), np.int32)), "pcm: expected dtype int16, got int32"),
    (lambda: mixing.conference(np.zeros(4, np.int16)), "pcm: expected 2 dimension"),
    (lambda: mixing.conference(np.zeros((65, 4), np.int16)), "pcm: expected 1..64 parties"),
    (lambda: mixing.mix(np.zeros((2, 4), np.int16), [[1, 2, 3]]), r"weights: expected shape \(1..64, 2\)"),
    (lambda: mixing.conference(np.zeros((2, 4), np.int16), out=np.zeros((2, 3), np.int16)), "out: expected shape"),
    (lambda: mixing.supervisor_mix(np.zeros(4, np.int16), np.zeros(4, np.int16), np.zeros(5, np.int16),
                                   SupervisorMode.BARGE), "expected equal lengths"),
    (lambda: mixing.supervisor_mix(np.zeros(4, np.int16), np.zeros(4, np.int16), np.zeros(4, np.int16), "barge"),
     "mode: expected a SupervisorMode"),
])
def test_bad_input_is_a_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(np.int16, st.tuples(st.integers(1, 8), st.integers(0, 200))))
def test_conference_matches_a_64_bit_reference(pcm):
    np.testing.assert_array_equal(mixing.conference(pcm), reference_conference(pcm))


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_weighted_mix_matches_a_64_bit_reference(data):
    pcm = data.draw(hnp.arrays(np.int16, st.tuples(st.integers(1, 6), st.integers(0, 100))))
    weights = data.draw(hnp.arrays(np.int32, (data.draw(st.integers(1, 6)), pcm.shape[0]),
                                   elements=st.integers(-4 * 4096, 4 * 4096)))
    total = weights.astype(np.int64) @ pcm.astype(np.int64)
    rounded = np.sign(total) * ((np.abs(total) + 2048) // 4096)
    np.testing.assert_array_equal(mixing.mix(pcm, weights), np.clip(rounded, -32768, 32767))

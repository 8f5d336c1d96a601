"""Line faults with calls up, each run by the bench's fault list and its expected outcome
asserted: bit-error bursts, LOS, AIS, slips, the D-channel down with layer 1 up, a RESTART storm
and glare on every channel (virtual clock: a 30 s outage takes about a second)."""

import pytest

from hil_tests.bench import line_faults
from hil_tests.bench.line_faults import LINE_FAULTS


_RESULTS: dict = {}


def run(fault, *args):
    """Each fault runs once per session; the tests below read its figures."""
    key = (fault.__name__, args)
    if key not in _RESULTS:
        _RESULTS[key] = fault(*args)
    return _RESULTS[key]


@pytest.mark.parametrize("fault, args", LINE_FAULTS, ids=[f"{f.__name__}{a}" for f, a in LINE_FAULTS])
def test_each_line_fault_ends_as_the_standard_says(fault, args):
    result = run(fault, *args)
    assert result.passed, result.observed
    assert result.expected and not result.observed.startswith("NOT")


def test_bit_errors_are_counted_in_proportion_to_the_rate():
    low, high = run(line_faults.ber_burst, 1e-5), run(line_faults.ber_burst, 1e-3)
    assert 10 * low.figures["crc4_errors"] < high.figures["crc4_errors"]


def test_a_30_s_los_clears_at_t309_and_a_50_ms_one_costs_only_the_link_for_an_instant():
    long, short = run(line_faults.los, 30.0), run(line_faults.los, 0.05)
    assert 5.9 <= long.figures["cleared_after_s"] <= 6.2
    assert short.figures["d_channel_back_after_s"] < 0.5


def test_a_dead_d_channel_is_noticed_through_lapd_timers():
    result = run(line_faults.dchannel_down, 30.0)
    assert 10.0 <= result.figures["box_noticed_after_s"] <= 15.0       # T203 + N200 x T200


def test_a_fault_whose_outcome_differs_is_reported_failed_with_what_was_seen():
    def body(rig, out):
        calls = rig.calls_up([3])
        out.check(calls[0].answered_at is not None, "the call is answered")
        out.check(calls[0].done, "the call is over")                  # it is not: this claim fails

    result = line_faults._with_rig("claims", "one claim holds, one does not", body)
    assert not result.passed
    assert result.observed == "NOT: the call is over | held: the call is answered"


def test_a_fault_run_that_crashes_is_a_failed_result_not_a_crashed_bench():
    def body(rig, out):
        raise RuntimeError("the rig broke")

    result = line_faults._with_rig("crash", "nothing", body)
    assert not result.passed and "RuntimeError: the rig broke" in result.observed

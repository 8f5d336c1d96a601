"""G.826 accounting on synthetic per-second samples: ES/SES/BES, UAS entry and exit with the
retroactive adjustment, 15-minute intervals and 24 h of history."""

import pytest

from drivers.performance import PerformanceMonitor, SecondSample, format_counters

CLEAN = SecondSample()
ONE_CRC = SecondSample(crc4_errors=1)
BURST = SecondSample(crc4_errors=50)
SEVERE = SecondSample(crc4_errors=321)
EDGE = SecondSample(crc4_errors=320)
LOS = SecondSample(los=True)


def feed(pm, samples, start=0):
    for i, sample in enumerate(samples):
        pm.record_second(start + i + 1, sample)


def test_classifies_each_second():
    pm = PerformanceMonitor(0)
    feed(pm, [CLEAN, ONE_CRC, BURST, EDGE, SEVERE, LOS, SecondSample(oof=True), SecondSample(ais=True)])
    c = pm.current
    assert c.seconds == 8
    assert c.errored_secs == 7
    assert c.bursty_errored_secs == 2          # 50 and 320 errors; 1 error is not bursty
    assert c.severely_errored_secs == 4        # 321 errors, LOS, OOF, AIS
    assert c.unavailable_secs == 0
    assert c.crc4_errors == 1 + 50 + 320 + 321
    assert c.frame_loss_secs == 2              # LOS and OOF
    assert pm.available


def test_nine_ses_stay_available():
    pm = PerformanceMonitor(0)
    feed(pm, [SEVERE] * 9 + [CLEAN] + [SEVERE] * 9)
    assert pm.available
    assert pm.current.severely_errored_secs == 18
    assert pm.current.unavailable_secs == 0


def test_ten_ses_become_unavailable_retroactively():
    pm = PerformanceMonitor(0)
    feed(pm, [ONE_CRC] * 3 + [SEVERE] * 10)
    assert not pm.available
    c = pm.current
    assert c.unavailable_secs == 10
    assert c.severely_errored_secs == 0
    assert c.errored_secs == 3                 # only the seconds before the run


def test_unavailable_time_counts_no_errored_seconds_and_exit_is_retroactive():
    pm = PerformanceMonitor(0)
    # 10 SES enter UAS; 5 more SES; then errored-but-not-severe seconds: 9 are not enough ...
    feed(pm, [SEVERE] * 15 + [ONE_CRC] * 9 + [SEVERE])
    assert not pm.available
    assert pm.current.unavailable_secs == 25
    assert pm.current.errored_secs == 0
    # ... then 10 non-SES (2 of them errored, 1 bursty) end unavailability at their onset.
    feed(pm, [ONE_CRC, BURST] + [CLEAN] * 8, start=25)
    assert pm.available
    c = pm.current
    assert c.unavailable_secs == 25
    assert c.errored_secs == 2
    assert c.bursty_errored_secs == 1
    assert c.severely_errored_secs == 0
    feed(pm, [ONE_CRC], start=35)
    assert pm.current.errored_secs == 3


def test_retroactive_adjustment_reaches_into_the_previous_interval():
    pm = PerformanceMonitor(0, interval_seconds=20)
    feed(pm, [CLEAN] * 15 + [SEVERE] * 10)       # the run straddles the interval boundary
    assert not pm.available
    previous, current = pm.history[0], pm.current
    assert (previous.severely_errored_secs, previous.unavailable_secs, previous.errored_secs) == (0, 5, 0)
    assert (current.severely_errored_secs, current.unavailable_secs, current.seconds) == (0, 5, 5)


def test_intervals_roll_over_and_keep_24_hours():
    pm = PerformanceMonitor(0)
    seconds = 97 * 900 + 30
    for t in range(1, seconds + 1):
        pm.record_second(t, ONE_CRC if t % 900 == 1 else CLEAN)
    assert len(pm.history) == 96
    assert pm.current.seconds == 30
    assert all(i.seconds == 900 and i.errored_secs == 1 for i in pm.history)
    assert pm.history[0].start == 96 * 900          # newest first: the 97th interval
    total = pm.total()
    assert total.seconds == 96 * 900 and total.errored_secs == 96


def test_anomalies_are_counted_in_unavailable_time_too():
    pm = PerformanceMonitor(0)
    feed(pm, [SecondSample(los=True, slips=2, fas_errors=7, ebit_errors=3)] * 12)
    c = pm.current
    assert (c.slips, c.slip_secs, c.fas_errors, c.far_end_block_errors) == (24, 12, 84, 36)
    assert c.unavailable_secs == 12


def test_bad_sample_is_rejected_by_name():
    with pytest.raises(ValueError, match="crc4_errors"):
        SecondSample(crc4_errors=-1)


def test_format_counters_reads_like_show_controllers():
    pm = PerformanceMonitor(0)
    feed(pm, [BURST])
    text = "\n".join(format_counters(pm.current))
    assert "50 Path Code Violations" in text
    assert "1 Errored Secs, 1 Bursty Err Secs, 0 Severely Err Secs, 0 Unavail Secs" in text


# -- against a reference written the other way round: classify offline with look-ahead -------

from hypothesis import given, settings, strategies as st  # noqa: E402

KINDS = {"clean": CLEAN, "one": ONE_CRC, "burst": BURST, "severe": SEVERE, "los": LOS}


def reference_counts(samples, interval_seconds):
    """Availability decided by looking 10 s ahead (how RFC 4805 describes the delayed way)."""
    n = len(samples)
    available = [True] * n
    state = True
    i = 0
    while i < n:
        window = samples[i:i + 10]
        if len(window) == 10 and all(s.severely_errored == state for s in window):
            state = not state
            for j in range(i, i + 10):
                available[j] = state
            i += 10
            continue
        available[i] = state
        i += 1
    intervals = []
    for start in range(0, n, interval_seconds):
        chunk = range(start, min(start + interval_seconds, n))
        intervals.append(dict(
            uas=sum(not available[k] for k in chunk),
            es=sum(available[k] and samples[k].errored for k in chunk),
            ses=sum(available[k] and samples[k].severely_errored for k in chunk),
            bes=sum(available[k] and samples[k].bursty for k in chunk)))
    return intervals


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(KINDS)), st.integers(1, 14)), max_size=30),
       st.integers(5, 40))
def test_online_accounting_matches_the_look_ahead_reference(runs, interval_seconds):
    samples = [KINDS[kind] for kind, length in runs for _ in range(length)]
    pm = PerformanceMonitor(0, interval_seconds=interval_seconds, history_intervals=1000)
    for t, sample in enumerate(samples, start=1):
        pm.record_second(t, sample)
        for c in [pm.current, *pm.history]:
            assert 0 <= c.severely_errored_secs <= c.errored_secs
            assert 0 <= c.unavailable_secs <= c.seconds
            assert c.bursty_errored_secs + c.severely_errored_secs <= c.errored_secs <= c.seconds - c.unavailable_secs
    got = [dict(uas=c.unavailable_secs, es=c.errored_secs, ses=c.severely_errored_secs,
                bes=c.bursty_errored_secs) for c in [*reversed(pm.history), pm.current] if c.seconds]
    assert got == reference_counts(samples, interval_seconds)

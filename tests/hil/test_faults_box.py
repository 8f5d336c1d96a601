"""Box faults with their outcomes asserted, in real time against the product's own stores and
notifier: kill -9 with every store open, the CDR database locked, the disk full (a tmpfs the run
mounts: the suite runs as root), the notification provider down."""

import pytest

from hil_tests.bench import box_faults
from hil_tests.bench.box_faults import BOX_FAULTS


@pytest.mark.parametrize("fault, args", BOX_FAULTS, ids=[f.__name__ for f, _ in BOX_FAULTS])
def test_each_box_fault_ends_with_nothing_lost(fault, args):
    result = fault(*args)
    assert result.passed, result.observed


def test_kill_9_figures_say_how_much_was_at_stake():
    result = box_faults.kill9_with_every_store_open(seconds=1.0)
    assert result.passed, result.observed
    assert result.figures["calls_reported"] > 30 and result.figures["notifications_reported"] > 3
    assert result.figures["recording_needed_repair"] is True
    assert result.figures["cdr_lost_window_s"] <= 1.0 and result.figures["cti_last_event_before_kill_s"] <= 1.0

"""Channels the box cleared while its D-channel was down (T309, cause 27) are restarted when the
link comes back: the far end could not hear the clearing and would hold them for good."""

import pytest

from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.events import Released
from hil_tests.bench.line_faults import LineRig


@pytest.mark.parametrize("restart", [True, False])
def test_calls_cleared_by_t309_while_the_far_end_never_noticed_are_restarted_toward_it(restart):
    rig = LineRig()
    rig.box.restart_on_first_link_up = restart
    try:
        rig.in_service()
        calls = rig.calls_up([3, 21])
        rig.line.te.rx_impairment.set_ais(True)      # the box hears nothing; the carrier still hears the box
        rig.run(10.0)
        assert [r.cause for r in rig.of(Released, rig.box.span_id)] == [Cause.DESTINATION_OUT_OF_ORDER] * 2
        assert not rig.of(Released, rig.net.span_id)  # T203 has not run out at the carrier yet
        rig.line.te.rx_impairment.set_ais(False)
        rig.run_until(lambda: rig.box.layer2_up and rig.net.layer2_up, 3.0)
        rig.run(1.0)
        if restart:
            assert [c.released_cause for c in calls] == [Cause.TEMPORARY_FAILURE] * 2
            assert not rig.net.stack.calls and rig.idle()
            again = rig.calls_up([3, 21])
            assert all(c.answered_at is not None for c in again)
        else:                                          # the old behaviour the setting still allows
            assert not any(c.done for c in calls) and len(rig.net.stack.calls) == 2
    finally:
        rig.close()


def test_calls_kept_through_a_short_loss_are_not_restarted():
    rig = LineRig()
    try:
        rig.in_service()
        calls = rig.calls_up([5])
        rig.line.te.rx_impairment.set_cut(True)
        rig.run(2.0)
        rig.line.te.rx_impairment.set_cut(False)
        rig.run_until(lambda: rig.box.layer2_up and rig.net.layer2_up, 3.0)
        rig.run(2.0)
        assert not calls[0].done and len(rig.box.stack.calls) == 1
        assert not any("RESTART" in t.text for t in rig.events if hasattr(t, "text") and t.time > 2.0)
    finally:
        rig.close()

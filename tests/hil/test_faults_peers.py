"""Peer faults with their outcomes asserted, on the virtual clock: the agent's device vanishing
mid-call, the agent application disconnecting mid-call, the 070 SIP trunk vanishing mid-call."""

import pytest

from hil_tests.bench.peer_faults import PEER_FAULTS


@pytest.mark.parametrize("fault, args", PEER_FAULTS, ids=[f.__name__ for f, _ in PEER_FAULTS])
def test_each_peer_fault_ends_as_designed(fault, args):
    result = fault(*args)
    assert result.passed, result.observed

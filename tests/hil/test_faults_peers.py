"""Peer faults with their outcomes asserted, on the virtual clock: the agent's device vanishing
mid-call and the agent application disconnecting mid-call.  The third, the 070 SIP trunk
vanishing mid-call, holds a minute and a half of virtual time at 2 ms steps; its behaviour is
tested in tests/pbx/test_pbx_sip_media_timeout.py with a short timeout, and the bench runs it."""

import pytest

from hil_tests.bench.peer_faults import PEER_FAULTS, sip_trunk_vanishes

FAST = [(f, a) for f, a in PEER_FAULTS if f is not sip_trunk_vanishes]


@pytest.mark.parametrize("fault, args", FAST, ids=[f.__name__ for f, _ in FAST])
def test_each_peer_fault_ends_as_designed(fault, args):
    result = fault(*args)
    assert result.passed, result.observed

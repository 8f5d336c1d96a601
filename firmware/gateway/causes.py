"""Q.850 causes the gateway gives at its edge, taken from the one cause table
(firmware/isdn/q931/causes.py), so a trace, an event and a CDR agree on every number."""

from __future__ import annotations

from firmware.isdn.q931.causes import Cause

# Why the gateway refuses or cannot carry a call, and the cause a carrier understands for it.
_EDGE_CAUSES: dict[str, Cause] = {
    "rejected_by_rule": Cause.CALL_REJECTED,            # a translation rule with reject = true (Cisco: 21)
    "unknown_number": Cause.UNALLOCATED_NUMBER,         # no dial plan entry for the mapped number
    "no_channel": Cause.NO_CIRCUIT_AVAILABLE,           # every B-channel of the trunk group busy
    "trunk_direction": Cause.CALL_REJECTED,             # a call the trunk group does not take that way
    "invalid_number": Cause.INVALID_NUMBER_FORMAT,      # digits that are not a number
    "trunk_out_of_service": Cause.NETWORK_OUT_OF_ORDER,  # no span of the group has its D-channel up
}


def edge_cause(reason: str) -> Cause:
    """The Q.850 cause for one of the gateway's refusals; KeyError names the known reasons."""
    try:
        return _EDGE_CAUSES[reason]
    except KeyError:
        raise KeyError(f"no cause for {reason!r}; known: {', '.join(sorted(_EDGE_CAUSES))}") from None


def cause_for_rejection() -> Cause:
    return _EDGE_CAUSES["rejected_by_rule"]

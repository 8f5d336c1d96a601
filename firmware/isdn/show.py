"""`show isdn status` in the layout of Cisco IOS, for the console, the demo and logs."""

from __future__ import annotations

from typing import Iterable

from .q931.calls import STATE_NAMES
from .q931.channels import b_channel


def show_isdn_status(spans: Iterable) -> str:
    """`spans`: IsdnSpan objects (firmware/isdn/binding.py)."""
    lines = ["Global ISDN Switchtype = primary-net5 (EuroISDN E1)"]
    total = 0
    for isdn in spans:
        status = isdn.status()
        stack = isdn.stack
        lines.append(f"ISDN {stack.q931.span} interface")
        lines.append(f"        dsl {isdn.span_id}, interface ISDN Switchtype = primary-net5, "
                     f"{'network' if isdn.role == 'network' else 'user'} side")
        lines.append("    Layer 1 Status:")
        lines.append(f"        {status['layer1']}")
        lines.append("    Layer 2 Status:")
        lines.append(f"        TEI = 0, Ces = 1, SAPI = 0, State = {status['layer2']}")
        lines.append("    Layer 3 Status:")
        calls = list(stack.calls.values())
        lines.append(f"        {len(calls)} Active Layer 3 Call(s)")
        for call in calls:
            chan = f"B{b_channel(call.timeslot)} (TS{call.timeslot})" if call.timeslot is not None else "none"
            direction = "outgoing" if call.outgoing else "incoming"
            lines.append(f"        Call {call.id}: callref = 0x{call.call_ref | (call.flag << 15):04X}, {direction}, "
                         f"channel {chan}, state {call.wire_state()} ({STATE_NAMES.get(call.state, '?')})")
        in_use = status["channels_in_use"]
        lines.append(f"    B-channels in use: {in_use} of {len(stack.channels.timeslots)}")
        total += len(calls)
    lines.append(f"    Total Allocated ISDN CCBs = {total}")
    return "\n".join(lines)

"""`show calls` and `show channels`: the active calls and the B-channels of every span, laid out
like Cisco IOS `show call active voice brief` / `show isdn service` so a field engineer reads
them without a manual."""

from __future__ import annotations

from typing import Iterable

from .q931 import ies as ie
from .q931.calls import STATE_NAMES
from .q931.channels import ChannelState, b_channel

_CAPABILITY = {ie.TransferCapability.SPEECH: "speech", ie.TransferCapability.AUDIO_3K1: "3.1kHz audio",
               ie.TransferCapability.UNRESTRICTED_DIGITAL: "64k data",
               ie.TransferCapability.RESTRICTED_DIGITAL: "56k data",
               ie.TransferCapability.UNRESTRICTED_DIGITAL_TONES: "7kHz audio",
               ie.TransferCapability.VIDEO: "video"}
_LAW = {ie.Layer1.ALAW: "G.711 A-law", ie.Layer1.ULAW: "G.711 u-law", ie.Layer1.V110: "V.110",
        ie.Layer1.G721: "G.721", ie.Layer1.H221: "H.221"}


def bearer_text(bearer) -> str:
    if bearer is None:
        return "-"
    capability = _CAPABILITY.get(bearer.capability, f"capability 0x{bearer.capability:02X}")
    if bearer.layer1 is None:
        return capability
    return f"{capability}, {_LAW.get(bearer.layer1, f'layer 1 0x{bearer.layer1:02X}')}"


def duration_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def state_text(call) -> str:
    """U10 Active on the user side, N10 Active on the network side: the number the Call state IE
    would carry, with Q.931's name for it."""
    prefix = "U" if call.link.is_user else "N"
    return f"{prefix}{call.wire_state()} {STATE_NAMES.get(call.state, '?')}"


def callref_text(call) -> str:
    """The call reference as our messages carry it: the flag bit set on calls the far end began."""
    return f"0x{call.call_ref | (call.flag << 15):04X}"


def show_calls(spans: Iterable, now: float) -> str:
    """`spans`: IsdnSpan objects (firmware/isdn/binding.py); `now` from the one clock."""
    blocks = []
    for isdn in sorted(spans, key=lambda s: s.span_id):
        for call in sorted(isdn.stack.calls.values(), key=lambda c: c.id):
            channel = (f"B{b_channel(call.timeslot)} (TS{call.timeslot})"
                       if call.timeslot is not None else "none yet")
            if call.connect_time is not None:
                up = f"connected {duration_text(now - call.connect_time)} ago"
            elif call.setup_time is not None:
                up = f"setup {duration_text(now - call.setup_time)} ago, not connected"
            else:
                up = "-"
            lines = [f"Span {isdn.span_id} ({isdn.stack.q931.span}) call {call.id}, "
                     f"callref {callref_text(call)}, {'outgoing' if call.outgoing else 'incoming'}",
                     f"    Channel   : {channel}",
                     f"    Calling   : {call.calling or '-'}",
                     f"    Called    : {call.called or '-'}"]
            if call.redirecting:
                lines.append(f"    Redirect  : {call.redirecting}")
            lines += [f"    State     : {state_text(call)}",
                      f"    Up        : {up}",
                      f"    Bearer    : {bearer_text(call.bearer)}"]
            # What the span's call handler knows of the call (the PBX: mapping, route, IVR node).
            describe = getattr(isdn.handler, "describe_call", None)
            if describe is not None:
                lines += [f"    {line}" for line in describe(call.id)]
            blocks.append("\n".join(lines))
    if not blocks:
        return "No active calls"
    header = f"Total active calls: {len(blocks)}"
    return header + "\n" + "\n".join(blocks)


_SERVICE_NAME = {ChannelState.IDLE: "idle", ChannelState.IN_USE: "in use",
                 ChannelState.RESTARTING: "restarting", ChannelState.OUT_OF_SERVICE: "out of service"}


def show_channels(spans: Iterable, span_id: int | None = None) -> str:
    """Per span, each B-channel's maintenance state, and the call holding it when in use."""
    spans = sorted(spans, key=lambda s: s.span_id)
    if span_id is not None:
        chosen = [s for s in spans if s.span_id == span_id]
        if not chosen:
            have = ", ".join(str(s.span_id) for s in spans) or "none"
            return f"% Span {span_id} runs no ISDN D-channel (spans with one: {have})"
        spans = chosen
    out = []
    for isdn in spans:
        table = isdn.stack.channels
        calls_by_id = isdn.stack.calls
        counts = {state: 0 for state in ChannelState}
        out.append(f"PRI Channel Statistics: span {isdn.span_id} ({isdn.stack.q931.span}), "
                   f"{isdn.role} side, layer 2 {'up' if isdn.layer2_up else 'down'}")
        out.append("    Channel  TS    State           Call")
        for ts in table.timeslots:
            state = table.state[ts]
            counts[state] += 1
            holder = ""
            if state is ChannelState.IN_USE and ts in table.owner:
                call = calls_by_id.get(table.owner[ts])
                holder = (f"call {call.id} callref {callref_text(call)}" if call is not None
                          else f"call {table.owner[ts]}")
            out.append(f"    B{b_channel(ts):<7d} {ts:<5d} {_SERVICE_NAME[state]:<15s} {holder}".rstrip())
        out.append("    " + ", ".join(f"{counts[state]} {_SERVICE_NAME[state]}" for state in ChannelState))
    return "\n".join(out)

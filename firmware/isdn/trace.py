"""Decoded Q.931 trace in the style of Cisco IOS `debug isdn q931`, for the console and logs:

    ISDN Se0:15: TX -> SETUP pd = 8  callref = 0x0001
            Sending Complete
            Bearer Capability i = 0x8090A3
                    Standard = CCITT
                    ...
"""

from __future__ import annotations

from .q931 import ies as ie
from .q931.causes import cause_name
from .q931.messages import MessageHeaderError, decode

_IE_INDENT = " " * 8
_DETAIL_INDENT = " " * 16


def format_message(payload: bytes, direction: str, span: str = "Se0:15", timestamp: str | None = None) -> str:
    """One message as a multi-line block; never raises, whatever the payload."""
    arrow = "TX ->" if direction == "TX" else "RX <-"
    prefix = f"{timestamp}: " if timestamp else ""
    try:
        msg = decode(payload)
    except MessageHeaderError as exc:
        return f"{prefix}ISDN {span}: {arrow} undecodable message 0x{bytes(payload).hex().upper()} ({exc})"
    callref = msg.call_ref | (msg.flag << 15)
    lines = [f"{prefix}ISDN {span}: {arrow} {msg.name} pd = 8  callref = 0x{callref:04X}"]
    for item in msg.ies:
        lines.extend(_format_ie(item))
    for ident in msg.unrecognized:
        lines.append(f"{_IE_INDENT}Unknown IE 0x{ident:02X} (not understood)")
    for err in msg.invalid:
        lines.append(f"{_IE_INDENT}Invalid IE: {err}")
    return "\n".join(lines)


def _format_ie(item) -> list[str]:
    if isinstance(item, ie.SendingComplete):
        return [f"{_IE_INDENT}Sending Complete"]
    encoded = item.encode()
    ident = item.IDENT
    name = ie.IE_NAMES.get(ident, f"IE 0x{ident:02X}")
    if isinstance(item, ie.RawIE) and item.codeset:
        name = f"Codeset {item.codeset} IE 0x{ident:02X}"
    body = encoded[2:] if len(encoded) >= 2 else b""
    if isinstance(item, (ie.CalledNumber, ie.CallingNumber, ie.ConnectedNumber, ie.RedirectingNumber)):
        head_len = len(body) - len(item.digits)
        head = f"{_IE_INDENT}{name} i = 0x{body[:head_len].hex().upper()}, '{item.digits}'"
    elif isinstance(item, (ie.Display, ie.KeypadFacility)):
        head = f"{_IE_INDENT}{name} i = '{item.text}'"
    elif isinstance(item, ie.Cause):
        head = f"{_IE_INDENT}{name} i = 0x{body.hex().upper()} - {cause_name(item.value)}"
        return [head] + [f"{_DETAIL_INDENT}{line}" for line in item.describe()[1:]]
    else:
        head = f"{_IE_INDENT}{name} i = 0x{body.hex().upper()}"
    return [head] + [f"{_DETAIL_INDENT}{line}" for line in item.describe()]


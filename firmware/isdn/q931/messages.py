"""Q.931 message codec: header (protocol discriminator, call reference, type) and the IE list.

`decode()` raises `MessageHeaderError` only for the errors Q.931 5.8.1-5.8.3.1 says to ignore
the message for (wrong protocol discriminator, too short, bad call reference).  Everything past
the header never raises: unknown IEs and IEs with bad contents are collected on the message
(`unrecognized`, `invalid`) so the call control can answer as 5.8.5-5.8.7 require.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from . import ies as ie
from .ies import IEContentError

PROTOCOL_DISCRIMINATOR = 0x08
GLOBAL_CALL_REF = 0


class MessageType(IntEnum):
    ALERTING = 0x01
    CALL_PROCEEDING = 0x02
    PROGRESS = 0x03
    SETUP = 0x05
    CONNECT = 0x07
    SETUP_ACKNOWLEDGE = 0x0D
    CONNECT_ACKNOWLEDGE = 0x0F
    USER_INFORMATION = 0x20
    DISCONNECT = 0x45
    RESTART = 0x46
    RELEASE = 0x4D
    RESTART_ACKNOWLEDGE = 0x4E
    RELEASE_COMPLETE = 0x5A
    FACILITY = 0x62
    NOTIFY = 0x6E
    STATUS_ENQUIRY = 0x75
    CONGESTION_CONTROL = 0x79
    INFORMATION = 0x7B
    STATUS = 0x7D


# The names `debug isdn q931` prints.
TRACE_NAMES = {
    0x01: "ALERTING", 0x02: "CALL_PROC", 0x03: "PROGRESS", 0x05: "SETUP", 0x07: "CONNECT",
    0x0D: "SETUP_ACK", 0x0F: "CONNECT_ACK", 0x20: "USER_INFO", 0x45: "DISCONNECT", 0x46: "RESTART",
    0x4D: "RELEASE", 0x4E: "RESTART_ACK", 0x5A: "RELEASE_COMP", 0x62: "FACILITY", 0x6E: "NOTIFY",
    0x75: "STATUS_ENQ", 0x79: "CONGESTION_CTRL", 0x7B: "INFORMATION", 0x7D: "STATUS",
}

KNOWN_TYPES = frozenset(int(t) for t in MessageType)

# Mandatory IEs (EN 300 403-1 clause 3, both directions) that this stack relies on.
MANDATORY: dict[int, tuple[int, ...]] = {
    MessageType.SETUP: (ie.BEARER_CAPABILITY,),
    MessageType.DISCONNECT: (ie.CAUSE,),
    MessageType.STATUS: (ie.CAUSE, ie.CALL_STATE),
    MessageType.PROGRESS: (ie.PROGRESS_INDICATOR,),
    MessageType.NOTIFY: (ie.NOTIFICATION_INDICATOR,),
    MessageType.FACILITY: (ie.FACILITY,),
    MessageType.RESTART: (ie.RESTART_INDICATOR,),
    MessageType.RESTART_ACKNOWLEDGE: (ie.RESTART_INDICATOR,),
}


class MessageHeaderError(ValueError):
    """A message Q.931 5.8.1-5.8.3.1 says to ignore; the text says what was wrong and where."""


@dataclass(slots=True)
class Message:
    type: int
    call_ref: int                       # 15-bit value; 0 is the global call reference
    flag: int = 0                       # 0: sent by the side that allocated call_ref; 1: sent to it
    ies: list = field(default_factory=list)
    unrecognized: list = field(default_factory=list)   # codeset-0 identifiers we do not know
    invalid: list = field(default_factory=list)        # IEContentError for each IE with bad contents

    def get(self, cls):
        """The first IE of this class (later duplicates are ignored, Q.931 5.8.5.2)."""
        for item in self.ies:
            if type(item) is cls:
                return item
        return None

    def raw(self, ident: int):
        for item in self.ies:
            if type(item) is ie.RawIE and item.ident == ident and not item.codeset:
                return item
        return None

    def has(self, ident: int) -> bool:
        """Whether a codeset-0 IE with this identifier is present."""
        for item in self.ies:
            if item.IDENT == ident and not (type(item) is ie.RawIE and item.codeset):
                return True
        return False

    @property
    def name(self) -> str:
        return TRACE_NAMES.get(self.type, f"UNKNOWN(0x{self.type:02x})")

    def encode(self) -> bytes:
        cr = self.call_ref
        head = bytes((PROTOCOL_DISCRIMINATOR, 2, (self.flag << 7) | (cr >> 8), cr & 0xFF, self.type))
        return head + b"".join([item.encode() for item in self.ies])


def encode(mtype: int, call_ref: int, flag: int, ies=()) -> bytes:
    """Encode a message without building a Message object (the hot path of call control)."""
    head = bytes((PROTOCOL_DISCRIMINATOR, 2, (flag << 7) | (call_ref >> 8), call_ref & 0xFF, mtype))
    if not ies:
        return head
    return head + b"".join([item.encode() for item in ies])


_DECODERS = ie.DECODERS
_PASSED = ie.PASSED_THROUGH
_RawIE = ie.RawIE
_SENDING_COMPLETE = ie.SendingComplete()


def decode(data: bytes) -> Message:
    n = len(data)
    if n < 3:
        raise MessageHeaderError(f"message too short: {n} octets, at least 3 needed")
    if data[0] != PROTOCOL_DISCRIMINATOR:
        raise MessageHeaderError(f"protocol discriminator 0x{data[0]:02x} at octet 0 is not Q.931 (0x08)")
    crlen = data[1]
    if crlen & 0xF0:
        raise MessageHeaderError(f"call reference length octet 0x{crlen:02x} has bits 5-8 set")
    if crlen not in (1, 2):
        raise MessageHeaderError(f"call reference length {crlen} at octet 1; a PRI uses 2 (or 1)")
    pos = 2 + crlen
    if n <= pos:
        raise MessageHeaderError(f"message too short: {n} octets ends before the message type")
    first = data[2]
    flag = first >> 7
    call_ref = ((first & 0x7F) << 8 | data[3]) if crlen == 2 else first & 0x7F
    msg = Message(data[pos], call_ref, flag)
    pos += 1
    items = msg.ies
    locking = 0
    codeset = 0
    while pos < n:
        octet = data[pos]
        if octet & 0x80:
            pos += 1
            if octet & 0xF0 == 0x90:            # shift
                if octet & 0x08:
                    codeset = octet & 7         # non-locking: applies to the next IE only
                    continue
                locking = codeset = octet & 7
                continue
            if octet == 0xA1 and codeset == 0:
                items.append(_SENDING_COMPLETE)
            else:
                items.append(_RawIE(octet, b"", codeset))
            codeset = locking
            continue
        if pos + 1 >= n:
            msg.invalid.append(IEContentError(octet, f"truncated at octet {pos}: the length octet is missing"))
            break
        length = data[pos + 1]
        end = pos + 2 + length
        if end > n:
            msg.invalid.append(IEContentError(
                octet, f"length {length} at octet {pos + 1} runs {end - n} octets past the end of the message"))
            break
        body = data[pos + 2:end]
        pos = end
        if codeset == 0:
            decoder = _DECODERS.get(octet)
            if decoder is not None:
                try:
                    items.append(decoder.decode_body(body))
                except IEContentError as exc:
                    msg.invalid.append(exc)
            elif octet in _PASSED:
                items.append(_RawIE(octet, bytes(body)))
            else:
                msg.unrecognized.append(octet)
        else:
            items.append(_RawIE(octet, bytes(body), codeset))
        codeset = locking
    return msg

"""LAPD (Q.921) and Q.931 declared as scapy layers, field by field, so the bench reads the box's
D-channel frames and forges malformed ones from declarations rather than from hand-built bytes.

    frame = LAPD(raw)                        # dispatches to LAPD_I, LAPD_S or LAPD_U
    frame[Q931].message_type, frame[Q931].ies[0].capability
    bytes(LAPD_I(ns=3, nr=5) / Q931(call_ref=7, message_type="SETUP",
                                    ies=[Q931BearerCapability(), Q931CalledNumber(digits=b"100")]))

A frame is what sits between the HDLC flags minus the FCS (as firmware/isdn/lapd_frames.py).
IE `length` octets are computed when left as None; give one explicitly to forge a bad length.
An IE that runs past the end of its message or whose declared fields do not fit its length
is dissected as a generic `Q931IE` (identifier, length, value) instead of raising.
"""

from __future__ import annotations

from scapy.config import conf
from scapy.fields import (BitEnumField, BitField, ByteEnumField, ByteField, ConditionalField, PacketListField,
                          StrField)
from scapy.packet import Packet, Raw

# -- LAPD (Q.921) ------------------------------------------------------------------------------

S_KINDS = {0: "RR", 1: "RNR", 2: "REJ"}
# Unnumbered frames: (M bits 8-6, M bits 4-3) of the control octet -> name (Q.921 table 5).
U_KINDS = {(3, 3): "SABME", (0, 3): "DM", (0, 0): "UI", (2, 0): "DISC", (3, 0): "UA", (4, 1): "FRMR",
           (5, 3): "XID"}
U_CODES = {name: bits for bits, name in U_KINDS.items()}

_ADDRESS = [
    BitField("sapi", 0, 6),
    BitField("cr", 0, 1),
    BitField("ea0", 0, 1),
    BitField("tei", 0, 7),
    BitField("ea1", 1, 1),
]


class LAPD(Packet):
    """The address field alone; instantiating it on bytes returns the I, S or U frame class."""

    name = "LAPD"
    fields_desc = list(_ADDRESS)

    @classmethod
    def dispatch_hook(cls, _pkt=None, *args, **kwargs):
        if _pkt and len(_pkt) >= 3:
            control = _pkt[2]
            if not control & 1:
                return LAPD_I
            if control & 3 == 1:
                return LAPD_S
            return LAPD_U
        return cls


class LAPD_I(LAPD):
    name = "LAPD I"
    fields_desc = list(_ADDRESS) + [
        BitField("ns", 0, 7),
        BitField("i_bit", 0, 1),        # 0 marks an I frame
        BitField("nr", 0, 7),
        BitField("p", 0, 1),
    ]

    def guess_payload_class(self, payload):
        return Q931 if self.sapi == 0 and payload[:1] == b"\x08" else Raw


class LAPD_S(LAPD):
    name = "LAPD S"
    fields_desc = list(_ADDRESS) + [
        BitField("reserved", 0, 4),
        BitEnumField("s_kind", 0, 2, S_KINDS),
        BitField("s_bits", 1, 2),       # 01 marks a supervisory frame
        BitField("nr", 0, 7),
        BitField("pf", 0, 1),
    ]


class LAPD_U(LAPD):
    name = "LAPD U"
    fields_desc = list(_ADDRESS) + [
        BitField("m_high", 0, 3),
        BitField("pf", 0, 1),
        BitField("m_low", 0, 2),
        BitField("u_bits", 3, 2),       # 11 marks an unnumbered frame
    ]

    @property
    def kind(self) -> str:
        return U_KINDS.get((self.m_high, self.m_low), f"U({self.m_high},{self.m_low})")

    @classmethod
    def of_kind(cls, kind: str, **fields) -> "LAPD_U":
        high, low = U_CODES[kind]
        return cls(m_high=high, m_low=low, **fields)

    def guess_payload_class(self, payload):
        return Q931 if self.kind == "UI" and self.sapi == 0 and payload[:1] == b"\x08" else Raw


# -- Q.931 information elements ----------------------------------------------------------------

IE_NAMES = {
    0x04: "Bearer capability", 0x08: "Cause", 0x14: "Call state", 0x18: "Channel identification",
    0x1C: "Facility", 0x1E: "Progress indicator", 0x27: "Notification indicator", 0x28: "Display",
    0x2C: "Keypad facility", 0x4C: "Connected number", 0x6C: "Calling party number",
    0x70: "Called party number", 0x74: "Redirecting number", 0x79: "Restart indicator", 0xA1: "Sending complete",
}
TON = {0: "unknown", 1: "international", 2: "national", 3: "network-specific", 4: "subscriber", 6: "abbreviated"}
NPI = {0: "unknown", 1: "ISDN/E.164", 3: "data", 4: "telex", 8: "national", 9: "private"}
PRESENTATION = {0: "allowed", 1: "restricted", 2: "not available"}
SCREENING = {0: "user, not screened", 1: "user, passed", 2: "user, failed", 3: "network"}


class _VariableIE(Packet):
    """Common shape of a variable-length IE: identifier, length, contents.  Dissection stops at
    the IE's own end (2 + length) and hands what follows back to the message's IE list."""

    _tail = b""

    def pre_dissect(self, s):
        if len(s) >= 2:
            end = 2 + s[1]
            self._tail = s[end:]
            return s[:end]
        self._tail = b""
        return s

    def extract_padding(self, s):
        return b"", s + self._tail

    def post_build(self, pkt, pay):
        if self.length is None:
            pkt = pkt[:1] + bytes((len(pkt) - 2,)) + pkt[2:]
        return pkt + pay


def _ident(value: int):
    return ByteEnumField("ident", value, IE_NAMES)


class Q931IE(_VariableIE):
    """Any variable-length IE, uninterpreted (also what a malformed declared IE decodes as)."""

    name = "Q.931 IE"
    fields_desc = [_ident(0x1C), ByteField("length", None), StrField("value", b"")]


class Q931TruncatedIE(Packet):
    """An identifier octet with its length octet missing: the message ends there."""

    name = "Q.931 truncated IE"
    fields_desc = [_ident(0x70)]


class Q931SingleOctetIE(Packet):
    """Type 1/2 IEs (bit 8 set): shift, sending complete, ..."""

    name = "Q.931 single-octet IE"
    fields_desc = [ByteField("ident", 0xA1)]

    def extract_padding(self, s):
        return b"", s


class Q931SendingComplete(Q931SingleOctetIE):
    name = "Sending complete"
    fields_desc = [ByteField("ident", 0xA1)]


def _has_layer1(pkt) -> bool:
    # getfieldval, not the attribute: the attribute would evaluate this condition again.
    return pkt.getfieldval("layer1") is not None


class Q931BearerCapability(_VariableIE):
    name = "Bearer capability"
    fields_desc = [
        _ident(0x04), ByteField("length", None),
        BitField("ext3", 1, 1), BitEnumField("coding_standard", 0, 2, {0: "ITU-T"}),
        BitEnumField("capability", 0, 5, {0x00: "speech", 0x08: "unrestricted digital", 0x10: "3.1 kHz audio"}),
        BitField("ext4", 1, 1), BitEnumField("transfer_mode", 0, 2, {0: "circuit"}),
        BitEnumField("transfer_rate", 0x10, 5, {0x10: "64 kbit/s", 0x18: "multirate"}),
        ConditionalField(BitField("ext4_1", 1, 1), lambda p: p.transfer_rate == 0x18),
        ConditionalField(BitField("rate_multiplier", 1, 7), lambda p: p.transfer_rate == 0x18),
        ConditionalField(BitField("ext5", 1, 1), _has_layer1),
        ConditionalField(BitField("layer_id", 1, 2), _has_layer1),
        ConditionalField(BitEnumField("layer1", 3, 5, {2: "G.711 u-law", 3: "G.711 A-law"}),
                         _has_layer1),
        StrField("extra", b""),
    ]

    def pre_dissect(self, s):
        s = super().pre_dissect(s)
        # Octet 5 (layer-1 protocol) is present only when the IE has octets after 4 (and 4.1).
        if len(s) <= 4 + (1 if len(s) > 3 and s[3] & 0x1F == 0x18 else 0):
            self.layer1 = None
        return s


class Q931Cause(_VariableIE):
    name = "Cause"
    fields_desc = [
        _ident(0x08), ByteField("length", None),
        BitField("ext3", 1, 1), BitEnumField("coding_standard", 0, 2, {0: "ITU-T"}),
        BitField("spare", 0, 1), BitEnumField("location", 0, 4, {0: "user", 1: "private local", 2: "public local",
                                                                 3: "transit", 4: "public remote", 7: "international"}),
        ConditionalField(BitField("ext3a", 1, 1), lambda p: p.ext3 == 0),
        ConditionalField(BitField("recommendation", 0, 7), lambda p: p.ext3 == 0),
        BitField("ext4", 1, 1), BitField("value", 16, 7),
        StrField("diagnostics", b""),
    ]


class Q931CallState(_VariableIE):
    name = "Call state"
    fields_desc = [_ident(0x14), ByteField("length", None), BitField("coding_standard", 0, 2),
                   BitField("state", 0, 6), StrField("extra", b"")]


class Q931ChannelId(_VariableIE):
    name = "Channel identification"
    fields_desc = [
        _ident(0x18), ByteField("length", None),
        BitField("ext3", 1, 1), BitField("interface_id_present", 0, 1),
        BitEnumField("interface_type", 1, 1, {0: "basic", 1: "primary"}), BitField("spare", 0, 1),
        BitEnumField("exclusive", 1, 1, {0: "preferred", 1: "exclusive"}), BitField("d_channel", 0, 1),
        BitEnumField("selection", 1, 2, {0: "no channel", 1: "as indicated", 3: "any channel"}),
        ConditionalField(BitField("ext3_1", 1, 1), lambda p: p.interface_id_present == 1),
        ConditionalField(BitField("interface", 0, 7), lambda p: p.interface_id_present == 1),
        ConditionalField(BitField("ext3_2", 1, 1), lambda p: p.selection == 1),
        ConditionalField(BitField("coding_standard", 0, 2), lambda p: p.selection == 1),
        ConditionalField(BitField("number_map", 0, 1), lambda p: p.selection == 1),
        ConditionalField(BitEnumField("channel_type", 3, 4, {3: "B-channel units"}), lambda p: p.selection == 1),
        ConditionalField(BitField("ext3_3", 1, 1), lambda p: p.selection == 1),
        ConditionalField(BitField("channel", 1, 7), lambda p: p.selection == 1),
        StrField("extra", b""),
    ]


class Q931ProgressIndicator(_VariableIE):
    name = "Progress indicator"
    fields_desc = [
        _ident(0x1E), ByteField("length", None),
        BitField("ext3", 1, 1), BitField("coding_standard", 0, 2), BitField("spare", 0, 1),
        BitField("location", 0, 4),
        BitField("ext4", 1, 1), BitEnumField("description", 8, 7, {1: "not end-to-end ISDN", 2: "destination non-ISDN",
                                                                   3: "origination non-ISDN", 8: "in-band info"}),
        StrField("extra", b""),
    ]


class Q931Display(_VariableIE):
    name = "Display"
    fields_desc = [_ident(0x28), ByteField("length", None), StrField("text", b"")]


class Q931CalledNumber(_VariableIE):
    name = "Called party number"
    fields_desc = [
        _ident(0x70), ByteField("length", None),
        BitField("ext3", 1, 1), BitEnumField("type_of_number", 0, 3, TON), BitEnumField("numbering_plan", 1, 4, NPI),
        StrField("digits", b""),
    ]


def _party_number_fields(ident: int, with_reason: bool) -> list:
    fields = [
        _ident(ident), ByteField("length", None),
        BitField("ext3", 0, 1), BitEnumField("type_of_number", 0, 3, TON), BitEnumField("numbering_plan", 1, 4, NPI),
        ConditionalField(BitField("ext3a", 1, 1), lambda p: p.ext3 == 0),
        ConditionalField(BitEnumField("presentation", 0, 2, PRESENTATION), lambda p: p.ext3 == 0),
        ConditionalField(BitField("spare3a", 0, 3), lambda p: p.ext3 == 0),
        ConditionalField(BitEnumField("screening", 0, 2, SCREENING), lambda p: p.ext3 == 0),
    ]
    if with_reason:
        fields += [
            ConditionalField(BitField("ext3b", 1, 1), lambda p: p.ext3 == 0 and p.ext3a == 0),
            ConditionalField(BitField("spare3b", 0, 3), lambda p: p.ext3 == 0 and p.ext3a == 0),
            ConditionalField(BitEnumField("reason", 0, 4, {0: "unknown", 1: "busy", 2: "no reply", 4: "deflection",
                                                           15: "unconditional"}),
                             lambda p: p.ext3 == 0 and p.ext3a == 0),
        ]
    return fields + [StrField("digits", b"")]


class Q931CallingNumber(_VariableIE):
    name = "Calling party number"
    fields_desc = _party_number_fields(0x6C, with_reason=False)


class Q931ConnectedNumber(_VariableIE):
    name = "Connected number"
    fields_desc = _party_number_fields(0x4C, with_reason=False)


class Q931RedirectingNumber(_VariableIE):
    name = "Redirecting number"
    fields_desc = _party_number_fields(0x74, with_reason=True)


class Q931RestartIndicator(_VariableIE):
    name = "Restart indicator"
    fields_desc = [_ident(0x79), ByteField("length", None), BitField("ext3", 1, 1), BitField("spare", 0, 4),
                   BitEnumField("restart_class", 7, 3, {0: "indicated channels", 6: "single interface",
                                                        7: "all interfaces"}),
                   StrField("extra", b"")]


DECLARED_IES: dict[int, type[Packet]] = {
    0x04: Q931BearerCapability, 0x08: Q931Cause, 0x14: Q931CallState, 0x18: Q931ChannelId,
    0x1E: Q931ProgressIndicator, 0x28: Q931Display, 0x4C: Q931ConnectedNumber, 0x6C: Q931CallingNumber,
    0x70: Q931CalledNumber, 0x74: Q931RedirectingNumber, 0x79: Q931RestartIndicator,
}


def _next_ie(pkt, done, current, remain):
    """The class for the next IE in `remain`: declared when it fits, generic when it does not."""
    if not remain:
        return None
    ident = remain[0]
    if ident & 0x80:
        return Q931SendingComplete if ident == 0xA1 else Q931SingleOctetIE
    if len(remain) < 2:
        return Q931TruncatedIE
    end = 2 + remain[1]
    cls = DECLARED_IES.get(ident)
    if cls is None or end > len(remain):
        return Q931IE
    try:
        decoded = cls(remain[:end])
    except Exception:  # a declared IE whose contents do not fit its fields: keep its octets
        return Q931IE
    if conf.raw_layer in decoded or conf.padding_layer in decoded:
        return Q931IE
    return cls


# -- Q.931 message --------------------------------------------------------------------------

MESSAGE_TYPES = {
    0x01: "ALERTING", 0x02: "CALL_PROCEEDING", 0x03: "PROGRESS", 0x05: "SETUP", 0x07: "CONNECT",
    0x0D: "SETUP_ACKNOWLEDGE", 0x0F: "CONNECT_ACKNOWLEDGE", 0x20: "USER_INFORMATION", 0x45: "DISCONNECT",
    0x46: "RESTART", 0x4D: "RELEASE", 0x4E: "RESTART_ACKNOWLEDGE", 0x5A: "RELEASE_COMPLETE", 0x62: "FACILITY",
    0x6E: "NOTIFY", 0x75: "STATUS_ENQUIRY", 0x79: "CONGESTION_CONTROL", 0x7B: "INFORMATION", 0x7D: "STATUS",
}


class Q931(Packet):
    name = "Q.931"
    fields_desc = [
        ByteEnumField("protocol_discriminator", 0x08, {0x08: "Q.931"}),
        BitField("cr_spare", 0, 4),
        BitField("cr_len", 2, 4),
        ConditionalField(BitField("flag", 0, 1), lambda p: p.cr_len in (1, 2)),
        ConditionalField(BitField("call_ref", 0, 15), lambda p: p.cr_len == 2),
        ConditionalField(BitField("call_ref_short", 0, 7), lambda p: p.cr_len == 1),
        ByteEnumField("message_type", 0x05, MESSAGE_TYPES),
        PacketListField("ies", [], next_cls_cb=_next_ie),
    ]

    def ie(self, cls):
        """The first IE of a declared class, or None."""
        for item in self.ies:
            if isinstance(item, cls):
                return item
        return None

"""Q.931 information elements (ETSI EN 300 403-1, codeset 0) as small value objects.

Each IE class knows its identifier, encodes its contents (`encode_body`) and decodes them
(`decode_body`, raising `IEContentError` that names the IE and the octet at fault).  IEs that
this stack does not interpret are kept as `RawIE` so FACILITY and friends pass through intact.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .causes import cause_name, location_name


class IEContentError(ValueError):
    """The contents of one information element are invalid."""

    def __init__(self, ident: int, reason: str):
        super().__init__(f"{IE_NAMES.get(ident, f'IE 0x{ident:02x}')}: {reason}")
        self.ident = ident
        self.reason = reason


# ---------------------------------------------------------------- identifiers
SHIFT = 0x90
SENDING_COMPLETE = 0xA1
BEARER_CAPABILITY = 0x04
CAUSE = 0x08
CALL_STATE = 0x14
CHANNEL_ID = 0x18
FACILITY = 0x1C
PROGRESS_INDICATOR = 0x1E
NOTIFICATION_INDICATOR = 0x27
DISPLAY = 0x28
KEYPAD_FACILITY = 0x2C
CONNECTED_NUMBER = 0x4C
CALLING_PARTY_NUMBER = 0x6C
CALLED_PARTY_NUMBER = 0x70
REDIRECTING_NUMBER = 0x74
RESTART_INDICATOR = 0x79

IE_NAMES: dict[int, str] = {
    0xA1: "Sending Complete", 0x04: "Bearer Capability", 0x08: "Cause", 0x10: "Call Identity",
    0x14: "Call State", 0x18: "Channel ID", 0x1C: "Facility", 0x1E: "Progress Ind",
    0x20: "Network-Specific Facilities", 0x27: "Notification Ind", 0x28: "Display", 0x29: "Date/Time",
    0x2C: "Keypad Facility", 0x34: "Signal", 0x4C: "Connected Number", 0x4D: "Connected Subaddress",
    0x6C: "Calling Party Number", 0x6D: "Calling Party SubAddr", 0x70: "Called Party Number",
    0x71: "Called Party SubAddr", 0x74: "Redirecting Number", 0x78: "Transit Network Selection",
    0x79: "Restart Indicator", 0x7C: "Low Layer Compatibility", 0x7D: "High Layer Compatibility",
    0x7E: "User-User",
}


def comprehension_required(ident: int) -> bool:
    """Codeset-0 variable-length IEs with identifier bits 8-5 = 0000 must be understood (Q.931 4.5.1)."""
    return ident < 0x10


class TypeOfNumber(IntEnum):
    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER = 4
    ABBREVIATED = 6


class NumberingPlan(IntEnum):
    UNKNOWN = 0
    ISDN = 1
    DATA = 3
    TELEX = 4
    NATIONAL = 8
    PRIVATE = 9


class Presentation(IntEnum):
    ALLOWED = 0
    RESTRICTED = 1
    NOT_AVAILABLE = 2


class Screening(IntEnum):
    USER_NOT_SCREENED = 0
    USER_VERIFIED_PASSED = 1
    USER_VERIFIED_FAILED = 2
    NETWORK_PROVIDED = 3


class RedirectReason(IntEnum):
    UNKNOWN = 0
    BUSY = 1
    NO_REPLY = 2
    DEFLECTION = 4
    DTE_OUT_OF_ORDER = 9
    DEFLECTION_BY_USER = 10
    UNCONDITIONAL = 15


class TransferCapability(IntEnum):
    SPEECH = 0x00
    UNRESTRICTED_DIGITAL = 0x08
    RESTRICTED_DIGITAL = 0x09
    AUDIO_3K1 = 0x10
    UNRESTRICTED_DIGITAL_TONES = 0x11
    VIDEO = 0x18


class Layer1(IntEnum):
    V110 = 0x01
    ULAW = 0x02
    ALAW = 0x03
    G721 = 0x04
    H221 = 0x05


class RestartClass(IntEnum):
    INDICATED_CHANNELS = 0
    SINGLE_INTERFACE = 6
    ALL_INTERFACES = 7


_TON_NAMES = {0: "Unknown", 1: "International", 2: "National", 3: "Network specific", 4: "Subscriber",
              6: "Abbreviated"}
_NPI_NAMES = {0: "Unknown", 1: "ISDN", 3: "Data", 4: "Telex", 8: "National", 9: "Private"}
_PRES_NAMES = {0: "Allowed", 1: "Restricted", 2: "Not available", 3: "Reserved"}
_SCREEN_NAMES = {0: "User-provided, not screened", 1: "User-provided, verified and passed",
                 2: "User-provided, verified and failed", 3: "Network provided"}
_REASON_NAMES = {0: "Unknown", 1: "Call forwarding busy", 2: "Call forwarding no reply", 4: "Call deflection",
                 9: "Called DTE out of order", 10: "Call forwarding by the called DTE",
                 15: "Call forwarding unconditional"}
_CAP_NAMES = {0x00: "Speech", 0x08: "Unrestricted Digital", 0x09: "Restricted Digital", 0x10: "3.1kHz Audio",
              0x11: "Unrestricted Digital w/ tones", 0x18: "Video"}
_L1_NAMES = {1: "V.110", 2: "u-law", 3: "A-law", 4: "G.721 ADPCM", 5: "H.221"}
PROGRESS_NAMES = {1: "Call not end-to-end ISDN, may have in-band info", 2: "Destination address is non-ISDN",
                  3: "Origination address is non-ISDN", 4: "Call has returned to the ISDN",
                  5: "Interworking has occurred", 8: "In-band info or appropriate now available"}


def _digits(ident: int, data: bytes) -> str:
    for i, octet in enumerate(data):
        if octet & 0x80:
            raise IEContentError(ident, f"digit octet {i} is 0x{octet:02x}, not an IA5 character")
    return data.decode("ascii")


def _check_fields(ident: int, **fields) -> None:
    """Each field given as (value, bits) must fit its bits; the error names the field."""
    for name, (value, bits) in fields.items():
        if not 0 <= value < (1 << bits):
            raise IEContentError(ident, f"{name} {value!r} does not fit in {bits} bits")


def _check_digits(ident: int, digits: str) -> bytes:
    try:
        raw = digits.encode("ascii")
    except UnicodeEncodeError:
        raise IEContentError(ident, f"number {digits!r} is not IA5 (ASCII)") from None
    return raw


# ---------------------------------------------------------------- IE classes
@dataclass(slots=True)
class SendingComplete:
    IDENT = SENDING_COMPLETE

    def encode(self) -> bytes:
        return b"\xa1"


@dataclass(slots=True)
class BearerCapability:
    IDENT = BEARER_CAPABILITY
    capability: int = TransferCapability.SPEECH
    layer1: int | None = Layer1.ALAW
    coding_standard: int = 0
    transfer_mode: int = 0
    transfer_rate: int = 0x10          # 64 kbit/s
    rate_multiplier: int | None = None
    extra: bytes = b""                 # octets after the layer-1 protocol (5a onwards, layer 2/3)

    def encode(self) -> bytes:
        body = bytearray((0x80 | (self.coding_standard << 5) | self.capability,
                          0x80 | (self.transfer_mode << 5) | self.transfer_rate))
        if self.rate_multiplier is not None:
            body.append(0x80 | self.rate_multiplier)
        if self.layer1 is not None:
            body.append((0x80 if not self.extra else 0) | 0x20 | self.layer1)
            body += self.extra
        return bytes((BEARER_CAPABILITY, len(body))) + body

    @classmethod
    def decode_body(cls, body: bytes) -> "BearerCapability":
        if len(body) < 2:
            raise IEContentError(BEARER_CAPABILITY, f"{len(body)} octets, at least 2 needed")
        o3, o4 = body[0], body[1]
        if not o3 & 0x80 or not o4 & 0x80:
            raise IEContentError(BEARER_CAPABILITY, "octet 3 or 4 is extended, which ETSI does not use")
        ie = cls(capability=o3 & 0x1F, layer1=None, coding_standard=(o3 >> 5) & 3,
                 transfer_mode=(o4 >> 5) & 3, transfer_rate=o4 & 0x1F)
        pos = 2
        if ie.transfer_rate == 0x18:
            if pos >= len(body):
                raise IEContentError(BEARER_CAPABILITY, "multirate without the rate multiplier octet 4.1")
            ie.rate_multiplier = body[pos] & 0x7F
            pos += 1
        if pos < len(body):
            o5 = body[pos]
            if (o5 >> 5) & 3 != 1:
                raise IEContentError(BEARER_CAPABILITY, f"octet 5 (0x{o5:02x}) is not a layer-1 identifier")
            ie.layer1 = o5 & 0x1F
            ie.extra = bytes(body[pos + 1:])
            if not o5 & 0x80 and not ie.extra:
                raise IEContentError(BEARER_CAPABILITY, "octet 5 says more follows but the IE ends")
        return ie

    def describe(self) -> list[str]:
        lines = [f"Standard = {'CCITT' if self.coding_standard == 0 else f'coding {self.coding_standard}'}",
                 f"Transfer Capability = {_CAP_NAMES.get(self.capability, hex(self.capability))}",
                 f"Transfer Mode = {'Circuit' if self.transfer_mode == 0 else 'Packet'}",
                 f"Transfer Rate = {'64 kbit/s' if self.transfer_rate == 0x10 else hex(self.transfer_rate)}"]
        if self.layer1 is not None:
            lines.append(f"Layer 1 = {_L1_NAMES.get(self.layer1, hex(self.layer1))}")
        return lines


# Companding of a voice call (the Bearer capability's layer-1 protocol, octet 5) by the names the
# media plane uses: G.711 A-law is 3, u-law 2 (EN 300 403-1 4.5.5).
LAWS_BY_LAYER1 = {Layer1.ALAW: "alaw", Layer1.ULAW: "ulaw"}
LAYER1_BY_LAW = {name: code for code, name in LAWS_BY_LAYER1.items()}


def law_of(bearer: "BearerCapability | None") -> str | None:
    """"alaw" / "ulaw" from a bearer's layer-1 protocol; None when it names neither (data, or
    no octet 5), so the channel follows the span's own law."""
    if bearer is None or bearer.layer1 is None:
        return None
    return LAWS_BY_LAYER1.get(bearer.layer1)


def bearer_for_law(law: str, capability: int = TransferCapability.SPEECH) -> "BearerCapability":
    """The Bearer capability of a voice call in `law` ("alaw" or "ulaw")."""
    code = LAYER1_BY_LAW.get(law)
    if code is None:
        raise ValueError(f"law {law!r} is not one of {', '.join(sorted(LAYER1_BY_LAW))}")
    return BearerCapability(capability, code)


@dataclass(slots=True)
class Cause:
    IDENT = CAUSE
    value: int = 16
    location: int = 0
    coding_standard: int = 0
    diagnostics: bytes = b""

    def encode(self) -> bytes:
        if not 0 <= self.value < 128 or not 0 <= self.location < 16 or len(self.diagnostics) > 27:
            _check_fields(CAUSE, value=(self.value, 7), location=(self.location, 4),
                          diagnostics_length=(len(self.diagnostics), 5))
        body = bytes((0x80 | (self.coding_standard << 5) | self.location, 0x80 | self.value)) + self.diagnostics
        return bytes((CAUSE, len(body))) + body

    @classmethod
    def decode_body(cls, body: bytes) -> "Cause":
        if len(body) < 2:
            raise IEContentError(CAUSE, f"{len(body)} octets, at least 2 needed")
        o3 = body[0]
        pos = 1
        if not o3 & 0x80:          # octet 3a: recommendation
            pos = 2
            if len(body) < 3:
                raise IEContentError(CAUSE, "octet 3a present but the cause value is missing")
        o4 = body[pos]
        if not o4 & 0x80:
            raise IEContentError(CAUSE, f"cause value octet 0x{o4:02x} has no extension bit")
        return cls(value=o4 & 0x7F, location=o3 & 0x0F, coding_standard=(o3 >> 5) & 3,
                   diagnostics=bytes(body[pos + 1:]))

    def describe(self) -> list[str]:
        lines = [f"Cause {self.value} - {cause_name(self.value)}, location {location_name(self.location)}"]
        if self.diagnostics:
            lines.append(f"Diagnostics 0x{self.diagnostics.hex().upper()}")
        return lines


@dataclass(slots=True)
class CallState:
    IDENT = CALL_STATE
    value: int = 0
    coding_standard: int = 0

    def encode(self) -> bytes:
        return bytes((CALL_STATE, 1, (self.coding_standard << 6) | self.value))

    @classmethod
    def decode_body(cls, body: bytes) -> "CallState":
        if len(body) != 1:
            raise IEContentError(CALL_STATE, f"{len(body)} octets, exactly 1 expected")
        return cls(value=body[0] & 0x3F, coding_standard=body[0] >> 6)

    def describe(self) -> list[str]:
        return [f"State {self.value}"]


@dataclass(slots=True)
class ChannelId:
    """PRI channel identification: `timeslot` is the E1 timeslot number the IE carries
    (1-15, 17-31); `None` with `any_channel` means no particular channel.  `interface` is the
    explicit interface identifier (octet 3.1) some switches and libpri send; None when implicit."""

    IDENT = CHANNEL_ID
    timeslot: int | None = None
    exclusive: bool = True
    any_channel: bool = False
    d_channel: bool = False
    interface: int | None = None

    def encode(self) -> bytes:
        if self.timeslot is not None and not 0 <= self.timeslot < 128:
            _check_fields(CHANNEL_ID, timeslot=(self.timeslot, 7))
        o3 = 0xA0 | (0x08 if self.exclusive else 0) | (0x04 if self.d_channel else 0)
        iface = b""
        if self.interface is not None:
            o3 |= 0x40
            iface = bytes((0x80 | self.interface,))
        if self.timeslot is None:
            body = bytes((o3 | (3 if self.any_channel else 0),)) + iface
        else:
            body = bytes((o3 | 1,)) + iface + bytes((0x83, 0x80 | self.timeslot))
        return bytes((CHANNEL_ID, len(body))) + body

    @classmethod
    def decode_body(cls, body: bytes) -> "ChannelId":
        if not body:
            raise IEContentError(CHANNEL_ID, "empty")
        o3 = body[0]
        if not o3 & 0x20:
            raise IEContentError(CHANNEL_ID, "interface type is basic rate, this is a primary rate interface")
        selection = o3 & 3
        ie = cls(exclusive=bool(o3 & 0x08), d_channel=bool(o3 & 0x04), any_channel=selection == 3)
        pos = 1
        if o3 & 0x40:
            if len(body) < 2:
                raise IEContentError(CHANNEL_ID, "interface identifier announced but octet 3.1 is missing")
            if not body[1] & 0x80:
                raise IEContentError(CHANNEL_ID, "interface identifier longer than one octet is not supported")
            ie.interface = body[1] & 0x7F
            pos = 2
        if selection != 1:
            if selection == 2:
                raise IEContentError(CHANNEL_ID, "information channel selection 2 is reserved on PRI")
            return ie
        if len(body) < pos + 2:
            raise IEContentError(CHANNEL_ID, "channel indicated but octets 3.2/3.3 are missing")
        o32 = body[pos]
        if o32 & 0x60:
            raise IEContentError(CHANNEL_ID, f"octet 3.2 (0x{o32:02x}) is not CCITT coding")
        if o32 & 0x10:
            raise IEContentError(CHANNEL_ID, "channel map (bit 5 of octet 3.2) is not supported")
        if o32 & 0x0F != 3:
            raise IEContentError(CHANNEL_ID, f"channel type {o32 & 0x0F} is not B-channel units (3)")
        numbers = body[pos + 1:]
        if len(numbers) != 1 or not numbers[0] & 0x80:
            raise IEContentError(CHANNEL_ID, f"{len(numbers)} channel numbers; one B-channel expected")
        ie.timeslot = numbers[0] & 0x7F
        return ie

    def describe(self) -> list[str]:
        kind = "Exclusive" if self.exclusive else "Preferred"
        where = "" if self.interface is None else f", Interface {self.interface}"
        if self.timeslot is None:
            return [f"{kind}, {'Any channel' if self.any_channel else 'No channel'}{where}"]
        return [f"{kind}, Channel {self.timeslot}{where}"]


@dataclass(slots=True)
class ProgressIndicator:
    IDENT = PROGRESS_INDICATOR
    description: int = 8
    location: int = 0
    coding_standard: int = 0

    def encode(self) -> bytes:
        _check_fields(PROGRESS_INDICATOR, description=(self.description, 7), location=(self.location, 4))
        return bytes((PROGRESS_INDICATOR, 2, 0x80 | (self.coding_standard << 5) | self.location,
                      0x80 | self.description))

    @classmethod
    def decode_body(cls, body: bytes) -> "ProgressIndicator":
        if len(body) != 2:
            raise IEContentError(PROGRESS_INDICATOR, f"{len(body)} octets, exactly 2 expected")
        return cls(description=body[1] & 0x7F, location=body[0] & 0x0F, coding_standard=(body[0] >> 5) & 3)

    def describe(self) -> list[str]:
        return [f"Progress Description = {PROGRESS_NAMES.get(self.description, self.description)}",
                f"Location = {location_name(self.location)}"]


@dataclass(slots=True)
class NotificationIndicator:
    IDENT = NOTIFICATION_INDICATOR
    description: int = 0

    def encode(self) -> bytes:
        return bytes((NOTIFICATION_INDICATOR, 1, 0x80 | self.description))

    @classmethod
    def decode_body(cls, body: bytes) -> "NotificationIndicator":
        if not body:
            raise IEContentError(NOTIFICATION_INDICATOR, "empty")
        return cls(description=body[0] & 0x7F)

    def describe(self) -> list[str]:
        return [f"Notification {self.description}"]


class _TextIE:
    __slots__ = ()
    IDENT = 0

    def encode(self) -> bytes:
        raw = _check_digits(self.IDENT, self.text)
        if len(raw) > 255:
            raise IEContentError(self.IDENT, f"{len(raw)} characters, at most 255 fit")
        return bytes((self.IDENT, len(raw))) + raw

    @classmethod
    def decode_body(cls, body: bytes):
        # ETSI Display has no character-set octet; a leading one with bit 8 set (QSIG style) is skipped.
        if body and body[0] & 0x80 and cls.IDENT == DISPLAY:
            body = body[1:]
        return cls(_digits(cls.IDENT, body))

    def describe(self) -> list[str]:
        return []


@dataclass(slots=True)
class Display(_TextIE):
    IDENT = DISPLAY
    text: str = ""


@dataclass(slots=True)
class KeypadFacility(_TextIE):
    IDENT = KEYPAD_FACILITY
    text: str = ""


@dataclass(slots=True)
class CalledNumber:
    IDENT = CALLED_PARTY_NUMBER
    digits: str = ""
    type_of_number: int = TypeOfNumber.UNKNOWN
    numbering_plan: int = NumberingPlan.ISDN

    def encode(self) -> bytes:
        raw = _check_digits(CALLED_PARTY_NUMBER, self.digits)
        if not 0 <= self.type_of_number < 8 or not 0 <= self.numbering_plan < 16:
            _check_fields(CALLED_PARTY_NUMBER, type_of_number=(self.type_of_number, 3),
                          numbering_plan=(self.numbering_plan, 4))
        return bytes((CALLED_PARTY_NUMBER, len(raw) + 1,
                      0x80 | (self.type_of_number << 4) | self.numbering_plan)) + raw

    @classmethod
    def decode_body(cls, body: bytes) -> "CalledNumber":
        if not body:
            raise IEContentError(CALLED_PARTY_NUMBER, "empty")
        o3 = body[0]
        if not o3 & 0x80:
            raise IEContentError(CALLED_PARTY_NUMBER, "octet 3 is extended, which a called number never is")
        return cls(_digits(CALLED_PARTY_NUMBER, body[1:]), (o3 >> 4) & 7, o3 & 0x0F)

    def describe(self) -> list[str]:
        return [f"Plan:{_NPI_NAMES.get(self.numbering_plan, self.numbering_plan)}, "
                f"Type:{_TON_NAMES.get(self.type_of_number, self.type_of_number)}"]


@dataclass(slots=True)
class _PartyNumber:
    """Calling party / connected number: octet 3 (type, plan) and optional 3a (presentation, screening)."""

    IDENT = 0
    digits: str = ""
    type_of_number: int = TypeOfNumber.UNKNOWN
    numbering_plan: int = NumberingPlan.ISDN
    presentation: int | None = Presentation.ALLOWED
    screening: int = Screening.USER_NOT_SCREENED

    def encode(self) -> bytes:
        raw = _check_digits(self.IDENT, self.digits)
        _check_fields(self.IDENT, type_of_number=(self.type_of_number, 3), numbering_plan=(self.numbering_plan, 4),
                      presentation=(self.presentation or 0, 2), screening=(self.screening, 2))
        o3 = (self.type_of_number << 4) | self.numbering_plan
        if self.presentation is None:
            head = bytes((0x80 | o3,))
        else:
            head = bytes((o3, 0x80 | (self.presentation << 5) | self.screening))
        return bytes((self.IDENT, len(head) + len(raw))) + head + raw

    @classmethod
    def decode_body(cls, body: bytes):
        if not body:
            raise IEContentError(cls.IDENT, "empty")
        o3 = body[0]
        ie = cls("", (o3 >> 4) & 7, o3 & 0x0F, None)
        pos = 1
        if not o3 & 0x80:
            if len(body) < 2:
                raise IEContentError(cls.IDENT, "octet 3 says octet 3a follows but the IE ends")
            o3a = body[1]
            if not o3a & 0x80:
                raise IEContentError(cls.IDENT, f"octet 3a (0x{o3a:02x}) is extended further")
            ie.presentation = (o3a >> 5) & 3
            ie.screening = o3a & 3
            pos = 2
        ie.digits = _digits(cls.IDENT, body[pos:])
        return ie

    def describe(self) -> list[str]:
        line = (f"Plan:{_NPI_NAMES.get(self.numbering_plan, self.numbering_plan)}, "
                f"Type:{_TON_NAMES.get(self.type_of_number, self.type_of_number)}")
        if self.presentation is not None:
            line += (f", Presentation:{_PRES_NAMES[self.presentation]}, "
                     f"Screening:{_SCREEN_NAMES[self.screening]}")
        return [line]


@dataclass(slots=True)
class CallingNumber(_PartyNumber):
    IDENT = CALLING_PARTY_NUMBER


@dataclass(slots=True)
class ConnectedNumber(_PartyNumber):
    IDENT = CONNECTED_NUMBER


@dataclass(slots=True)
class RedirectingNumber:
    """How a forwarded call arrives: the number that forwarded it and why (octets 3, 3a, 3b)."""

    IDENT = REDIRECTING_NUMBER
    digits: str = ""
    type_of_number: int = TypeOfNumber.UNKNOWN
    numbering_plan: int = NumberingPlan.ISDN
    presentation: int | None = Presentation.ALLOWED
    screening: int = Screening.USER_NOT_SCREENED
    reason: int | None = RedirectReason.UNKNOWN

    def encode(self) -> bytes:
        raw = _check_digits(REDIRECTING_NUMBER, self.digits)
        _check_fields(REDIRECTING_NUMBER, type_of_number=(self.type_of_number, 3),
                      numbering_plan=(self.numbering_plan, 4), presentation=(self.presentation or 0, 2),
                      screening=(self.screening, 2), reason=(self.reason or 0, 4))
        head = bytearray(((self.type_of_number << 4) | self.numbering_plan,))
        if self.presentation is None and self.reason is None:
            head[0] |= 0x80
        else:
            pres = Presentation.ALLOWED if self.presentation is None else self.presentation
            head.append((pres << 5) | self.screening | (0x80 if self.reason is None else 0))
            if self.reason is not None:
                head.append(0x80 | self.reason)
        return bytes((REDIRECTING_NUMBER, len(head) + len(raw))) + head + raw

    @classmethod
    def decode_body(cls, body: bytes) -> "RedirectingNumber":
        if not body:
            raise IEContentError(REDIRECTING_NUMBER, "empty")
        o3 = body[0]
        ie = cls("", (o3 >> 4) & 7, o3 & 0x0F, None, Screening.USER_NOT_SCREENED, None)
        pos = 1
        if not o3 & 0x80:
            if len(body) < 2:
                raise IEContentError(REDIRECTING_NUMBER, "octet 3a announced but the IE ends")
            o3a = body[1]
            ie.presentation = (o3a >> 5) & 3
            ie.screening = o3a & 3
            pos = 2
            if not o3a & 0x80:
                if len(body) < 3:
                    raise IEContentError(REDIRECTING_NUMBER, "octet 3b (reason) announced but the IE ends")
                o3b = body[2]
                if not o3b & 0x80:
                    raise IEContentError(REDIRECTING_NUMBER, f"octet 3b (0x{o3b:02x}) is extended further")
                ie.reason = o3b & 0x0F
                pos = 3
        ie.digits = _digits(REDIRECTING_NUMBER, body[pos:])
        return ie

    def describe(self) -> list[str]:
        line = (f"Plan:{_NPI_NAMES.get(self.numbering_plan, self.numbering_plan)}, "
                f"Type:{_TON_NAMES.get(self.type_of_number, self.type_of_number)}")
        if self.presentation is not None:
            line += f", Presentation:{_PRES_NAMES[self.presentation]}"
        if self.reason is not None:
            line += f", Reason:{_REASON_NAMES.get(self.reason, self.reason)}"
        return [line]


@dataclass(slots=True)
class RestartIndicator:
    IDENT = RESTART_INDICATOR
    restart_class: int = RestartClass.ALL_INTERFACES

    def encode(self) -> bytes:
        return bytes((RESTART_INDICATOR, 1, 0x80 | self.restart_class))

    @classmethod
    def decode_body(cls, body: bytes) -> "RestartIndicator":
        if len(body) != 1:
            raise IEContentError(RESTART_INDICATOR, f"{len(body)} octets, exactly 1 expected")
        value = body[0] & 7
        if value not in (0, 6, 7):
            raise IEContentError(RESTART_INDICATOR, f"restart class {value} is reserved")
        return cls(value)

    def describe(self) -> list[str]:
        return [{0: "Indicated channels", 6: "Single interface", 7: "All interfaces"}[self.restart_class]]


@dataclass(slots=True)
class RawIE:
    """An IE carried but not interpreted (Facility, User-user, other codesets ...)."""

    ident: int
    body: bytes = b""
    codeset: int = 0

    @property
    def IDENT(self) -> int:  # noqa: N802 - same attribute as the classes above
        return self.ident

    def encode(self) -> bytes:
        if self.ident & 0x80:
            return bytes((self.ident,))
        if len(self.body) > 255:
            raise IEContentError(self.ident, f"{len(self.body)} octets, at most 255 fit")
        return bytes((self.ident, len(self.body))) + self.body

    def describe(self) -> list[str]:
        return [f"Contents 0x{self.body.hex().upper()}"] if self.body else []


def Facility(body: bytes) -> RawIE:  # noqa: N802 - reads as an IE constructor at call sites
    return RawIE(FACILITY, body)


# identifier -> class with decode_body, for codeset 0
DECODERS = {
    BEARER_CAPABILITY: BearerCapability,
    CAUSE: Cause,
    CALL_STATE: CallState,
    CHANNEL_ID: ChannelId,
    PROGRESS_INDICATOR: ProgressIndicator,
    NOTIFICATION_INDICATOR: NotificationIndicator,
    DISPLAY: Display,
    KEYPAD_FACILITY: KeypadFacility,
    CALLED_PARTY_NUMBER: CalledNumber,
    CALLING_PARTY_NUMBER: CallingNumber,
    CONNECTED_NUMBER: ConnectedNumber,
    REDIRECTING_NUMBER: RedirectingNumber,
    RESTART_INDICATOR: RestartIndicator,
}

# Recognised in codeset 0 and passed through uninterpreted.
PASSED_THROUGH = frozenset({0x10, 0x1C, 0x20, 0x29, 0x34, 0x4D, 0x6D, 0x71, 0x78, 0x7C, 0x7D, 0x7E})

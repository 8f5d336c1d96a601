"""Q.850 cause values and locations: the one place where a cause number gets its name.

Everything that sends or reports a cause takes it from here, so a trace, an event and a CDR
always agree on what "cause 44" means.
"""

from __future__ import annotations

from enum import IntEnum


class Cause(IntEnum):
    UNALLOCATED_NUMBER = 1
    NO_ROUTE_TO_TRANSIT_NETWORK = 2
    NO_ROUTE_TO_DESTINATION = 3
    SEND_SPECIAL_INFORMATION_TONE = 4
    MISDIALLED_TRUNK_PREFIX = 5
    CHANNEL_UNACCEPTABLE = 6
    CALL_AWARDED_IN_ESTABLISHED_CHANNEL = 7
    PREEMPTION = 8
    PREEMPTION_CIRCUIT_RESERVED = 9
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONDING = 18
    NO_ANSWER = 19
    SUBSCRIBER_ABSENT = 20
    CALL_REJECTED = 21
    NUMBER_CHANGED = 22
    REDIRECTION_TO_NEW_DESTINATION = 23
    EXCHANGE_ROUTING_ERROR = 25
    NON_SELECTED_USER_CLEARING = 26
    DESTINATION_OUT_OF_ORDER = 27
    INVALID_NUMBER_FORMAT = 28
    FACILITY_REJECTED = 29
    RESPONSE_TO_STATUS_ENQUIRY = 30
    NORMAL_UNSPECIFIED = 31
    NO_CIRCUIT_AVAILABLE = 34
    NETWORK_OUT_OF_ORDER = 38
    FRAME_MODE_OUT_OF_SERVICE = 39
    FRAME_MODE_OPERATIONAL = 40
    TEMPORARY_FAILURE = 41
    SWITCHING_EQUIPMENT_CONGESTION = 42
    ACCESS_INFORMATION_DISCARDED = 43
    REQUESTED_CHANNEL_NOT_AVAILABLE = 44
    PRECEDENCE_CALL_BLOCKED = 46
    RESOURCE_UNAVAILABLE = 47
    QOS_NOT_AVAILABLE = 49
    FACILITY_NOT_SUBSCRIBED = 50
    OUTGOING_CALLS_BARRED_IN_CUG = 53
    INCOMING_CALLS_BARRED_IN_CUG = 55
    BEARER_CAPABILITY_NOT_AUTHORIZED = 57
    BEARER_CAPABILITY_NOT_AVAILABLE = 58
    INCONSISTENT_OUTGOING_ACCESS = 62
    SERVICE_NOT_AVAILABLE = 63
    BEARER_CAPABILITY_NOT_IMPLEMENTED = 65
    CHANNEL_TYPE_NOT_IMPLEMENTED = 66
    FACILITY_NOT_IMPLEMENTED = 69
    ONLY_RESTRICTED_DIGITAL_AVAILABLE = 70
    SERVICE_NOT_IMPLEMENTED = 79
    INVALID_CALL_REFERENCE = 81
    CHANNEL_DOES_NOT_EXIST = 82
    SUSPENDED_CALL_IDENTITY_MISMATCH = 83
    CALL_IDENTITY_IN_USE = 84
    NO_CALL_SUSPENDED = 85
    CALL_IDENTITY_CLEARED = 86
    USER_NOT_MEMBER_OF_CUG = 87
    INCOMPATIBLE_DESTINATION = 88
    NON_EXISTENT_CUG = 90
    INVALID_TRANSIT_NETWORK = 91
    INVALID_MESSAGE = 95
    MANDATORY_IE_MISSING = 96
    MESSAGE_TYPE_NONEXISTENT = 97
    MESSAGE_NOT_COMPATIBLE_OR_NONEXISTENT = 98
    IE_NONEXISTENT = 99
    INVALID_IE_CONTENTS = 100
    MESSAGE_NOT_COMPATIBLE_WITH_STATE = 101
    RECOVERY_ON_TIMER_EXPIRY = 102
    PARAMETER_NONEXISTENT_PASSED_ON = 103
    UNRECOGNIZED_PARAMETER_DISCARDED = 110
    PROTOCOL_ERROR = 111
    INTERWORKING = 127


_NAMES: dict[int, str] = {
    1: "Unallocated (unassigned) number",
    2: "No route to specified transit network",
    3: "No route to destination",
    4: "Send special information tone",
    5: "Misdialled trunk prefix",
    6: "Channel unacceptable",
    7: "Call awarded and being delivered in an established channel",
    8: "Preemption",
    9: "Preemption - circuit reserved for reuse",
    16: "Normal call clearing",
    17: "User busy",
    18: "No user responding",
    19: "No answer from user (user alerted)",
    20: "Subscriber absent",
    21: "Call rejected",
    22: "Number changed",
    23: "Redirection to new destination",
    25: "Exchange routing error",
    26: "Non-selected user clearing",
    27: "Destination out of order",
    28: "Invalid number format (address incomplete)",
    29: "Facility rejected",
    30: "Response to STATUS ENQUIRY",
    31: "Normal, unspecified",
    34: "No circuit/channel available",
    38: "Network out of order",
    39: "Permanent frame mode connection out of service",
    40: "Permanent frame mode connection operational",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    43: "Access information discarded",
    44: "Requested circuit/channel not available",
    46: "Precedence call blocked",
    47: "Resource unavailable, unspecified",
    49: "Quality of service not available",
    50: "Requested facility not subscribed",
    53: "Outgoing calls barred within CUG",
    55: "Incoming calls barred within CUG",
    57: "Bearer capability not authorized",
    58: "Bearer capability not presently available",
    62: "Inconsistency in designated outgoing access information and subscriber class",
    63: "Service or option not available, unspecified",
    65: "Bearer capability not implemented",
    66: "Channel type not implemented",
    69: "Requested facility not implemented",
    70: "Only restricted digital information bearer capability is available",
    79: "Service or option not implemented, unspecified",
    81: "Invalid call reference value",
    82: "Identified channel does not exist",
    83: "A suspended call exists, but this call identity does not",
    84: "Call identity in use",
    85: "No call suspended",
    86: "Call having the requested call identity has been cleared",
    87: "User not member of CUG",
    88: "Incompatible destination",
    90: "Non-existent CUG",
    91: "Invalid transit network selection",
    95: "Invalid message, unspecified",
    96: "Mandatory information element is missing",
    97: "Message type non-existent or not implemented",
    98: "Message not compatible with call state or message type non-existent or not implemented",
    99: "Information element/parameter non-existent or not implemented",
    100: "Invalid information element contents",
    101: "Message not compatible with call state",
    102: "Recovery on timer expiry",
    103: "Parameter non-existent or not implemented, passed on",
    110: "Message with unrecognized parameter, discarded",
    111: "Protocol error, unspecified",
    127: "Interworking, unspecified",
}


def cause_name(value: int) -> str:
    """The Q.850 name of a cause value; values Q.850 leaves unassigned say so with the class."""
    name = _NAMES.get(value)
    if name is not None:
        return name
    classes = ("normal event", "normal event", "resource unavailable", "service or option not available",
               "service or option not implemented", "invalid message", "protocol error", "interworking")
    return f"Unassigned cause {value} (class: {classes[(value >> 4) & 7]})"


# Q.850 2.2.7: a cause value a switch does not know is read as its class's "unspecified" one;
# the box sends that itself, so the carrier always gets a cause of the table.
_CLASS_UNSPECIFIED = (Cause.NORMAL_UNSPECIFIED, Cause.NORMAL_UNSPECIFIED, Cause.RESOURCE_UNAVAILABLE,
                      Cause.SERVICE_NOT_AVAILABLE, Cause.SERVICE_NOT_IMPLEMENTED, Cause.INVALID_MESSAGE,
                      Cause.PROTOCOL_ERROR, Cause.INTERWORKING)


def edge_cause(value: int) -> Cause:
    """The cause the box puts on the wire for `value` (1..127): itself when Q.850 assigns it,
    else its class's unspecified cause (e.g. 35 -> 47, 60 -> 63).  Out of range raises."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 127:
        raise ValueError(f"cause {value!r} out of range 1..127")
    try:
        return Cause(value)
    except ValueError:
        return _CLASS_UNSPECIFIED[(value >> 4) & 7]


class Location(IntEnum):
    USER = 0
    PRIVATE_NETWORK_LOCAL_USER = 1
    PUBLIC_NETWORK_LOCAL_USER = 2
    TRANSIT_NETWORK = 3
    PUBLIC_NETWORK_REMOTE_USER = 4
    PRIVATE_NETWORK_REMOTE_USER = 5
    INTERNATIONAL_NETWORK = 7
    BEYOND_INTERWORKING_POINT = 10


_LOCATION_NAMES = {
    0: "User", 1: "Private network serving the local user", 2: "Public network serving the local user",
    3: "Transit network", 4: "Public network serving the remote user", 5: "Private network serving the remote user",
    7: "International network", 10: "Network beyond interworking point",
}


def location_name(value: int) -> str:
    return _LOCATION_NAMES.get(value, f"Reserved location {value}")

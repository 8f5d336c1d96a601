"""Q.850 cause values <-> SIP final responses, as RFC 3398 maps ISUP and SIP (§7.2.4.1 and
§8.2.6.1), plus the Reason header of RFC 3326 that carries the exact cause both ways.

    sip_status(17) -> 486          cause_of_status(486) -> 17
    reason_header(17) -> 'Q.850;cause=17;text="User busy"'
    cause_from_reason(request_or_response) -> 17 or None

Cause 16 (normal clearing) has no status: a call cleared with it ends with BYE (or, before
the answer, CANCEL / 480, see `sip_status`).  Plain integers here: the SIP core does not import
the ISDN stack; the values are Q.850's.
"""

from __future__ import annotations

import re

# RFC 3398 §7.2.4.1: the cause of a release toward SIP -> the final response.
_STATUS_OF_CAUSE = {
    1: 404, 2: 404, 3: 404, 16: 480, 17: 486, 18: 408, 19: 480, 20: 480, 21: 403, 22: 410,
    23: 410, 26: 404, 27: 502, 28: 484, 29: 501, 31: 480, 34: 503, 38: 503, 41: 503, 42: 503,
    47: 503, 55: 403, 57: 403, 58: 503, 65: 488, 69: 501, 70: 488, 79: 501, 87: 403, 88: 503,
    102: 504, 111: 500, 127: 500,
}

# RFC 3398 §8.2.6.1: a final response from SIP -> the cause toward ISDN.
_CAUSE_OF_STATUS = {
    400: 41, 401: 21, 402: 21, 403: 21, 404: 1, 405: 63, 406: 79, 407: 21, 408: 102, 410: 22,
    413: 127, 414: 127, 415: 79, 416: 127, 420: 127, 480: 18, 481: 41, 482: 25, 483: 25,
    484: 28, 485: 1, 486: 17, 500: 41, 501: 79, 502: 38, 503: 41, 504: 102, 505: 127,
    513: 127, 600: 17, 603: 21, 604: 1,
}

# Causes of the same class share a status when the table has none (Q.850 §2.2.7.1 classes).
_CLASS_STATUS = ((31, 480), (47, 503), (63, 503), (79, 501), (95, 400), (111, 500), (127, 500))
# Responses the table leaves out, by class: a request refused (4xx, 6xx), a server failure (5xx).
_CLASS_CAUSE = {4: 21, 5: 41, 6: 21}
# 487 answers our own CANCEL; 488 and 606 mean the media could not be agreed.
_EXTRA_CAUSE = {487: 16, 488: 65, 606: 65, 422: 127, 423: 127, 491: 41}

CAUSE_TEXT = {
    1: "Unallocated number", 16: "Normal call clearing", 17: "User busy",
    18: "No user responding", 19: "No answer from user", 21: "Call rejected",
    22: "Number changed", 27: "Destination out of order", 28: "Invalid number format",
    31: "Normal, unspecified", 34: "No circuit/channel available", 38: "Network out of order",
    41: "Temporary failure", 42: "Switching equipment congestion", 47: "Resource unavailable",
    58: "Bearer capability not presently available", 63: "Service or option not available",
    65: "Bearer capability not implemented", 79: "Service or option not implemented",
    102: "Recovery on timer expiry", 111: "Protocol error, unspecified",
    127: "Interworking, unspecified",
}


def sip_status(cause: int) -> int:
    """The final response that refuses an INVITE cleared with `cause` (RFC 3398 §7.2.4.1).
    Cause 16 before an answer is 480 (the callee went away), as gateways send it."""
    if not 0 < cause < 128:
        raise ValueError(f"Q.850 cause {cause} is outside 1..127")
    status = _STATUS_OF_CAUSE.get(cause)
    if status is not None:
        return status
    return next(s for limit, s in _CLASS_STATUS if cause <= limit)


def cause_of_status(status: int) -> int:
    """The Q.850 cause for a final response to our INVITE (RFC 3398 §8.2.6.1)."""
    if not 300 <= status <= 699:
        raise ValueError(f"SIP status {status} is not a failure (300..699)")
    if status in _CAUSE_OF_STATUS:
        return _CAUSE_OF_STATUS[status]
    if status in _EXTRA_CAUSE:
        return _EXTRA_CAUSE[status]
    if status < 400:
        return 23   # a redirection the box does not follow
    return _CLASS_CAUSE[status // 100]


def reason_header(cause: int) -> str:
    """The Reason header value (RFC 3326) that carries the cause to a SIP peer."""
    text = CAUSE_TEXT.get(cause)
    return f"Q.850;cause={cause}" + (f';text="{text}"' if text else "")


_REASON = re.compile(r"\s*Q\.850\s*;(.*)", re.I | re.S)
_CAUSE_PARAM = re.compile(r"(?:^|;)\s*cause\s*=\s*(\d{1,3})\s*(?:;|$)", re.I)


def cause_from_reason(message) -> int | None:
    """The Q.850 cause of a Reason header in a BYE, CANCEL or response, or None."""
    for value in message.get_all("Reason"):
        match = _REASON.match(value)
        if not match:
            continue
        found = _CAUSE_PARAM.search(match.group(1))
        if found and 0 < int(found.group(1)) < 128:
            return int(found.group(1))
    return None

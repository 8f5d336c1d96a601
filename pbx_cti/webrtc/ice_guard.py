"""What reaches the endpoint's ICE ports, sorted before aioice sees it: garbage is counted and
dropped, never answered.

Demultiplexing by the first octet (RFC 7983): 0-3 STUN, 20-63 DTLS, 128-191 RTP/RTCP.  Dropped:
- `stun_malformed`: looks like STUN and does not parse;
- `stun_unauthenticated`: a STUN request without USERNAME and MESSAGE-INTEGRITY, or whose
  integrity fails with our ICE password (aioice would answer 400/401: a reflector for anyone
  who sprays the port);
- `unknown_source`: DTLS or SRTP from an address that is not one of the session's candidate
  pairs (only a peer that passed an authenticated check gets that far);
- `not_webrtc`: any other first octet.

aioice offers no hook for this, so the guard wraps its protocol's `datagram_received`, for this
process (as endpoint.py replaces its address lookup).
"""

from __future__ import annotations

import logging
from collections import Counter

from aioice import stun
from aioice.ice import StunProtocol

log = logging.getLogger("pribox.webrtc")

DROPPED: Counter = Counter()
_original = StunProtocol.datagram_received


def _known_source(connection, addr) -> bool:
    pairs = getattr(connection, "_check_list", ())
    return any(tuple(pair.remote_addr[:2]) == addr for pair in pairs)


def _drop(reason: str, addr) -> None:
    DROPPED[reason] += 1
    if DROPPED[reason] in (1, 10, 100, 1000) or DROPPED[reason] % 10000 == 0:
        log.warning("webrtc: dropped %s from %s:%s (%d so far)", reason.replace("_", " "), addr[0], addr[1],
                    DROPPED[reason])


def _guarded(self, data, addr) -> None:
    addr = (addr[0], addr[1])
    if not data:
        return _drop("not_webrtc", addr)
    first = data[0]
    connection = self.receiver
    if first <= 3:
        try:
            message = stun.parse_message(data)
        except ValueError:
            return _drop("stun_malformed", addr)
        if message.message_class == stun.Class.REQUEST:
            password = getattr(connection, "local_password", None)
            if ("MESSAGE-INTEGRITY" not in message.attributes or "USERNAME" not in message.attributes
                    or password is None or not message.check_message_integrity(password.encode("utf8"))):
                return _drop("stun_unauthenticated", addr)
        return _original(self, data, addr)
    if 20 <= first <= 63 or 128 <= first <= 191:
        if not _known_source(connection, addr):
            return _drop("unknown_source", addr)
        return _original(self, data, addr)
    return _drop("not_webrtc", addr)


def install() -> None:
    StunProtocol.datagram_received = _guarded

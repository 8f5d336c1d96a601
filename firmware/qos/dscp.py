"""DSCP marks on the box's sockets: EF for media, CS3 for signalling unless `[qos]` says other.

    mark_socket(sock, "EF")            # IP_TOS on IPv4, IPV6_TCLASS (and IP_TOS) on IPv6
    dscp_value("af41", field="qos.media_dscp") -> 34

A name or number that is not a DSCP raises DscpError naming the field it came from.
"""

from __future__ import annotations

import socket

NAMES: dict[str, int] = {"default": 0, "le": 1, "ef": 46, "va": 44}
NAMES.update({f"cs{n}": 8 * n for n in range(8)})
NAMES.update({f"af{x}{y}": 8 * x + 2 * y for x in range(1, 5) for y in range(1, 4)})
DEFAULT_MEDIA = "EF"
DEFAULT_SIGNALLING = "CS3"
EXPECTED = "a DSCP name (EF, CS0..CS7, AF11..AF43, VA, LE, default) or a number 0..63"


class DscpError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def dscp_value(value, *, field: str = "dscp") -> int:
    if isinstance(value, bool):
        raise DscpError(field, f"expected {EXPECTED}, got {value!r}")
    if isinstance(value, int):
        if 0 <= value <= 63:
            return value
        raise DscpError(field, f"DSCP {value} is out of range 0..63")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in NAMES:
            return NAMES[text]
        if text.isdigit():
            return dscp_value(int(text), field=field)
    raise DscpError(field, f"expected {EXPECTED}, got {value!r}")


def dscp_name(value: int) -> str:
    for name, number in NAMES.items():
        if number == value and name != "default":
            return name.upper()
    return str(value)


def mark_socket(sock: socket.socket, dscp, *, field: str = "dscp", priority: int | None = None) -> int:
    """Set the socket's DSCP (ECN bits left 0) and, with `priority` (0..7), its socket priority,
    which a voice VLAN's egress map sends as the 802.1p PCP; returns the traffic-class octet."""
    octet = dscp_value(dscp, field=field) << 2
    set_tos(sock, octet, field=field)
    if priority is not None:
        # After IP_TOS, which sets the socket priority from the TOS bits on Linux.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, int(priority))
    return octet


def set_tos(sock: socket.socket, octet: int, *, field: str = "dscp") -> None:
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, octet)
        try:   # a dual-stack socket also sends IPv4 (mapped) packets
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, octet)
        except OSError:
            pass
    elif sock.family == socket.AF_INET:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, octet)
    else:
        raise DscpError(field, f"socket family {sock.family!r} carries no DSCP")

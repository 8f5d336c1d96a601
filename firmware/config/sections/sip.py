"""[sip]: where the box's SIP user agent listens and which UDP ports its RTP legs take.  The
daemon's `sip` service (firmware/sip/service.py) runs it when a `[[sip_trunk]]` is configured."""

from __future__ import annotations

from ..registry import register_section
from ..schema import Bool, Checker, Enum, Field, Int, IpAddress, Section, Table


def _even_range(sip, path: tuple, checker: Checker) -> None:
    if sip.rtp_port_min % 2:
        checker.report(path + ("rtp_port_min",), f"{sip.rtp_port_min} is odd: RTP takes even ports, RTCP the odd "
                                                 f"one above (RFC 3550 11)")
    if sip.rtp_port_max < sip.rtp_port_min:
        checker.report(path + ("rtp_port_max",), f"{sip.rtp_port_max} is below rtp_port_min {sip.rtp_port_min}")
    elif sip.port in range(sip.rtp_port_min, sip.rtp_port_max + 2):
        checker.report(path + ("port",), f"SIP port {sip.port} is inside the RTP port range")


SIP = register_section(Section("sip", Table({
    "address": Field(IpAddress(), "127.0.0.1", "listen here; also the address in SDP and Contact"),
    "port": Field(Int(1, 65535), 5060),
    "tcp": Field(Bool(), True, "a TCP listener on the same port as UDP"),
    "rtp_port_min": Field(Int(1024, 65534), 20000),
    "rtp_port_max": Field(Int(1024, 65534), 20998, "30 legs a port pair each way: 2 ports per call"),
    "handler": Field(Enum("pbx", "none"), "pbx", '"pbx": trunk calls go to the PBX; "none": a simulator takes them'),
}, checks=[_even_range]), doc="the SIP user agent: listen address and port, RTP ports"))

"""[sip]: where the box's SIP user agent listens and which UDP ports its RTP legs take.  The
daemon's `sip` service (firmware/sip/service.py) runs it when a `[[sip_trunk]]` is configured."""

from __future__ import annotations

from ..registry import register_section
from ..schema import OPTIONAL, Bool, Checker, Enum, Field, Int, IpAddress, Path, Section, Table


def _even_range(sip, path: tuple, checker: Checker) -> None:
    if sip.rtp_port_min % 2:
        checker.report(path + ("rtp_port_min",), f"{sip.rtp_port_min} is odd: RTP takes even ports, RTCP the odd "
                                                 f"one above (RFC 3550 11)")
    if sip.rtp_port_max < sip.rtp_port_min:
        checker.report(path + ("rtp_port_max",), f"{sip.rtp_port_max} is below rtp_port_min {sip.rtp_port_min}")
    elif sip.port in range(sip.rtp_port_min, sip.rtp_port_max + 2):
        checker.report(path + ("port",), f"SIP port {sip.port} is inside the RTP port range")


def _tls_files(sip, path: tuple, checker: Checker) -> None:
    if sip.tls_port:
        for key in ("tls_certificate", "tls_key"):
            if getattr(sip, key) is None:
                checker.report(path + (key,), f"required when tls_port is set ({sip.tls_port}): a PEM file")
        if sip.tls_port == sip.port and sip.tcp:
            checker.report(path + ("tls_port",), f"{sip.tls_port} is the TCP listener's port too")
        if sip.tls_port in range(sip.rtp_port_min, sip.rtp_port_max + 2):
            checker.report(path + ("tls_port",), f"{sip.tls_port} is inside the RTP port range")
    else:
        for key in ("tls_certificate", "tls_key", "tls_ca"):
            if getattr(sip, key) is not None:
                checker.report(path + (key,), "set, but tls_port is 0 (TLS off): set tls_port too, or leave it out")


SIP = register_section(Section("sip", Table({
    "address": Field(IpAddress(), "127.0.0.1", "listen here; also the address in SDP and Contact"),
    "port": Field(Int(1, 65535), 5060),
    "tcp": Field(Bool(), True, "a TCP listener on the same port as UDP"),
    "rtp_port_min": Field(Int(1024, 65534), 20000),
    "rtp_port_max": Field(Int(1024, 65534), 20998, "30 legs a port pair each way: 2 ports per call"),
    "handler": Field(Enum("pbx", "none"), "pbx", '"pbx": trunk calls go to the PBX; "none": a simulator takes them'),
    "tls_port": Field(Int(0, 65535), 0, "a TLS listener (SIP over TLS, e.g. 5061); 0: none"),
    "tls_certificate": Field(Path("the box's certificate chain (PEM)"), OPTIONAL),
    "tls_key": Field(Path("the certificate's private key (PEM)"), OPTIONAL),
    "tls_ca": Field(Path("authorities trusted for trunks' certificates (PEM)"), OPTIONAL,
                    "default: the system's"),
    "phone_srtp": Field(Enum("off", "optional", "mandatory"), "optional",
                        "phones' calls: SRTP (SDES) when offered, only, or never"),
}, checks=[_even_range, _tls_files]), doc="the SIP user agent: listen address and port, RTP ports, TLS"))

"""[webrtc]: the agents' browser softphone (the endpoint in pbx_cti/webrtc/).

    [webrtc]
    enabled = true
    codec = "PCMA"                   # the trunk's G.711 law: the only codec the browser may use
    ice_addresses = ["127.0.0.1"]    # host candidates offered to browsers (the box's LAN address)
    https_port = 8443                # the agent API and pages over HTTPS as well (0: none)
    https_names = ["pribox.local"]   # names the box's own certificate carries, beside ice_addresses
    realtime_priority = true         # the endpoint's thread at SCHED_FIFO 5 (below the line thread)

Needs `[api]` (the page signals over it) and `[[sip_phone]]` entries for the agents'
extensions (the softphone registers as that phone, with its password).
"""

from __future__ import annotations

from firmware.config.registry import register_section
from firmware.config.schema import Bool, Enum, Field, Int, IpAddress, ListOf, Section, Str, Table

WEBRTC = register_section(Section("webrtc", Table({
    "enabled": Field(Bool(), False, "serve the browser softphone (GET /api/v1/softphone)"),
    "codec": Field(Enum("PCMA", "PCMU"), "PCMA", "G.711 in the trunk's law: nothing is transcoded"),
    "ice_addresses": Field(ListOf(IpAddress(), min_len=1, unique=True), ["127.0.0.1"],
                           "host candidates offered to browsers: the address agents reach the box on"),
    "https_port": Field(Int(0, 65535), 0, "serve the API and pages over HTTPS on this port too (0: none)"),
    "realtime_priority": Field(Bool(), True, "the endpoint's thread at SCHED_FIFO 5, below the line thread's 10 "
                                             "(the softphones' media keeps time when the box is busy)"),
    "https_names": Field(ListOf(Str(r"[A-Za-z0-9.-]{1,253}", what="a host name"), unique=True), ["localhost"],
                         "DNS names in the box's own certificate"),
}), doc="the agents' browser softphone: WebRTC to the box"))

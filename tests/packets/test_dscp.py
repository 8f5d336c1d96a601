"""DSCP marks proven on the wire: SIP-like and RTP-like UDP sent from marked sockets in a 'box'
network namespace, sniffed with scapy in a 'peer' namespace across a veth pair."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from firmware.config import ConfigError, load_text
from firmware.qos.dscp import DscpError, dscp_name, dscp_value, mark_socket
from tests.appliance.test_network import namespaces, sh  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[2]

SNIFFER = """
import json, sys
from scapy.all import AsyncSniffer, IP, IPv6, UDP
sniffer = AsyncSniffer(iface="eth0", filter="udp", started_callback=lambda: print("ready", flush=True))
sniffer.start()
sys.stdin.readline()                         # the test says when everything was sent
packets = sniffer.stop()
out = []
for p in packets:
    ip = p[IP] if IP in p else p[IPv6]
    out.append({"v": ip.version, "dscp": (ip.tos if ip.version == 4 else ip.tc) >> 2,
                "ecn": (ip.tos if ip.version == 4 else ip.tc) & 3, "dport": p[UDP].dport, "len": len(p[UDP].payload)})
print(json.dumps(out), flush=True)
"""

SENDER = """
import socket, sys
from firmware.qos.dscp import mark_socket
media, signalling, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
for family, box, peer in ((socket.AF_INET, "192.0.2.10", "192.0.2.1"), (socket.AF_INET6, "2001:db8::10", "2001:db8::1")):
    sip = socket.socket(family, socket.SOCK_DGRAM); sip.bind((box, 5060)); mark_socket(sip, signalling)
    rtp = socket.socket(family, socket.SOCK_DGRAM); rtp.bind((box, 20000)); mark_socket(rtp, media)
    plain = socket.socket(family, socket.SOCK_DGRAM); plain.bind((box, 9999))
    for i in range(count):
        sip.sendto(b"OPTIONS sip:100@peer SIP/2.0\\r\\nCSeq: %d OPTIONS\\r\\n\\r\\n" % i, (peer, 5060))
        rtp.sendto(bytes([0x80, 8]) + i.to_bytes(2, "big") + bytes(168), (peer, 30000))
    plain.sendto(b"unmarked", (peer, 9))
"""


def _prepare(box, peer):
    sh("ip", "-n", box, "addr", "add", "192.0.2.10/24", "dev", "eth0")
    sh("ip", "-n", box, "addr", "add", "2001:db8::10/64", "dev", "eth0", "nodad")
    sh("ip", "-n", peer, "addr", "add", "2001:db8::1/64", "dev", "eth0", "nodad")
    sh("ip", "-n", box, "link", "set", "eth0", "up")
    sh("ip", "-n", box, "link", "set", "lo", "up")


def _sniff_while(peer, send):
    sniffer = subprocess.Popen(["ip", "netns", "exec", peer, sys.executable, "-c", SNIFFER], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert sniffer.stdout.readline().strip() == "ready", sniffer.stderr.read()
        send()
        time.sleep(0.3)               # let the last frames cross the veth before the sniffer stops
        out, err = sniffer.communicate("done\n", timeout=30)
    finally:
        if sniffer.poll() is None:
            sniffer.kill()
            sniffer.wait()
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("media, signalling, want_media, want_signalling", [
    ("EF", "CS3", 46, 24),              # the defaults
    ("AF41", "26", 34, 26),             # as configured: a name and a number
])
def test_every_sip_and_rtp_packet_carries_its_mark(namespaces, media, signalling, want_media,  # noqa: F811
                                                   want_signalling):
    box, peer = namespaces
    _prepare(box, peer)
    count = 25
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def send():
        subprocess.run(["ip", "netns", "exec", box, sys.executable, "-c", SENDER, media, signalling, str(count)],
                       check=True, capture_output=True, env=env, cwd=ROOT, timeout=30)

    seen = _sniff_while(peer, send)
    sip = [p for p in seen if p["dport"] == 5060]
    rtp = [p for p in seen if p["dport"] == 30000]
    plain = [p for p in seen if p["dport"] == 9]
    assert len(sip) == len(rtp) == 2 * count and len(plain) == 2
    assert {(p["v"], p["dscp"], p["ecn"]) for p in sip} == {(4, want_signalling, 0), (6, want_signalling, 0)}
    assert {(p["v"], p["dscp"], p["ecn"]) for p in rtp} == {(4, want_media, 0), (6, want_media, 0)}
    assert {p["dscp"] for p in plain} == {0}


def test_names_and_values():
    assert [dscp_value(n) for n in ("EF", "cs3", "AF11", "af43", "VA", "default", "LE", "63", 0)] == [
        46, 24, 10, 38, 44, 0, 1, 63, 0]
    assert dscp_name(46) == "EF" and dscp_name(24) == "CS3" and dscp_name(5) == "5"
    with pytest.raises(DscpError, match=r"qos.media_dscp: DSCP 64 is out of range 0..63"):
        dscp_value(64, field="qos.media_dscp")
    with pytest.raises(DscpError, match=r"qos.signalling_dscp: expected a DSCP name .* got 'AF44'"):
        dscp_value("AF44", field="qos.signalling_dscp")
    with pytest.raises(DscpError, match="got True"):
        dscp_value(True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        assert mark_socket(sock, "EF") == 184 and sock.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 184
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        assert mark_socket(sock, "CS3") == 96
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS) == 96
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, pytest.raises(DscpError, match="no DSCP"):
        mark_socket(sock, "EF")


def test_qos_section_defaults_and_errors():
    assert load_text("").qos.media_dscp == 46 and load_text("").qos.signalling_dscp == 24
    with pytest.raises(ConfigError) as info:
        load_text('[qos]\nmedia_dscp = "EX"\nsignalling_dscp = 64\n', "box.toml")
    assert 'box.toml:2:1: qos.media_dscp: expected a DSCP name' in str(info.value)
    assert "box.toml:3:1: qos.signalling_dscp: DSCP 64 is out of range 0..63" in str(info.value)


VLANS = ('[network]\n[[network.interface]]\nname = "eth0"\n'
         '[[network.vlan]]\nid = 100\nparent = "eth0"\nrole = "voice"\n'
         '[[network.vlan]]\nid = 200\nparent = "eth0"\nrole = "management"\n')


def test_a_voice_vlan_carries_priority_5_unless_told_and_a_management_vlan_none():
    from firmware.config.sections.network import voice_priority
    from firmware.network.interfaces import _wanted_egress, plan_from_config

    config = load_text(VLANS)
    vlans = {v.vlan_id: v for v in plan_from_config(config.network).vlans}
    assert vlans[100].priority == 5 and vlans[200].priority is None
    assert _wanted_egress(vlans[100]) == {5: 5} and _wanted_egress(vlans[200]) == {}
    assert voice_priority(config.network) == 5 and voice_priority(load_text("").network) is None
    told = load_text(VLANS.replace('role = "voice"\n', 'role = "voice"\npriority = 6\n'))
    assert voice_priority(told.network) == 6


def test_a_vlan_priority_out_of_range_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as info:
        load_text(VLANS.replace('role = "voice"\n', 'role = "voice"\npriority = 8\n'), "box.toml")
    assert str(info.value) == "box.toml:8:1: network.vlan[0].priority: expected an integer 0..7, got 8"


def test_mark_socket_sets_the_priority_after_the_dscp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        assert mark_socket(sock, "CS3", priority=5) == 24 << 2
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 24 << 2
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY) == 5


def _socket_bound_to(local: tuple) -> socket.socket:
    """A duplicate of this process's socket bound to `local` (the C data plane owns the fd)."""
    for name in os.listdir("/proc/self/fd"):
        try:
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        try:
            if sock.type == socket.SOCK_DGRAM and sock.getsockname() == local:
                return sock
        except OSError:
            pass
        sock.close()
    raise AssertionError(f"no socket bound to {local}")


def test_the_rtp_legs_of_the_pool_send_with_the_media_marks():
    from pbx_cti.pbx.sip_legs import RtpLegPool

    pool = RtpLegPool("127.0.0.1", now=lambda: 0.0, tos=46 << 2, priority=5)
    try:
        session = pool.open(("127.0.0.1", 9), "PCMA")
        for local in (session.local, session.rtcp_local):
            with _socket_bound_to(tuple(local)) as sock:
                assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 46 << 2
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY) == 5
    finally:
        pool.close()


def _link_message(info_data):
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    msg = ifinfmsg()
    msg["attrs"] = [("IFLA_IFNAME", "eth0.100")] + (
        [("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "vlan"), ("IFLA_INFO_DATA", {"attrs": info_data})]})]
        if info_data is not None else [])
    msg.encode()
    parsed = ifinfmsg(msg.data)        # as the kernel's answer is read: encoded, then decoded
    parsed.decode()
    return parsed


def test_a_vlans_egress_map_is_read_back_as_the_kernel_reports_it():
    """The applier compares the kernel's map with the plan's, so a reload keeps a right VLAN."""
    from firmware.network.interfaces import _egress_qos

    mapped = _link_message([("IFLA_VLAN_ID", 100), ("IFLA_VLAN_EGRESS_QOS", {"attrs": [
        ("IFLA_VLAN_QOS_MAPPING", {"from": 5, "to": 5}), ("IFLA_VLAN_QOS_MAPPING", {"from": 3, "to": 2})]})])
    assert _egress_qos(mapped) == {5: 5, 3: 2}
    assert _egress_qos(_link_message([("IFLA_VLAN_ID", 100)])) == {}
    assert _egress_qos(_link_message(None)) == {}

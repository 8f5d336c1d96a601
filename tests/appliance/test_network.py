"""Network set-up with pyroute2, proven inside network namespaces the tests create (never on
the host's interfaces): a 'box' namespace and a 'peer' namespace joined by a veth pair."""

import asyncio
import os
import re
import subprocess
import sys

import pytest

from firmware.config import ConfigError, load_text
from firmware.network.service import NetworkService
from firmware.network.interfaces import (
    RTPROT_PRIBOX,
    NetworkApplier,
    NetworkError,
    format_interfaces,
    plan_from_config,
)


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def namespaces():
    box, peer = f"pbx-box-{os.getpid()}", f"pbx-peer-{os.getpid()}"
    sh("ip", "netns", "add", box)
    sh("ip", "netns", "add", peer)
    try:
        sh("ip", "-n", box, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer)
        sh("ip", "-n", box, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1", "netns", peer)
        sh("ip", "-n", peer, "addr", "add", "192.0.2.1/24", "dev", "eth0")
        sh("ip", "-n", peer, "link", "set", "eth0", "up")
        sh("ip", "-n", peer, "link", "set", "lo", "up")
        yield box, peer
    finally:
        sh("ip", "netns", "del", box)
        sh("ip", "netns", "del", peer)


BASE = """
[network]
dns = ["192.0.2.53"]

[[network.interface]]
name = "eth0"
addresses = ["192.0.2.10/24"]

[[network.interface]]
name = "eth1"
addresses = ["198.51.100.10/24", "2001:db8::10/64"]
mtu = 1400

[[network.route]]
destination = "default"
gateway = "192.0.2.1"

[[network.route]]
destination = "203.0.113.0/24"
gateway = "198.51.100.1"
metric = 50
"""

CHANGED = """
[[network.interface]]
name = "eth0"
addresses = ["192.0.2.20/24"]

[[network.interface]]
name = "eth1"
addresses = ["198.51.100.10/24", "2001:db8::10/64"]
mtu = 1400

[[network.route]]
destination = "default"
gateway = "192.0.2.1"
"""


class Blocking:
    """The applier's coroutines run to completion, one call at a time, for tests outside a loop."""

    def __init__(self, applier):
        self.applier = applier

    def __getattr__(self, name):
        return lambda *args: asyncio.run(getattr(self.applier, name)(*args))


def plan(text: str):
    return plan_from_config(load_text(text, "box.toml").network)


def udp_round_trip(box: str, peer: str, address: str) -> str:
    """A datagram from the box namespace reaches a listener in the peer namespace."""
    listener = subprocess.Popen(
        ["ip", "netns", "exec", peer, sys.executable, "-c",
         "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5999));"
         "s.settimeout(5); print('ready', flush=True); d, a = s.recvfrom(100); print(d.decode(), a[0], flush=True)"],
        stdout=subprocess.PIPE, text=True)
    assert listener.stdout.readline().strip() == "ready"
    sh("ip", "netns", "exec", box, sys.executable, "-c",
       f"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hello', ('{address}', 5999))")
    out, _ = listener.communicate(timeout=10)
    return out.strip()


def test_apply_brings_up_addresses_and_routes_and_traffic_flows(namespaces):
    box, peer = namespaces
    applier = Blocking(NetworkApplier(netns=box))
    changes = applier.apply(plan(BASE))
    assert "add eth0 address 192.0.2.10/24" in [str(c) for c in changes]
    links = {link.name: link for link in applier.links()}
    assert links["eth0"].admin_up and "192.0.2.10/24" in links["eth0"].addresses
    assert links["eth1"].mtu == 1400 and "2001:db8::10/64" in links["eth1"].addresses
    routes = {(r.destination, r.gateway) for r in applier.routes() if r.protocol == RTPROT_PRIBOX}
    assert routes == {("0.0.0.0/0", "192.0.2.1"), ("203.0.113.0/24", "198.51.100.1")}
    # Traffic really flows over the applied address, seen by the peer from that address.
    assert udp_round_trip(box, peer, "192.0.2.1") == "hello 192.0.2.10"


def test_applying_the_same_plan_twice_changes_nothing(namespaces):
    box, _ = namespaces
    applier = Blocking(NetworkApplier(netns=box))
    base = plan(BASE)
    applier.apply(base)
    assert applier.diff(base) == []
    assert applier.apply(base) == []


def test_a_new_plan_replaces_only_what_pribox_owns(namespaces):
    box, _ = namespaces
    applier = Blocking(NetworkApplier(netns=box))
    applier.apply(plan(BASE))
    # A route somebody else installed (proto static) must survive pribox's reconciliation.
    sh("ip", "-n", box, "route", "add", "10.99.0.0/16", "via", "198.51.100.254", "proto", "static")
    changed = "[network]\n" + CHANGED
    preview = [str(c) for c in applier.diff(plan(changed))]
    assert preview == ["remove eth0 address 192.0.2.10/24", "add eth0 address 192.0.2.20/24",
                       "remove route 203.0.113.0/24 via 198.51.100.1"]
    applied = [str(c) for c in applier.apply(plan(changed))]
    # Removing the old address makes the kernel drop the default route through it; the applier
    # reads the routes after the address changes and puts it back.
    assert applied == preview + ["add route 0.0.0.0/0 via 192.0.2.1"]
    assert applier.diff(plan(changed)) == []
    links = {link.name: link for link in applier.links()}
    assert [a for a in links["eth0"].addresses if not a.startswith("fe80")] == ["192.0.2.20/24"]
    destinations = {r.destination for r in applier.routes()}
    assert "10.99.0.0/16" in destinations and "203.0.113.0/24" not in destinations


def test_interface_that_does_not_exist_is_named(namespaces):
    box, _ = namespaces
    missing = plan('[[network.interface]]\nname = "eth7"\naddresses = ["192.0.2.9/24"]\n')
    with pytest.raises(NetworkError, match=r"'eth7': no such interface on this box \(present: eth0, eth1, lo\)"):
        Blocking(NetworkApplier(netns=box)).apply(missing)


def _kernel_has_vlans(ns: str) -> bool:
    probe = subprocess.run(["ip", "-n", ns, "link", "add", "link", "eth1", "name", "probe.9", "type", "vlan", "id", "9"],
                           capture_output=True)
    if probe.returncode == 0:
        sh("ip", "-n", ns, "link", "del", "probe.9")
    return probe.returncode == 0


def test_voice_vlan_is_created_or_refused_with_the_kernels_reason(namespaces):
    box, _ = namespaces
    vlan_plan = plan(BASE + '[[network.vlan]]\nname = "voice"\nparent = "eth0"\nid = 100\n'
                            'addresses = ["10.1.0.10/24"]\nrole = "voice"\n')
    applier = Blocking(NetworkApplier(netns=box))
    if _kernel_has_vlans(box):
        applier.apply(vlan_plan)
        voice = {link.name: link for link in applier.links()}["voice"]
        assert (voice.kind, voice.vlan_id, voice.parent) == ("vlan", 100, "eth0")
        assert "10.1.0.10/24" in voice.addresses
        assert "802.1Q VLAN 100 on eth0" in format_interfaces(applier.links(), vlan_plan)
        assert "  Role: voice" in format_interfaces(applier.links(), vlan_plan)
    else:
        # Some kernels (this CI's among them) are built without 802.1Q: the engineer is told so.
        with pytest.raises(NetworkError, match=r"could not create voice VLAN 100 on eth0: .*802\.1Q"):
            applier.apply(vlan_plan)


def test_show_interfaces_reads_like_a_router(namespaces):
    box, _ = namespaces
    applier = Blocking(NetworkApplier(netns=box))
    applier.apply(plan(BASE))
    text = format_interfaces(applier.links(), plan(BASE))
    assert "eth0 is up, line protocol is" in text
    assert "  Internet address is 192.0.2.10/24" in text
    assert "  MTU 1400 bytes" in text


@pytest.mark.parametrize("text, message", [
    ('[[network.interface]]\nname = "eth0"\nadresses = []\n',
     r"box.toml:3:1: network.interface\[0\].adresses: unknown key \(did you mean \"addresses\"\?\)"),
    ('[[network.interface]]\nname = "eth0"\naddresses = ["192.0.2.300/24"]\n', r"box.toml:3:1: network.interface\[0\].addresses"),
    ('[[network.interface]]\nname = "eth0"\nmtu = 10\n', r"box.toml:3:1: network.interface\[0\].mtu"),
    ('[[network.vlan]]\nparent = "eth9"\nid = 5\nrole = "voice"\n', r"network.vlan\[0\].parent: no \[\[network.interface\]\] named \"eth9\""),
    ('[[network.interface]]\nname = "a"\naddresses = ["192.0.2.1/24"]\n[[network.interface]]\nname = "b"\n'
     'addresses = ["192.0.2.1/25"]\n', r"box.toml:6:1: network.interface\[1\].addresses\[0\]: address 192.0.2.1 is already given to network.interface\[0\]"),
    ('[[network.interface]]\nname = "eth0"\ndhcp = true\n', r"network.interface\[0\].dhcp: unknown key"),
    ('[[network.route]]\ndestination = "::/0"\ngateway = "192.0.2.1"\n', r"network.route\[0\].gateway: gateway 192.0.2.1 is IPv4"),
])
def test_bad_network_config_names_the_line_and_key(text, message):
    with pytest.raises(ConfigError) as caught:
        load_text(text, "box.toml")
    assert re.search(message, str(caught.value)), str(caught.value)


def test_network_service_applies_on_start_and_writes_dns(namespaces, tmp_path):
    box, _ = namespaces
    config = load_text(BASE, "box.toml")
    service = NetworkService(plan_from_config(config.network), ("192.0.2.53",), netns=box,
                             resolv_conf=tmp_path / "resolv.conf")
    asyncio.run(service.start(None))
    assert "add eth0 address 192.0.2.10/24" in service.changes
    assert service.health().ok and (tmp_path / "resolv.conf").read_text() == "nameserver 192.0.2.53\n"
    broken = NetworkService(plan('[[network.interface]]\nname = "eth5"\n'), netns=box, resolv_conf=tmp_path / "r2")
    with pytest.raises(NetworkError):
        asyncio.run(broken.start(None))
    assert not broken.health().ok and "eth5" in broken.health().detail


def test_the_daemon_registers_the_network_service():
    from firmware.appliance.services import load_box_services

    registry = load_box_services()
    assert "network" in registry

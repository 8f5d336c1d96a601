"""[network]: interfaces, static addresses, VLANs (voice, management) and routes.

Validated here; applied with pyroute2 by firmware/network/interfaces.py (the `network` service) at boot
and on every commit that changes it.  Addresses are static: the box runs no DHCP client."""

from __future__ import annotations

from ..registry import register_section
from ..schema import (OPTIONAL, Checker, Enum, Field, Int, IpAddress, IpInterface, IpNetwork, ListOf,
                      Record, Section, Str, Table, TableList)

IFNAME = Str(r"[A-Za-z0-9_.-]{1,15}", "an interface name of 1..15 letters, digits, _ . -")

INTERFACE = Table({
    "name": Field(IFNAME),
    "addresses": Field(ListOf(IpInterface(), unique=True), ()),
    "mtu": Field(Int(576, 9216), 1500),
})

VLAN = Table({
    "id": Field(Int(1, 4094)),
    "parent": Field(IFNAME),
    "role": Field(Enum("voice", "management")),
    "name": Field(IFNAME, OPTIONAL),
    "addresses": Field(ListOf(IpInterface(), unique=True), ()),
    # 802.1p priority (PCP) of the box's SIP and RTP/RTCP on a voice VLAN (unset: 5, as voice
    # VLANs carry voice); a management VLAN tags with 0 unless it is given.
    "priority": Field(Int(0, 7), OPTIONAL),
})

VOICE_PRIORITY = 5


def vlan_priority(vlan: Record) -> int | None:
    """The 802.1p priority the box's voice sockets are sent with on this VLAN, or None."""
    if vlan.priority is not None:
        return vlan.priority
    return VOICE_PRIORITY if vlan.role == "voice" else None


def voice_priority(network: Record) -> int | None:
    """The voice VLAN's 802.1p priority, None when the box has no voice VLAN."""
    for vlan in network.vlan:
        if vlan.role == "voice":
            return vlan_priority(vlan)
    return None

ROUTE = Table({
    "destination": Field(IpNetwork()),
    "gateway": Field(IpAddress()),
    "interface": Field(IFNAME, OPTIONAL),
    "metric": Field(Int(0, 65535), 0),
})


def vlan_device_name(vlan: Record) -> str:
    return vlan.name or f"{vlan.parent}.{vlan.id}"


def _check_network(network: Record, path: tuple, checker: Checker) -> None:
    interfaces = {i.name for i in network.interface}
    devices = set(interfaces)
    seen_vlans: dict[tuple[str, int], int] = {}
    seen_roles: dict[str, int] = {}
    for index, vlan in enumerate(network.vlan):
        where = path + ("vlan", index)
        if vlan.parent not in interfaces:
            checker.report(where + ("parent",), f'no [[network.interface]] named "{vlan.parent}" '
                                                f'(interfaces: {", ".join(sorted(interfaces)) or "none"})')
        if (vlan.parent, vlan.id) in seen_vlans:
            checker.report(where + ("id",), f"VLAN {vlan.id} on {vlan.parent} is already network.vlan[{seen_vlans[vlan.parent, vlan.id]}]")
        seen_vlans.setdefault((vlan.parent, vlan.id), index)
        if vlan.role in seen_roles:
            checker.report(where + ("role",), f'a {vlan.role} VLAN is already network.vlan[{seen_roles[vlan.role]}]')
        seen_roles.setdefault(vlan.role, index)
        name = vlan_device_name(vlan)
        if name in devices:
            checker.report(where + ("name",), f'device name "{name}" is already used')
        devices.add(name)
    owners: dict = {}
    for kind, tables in (("interface", network.interface), ("vlan", network.vlan)):
        for index, table in enumerate(tables):
            for n, address in enumerate(table.addresses):
                if address.ip in owners:
                    checker.report(path + (kind, index, "addresses", n),
                                   f"address {address.ip} is already given to network.{owners[address.ip]}")
                owners.setdefault(address.ip, f"{kind}[{index}]")
    for index, route in enumerate(network.route):
        where = path + ("route", index)
        if route.interface is not None and route.interface not in devices:
            checker.report(where + ("interface",), f'no interface or VLAN named "{route.interface}"')
        if route.destination != "default" and route.destination.version != route.gateway.version:
            checker.report(where + ("gateway",), f"gateway {route.gateway} is IPv{route.gateway.version} "
                                                 f"but destination {route.destination} is IPv{route.destination.version}")


NETWORK = register_section(Section("network", Table({
    "interface": Field(TableList(INTERFACE, unique=("name",), noun="interface"), ()),
    "vlan": Field(TableList(VLAN), ()),
    "route": Field(TableList(ROUTE), ()),
    "dns": Field(ListOf(IpAddress(), max_len=3), ()),
}, checks=[_check_network]), doc="network interfaces, VLANs and routes"))

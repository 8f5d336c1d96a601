"""The box's network: interfaces, addresses, VLANs and static routes, applied with pyroute2.

The configuration describes what the box should look like (a `NetworkPlan`); `NetworkApplier`
compares it with what the kernel has and makes only the changes needed, so applying the same
plan twice changes nothing and applying a rolled-back configuration undoes a bad one.  What
pribox owns is marked so it never touches what it did not create: routes carry their own
routing-protocol id, and addresses are managed only on the interfaces the plan names.

Every operation can run inside a named network namespace, which is how the tests run it: they
create a namespace with veth pairs and never touch the host's interfaces.
"""

from __future__ import annotations

import errno
import ipaddress
from dataclasses import dataclass, field

# Routing protocol id stamped on every route pribox installs (see /etc/iproute2/rt_protos;
# 112 is unassigned), so re-applying a plan removes only routes pribox put there.
RTPROT_PRIBOX = 112

ROLES = ("voice", "management")
_MAIN_TABLE = 254
_AF_INET, _AF_INET6 = 2, 10


class NetworkError(Exception):
    """A plan that cannot be built or applied; the message names the key or interface."""


@dataclass(frozen=True)
class InterfacePlan:
    name: str
    addresses: tuple[str, ...] = ()
    mtu: int | None = None
    up: bool = True
    role: str | None = None


@dataclass(frozen=True)
class VlanPlan:
    name: str
    parent: str
    vlan_id: int
    addresses: tuple[str, ...] = ()
    mtu: int | None = None
    role: str | None = None
    # 802.1p priority: the box's voice sockets carry this socket priority (SO_PRIORITY), and the
    # VLAN's egress map turns it into the tag's PCP; None leaves the kernel's map empty.
    priority: int | None = None


@dataclass(frozen=True)
class RoutePlan:
    destination: str  # "default" or a CIDR prefix
    gateway: str | None = None
    interface: str | None = None
    metric: int | None = None

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        if self.destination == "default":
            gateway_version = ipaddress.ip_address(self.gateway).version if self.gateway else 4
            return ipaddress.ip_network("0.0.0.0/0" if gateway_version == 4 else "::/0")
        return ipaddress.ip_network(self.destination, strict=True)


@dataclass(frozen=True)
class NetworkPlan:
    interfaces: tuple[InterfacePlan, ...] = ()
    vlans: tuple[VlanPlan, ...] = ()
    routes: tuple[RoutePlan, ...] = ()

    def managed_links(self) -> list[InterfacePlan | VlanPlan]:
        return [*self.interfaces, *self.vlans]


@dataclass(frozen=True)
class Change:
    """One change the applier makes (or would make), in words an engineer reads."""

    action: str
    target: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.action} {self.target}" + (f" {self.detail}" if self.detail else "")


# ----------------------------------------------------------------------------------------
# Building a plan from the validated [network] section (firmware/config/sections/network.py
# checks every key, type and cross reference; the plan only translates it)


def plan_from_config(network) -> NetworkPlan:
    """The plan for a validated `config.network` record."""
    from firmware.config.sections.network import vlan_device_name, vlan_priority

    interfaces = tuple(
        InterfacePlan(name=i.name, addresses=tuple(str(a) for a in i.addresses), mtu=i.mtu)
        for i in network.interface)
    roles = {}
    vlans = []
    for v in network.vlan:
        name = vlan_device_name(v)
        roles[name] = v.role
        vlans.append(VlanPlan(name=name, parent=v.parent, vlan_id=v.id,
                              addresses=tuple(str(a) for a in v.addresses), role=v.role,
                              priority=vlan_priority(v)))
    routes = tuple(
        RoutePlan(destination="default" if r.destination == "default" else str(r.destination),
                  gateway=str(r.gateway), interface=r.interface, metric=r.metric or None)
        for r in network.route)
    return NetworkPlan(interfaces, tuple(vlans), routes)


# ----------------------------------------------------------------------------------------
# What the kernel has


@dataclass
class LinkState:
    index: int
    name: str
    kind: str | None
    admin_up: bool
    oper_state: str
    mtu: int
    mac: str | None
    parent: str | None = None
    vlan_id: int | None = None
    addresses: list[str] = field(default_factory=list)
    egress_qos: dict[int, int] = field(default_factory=dict)   # a VLAN's socket priority -> PCP


@dataclass
class RouteState:
    destination: str
    gateway: str | None
    interface: str | None
    metric: int | None
    protocol: int


_IFF_UP = 0x1


def _egress_qos(link) -> dict[int, int]:
    """A VLAN's egress map (socket priority -> 802.1p PCP) as the kernel reports it."""
    qos = link.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "IFLA_VLAN_EGRESS_QOS")
    if qos is None:
        return {}
    return {int(mapping["from"]): int(mapping["to"]) for mapping in qos.get_attrs("IFLA_VLAN_QOS_MAPPING")}


def _wanted_egress(vlan: "VlanPlan") -> dict[int, int]:
    return {} if vlan.priority is None else {vlan.priority: vlan.priority}


class NetworkApplier:
    """Reconciles the kernel's network with a plan, optionally inside a network namespace.

    Asynchronous (pyroute2's AsyncIPRoute) so the daemon applies a commit without stalling the
    loop that paces the spans; `asyncio.run(applier.apply(plan))` outside a loop."""

    def __init__(self, netns: str | None = None):
        self.netns = netns

    def _open(self):
        # pyroute2 is imported here so the rest of the box (and `config check`) never needs it.
        from pyroute2 import AsyncIPRoute

        return AsyncIPRoute(netns=self.netns) if self.netns else AsyncIPRoute()

    # ---- reading

    async def links(self) -> list[LinkState]:
        async with self._open() as ip:
            return await self._links(ip)

    @staticmethod
    async def _links(ip) -> list[LinkState]:
        raw = [link async for link in await ip.get_links()]
        names = {link["index"]: link.get("IFLA_IFNAME") for link in raw}
        states = {}
        for link in raw:
            parent = link.get("IFLA_LINK")
            states[link["index"]] = LinkState(
                index=link["index"],
                name=link.get("IFLA_IFNAME"),
                kind=link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND"),
                admin_up=bool(link["flags"] & _IFF_UP),
                oper_state=link.get("IFLA_OPERSTATE") or "UNKNOWN",
                mtu=link.get("IFLA_MTU"),
                mac=link.get("IFLA_ADDRESS"),
                parent=names.get(parent) if parent and parent != link["index"] else None,
                vlan_id=link.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "IFLA_VLAN_ID"),
                egress_qos=_egress_qos(link),
            )
        async for addr in await ip.get_addr():
            state = states.get(addr["index"])
            address = addr.get("IFA_ADDRESS")
            if state is not None and address:
                state.addresses.append(f"{address}/{addr['prefixlen']}")
        return sorted(states.values(), key=lambda s: s.index)

    async def routes(self) -> list[RouteState]:
        async with self._open() as ip:
            return await self._routes(ip, await self._links(ip))

    @staticmethod
    async def _routes(ip, links: list[LinkState]) -> list[RouteState]:
        names = {link.index: link.name for link in links}
        result = []
        for family in (_AF_INET, _AF_INET6):
            async for route in await ip.get_routes(family=family, table=_MAIN_TABLE):
                if route["type"] != 1:  # unicast only; local/broadcast are the kernel's
                    continue
                dst = route.get("RTA_DST")
                prefix = f"{dst}/{route['dst_len']}" if dst else ("0.0.0.0/0" if family == _AF_INET else "::/0")
                result.append(RouteState(
                    destination=prefix,
                    gateway=route.get("RTA_GATEWAY"),
                    interface=names.get(route.get("RTA_OIF")),
                    metric=route.get("RTA_PRIORITY"),
                    protocol=route["proto"],
                ))
        return result

    # ---- reconciling

    async def diff(self, plan: NetworkPlan) -> list[Change]:
        """What apply() would change, without changing anything."""
        return await self._reconcile(plan, dry_run=True)

    async def apply(self, plan: NetworkPlan) -> list[Change]:
        """Make the kernel match the plan; returns what changed.  Safe to repeat."""
        return await self._reconcile(plan, dry_run=False)

    async def _reconcile(self, plan: NetworkPlan, dry_run: bool) -> list[Change]:
        from pyroute2.netlink.exceptions import NetlinkError

        changes: list[Change] = []
        async with self._open() as ip:
            try:
                await self._reconcile_links(ip, plan, dry_run, changes)
                await self._reconcile_routes(ip, plan, dry_run, changes)
            except NetlinkError as exc:
                step = changes[-1] if changes else Change("read", "network state")
                reason = exc.args[1] if len(exc.args) > 1 else str(exc)
                hint = ""
                if exc.code == errno.EOPNOTSUPP and step.action == "create":
                    hint = " (this kernel lacks support for that link type, e.g. 802.1Q VLANs)"
                raise NetworkError(f"could not {step}: {reason}{hint}") from None
        return changes

    async def _reconcile_links(self, ip, plan: NetworkPlan, dry_run: bool, changes: list[Change]) -> None:
        links = {link.name: link for link in await self._links(ip)}
        for iface in plan.interfaces:
            if iface.name not in links:
                raise NetworkError(f"network.interface {iface.name!r}: no such interface on this box "
                                   f"(present: {', '.join(sorted(links))})")
        for vlan in plan.vlans:
            existing = links.get(vlan.name)
            wanted_egress = _wanted_egress(vlan)
            if existing is not None and (existing.kind != "vlan" or existing.vlan_id != vlan.vlan_id
                                         or existing.parent != vlan.parent
                                         or any(existing.egress_qos.get(k) != v for k, v in wanted_egress.items())):
                changes.append(Change("delete", vlan.name, "(not the VLAN the plan wants)"))
                if not dry_run:
                    await ip.link("del", index=existing.index)
                existing = None
            if existing is None:
                if vlan.parent not in links:
                    raise NetworkError(f"network.vlan {vlan.name!r}: parent interface {vlan.parent!r} does not exist")
                changes.append(Change("create", vlan.name, f"VLAN {vlan.vlan_id} on {vlan.parent}"))
                if not dry_run:
                    extra = {} if vlan.priority is None else \
                        {"vlan_egress_qos": {"from": vlan.priority, "to": vlan.priority}}
                    await ip.link("add", ifname=vlan.name, kind="vlan", link=links[vlan.parent].index,
                                  vlan_id=vlan.vlan_id, **extra)
        if not dry_run:
            links = {link.name: link for link in await self._links(ip)}
        for want in plan.managed_links():
            have = links.get(want.name)
            index = have.index if have else None
            if want.mtu is not None and (have is None or have.mtu != want.mtu):
                changes.append(Change("set", want.name, f"mtu {want.mtu}"))
                if not dry_run:
                    await ip.link("set", index=index, mtu=want.mtu)
            have_addresses = set(have.addresses) if have else set()
            wanted = set(want.addresses)
            for address in sorted(have_addresses - wanted):
                if ipaddress.ip_interface(address).ip.is_link_local:
                    continue  # the kernel's own IPv6 link-local address
                changes.append(Change("remove", want.name, f"address {address}"))
                if not dry_run:
                    addr = ipaddress.ip_interface(address)
                    await ip.addr("del", index=index, address=str(addr.ip), prefixlen=addr.network.prefixlen)
            for address in sorted(wanted - have_addresses):
                changes.append(Change("add", want.name, f"address {address}"))
                if not dry_run:
                    addr = ipaddress.ip_interface(address)
                    await ip.addr("add", index=index, address=str(addr.ip), prefixlen=addr.network.prefixlen)
            up = getattr(want, "up", True)
            if have is None or have.admin_up != up:
                changes.append(Change("set", want.name, "up" if up else "down"))
                if not dry_run:
                    await ip.link("set", index=index, state="up" if up else "down")

    async def _reconcile_routes(self, ip, plan: NetworkPlan, dry_run: bool, changes: list[Change]) -> None:
        links = {link.name: link for link in await self._links(ip)}
        present = [r for r in await self._routes(ip, list(links.values())) if r.protocol == RTPROT_PRIBOX]

        def matches(want: RoutePlan, have: RouteState) -> bool:
            # A plan that leaves interface or metric open accepts what the kernel chose.
            return (str(want.network) == str(ipaddress.ip_network(have.destination))
                    and want.gateway == have.gateway
                    and want.interface in (None, have.interface)
                    and want.metric in (None, have.metric))

        for route in present:
            if not any(matches(want, route) for want in plan.routes):
                changes.append(Change("remove", "route", f"{route.destination} via {route.gateway or route.interface}"))
                if not dry_run:
                    await self._route(ip, "del", route.destination, route.gateway, route.interface, route.metric, links)
        for want in plan.routes:
            if any(matches(want, route) for route in present):
                continue
            if want.interface and want.interface not in links:
                raise NetworkError(f"network.route {want.destination}: interface {want.interface!r} does not exist")
            changes.append(Change("add", "route", f"{want.network} via {want.gateway or want.interface}"))
            if not dry_run:
                await self._route(ip, "add", str(want.network), want.gateway, want.interface, want.metric, links)

    @staticmethod
    async def _route(ip, command: str, destination: str, gateway, interface, metric, links) -> None:
        kwargs = {"dst": destination, "proto": RTPROT_PRIBOX, "table": _MAIN_TABLE}
        if gateway:
            kwargs["gateway"] = gateway
        if interface:
            kwargs["oif"] = links[interface].index
        if metric is not None:
            kwargs["priority"] = metric
        await ip.route(command, **kwargs)


def format_interfaces(links: list[LinkState], plan: NetworkPlan | None = None) -> str:
    """`show interfaces`: one block per link, the way a field engineer scans them."""
    roles = {link.name: link.role for link in plan.managed_links()} if plan else {}
    lines = []
    for link in links:
        admin = "up" if link.admin_up else "administratively down"
        lines.append(f"{link.name} is {admin}, line protocol is {link.oper_state.lower()}")
        hardware = f"  Hardware is {link.kind or 'ethernet' if link.mac else link.kind or 'loopback'}"
        if link.mac:
            hardware += f", address is {link.mac}"
        lines.append(hardware)
        if link.vlan_id is not None:
            lines.append(f"  802.1Q VLAN {link.vlan_id} on {link.parent}")
        if roles.get(link.name):
            lines.append(f"  Role: {roles[link.name]}")
        lines.append(f"  MTU {link.mtu} bytes")
        for address in link.addresses:
            lines.append(f"  Internet address is {address}")
    return "\n".join(lines)

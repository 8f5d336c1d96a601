"""`show interfaces` at the console: the kernel's links as the network service reads them
(pyroute2), with the role each has in the committed `[network]` plan."""

from __future__ import annotations

from firmware.console.commands import registry
from firmware.console.session import Background, CommandContext
from .interfaces import NetworkApplier, NetworkError, format_interfaces


def show_interfaces(ctx: CommandContext, args: dict) -> Background:
    # Under the daemon the network service is a running peer (its plan is the committed one);
    # the console alone reads the host's links with no plan.
    service = getattr(ctx.services, "network", None)
    applier = getattr(service, "applier", None) or NetworkApplier()
    plan = getattr(service, "plan", None)

    async def run(progress) -> str:
        try:
            links = await applier.links()
        except (NetworkError, OSError) as exc:
            return f"% Cannot read the interfaces: {exc}"
        return format_interfaces(links, plan) or "% No interfaces"
    return Background(run, "show interfaces")


registry.add("show interfaces", show_interfaces, help="Network interfaces: state, addresses, MTU, role")

"""The box's network as a daemon service: the `[network]` section applied with pyroute2 when
the box starts and whenever a commit changes it (the daemon restarts services whose sections
changed), and the DNS servers written where /etc/resolv.conf points on the read-only image."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from .interfaces import NetworkApplier, NetworkError, NetworkPlan, plan_from_config
from firmware.appliance.services import BOX_SERVICES, Health, Service, ServiceContext, StopReason

log = logging.getLogger("pribox.network")

# The image links /etc/resolv.conf here, so DNS can change on a read-only root.
RESOLV_CONF = Path(os.environ.get("PRIBOX_RESOLV_CONF", "/run/pribox/resolv.conf"))


class NetworkService(Service):
    name = "network"

    def __init__(self, plan: NetworkPlan, dns: tuple[str, ...] = (), *, netns: str | None = None,
                 resolv_conf: Path = RESOLV_CONF):
        self.plan = plan
        self.dns = tuple(dns)
        self.applier = NetworkApplier(netns=netns)
        self.resolv_conf = resolv_conf
        self.changes: list[str] = []
        self.error: str | None = None

    async def start(self, ctx: ServiceContext) -> None:
        try:
            changes = await self.applier.apply(self.plan)
        except NetworkError as exc:
            self.error = str(exc)
            raise
        self.error = None
        self.changes = [str(c) for c in changes]
        for change in self.changes:
            log.info("network: %s", change)
        if self.dns:
            self._write_resolv_conf()

    def _write_resolv_conf(self) -> None:
        self.resolv_conf.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.resolv_conf.with_name(self.resolv_conf.name + ".tmp")
        tmp.write_text("".join(f"nameserver {server}\n" for server in self.dns))
        os.replace(tmp, self.resolv_conf)

    async def run(self) -> None:
        await asyncio.Event().wait()  # nothing to do between commits: a commit restarts the service

    async def stop(self, reason: StopReason) -> None:
        # The network stays as it is: taking addresses away on a restart would cut the
        # engineer's session for nothing.
        return None

    def health(self) -> Health:
        if self.error:
            return Health(False, self.error)
        return Health(True, f"{len(self.plan.managed_links())} links, {len(self.plan.routes)} routes managed")

    async def links(self):
        return await self.applier.links()


def _factory(config):
    network = config.network
    return NetworkService(plan_from_config(network), tuple(str(s) for s in network.dns))


BOX_SERVICES.add("network", _factory, sections=("network",))

"""`show interfaces` at the console, read from a network namespace the test owns."""

import asyncio

from firmware.config import load_text
from firmware.network.interfaces import plan_from_config
from firmware.network.service import NetworkService
from tests.appliance.test_console import box_on_pty
from tests.appliance.test_network import BASE, namespaces  # noqa: F401  (the fixture)


def test_show_interfaces_lists_the_links_the_network_service_set_up(namespaces, tmp_path):  # noqa: F811
    box_ns, _ = namespaces
    config = load_text(BASE, "box.toml")
    service = NetworkService(plan_from_config(config.network), ("192.0.2.53",), netns=box_ns,
                             resolv_conf=tmp_path / "resolv.conf")

    async def main():
        await service.start(None)
        async with box_on_pty(tmp_path) as box:
            box.services.network = service  # the daemon's running peer, found by name
            await box.login("oper", "operator pw")  # read-only: operators may look
            out = await box.run("show interfaces")
            assert "eth0 is up, line protocol is" in out
            assert "  Internet address is 192.0.2.10/24" in out
            assert "eth1 is up" in out and "  MTU 1400 bytes" in out
            assert "  Internet address is 2001:db8::10/64" in out
            assert "lo is " in out
            out = await box.run("sh int")  # abbreviated as on IOS
            assert "Internet address is 198.51.100.10/24" in out
    asyncio.run(main())

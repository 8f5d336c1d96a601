"""`upgrade ...` at the serial console: a signed bundle YMODEM-uploaded with lrzsz's `sb`,
installed through a real RAUC service on emulated A/B slots, with progress on the console."""

import asyncio
import random
import re

import pytest

from firmware.update.agent import HealthResult, UpdateAgent
from hil_tests.update_device import EmulatedUpdateDevice
from images.bundle import build_bundle
from images.keys import make_keys
from tests.appliance.test_console import box_on_pty, send_file

SLOT_SIZE = 4 * 1024 * 1024
FACTORY = b"factory firmware 1.0 " * 1000


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def new_image(tmp_path_factory):
    path = tmp_path_factory.mktemp("image") / "rootfs.img"
    path.write_bytes(random.Random(11).randbytes(256 * 1024))
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, keys, new_image):
    return build_bundle(new_image, tmp_path_factory.mktemp("bundle") / "pribox-2.0.raucb", keys, version="2.0")


@pytest.fixture
def device(tmp_path, keys):
    dev = EmulatedUpdateDevice(tmp_path / "box", keys.keyring, slot_size=SLOT_SIZE, factory_image=FACTORY)
    assert dev.power_on() == "A"
    yield dev
    dev.power_off()


def agent_for(device, healthy=True):
    async def services():
        return HealthResult("services", healthy, "all 4 running" if healthy else "spans failed")
    return UpdateAgent(device.client(), compatible=device.compatible, health_checks=[services])


async def upload(box, path):
    await box.run("upload ymodem", until="Ctrl-X Ctrl-X cancels")
    status, stderr = await send_file(box, ["sb", "-q", str(path)])
    assert status == 0, stderr
    out = await box.term.expect("pribox#")
    assert f"Received {path.name}" in out


def test_uploaded_bundle_installs_with_progress_and_the_slot_is_confirmed_after_reboot(tmp_path, device, bundle,
                                                                                       new_image):
    async def main():
        async with box_on_pty(tmp_path) as box:
            box.services.update_agent = agent_for(device)
            await box.login()
            await upload(box, bundle)
            out = await box.run("upgrade check pribox-2.0.raucb")
            assert "version 2.0 for pribox-e1-gateway, signed by O = pribox, CN = pribox firmware signing" in out
            out = await box.run("upgrade install pribox-2.0.raucb", until=r"installed\..*\r\npribox#")
            assert "Checking pribox-2.0.raucb..." in out
            percents = [int(p) for p in re.findall(r"\r\n *(\d+)% ", out)]
            assert percents[0] < 100 and percents[-1] == 100 and percents == sorted(percents)
            assert "rootfs.1" in out
            assert "Version 2.0 installed. It runs after 'reload'" in out
            image = new_image.read_bytes()
            assert device.slot_bytes("B", len(image)) == image

            out = await box.run("upgrade status")
            assert "Booted slot A, next boot B" in out
            await asyncio.to_thread(device.reboot)
            out = await box.run("upgrade confirm")
            assert "ok   services: all 4 running" in out and "This slot is confirmed good." in out
            out = await box.run("upgrade status")
            assert "Booted slot B, next boot B" in out
    asyncio.run(main())


def test_tampered_bundle_is_refused_with_its_reason_and_nothing_is_written(tmp_path, device, bundle):
    tampered = tmp_path / "pribox-2.0-bad.raucb"
    data = bytearray(bundle.read_bytes())
    data[len(data) // 3] ^= 0x01
    tampered.write_bytes(data)

    async def main():
        async with box_on_pty(tmp_path) as box:
            box.services.update_agent = agent_for(device)
            await box.login()
            await upload(box, tampered)
            before = device.slot_bytes("B", 4096)
            out = await box.run("upgrade install pribox-2.0-bad.raucb")
            assert "refused: its signature does not match its contents" in out
            assert "installed" not in out
            assert device.slot_bytes("B", 4096) == before
            out = await box.run("upgrade status")
            assert "Booted slot A, next boot A" in out
    asyncio.run(main())


def test_only_files_in_the_upload_folder_and_a_failed_health_check_keeps_the_slot_unconfirmed(tmp_path, device):
    (tmp_path / "secret.raucb").write_bytes(b"not yours")

    async def main():
        async with box_on_pty(tmp_path) as box:
            box.services.update_agent = agent_for(device, healthy=False)
            await box.login()
            out = await box.run("upgrade install ../secret.raucb")
            assert "'../secret.raucb' is not a file name" in out
            out = await box.run("upgrade check /etc/passwd")
            assert "is not a file name: upgrade takes a file uploaded with 'upload ymodem'" in out
            out = await box.run("upgrade install nothing.raucb")
            assert "no file 'nothing.raucb' in" in out
            out = await box.run("upgrade confirm")
            assert "FAIL services: spans failed" in out and "% Not confirmed" in out
    asyncio.run(main())


@pytest.fixture
def web(tmp_path):
    """A plain HTTP server on loopback serving tmp_path/www, as a site's file server would."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_bundle_fetched_from_an_address_installs_from_the_console(tmp_path, device, bundle, new_image, web):
    root, base = web
    (root / "pribox-2.0.raucb").write_bytes(bundle.read_bytes())

    async def main():
        async with box_on_pty(tmp_path) as box:
            box.services.update_agent = agent_for(device)
            await box.login()
            out = await box.run(f"upgrade install {base}/pribox-2.0.raucb", until=r"installed\..*\r\npribox#")
            assert f"Fetching {base}/pribox-2.0.raucb..." in out and "Checking pribox-2.0.raucb..." in out
            assert "Version 2.0 installed." in out
            assert (box.services.upload_dir / "pribox-2.0.raucb").read_bytes() == bundle.read_bytes()
            out = await box.run(f"upgrade check {base}/missing.raucb")
            assert "downloading" in out and "HTTP 404" in out
    asyncio.run(main())
    image = new_image.read_bytes()
    assert device.slot_bytes("B", len(image)) == image


def test_fetching_is_whole_or_nothing_and_only_over_http(tmp_path, bundle, web):
    from firmware.update.agent import UpdateFailed, UpdateRefused, fetch_bundle

    root, base = web
    (root / "b.raucb").write_bytes(bundle.read_bytes())
    seen = []
    path = asyncio.run(fetch_bundle(f"{base}/b.raucb", tmp_path / "dl", lambda pct, msg: seen.append(pct)))
    assert path.read_bytes() == bundle.read_bytes() and seen[-1] == 100
    with pytest.raises(UpdateRefused, match="only http:// and https:// addresses"):
        asyncio.run(fetch_bundle("ftp://127.0.0.1/b.raucb", tmp_path / "dl"))
    with pytest.raises(UpdateFailed, match=r"downloading http://127.0.0.1:1/x.raucb failed"):
        asyncio.run(fetch_bundle("http://127.0.0.1:1/x.raucb", tmp_path / "dl"))
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["b.raucb"]  # no partial file left behind


def test_pribox_upgrade_check_fetches_an_address(tmp_path, keys, bundle, web, capsys):
    from firmware.cli import main as pribox

    root, base = web
    (root / "v2.raucb").write_bytes(bundle.read_bytes())
    assert pribox(["upgrade", "check", f"{base}/v2.raucb", "--keyring", str(keys.keyring),
                   "--download-dir", str(tmp_path / "dl")]) == 0
    out = capsys.readouterr().out
    assert f"fetched {tmp_path / 'dl' / 'v2.raucb'}" in out and "version 2.0 for pribox-e1-gateway" in out

"""Signed A/B firmware updates through a real RAUC service on emulated slots."""

import asyncio
import random
import threading
import time

import pytest

from firmware.update.agent import HealthResult, UpdateAgent, UpdateFailed, UpdateRefused
from hil_tests.update_device import EmulatedUpdateDevice
from images.bootloader import BootSelector
from images.bundle import COMPATIBLE, build_bundle
from images.keys import make_keys

SLOT_SIZE = 8 * 1024 * 1024
FACTORY = b"factory firmware 1.0 " * 1000


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def new_image(tmp_path_factory):
    path = tmp_path_factory.mktemp("image") / "rootfs.img"
    path.write_bytes(random.Random(7).randbytes(4 * 1024 * 1024))
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, keys, new_image):
    return build_bundle(new_image, tmp_path_factory.mktemp("bundle") / "v2.raucb", keys, version="2.0")


@pytest.fixture
def device(tmp_path, keys):
    dev = EmulatedUpdateDevice(tmp_path / "box", keys.keyring, slot_size=SLOT_SIZE, factory_image=FACTORY)
    assert dev.power_on() == "A"
    yield dev
    dev.power_off()


def passing():
    async def spans_configured():
        return HealthResult("spans configured", True, "2 spans")
    return [spans_configured]


def failing():
    async def dchannel_up():
        return HealthResult("D-channel up", False, "span 1: D-channel down")
    return [dchannel_up]


def agent(device, checks):
    return UpdateAgent(device.client(), compatible=device.compatible, health_checks=checks)


def test_upgrade_installs_into_b_boots_it_and_confirms_after_health_check(device, bundle, new_image):
    steps = []
    info = run(agent(device, passing()).upgrade(bundle, lambda pct, msg: steps.append((pct, msg))))
    assert (info.version, info.compatible) == ("2.0", COMPATIBLE)
    assert info.signer == "O = pribox, CN = pribox firmware signing"
    assert steps[-1][0] == 100 and any("rootfs.1" in msg for _, msg in steps)
    image = new_image.read_bytes()
    assert device.slot_bytes("B", len(image)) == image
    assert device.slot_bytes("A", len(FACTORY)) == FACTORY  # the running slot is never written

    assert device.reboot() == "B"
    results = run(agent(device, passing()).confirm_boot())
    assert [r.ok for r in results] == [True]
    state = BootSelector(device.boot_state).describe()
    assert state["slots"]["B"]["confirmed"] and state["order"][0] == "B"
    # Confirmed: it keeps booting B however often the box restarts.
    for _ in range(5):
        assert device.reboot() == "B"
    status = run(device.client().status())
    assert status["booted"] == "B"


def test_failed_health_check_lets_the_tries_run_out_and_the_old_slot_boots_again(device, bundle):
    run(agent(device, failing()).upgrade(bundle))
    boots = []
    for _ in range(4):
        boots.append(device.reboot())
        results = run(agent(device, failing()).confirm_boot())
        if boots[-1] == "B":
            assert results[0].detail == "span 1: D-channel down"
    assert boots == ["B", "B", "B", "A"]
    assert device.slot_bytes("A", len(FACTORY)) == FACTORY
    assert run(device.client().status())["booted"] == "A"


@pytest.mark.parametrize("kind, reason", [
    ("tampered", "its signature does not match its contents"),
    ("foreign key", "it is signed by a key this box does not trust"),
    ("wrong compatible", "it is built for 'another-box', this box is 'pribox-e1-gateway'"),
    ("unsigned", "it is not a signed firmware bundle"),
    ("missing", "the file does not exist"),
])
def test_bad_bundles_are_refused_with_a_reason_and_nothing_changes(device, keys, bundle, new_image, tmp_path,
                                                                   kind, reason):
    if kind == "tampered":
        data = bytearray(bundle.read_bytes())
        data[len(data) // 3] ^= 0x01
        target = tmp_path / "tampered.raucb"
        target.write_bytes(data)
    elif kind == "foreign key":
        target = build_bundle(new_image, tmp_path / "foreign.raucb", make_keys(tmp_path / "evil", organisation="evil"),
                              version="2.0")
    elif kind == "wrong compatible":
        target = build_bundle(new_image, tmp_path / "other.raucb", keys, version="2.0", compatible="another-box")
    elif kind == "unsigned":
        target = tmp_path / "unsigned.raucb"
        target.write_bytes(new_image.read_bytes())
    else:
        target = tmp_path / "nowhere.raucb"
    before_b = device.slot_bytes("B", 4096)
    before_state = BootSelector(device.boot_state).describe()
    with pytest.raises(UpdateRefused, match="refused: " + reason.replace("(", r"\(").replace(")", r"\)")):
        run(agent(device, passing()).upgrade(target))
    assert device.slot_bytes("B", 4096) == before_b
    assert BootSelector(device.boot_state).describe() == before_state
    assert device.reboot() == "A"


def test_rauc_itself_refuses_a_wrong_compatible_bundle_if_the_agent_is_bypassed(device, keys, new_image, tmp_path):
    other = build_bundle(new_image, tmp_path / "other.raucb", keys, version="2.0", compatible="another-box")
    with pytest.raises(UpdateFailed, match="installing .* failed"):
        run(device.client().install(other))
    assert device.reboot() == "A"


def test_power_cut_at_any_point_of_an_install_leaves_a_good_slot(tmp_path, keys, bundle, new_image):
    image = new_image.read_bytes()
    # Measure a whole install once, then cut the power at points spread across it.
    probe = EmulatedUpdateDevice(tmp_path / "probe", keys.keyring, slot_size=SLOT_SIZE, factory_image=FACTORY)
    probe.power_on()
    started = time.monotonic()
    run(probe.client().install(bundle))
    duration = time.monotonic() - started
    probe.power_off()

    outcomes = set()
    for i, fraction in enumerate((0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95)):
        dev = EmulatedUpdateDevice(tmp_path / f"cut{i}", keys.keyring, slot_size=SLOT_SIZE, factory_image=FACTORY)
        dev.power_on()
        cutter = threading.Timer(duration * fraction, dev.power_off)
        cutter.start()
        try:
            run(dev.client().install(bundle))
        except UpdateFailed:
            pass
        cutter.join()
        dev.power_off()
        booted = dev.power_on()
        # Whatever slot boots holds a whole image: the factory one, or the complete new one.
        if booted == "A":
            assert dev.slot_bytes("A", len(FACTORY)) == FACTORY
        else:
            assert dev.slot_bytes("B", len(image)) == image
        outcomes.add(booted)
        dev.power_off()
    assert "A" in outcomes  # at least the early cuts kept the old slot


def test_boot_selector_refuses_nonsense(tmp_path):
    from images.bootloader import BootError, main
    selector = BootSelector(tmp_path / "state.json")
    with pytest.raises(BootError, match="unknown boot slot 'C'"):
        selector.set_primary("C")
    with pytest.raises(BootError, match="must be 'good' or 'bad', got 'meh'"):
        selector.set_state("A", "meh")
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(BootError, match="unreadable boot state"):
        selector.get_primary()
    assert main(["--state", str(tmp_path / "other.json"), "set-state", "A"]) == 1
    assert main(["--state", str(tmp_path / "other.json"), "get-primary"]) == 0


def test_cli_check_and_images_tool(tmp_path, keys, bundle, new_image, capsys):
    from firmware.cli import main as pribox
    from images.__main__ import main as images_tool

    assert pribox(["upgrade", "check", str(bundle), "--keyring", str(keys.keyring)]) == 0
    assert "version 2.0 for pribox-e1-gateway, signed by O = pribox, CN = pribox firmware signing" in capsys.readouterr().out
    # A signing key rotated under the same CA is trusted by the same keyring.
    assert images_tool(["rotate", str(keys.keyring.parent), "signing-2027"]) == 0
    out = tmp_path / "rotated.raucb"
    assert images_tool(["bundle", str(new_image), str(out), "--keys", str(keys.keyring.parent),
                        "--signer", "signing-2027", "--version", "2.1"]) == 0
    capsys.readouterr()
    assert pribox(["upgrade", "check", str(out), "--keyring", str(keys.keyring)]) == 0
    assert "version 2.1" in capsys.readouterr().out
    garbage = tmp_path / "garbage.raucb"
    garbage.write_bytes(b"\x00garbage" * 100)
    assert pribox(["upgrade", "check", str(garbage), "--keyring", str(keys.keyring)]) == 1
    assert "refused: it is not a signed firmware bundle" in capsys.readouterr().err
    assert images_tool(["bundle", str(new_image), str(out), "--keys", str(tmp_path / "nokeys"), "--version", "1"]) == 1
    assert "missing (make keys with" in capsys.readouterr().err

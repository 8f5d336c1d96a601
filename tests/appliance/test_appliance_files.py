"""What the image build writes into the root filesystem to make it the appliance (the image
build itself needs root and minutes: `make image`, `make image-test`)."""

import os

import pytest

from firmware.config.loader import load_text
from images.appliance_files import ApplianceFilesError, image_config_text, install
from images.keys import make_keys


def test_image_config_is_the_default_with_the_console_on_ttys1():
    text = image_config_text()
    config = load_text(text, "pribox.toml")
    assert config.console.device == "/dev/ttyS1" and config.console.enabled
    assert [s.id for s in config.span] == [1, 2, 3, 4]


def test_install_writes_units_rauc_and_the_read_only_root_links(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc" / "systemd" / "system").mkdir(parents=True)
    keys = make_keys(tmp_path / "keys")
    install(rootfs, keyring=keys.keyring)
    etc = rootfs / "etc"
    assert load_text((etc / "pribox" / "pribox.toml").read_text()).console.device == "/dev/ttyS1"
    wants = etc / "systemd" / "system" / "multi-user.target.wants"
    assert os.readlink(wants / "pribox.service") == "/etc/systemd/system/pribox.service"
    assert os.readlink(wants / "pribox-confirm.service") == "/etc/systemd/system/pribox-confirm.service"
    unit = (etc / "systemd" / "system" / "pribox.service").read_text()
    assert "Type=notify" in unit and "ExecStart=/opt/pribox/bin/pribox run --state-dir /var/lib/pribox" in unit
    assert "config commit /etc/pribox/pribox.toml" in unit
    confirm = (etc / "systemd" / "system" / "pribox-confirm.service").read_text()
    assert "Type=oneshot" in confirm and "After=pribox.service" in confirm and "upgrade confirm" in confirm
    assert os.readlink(etc / "resolv.conf") == "/run/pribox/resolv.conf"
    assert os.readlink(etc / "systemd" / "system" / "apt-daily.timer") == "/dev/null"
    conf = (etc / "rauc" / "system.conf").read_text()
    assert "device=/dev/vda" in conf and "device=/dev/vdb" in conf and "path=/etc/rauc/keyring.pem" in conf
    assert "bootloader-custom-backend=/usr/lib/pribox/boot-backend" in conf
    assert (etc / "rauc" / "keyring.pem").read_bytes() == keys.keyring.read_bytes()
    backend = rootfs / "usr" / "lib" / "pribox" / "boot-backend"
    assert os.access(backend, os.X_OK) and "--state /var/lib/pribox/boot-state.json" in backend.read_text()


def test_install_without_a_keyring_names_the_missing_file(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc" / "systemd" / "system").mkdir(parents=True)
    with pytest.raises(ApplianceFilesError, match=r"nowhere\.pem: no keyring"):
        install(rootfs, keyring=tmp_path / "nowhere.pem")

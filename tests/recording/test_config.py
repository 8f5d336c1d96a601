"""[recording] in the box's file: defaults, policy, the queues it names, a directory on tmpfs
refused naming the key (at `config check` and at the service's start), and which calls the
policy records."""

from __future__ import annotations

import asyncio

import pytest

from firmware.appliance.services import ServiceContext, load_box_services
from firmware.config.loader import ConfigError, load_text
from pbx_cti.recording.mounts import filesystem_at, filesystem_of, parse_mountinfo
from pbx_cti.recording.policy import RecordingPolicy
from pbx_cti.recording.service import RecordingService, RecordingSetupError, _factory
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.api.test_api_config import CENTER


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(text)
    return [f"{i.path}: {i.message}" for i in caught.value.issues]


def test_recording_is_off_unless_enabled_and_then_the_daemon_runs_its_service():
    config = load_text("")
    assert config.recording.enabled is False and config.recording.policy == "all"
    assert _factory(config) is None
    config = load_text("[recording]\nenabled = true\n")
    assert isinstance(_factory(config), RecordingService)
    assert config.recording.retention_days == 90 and config.recording.directory is None
    assert "recording" in load_box_services()


def test_bad_settings_are_named_by_key():
    found = problems('[recording]\nenabled = true\npolicy = "queue"\n')
    assert any(p.startswith("recording.policy") and 'did you mean "queues"' in p for p in found), found
    found = problems('[recording]\nenabled = true\npolicy = "queues"\n')
    assert any(p.startswith("recording.queues") and "name at least one" in p for p in found), found
    found = problems("[recording]\nmin_free_mb = 900\nwarn_free_mb = 500\n")
    assert any(p.startswith("recording.warn_free_mb") and "at least min_free_mb (900)" in p for p in found), found
    found = problems(CENTER + '[recording]\nenabled = true\npolicy = "queues"\nqueues = ["sales", "support"]\n')
    assert found == ['recording.queues[1]: no [[cti.queue]] named "support" (queues: sales)'], found
    load_text(CENTER + '[recording]\nenabled = true\npolicy = "queues"\nqueues = ["sales"]\n')


def test_a_directory_on_tmpfs_is_refused_at_check_and_at_start(tmp_path):
    assert filesystem_of("/dev/shm") == "tmpfs"
    found = problems('[recording]\nenabled = true\ndirectory = "/dev/shm/recordings"\n')
    assert len(found) == 1 and found[0].startswith("recording.directory") and "tmpfs" in found[0], found
    assert "data partition" in found[0]

    config = load_text("[recording]\nenabled = true\n")
    service = RecordingService(config)
    with pytest.raises(RecordingSetupError, match=r"recording\.directory: /dev/shm/box/recordings is on a tmpfs"):
        asyncio.run(service.start(ServiceContext(config, LoopClock(), EventBus(), "/dev/shm/box")))
    assert filesystem_of(tmp_path) not in (None, "tmpfs", "ramfs"), "the tests' own tmp must be on a disk"


def test_the_mount_table_is_read_with_nested_mounts_and_escaped_names(tmp_path):
    table = (
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
        "25 27 0:23 / /var/lib/pribox rw - ext4 /dev/vdb1 rw\n"
        "31 25 0:28 / /var/lib/pribox/run rw - tmpfs tmpfs rw\n"
        "32 27 0:29 / /media/usb\\040disk rw - vfat /dev/sda1 rw\n"
    )
    mounts = parse_mountinfo(table)
    assert mounts[-1] == ("/media/usb disk", "vfat")
    assert filesystem_at("/var/lib/pribox/recordings", mounts) == "ext4"
    assert filesystem_at("/var/lib/pribox/run/recordings", mounts) == "tmpfs"
    assert filesystem_at("/var/lib/pribox/run", mounts) == "tmpfs"
    assert filesystem_at("/var/lib/priboxes", mounts) == "ext4"
    assert filesystem_at("/media/usb disk/calls", mounts) == "vfat"
    assert filesystem_of(tmp_path, str(tmp_path / "no-such-table")) is None


@pytest.mark.parametrize("policy, queues, queue, on_demand, expected", [
    ("all", (), "sales", False, "all"),
    ("all", (), None, True, "all"),
    ("queues", ("sales",), "sales", False, "queue"),
    ("queues", ("sales",), "support", False, None),
    ("queues", ("sales",), "support", True, "on-demand"),
    ("on-demand", (), "sales", False, None),
    ("on-demand", (), "sales", True, "on-demand"),
])
def test_the_policy_says_which_calls_are_recorded_and_why(policy, queues, queue, on_demand, expected):
    assert RecordingPolicy(True, policy, frozenset(queues)).should_record(queue, on_demand) == expected
    assert RecordingPolicy(False, policy, frozenset(queues)).should_record(queue, on_demand) is None

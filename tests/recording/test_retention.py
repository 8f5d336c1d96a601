"""Retention: recordings older than retention_days go; when free space falls under the floor the
oldest go until it is met, never one still being written; below the warning level the service's
health says so and the log warns, before anything young is deleted.  The disk here is a small
one modelled on the files really in the directory (free = capacity - their sizes), not a full
disk."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np

from firmware.appliance.services import ServiceContext, StopReason
from firmware.config.loader import load_text
from pbx_cti.recording.retention import MB, Limits, Retention
from pbx_cti.recording.service import RecordingService
from pbx_cti.recording.store import RecordingRow, RecordingStore
from pbx_cti.recording.wav import StereoWavWriter, interleave
from runtime.bus import EventBus
from runtime.clock import LoopClock

NOW = 1_800_000_000.0
DAY = 86400.0


class SmallDisk:
    def __init__(self, directory: Path, capacity_mb: int):
        self.directory, self.capacity = directory, capacity_mb * MB

    def __call__(self, _directory) -> tuple[int, int]:
        used = sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())
        return self.capacity - used, self.capacity


def add(store: RecordingStore, directory: Path, name: str, age_days: float, mb: float = 1.0,
        status: str = "complete") -> RecordingRow:
    frames = (int(mb * MB) - 44) // 4                     # header included: a file of mb megabytes
    path = directory / "2027" / "01" / f"{name}.wav"
    writer = StereoWavWriter(path)
    silence = np.zeros(frames, np.int16)
    writer.write(interleave(silence, silence))
    size = writer.close()
    row = RecordingRow(name, f"call-{name}", "alice", "sales", "0212345678", NOW - age_days * DAY, None, 0.0,
                       str(path), 0, "all", "recording")
    store.begin(row)
    if status != "recording":
        store.finish(name, ended=row.started + frames / 8000, duration=frames / 8000, size=size, status=status)
    return store.get(name)


def test_recordings_older_than_the_retention_go_and_the_rest_stay(tmp_path):
    store = RecordingStore(tmp_path / "recordings.sqlite")
    directory = tmp_path / "recordings"
    old = add(store, directory, "old", 100)
    month = add(store, directory, "month", 29)
    writing = add(store, directory, "writing", 200, status="recording")   # a call since before the cutoff
    report = Retention(store, directory, Limits(retention_days=30, min_free_mb=0, min_free_percent=0,
                                                warn_free_mb=0, warn_free_percent=0), wall=lambda: NOW).run()
    assert report.deleted_by_age == ["old"] and report.deleted_for_space == [] and report.warning is None
    assert store.get("old") is None and not Path(old.path).exists()
    assert store.get("month") is not None and Path(month.path).exists()
    assert store.get("writing").status == "recording" and Path(writing.path).exists()


def test_the_oldest_go_to_keep_the_free_space_floor_and_the_warning_comes_first(tmp_path, caplog):
    store = RecordingStore(tmp_path / "recordings.sqlite")
    directory = tmp_path / "recordings"
    disk = SmallDisk(directory, capacity_mb=12)
    for i in range(7):
        add(store, directory, f"r{i}", age_days=7 - i)                     # r0 oldest
    limits = Limits(retention_days=0, min_free_mb=4, min_free_percent=0, warn_free_mb=6, warn_free_percent=0)
    retention = Retention(store, directory, limits, disk_usage=disk, wall=lambda: NOW)

    with caplog.at_level(logging.WARNING, "pribox.recording"):
        report = retention.run()                                           # 7 MB used: 5 free, above the floor
    assert report.deleted_for_space == [] and report.free < 6 * MB
    assert "low disk space for recordings" in report.warning and "below 4 MB" in report.warning
    assert any("low disk space" in r.getMessage() for r in caplog.records)

    add(store, directory, "r7", age_days=0.5)
    add(store, directory, "r8", age_days=0.1)                              # 9 MB used: 3 free
    report = retention.run()
    assert report.deleted_for_space == ["r0"] and report.free >= 4 * MB
    assert store.get("r0") is None and store.get("r1") is not None
    assert sorted(p.name for p in directory.rglob("*.wav")) == [f"r{i}.wav" for i in range(1, 9)]


def test_the_service_runs_retention_and_its_health_warns_before_the_disk_fills(tmp_path, caplog):
    config = load_text("[recording]\nenabled = true\nmin_free_mb = 2\nmin_free_percent = 0\n"
                       "warn_free_mb = 5\nwarn_free_percent = 0\nretention_days = 0\nretention_interval = 1\n")
    directory = tmp_path / "recordings"
    disk = SmallDisk(directory, capacity_mb=8)

    async def scenario():
        service = RecordingService(config, disk_usage=disk)
        await service.start(ServiceContext(config, LoopClock(), EventBus(), str(tmp_path)))
        life = asyncio.create_task(service.run())
        try:
            await asyncio.sleep(0.2)
            first = service.health()
            for i in range(5):
                await asyncio.to_thread(add, service.store, directory, f"r{i}", 5 - i)
            with caplog.at_level(logging.WARNING, "pribox.recording"):
                service.check_space()
                await asyncio.sleep(0.3)
            return first, service.health(), service.store.find()
        finally:
            life.cancel()
            await service.stop(StopReason.SHUTDOWN)

    first, health, rows = asyncio.run(scenario())
    assert first.ok and "MB free" in first.detail and "WARNING" not in first.detail
    assert health.ok and "WARNING low disk space for recordings" in health.detail
    assert len(rows) == 5                                                 # 3 MB free: above the 2 MB floor
    assert any("low disk space" in r.getMessage() for r in caplog.records)


def test_a_file_that_cannot_be_deleted_keeps_its_row_and_the_pass_still_ends(tmp_path, caplog):
    store = RecordingStore(tmp_path / "recordings.sqlite")
    directory = tmp_path / "recordings"
    stuck = add(store, directory, "stuck", 100)
    Path(stuck.path).unlink()
    Path(stuck.path).mkdir()                                  # unlink() refuses a directory
    (Path(stuck.path) / "keep").write_bytes(b"x")
    add(store, directory, "old", 99)
    disk = SmallDisk(directory, capacity_mb=1)                # always short of space
    limits = Limits(retention_days=30, min_free_mb=4, min_free_percent=0, warn_free_mb=4, warn_free_percent=0)
    with caplog.at_level(logging.ERROR, "pribox.recording"):
        report = Retention(store, directory, limits, disk_usage=disk, wall=lambda: NOW).run()
    assert report.deleted_by_age == ["old"] and report.deleted_for_space == []
    assert store.get("stuck") is not None and "nothing left to delete" in report.warning
    assert any("could not delete" in r.getMessage() for r in caplog.records)

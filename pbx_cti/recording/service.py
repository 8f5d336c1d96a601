"""The daemon's `recording` service: where recordings go, their metadata store, the writer
thread every call's recorder shares, the start-up repair pass and periodic retention.

The PBX asks it for a recorder when an agent's bridge connects (`recorder_for`), and stops
that recorder when the bridge ends; the API serves the files through `api_routes.add_routes`
over `service.store`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time
from pathlib import Path

from firmware.appliance.services import BOX_SERVICES, Health, Service, ServiceContext, StopReason

from .mounts import ram_backed_problem
from .policy import RecordingPolicy
from .recorder import CallRecorder, LegAudio, new_recording_id
from .retention import Limits, Retention, RetentionReport, repair_interrupted
from .store import RecordingStore

log = logging.getLogger("pribox.recording")

DEFAULT_DIRECTORY = "recordings"


class RecordingSetupError(RuntimeError):
    """Where recordings would go is unusable; the message names the key."""


def recordings_directory(section, state_dir: str | None) -> Path:
    directory = section.directory if section is not None else None
    if directory is not None and os.path.isabs(directory):
        return Path(directory)
    if state_dir is None:
        raise RecordingSetupError("recording.directory: the daemon has no state directory to put "
                                  "recordings in; set an absolute directory on the data partition")
    return Path(state_dir) / (directory or DEFAULT_DIRECTORY)


class RecordingService(Service):
    name = "recording"

    def __init__(self, config, *, disk_usage=None):
        self.config = config
        self.section = config.recording
        self.policy = RecordingPolicy.from_section(self.section)
        self.limits = Limits.from_section(self.section)
        self.directory: Path | None = None
        self.store: RecordingStore | None = None
        self.retention: Retention | None = None
        self.report: RetentionReport | None = None
        self.active: dict[str, CallRecorder] = {}        # call id -> its recorder
        self._disk_usage = disk_usage
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None
        self._clock = None
        self._error: str | None = None
        self._wake = asyncio.Event()

    async def start(self, ctx: ServiceContext) -> None:
        self._clock = ctx.clock
        self.directory = recordings_directory(self.section, ctx.state_dir)
        problem = ram_backed_problem(self.directory, "recording.directory")
        if problem:
            raise RecordingSetupError(problem)
        store_dir = ctx.state_dir or self.directory
        self.store = await asyncio.to_thread(self._open, store_dir)
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="recording")
        options = {"disk_usage": self._disk_usage} if self._disk_usage else {}
        self.retention = Retention(self.store, self.directory, self.limits, **options)
        log.info("recording: policy %s, files in %s", self.policy.policy if self.policy.enabled else "off", self.directory)

    def _open(self, store_dir) -> RecordingStore:
        self.directory.mkdir(parents=True, exist_ok=True)
        store = RecordingStore.in_state_dir(store_dir)
        try:
            repaired = repair_interrupted(store, self.directory)
        except BaseException:
            store.close()
            raise
        if repaired:
            log.warning("recording: %d recording(s) interrupted by the last stop were repaired", len(repaired))
        return store

    async def run(self) -> None:
        """Retention now and every `retention_interval` (or sooner when asked: `check_space`)."""
        while True:
            await self.retention_pass()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.section.retention_interval)
            except asyncio.TimeoutError:
                pass

    async def retention_pass(self) -> RetentionReport | None:
        try:
            self.report = await asyncio.to_thread(self.retention.run)
            self._error = None
        except (OSError, ValueError) as exc:   # sqlite3.Error is neither; it crashes the service
            self._error = f"retention failed: {exc}"
            log.error("recording: %s", self._error)
        return self.report

    def check_space(self) -> None:
        self._wake.set()

    # -- for the PBX -------------------------------------------------------------------------
    def recorder_for(self, call_id: str, caller_media: LegAudio, agent_media: LegAudio, *, agent: str | None = None,
                     queue: str | None = None, caller: str | None = None, on_demand: bool = False) -> CallRecorder | None:
        """A started recorder for a call connected to an agent when the policy says so (or the
        call's existing one: an on-demand start after a stop resumes it), else None."""
        existing = self.active.get(call_id)
        if existing is not None and existing.running:
            existing.resume()
            return existing
        reason = self.policy.should_record(queue, on_demand)
        if reason is None or self.store is None:
            return None
        if reason == "queue" and queue is None:
            return None
        wall = time.time()
        recording_id = new_recording_id(wall)
        day = time.strftime("%Y/%m/%d", time.gmtime(wall))
        recorder = CallRecorder(caller_media, agent_media, self.directory / day / f"{recording_id}.wav", self._clock,
                                call_id=call_id, agent=agent, queue=queue, caller=caller, reason=reason,
                                store=self.store, writer=self._writer, recording_id=recording_id)
        recorder.start()
        self.active[call_id] = recorder
        return recorder

    def pause(self, call_id: str) -> bool:
        recorder = self.active.get(call_id)
        if recorder is None or not recorder.running:
            return False
        recorder.pause()
        return True

    def stop_call(self, call_id: str) -> concurrent.futures.Future | None:
        """The call's recording finished (its bridge ended); the future gives its row."""
        recorder = self.active.pop(call_id, None)
        return recorder.stop() if recorder is not None else None

    async def stop(self, reason: StopReason) -> None:
        futures = [recorder.stop() for recorder in self.active.values()]
        self.active.clear()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await asyncio.to_thread(writer.shutdown, True)
        for future in futures:
            if future.exception() is not None:
                log.error("recording: a recording did not close cleanly: %s", future.exception())
        if self.store is not None:
            store, self.store = self.store, None
            await asyncio.to_thread(store.close)

    def health(self) -> Health:
        if self.store is None:
            return Health(False, "not started")
        if self._error:
            return Health(False, self._error)
        recording = f"{len(self.active)} call(s) recording"
        if self.report is None:
            return Health(True, recording)
        if self.report.warning:
            # Low disk is a warning, not a failure: the box keeps carrying calls (and a firmware
            # slot is not judged by how full its disk is).
            return Health(True, f"{recording}; WARNING {self.report.warning}")
        return Health(True, f"{recording}; {self.report.free // (1 << 20)} MB free")


def _factory(config):
    section = getattr(config, "recording", None)
    if section is None or not section.enabled:
        return None
    return RecordingService(config)


BOX_SERVICES.add("recording", _factory, sections=("recording",))

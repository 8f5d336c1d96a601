"""`CallRecorder`: one connected call to one stereo WAV — the caller on the left, the agent on
the right.

The media plane's recorder taps (one per leg, what that party says) fill rings inside the
media tick; every `drain_interval` on the box's clock the recorder empties both rings, keeps the
two channels in step, and hands whole interleaved blocks to a writer thread, which owns the file
and the metadata store — the event loop never waits on the disk.

Keeping the channels in step: both taps are attached and emptied together at start, so they
begin within one media block (10 ms) of each other.  After that each drain appends what each
ring held to that channel's pending audio and writes the length both have; the surplus of the
one drained a block later waits for the next drain.  Audio a ring dropped (not drained in time)
comes back as silence where it was lost, a leg whose channel closed is silence from then on, and
if one side runs ahead by more than `max_skew` (a leg stalled, or two spans on clocks that
differ) the other is padded with silence so neither falls behind for good.

Pause/resume (on-demand stop and start) keep one file: the paused stretch is silence of its
true length, so the file's timeline stays the call's."""

from __future__ import annotations

import concurrent.futures
import logging
import secrets
import time
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from runtime.clock import Clock, TimerHandle

from .store import RecordingRow, RecordingStore
from .wav import RATE, StereoWavWriter, interleave

log = logging.getLogger("pribox.recording")

EMPTY = np.zeros(0, np.int16)


class LegAudio(Protocol):
    """What the recorder needs of a leg's media (pbx_cti/pbx/media.py `IsdnLegMedia`): a tap on
    what the party says, drained as int16 at 8 kHz."""

    def record(self, seconds: float) -> None: ...

    def recorded(self) -> np.ndarray: ...


def new_recording_id(wall: float) -> str:
    """Sorts by start time; unique without asking the database."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall)) + "-" + secrets.token_hex(4)


class CallRecorder:
    def __init__(self, caller_media: LegAudio, agent_media: LegAudio, path: str | Path, clock: Clock, *,
                 call_id: str, agent: str | None = None, queue: str | None = None, caller: str | None = None,
                 reason: str = "all", store: RecordingStore | None = None, writer: Executor | None = None,
                 recording_id: str | None = None, wall: Callable[[], float] = time.time,
                 drain_interval: float = 0.5, ring_seconds: float = 4.0, max_skew: float = 0.5,
                 sync_seconds: float = 1.0):
        if drain_interval <= 0 or ring_seconds <= drain_interval:
            raise ValueError(f"recorder: the ring ({ring_seconds} s) must outlast the drain interval ({drain_interval} s)")
        self._legs = (caller_media, agent_media)
        self.path = Path(path)
        self.clock = clock
        self.wall = wall
        self.store = store
        self.call_id, self.agent, self.queue, self.caller, self.reason = call_id, agent, queue, caller, reason
        self.id = recording_id
        self.drain_interval = drain_interval
        self.ring_seconds = ring_seconds
        self.max_skew_samples = int(max_skew * RATE)
        self.sync_seconds = sync_seconds
        self._own_writer = writer is None
        self._writer = writer or concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="recording")
        self._pending = [EMPTY, EMPTY]
        self._lost = [0, 0]
        self._gone = [False, False]
        self._timer: TimerHandle | None = None
        self._wav: StereoWavWriter | None = None
        self.started: float | None = None
        self.frames = 0                  # frames handed to the writer
        self.paused = False
        self.error: str | None = None    # the first disk error; the call goes on unrecorded
        self._done: Future | None = None

    @property
    def running(self) -> bool:
        return self.started is not None and self._done is None

    @property
    def seconds(self) -> float:
        return self.frames / RATE

    # -- control (event loop) ----------------------------------------------------------------
    def start(self) -> None:
        if self.started is not None:
            raise RuntimeError(f"recording of call {self.call_id} already started")
        for side, leg in enumerate(self._legs):
            leg.record(self.ring_seconds)
        for side in range(2):            # what the taps held from before (an IVR's recording)
            self._take(side)
            self._pending[side] = EMPTY
        self.started = self.wall()
        self.id = self.id or new_recording_id(self.started)
        row = RecordingRow(self.id, self.call_id, self.agent, self.queue, self.caller, self.started, None, 0.0,
                           str(self.path), 0, self.reason, "recording")
        self._writer.submit(self._open, row)
        self._timer = self.clock.call_later(self.drain_interval, self._tick)
        log.info("recording call %s as %s (%s) to %s", self.call_id, self.id, self.reason, self.path)

    def pause(self) -> None:
        """From now on silence, until resume (on-demand recording stopped mid-call)."""
        if self.running and not self.paused:
            self._drain()                # what was said up to now is kept
            self.paused = True

    def resume(self) -> None:
        if self.running and self.paused:
            self._drain()                # the paused stretch becomes silence
            self.paused = False

    def stop(self) -> Future:
        """Flush what the taps hold, close the file and complete its row, in the writer thread;
        the future gives the finished `RecordingRow`.  Stopping twice returns the same future."""
        if self._done is not None:
            return self._done
        if self.started is None:
            raise RuntimeError(f"recording of call {self.call_id} was never started")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._drain(final=True)
        ended = self.wall()
        self._done = self._writer.submit(self._close, ended)
        if self._own_writer:
            self._writer.shutdown(wait=False)
        return self._done

    # -- draining (event loop) ---------------------------------------------------------------
    def _tick(self) -> None:
        self._timer = None
        self._drain()
        if all(self._gone):
            log.info("recording %s: both legs of call %s are gone; stopping", self.id, self.call_id)
            self.stop()
            return
        self._timer = self.clock.call_later(self.drain_interval, self._tick)

    def _take(self, side: int) -> np.ndarray:
        if self._gone[side]:
            return EMPTY
        leg = self._legs[side]
        try:
            lost = leg.recorder_lost() if hasattr(leg, "recorder_lost") else 0
            audio = leg.recorded()
        except ValueError:               # the channel closed: this party has hung up
            self._gone[side] = True
            return EMPTY
        if lost > self._lost[side]:
            audio = np.concatenate((np.zeros(lost - self._lost[side], np.int16), audio))
            log.warning("recording %s: %d samples of the %s lost (drained too late); silence in their place",
                        self.id, lost - self._lost[side], ("caller", "agent")[side])
            self._lost[side] = lost
        return audio

    def _drain(self, final: bool = False) -> None:
        for side in range(2):
            chunk = self._take(side)
            if len(chunk):
                self._pending[side] = np.concatenate((self._pending[side], chunk)) if len(self._pending[side]) else chunk
        lengths = [len(p) for p in self._pending]
        longest = max(lengths)
        for side in range(2):
            if lengths[side] < longest and (final or self._gone[side] or longest - lengths[side] > self.max_skew_samples):
                self._pending[side] = np.concatenate((self._pending[side], np.zeros(longest - lengths[side], np.int16)))
        n = min(len(p) for p in self._pending)
        if not n:
            return
        left, right = self._pending[0][:n], self._pending[1][:n]
        self._pending = [self._pending[0][n:], self._pending[1][n:]]
        if self.paused:
            left = right = np.zeros(n, np.int16)
        self.frames += n
        self._writer.submit(self._write, interleave(left, right))

    # -- the writer thread -------------------------------------------------------------------
    def _open(self, row: RecordingRow) -> None:
        try:
            self._wav = StereoWavWriter(self.path, sync_seconds=self.sync_seconds)
            if self.store is not None:
                self.store.begin(row)
        except Exception as exc:          # a full or read-only disk must not touch the call
            self._failed("could not start", exc)

    def _write(self, frames: bytes) -> None:
        if self._wav is None or self.error:
            return
        try:
            self._wav.write(frames)
        except Exception as exc:
            self._failed("write failed", exc)

    def _close(self, ended: float) -> RecordingRow:
        size, seconds = 0, 0.0
        if self._wav is not None:
            try:
                size, seconds = self._wav.close(), self._wav.seconds
            except Exception as exc:
                self._failed("close failed", exc)
                seconds = self._wav.seconds
        status = "failed" if self.error else "complete"
        row = RecordingRow(self.id, self.call_id, self.agent, self.queue, self.caller, self.started, ended, seconds,
                           str(self.path), size, self.reason, status)
        if self.store is not None:
            try:
                self.store.finish(self.id, ended=ended, duration=seconds, size=size, status=status)
            except Exception:
                log.exception("recording %s: its row could not be completed", self.id)
        log.info("recording %s of call %s: %.1f s, %d bytes, %s", self.id, self.call_id, seconds, size, status)
        return row

    def _failed(self, what: str, exc: Exception) -> None:
        if self.error is None:
            self.error = f"{what}: {exc}"
            log.error("recording %s of call %s (%s): %s: %s", self.id, self.call_id, self.path, what, exc)

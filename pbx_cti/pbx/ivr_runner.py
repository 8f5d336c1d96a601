"""One call's IVR session run on its leg: the session (pbx_cti/ivr/session.py) decides, this
carries its actions out — prompts played in the media plane, digits from the leg's DTMF
receiver, lookups off the loop, recordings off the tick — and tells the PBX when the flow
routes, transfers or hangs up.  A poll every 20 ms drains the leg's taps; nothing per sample."""

from __future__ import annotations

import asyncio
import logging
import wave
from pathlib import Path
from typing import Callable

import numpy as np

from dsp import lib
from dsp.prompts import PromptStore
from pbx_cti.ivr.actions import (Hangup, Lookup, Notify, Play, Record, RequestCallback, RouteToSkill, StartCollect, StopPlayback,
                                 StopRecording, Transfer)
from pbx_cti.ivr.lookups import LookupRunner, lookup_in_place
from pbx_cti.ivr.session import IvrSession
from runtime.clock import Clock, TimerHandle

log = logging.getLogger("pribox.ivr")

POLL = 0.02
BEEP = (np.sin(2 * np.pi * 1000 * np.arange(1600) / 8000) * 8000).astype(np.int16)


class IvrRunner:
    def __init__(self, session: IvrSession, media, prompts: PromptStore, clock: Clock, *,
                 on_route: Callable[[RouteToSkill], None], on_transfer: Callable[[Transfer], None],
                 on_hangup: Callable[[int], None], on_progress: Callable[[dict], None],
                 record_dir: Path | None = None, lookups: LookupRunner | None = None,
                 on_notify: Callable[[Notify], None] | None = None,
                 on_callback: Callable[[RequestCallback], None] | None = None):
        self.session = session
        self.media = media
        self.prompts = prompts
        self.clock = clock
        self.on_route, self.on_transfer, self.on_hangup, self.on_progress = on_route, on_transfer, on_hangup, on_progress
        self.on_notify = on_notify
        self.on_callback = on_callback
        self.record_dir = record_dir
        self.lookups = lookups or LookupRunner()
        self._playing: tuple[int, int] | None = None          # (the session's play id, the player's item)
        self._recording: tuple[int, float, str] | None = None  # (record id, deadline, terminator)
        self._recorded: list[np.ndarray] = []
        self._handle: TimerHandle | None = None
        self._reported = (None, 0)
        self.done = False

    def start(self) -> None:
        self._act_all()
        self._handle = self.clock.call_later(POLL, self._poll)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.lookups.close()
        self.done = True

    def caller_hung_up(self) -> None:
        if not self.session.ended:
            self.session.caller_hung_up(self.clock.now())
        self._report()
        self.stop()

    def handed_off(self) -> None:
        self.session.handed_off(self.clock.now())
        self._act_all()

    def route_failed(self, reason: str, no_agents: bool = False) -> None:
        self.session.route_failed(reason, self.clock.now(), no_agents)
        self._act_all()

    def transfer_failed(self, reason: str, cause: int | None) -> None:
        self.session.transfer_failed(reason, cause, self.clock.now())
        self._act_all()

    # -- the poll -----------------------------------------------------------------------------
    def _poll(self) -> None:
        if self.done:
            return
        self._handle = self.clock.call_later(POLL, self._poll)
        now = self.clock.now()
        if self._playing is not None:
            for item, reason in self.media.finished():
                if item == self._playing[1]:
                    play_id = self._playing[0]
                    self._playing = None
                    if reason == lib.PLAYER_END_DONE:
                        self.session.prompt_finished(play_id, now)
        for digit in self.media.digits():
            if self._recording is not None and digit == self._recording[2]:
                self._finish_recording(now)
                continue
            self.session.digit(digit, now)
        if self._recording is not None:
            self._recorded.append(self.media.recorded())
            if now >= self._recording[1]:
                self._finish_recording(now)
        due = self.session.get_timer()
        if due is not None and due <= now:
            self.session.handle_timer(now)
        self._act_all()

    def _act_all(self) -> None:
        while (action := self.session.next_action()) is not None:
            try:
                self._act(action)
            except Exception as exc:  # a broken prompt or lookup must not strand the caller
                log.exception("IVR %s: %s failed", self.session.call_id, type(action).__name__)
                self.on_progress({"error": f"{type(action).__name__}: {exc}"})
        self._report()
        if self.session.ended:
            self.stop()

    def _report(self) -> None:
        state = (self.session.current_node, len(self.session.digits))
        if state != self._reported:
            self._reported = state
            self.on_progress({"ivr_node": self.session.current_node, "ivr_path": list(self.session.path),
                              "digits": self.session.digits, "data": dict(self.session.variables)})

    def _act(self, action) -> None:
        now = self.clock.now()
        if isinstance(action, Play):
            samples = self._prompt_audio(action.prompts)
            self.media.stop()
            self.media.barge_in(action.barge_in)
            if len(samples) == 0:
                self.session.prompt_finished(action.id, now)
                return
            self._playing = (action.id, self.media.play(samples, interruptible=action.barge_in))
        elif isinstance(action, StopPlayback):
            self._playing = None
            self.media.stop()
        elif isinstance(action, StartCollect):
            pass            # the leg's DTMF receiver is always on; its digits go to the session
        elif isinstance(action, Lookup):
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                # A call driven on the virtual clock with no event loop (a lockstep test): in
                # place.  On the box there is always a loop and the lookup runs in a thread.
                self._lookup_done(action.id, lookup_in_place(action.request))
                return
            self.lookups.start(action, self._lookup_done)
        elif isinstance(action, RouteToSkill):
            self.on_route(action)
        elif isinstance(action, Transfer):
            self.on_transfer(action)
        elif isinstance(action, Record):
            self.media.stop()
            if action.beep:
                self.media.play(BEEP)
            self.media.record(action.max_length + 1.0)
            self.media.recorded()
            self._recorded = []
            self._recording = (action.id, now + action.max_length, action.terminator)
        elif isinstance(action, StopRecording):
            if self._recording is not None and self._recording[0] == action.id:
                self._finish_recording(now)
        elif isinstance(action, Notify):
            # Queued, never waited for: the flow has gone on already.
            if self.on_notify is None:
                log.warning("IVR %s: no notification service wired; %s %s not sent",
                            self.session.call_id, action.kind, action.template or "text")
            else:
                self.on_notify(action)
        elif isinstance(action, RequestCallback):
            if self.on_callback is None:
                log.warning("IVR %s: no contact center wired; the callback to %s is not booked",
                            self.session.call_id, action.number)
            else:
                self.on_callback(action)
        elif isinstance(action, Hangup):
            self.on_hangup(action.cause)

    def _lookup_done(self, lookup_id: int, result) -> None:
        if self.done:
            return
        self.session.lookup_result(lookup_id, result, self.clock.now())
        self._act_all()

    def _prompt_audio(self, names) -> np.ndarray:
        parts = []
        for name in names:
            if name in self.prompts:
                parts.append(self.prompts[name].samples)
            else:
                log.error("IVR %s: prompt %r is not in the prompt directory; skipped", self.session.call_id, name)
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    def _finish_recording(self, now: float) -> None:
        record_id = self._recording[0]
        self._recording = None
        self._recorded.append(self.media.recorded())
        audio = np.concatenate(self._recorded) if self._recorded else np.zeros(0, np.int16)
        self._recorded = []
        reference = ""
        if self.record_dir is not None:
            path = self.record_dir / f"{self.session.call_id}-{record_id}.wav"
            reference = str(path)
            _write_wav_later(path, audio, self.clock)
        self.session.record_finished(record_id, reference, now)


def _write_wav_later(path: Path, audio: np.ndarray, clock: Clock) -> None:
    """Write the recording in a worker thread: file I/O never runs on the loop."""
    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(audio.astype("<i2").tobytes())

    try:
        asyncio.get_running_loop().run_in_executor(None, write)
    except RuntimeError:
        write()           # a test on the virtual clock, with no loop

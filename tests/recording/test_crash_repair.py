"""What a crash leaves: a daemon killed with SIGKILL mid-call leaves a WAV whose header lags its
data and a row still "recording"; the next start of the recording service repairs the header,
keeps every block written, and completes the row as "interrupted".  The repair itself, over
any length a file can have been cut at (hypothesis)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.appliance.services import ServiceContext, StopReason
from firmware.config.loader import load_text
from pbx_cti.recording.service import RecordingService
from pbx_cti.recording.wav import HEADER_BYTES, StereoWavWriter, interleave, needs_repair, read_stereo, repair
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.recording.media_rig import CALLER_HZ, band_level

ROOT = Path(__file__).resolve().parents[2]

CRASHING_DAEMON = textwrap.dedent("""
    import os, signal, sys
    from pbx_cti.recording.recorder import CallRecorder
    from pbx_cti.recording.store import RecordingStore
    from tests.recording.media_rig import CALLER_HZ, AGENT_HZ, CallRig, tone

    state = sys.argv[1]
    rig = CallRig()
    store = RecordingStore(os.path.join(state, "recordings.sqlite"))
    recorder = CallRecorder(rig.caller, rig.agent, os.path.join(state, "recordings", "crashed.wav"), rig.clock,
                            call_id="call-9", agent="alice", caller="0212345678", store=store,
                            wall=lambda: 1_800_000_000.0 + rig.clock.now(), sync_seconds=60)
    recorder.start()
    rig.at(0.2, lambda: rig.caller_says(tone(CALLER_HZ, 2.0)))
    rig.run(2.6)
    recorder._writer.submit(lambda: None).result()   # every drained block has reached the file
    print(recorder.frames, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_recording_killed_mid_call_is_repaired_and_its_row_completed_at_the_next_start(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", CRASHING_DAEMON, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    frames = int(done.stdout.split()[0])
    wav = tmp_path / "recordings" / "crashed.wav"
    assert wav.stat().st_size == HEADER_BYTES + 4 * frames and needs_repair(wav)

    async def restart():
        service = RecordingService(load_text("[recording]\nenabled = true\n"))
        await service.start(ServiceContext(service.config, LoopClock(), EventBus(), str(tmp_path)))
        try:
            return service.store.find(call_id="call-9"), service.health()
        finally:
            await service.stop(StopReason.SHUTDOWN)

    rows, health = asyncio.run(restart())
    assert len(rows) == 1 and health.ok
    row = rows[0]
    assert row.status == "interrupted" and row.agent == "alice" and row.caller == "0212345678"
    assert row.duration == frames / 8000 and row.bytes == HEADER_BYTES + 4 * frames
    assert abs(row.ended - row.started - row.duration) < 1e-6 and 2.4 <= row.duration <= 2.6
    assert not needs_repair(wav)
    left, right = read_stereo(wav)
    assert len(left) == frames
    assert band_level(left[4000:16000], CALLER_HZ) > -25 and band_level(right[4000:16000], CALLER_HZ) < -60


@settings(max_examples=60, deadline=None)
@given(frames=st.integers(0, 3000), cut=st.integers(0, 3))
def test_repair_keeps_every_whole_frame_of_a_file_cut_anywhere(tmp_path_factory, frames, cut):
    path = tmp_path_factory.mktemp("wav") / "cut.wav"
    rng = np.random.default_rng(frames)
    left = rng.integers(-32768, 32767, frames, dtype=np.int16)
    right = rng.integers(-32768, 32767, frames, dtype=np.int16)
    writer = StereoWavWriter(path, sync_seconds=3600)        # the header never caught up
    writer.write(interleave(left, right))
    writer._file.close()                                    # as a crash leaves it: no close()
    with open(path, "ab") as f:
        f.write(b"\x01\x02\x03"[:cut])                      # a torn last frame
    info = repair(path)
    assert info.frames == frames and info.bytes == HEADER_BYTES + 4 * frames
    got_left, got_right = read_stereo(path)
    assert np.array_equal(got_left, left) and np.array_equal(got_right, right)
    assert not needs_repair(path)

"""The `recording` service as the PBX will use it: a connected call on the real media plane is
recorded per policy into the state directory's recordings/ with its row in recordings.sqlite;
an on-demand stop and start keep one file; a daemon stop closes the recordings still running."""

from __future__ import annotations

import asyncio

from firmware.appliance.services import ServiceContext, StopReason
from firmware.config.loader import load_text
from pbx_cti.recording.service import RecordingService
from pbx_cti.recording.wav import read_stereo
from runtime.bus import EventBus
from tests.api.test_api_config import CENTER
from tests.recording.media_rig import AGENT_HZ, CALLER_HZ, CallRig, band_level, tone


async def started(text: str, state_dir, clock) -> RecordingService:
    config = load_text(text)
    service = RecordingService(config)
    await service.start(ServiceContext(config, clock, EventBus(), str(state_dir)))
    return service


def test_calls_are_recorded_per_policy_and_a_stop_closes_what_still_runs(tmp_path):
    rig = CallRig()

    async def scenario():
        service = await started(CENTER + '[recording]\nenabled = true\npolicy = "queues"\nqueues = ["sales"]\n',
                                tmp_path, rig.clock)
        assert service.recorder_for("c0", rig.caller, rig.agent, agent="bob", queue="support") is None
        recorder = service.recorder_for("c1", rig.caller, rig.agent, agent="alice", queue="sales",
                                        caller="0212345678")
        assert recorder is not None and recorder.reason == "queue"
        assert recorder.path.parent.parent.parent.parent == tmp_path / "recordings"   # recordings/YYYY/MM/DD/
        rig.at(0.2, lambda: rig.caller_says(tone(CALLER_HZ, 0.4)))
        rig.at(1.0, lambda: rig.agent_says(tone(AGENT_HZ, 0.4)))
        rig.run(1.5)
        row = await asyncio.wrap_future(service.stop_call("c1"))
        assert row.status == "complete" and service.store.get(row.id) == row

        # On demand: the agent starts, stops and starts again; one file, one row.
        other = service.recorder_for("c2", rig.caller, rig.agent, agent="bob", queue="support", on_demand=True)
        assert other.reason == "on-demand"
        rig.run(0.5)
        assert service.pause("c2")
        rig.run(0.5)
        assert service.recorder_for("c2", rig.caller, rig.agent, agent="bob", queue="support", on_demand=True) is other
        rig.run(0.5)
        assert "1 call(s) recording" in service.health().detail
        await service.stop(StopReason.SHUTDOWN)          # the daemon stops mid-call
        return row, other

    try:
        row, other = asyncio.run(scenario())
    finally:
        rig.close()
    left, right = read_stereo(row.path)
    assert abs(len(left) / 8000 - 1.5) <= 0.02 and row.agent == "alice" and row.caller == "0212345678"
    assert band_level(left[2400:4000], CALLER_HZ) > -25 and band_level(right[8800:10400], AGENT_HZ) > -25
    left, _ = read_stereo(other.path)
    assert abs(len(left) / 8000 - 1.5) <= 0.02

    async def reopen():
        service = await started("[recording]\nenabled = true\n", tmp_path, rig.clock)
        try:
            return service.store.find()
        finally:
            await service.stop(StopReason.SHUTDOWN)
    rows = {r.call_id: r for r in asyncio.run(reopen())}
    assert set(rows) == {"c1", "c2"} and rows["c2"].status == "complete" and rows["c2"].reason == "on-demand"

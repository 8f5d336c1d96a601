"""Two SIP legs of one codec bridged by the core are relayed in C, untouched (pbx_cti/pbx/media.py):
the far end's payload octets arrive bit-identical at the other far end and the box decodes none of
them; RFC 4733 events pass through; a recorder or a supervisor started mid-call turns the relay
into a monitored one (both sides decoded for them, still relayed); whisper and hold go through the
media plane, and the relay comes back when they end.  On the virtual clock of
tests/sip/agent_rig.py; legs of two codecs or packet sizes: tests/pbx/test_pbx_media_relay.py."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.capture_tap import SENT, CaptureTap
from pbx_cti.ivr.prompts_setup import make_prompts
from tests.sip.agent_rig import AgentRig
from tests.sip.test_sip_pbx_agents import Center, connected_call, strongest_hz, tone
from tests.support.pbx_line import pbx_config
from tests.support.sip_pbx import SIP070

ALAW_SILENCE = 0xD5


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    directory = tmp_path_factory.mktemp("prompts")
    make_prompts(directory, report=lambda line: None)
    return directory


@pytest.fixture
def rig(prompts):
    rig = AgentRig(pbx_config(prompts, SIP070), phones=("2001", "2002"))
    rig.pbx.center = Center()
    rig.up()
    yield rig
    rig.close()


def far_legs(rig, call):
    """The far ends' RTP legs of a connected call: the caller's and the agent's phone's."""
    agent = next(iter(rig.phones["2001"].by_id.values()))
    return call, agent


def box_figures(media) -> tuple[int, int]:
    """(packets the box's leg relayed, frames its jitter buffer took in: what it decoded)."""
    st = media.session.stats()
    return st["relayed"], st["jitter_buffer"]["frames_in"]


def noise(seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-6000, 6000, int(seconds * 8000)).astype(np.int16)


def test_a_same_codec_call_is_relayed_payloads_bit_identical_and_never_decoded(rig):
    call, call_id = connected_call(rig, rig.pbx.center)
    caller_far, agent_far = far_legs(rig, call)
    caller, agent = rig.pbx.agent_leg_media(call_id)
    assert caller.relay_partner is agent and agent.relay_partner is caller and not caller.relay_monitored
    assert not caller.decoded() and not agent.decoded()
    tap = CaptureTap(8 << 20)
    rig.far_rtp.set_capture_tap(tap)
    tap.enable(True)
    before = box_figures(caller), box_figures(agent)
    rig.far_rtp.media.play(caller_far.leg_no, noise(1.0, 1))
    rig.far_rtp.media.play(agent_far.leg_no, noise(1.0, 2))
    rig.run(1.5)
    after = box_figures(caller), box_figures(agent)
    records = tap.drain()
    call.hang_up()
    rig.run_until(lambda: not rig.pbx.active and not rig.box.ua.calls, 3.0)

    def audio(flags_sent: bool, port: int) -> list[bytes]:
        """Payloads of the noise (not silence) the far port sent from / received on `port`."""
        out = []
        for _, flags, _, _, sport, _, dport, datagram in records:
            if bool(flags & SENT) == flags_sent and (sport if flags_sent else dport) == port \
                    and datagram[1] & 0x7F == 8 and set(datagram[12:]) != {ALAW_SILENCE}:
                out.append(datagram[12:])
        return out
    caller_port, agent_port = caller_far.leg.local[1], agent_far.leg.local[1]
    sent_by_caller, heard_by_agent = audio(True, caller_port), audio(False, agent_port)
    sent_by_agent, heard_by_caller = audio(True, agent_port), audio(False, caller_port)
    assert len(sent_by_caller) == 50 and heard_by_agent == sent_by_caller     # 1 s of 20 ms packets
    assert len(sent_by_agent) == 50 and heard_by_caller == sent_by_agent
    for (relayed0, decoded0), (relayed1, decoded1) in zip(before, after):
        assert relayed1 - relayed0 >= 70            # 1.5 s of packets relayed by each box leg ...
        assert decoded1 == decoded0                 # ... and not one frame decoded by the box
    assert rig.pool.legs_open() == 0


def test_rfc4733_events_pass_through_the_relay(rig):
    call, call_id = connected_call(rig, rig.pbx.center)
    caller_far, agent_far = far_legs(rig, call)
    caller, _ = rig.pbx.agent_leg_media(call_id)
    rig.far_rtp.media.digits(agent_far.leg_no)
    caller_far.leg.send_digits("5#", duration=0.12)
    rig.run(1.0)
    heard = rig.far_rtp.media.digits(agent_far.leg_no)
    events = agent_far.leg.stats()["dtmf_received"]
    still_relayed = caller.relay_partner is not None
    call.hang_up()
    rig.run_until(lambda: not rig.pbx.active, 3.0)
    assert still_relayed and heard == ["5", "#"] and events >= 2


def test_recording_started_mid_call_records_both_sides_through_a_monitored_relay(rig):
    call, call_id = connected_call(rig, rig.pbx.center)
    caller_far, agent_far = far_legs(rig, call)
    caller, agent = rig.pbx.agent_leg_media(call_id)
    rig.run(0.5)
    for leg in (caller, agent):          # as the call recorder starts (pbx_cti/recording)
        leg.record(3.0)
    monitored = caller.relay_partner is agent and caller.relay_monitored and agent.decoded()
    rig.far_rtp.media.play(caller_far.leg_no, tone(1000, 1.0))
    rig.far_rtp.media.play(agent_far.leg_no, tone(600, 1.0))
    rig.run(1.2)
    said_by_caller, said_by_agent = caller.recorded(), agent.recorded()
    relayed = box_figures(caller)[0]
    call.hang_up()
    rig.run_until(lambda: not rig.pbx.active, 3.0)
    assert monitored and relayed > 50
    assert abs(strongest_hz(said_by_caller[-4000:]) - 1000) < 20
    assert abs(strongest_hz(said_by_agent[-4000:]) - 600) < 20


def test_a_monitoring_supervisor_hears_both_sides_and_whisper_goes_through_the_media_plane(rig):
    call, call_id = connected_call(rig, rig.pbx.center)
    caller_far, agent_far = far_legs(rig, call)
    caller, agent = rig.pbx.agent_leg_media(call_id)
    assert rig.pbx.supervise(call_id, "2002", "monitor") is None
    supervisor_phone = rig.phones["2002"]
    rig.run_until(lambda: any(c.leg is not None for c in supervisor_phone.by_id.values()), 3.0)
    rig.run(0.2)
    supervisor = next(iter(supervisor_phone.by_id.values()))
    monitor_relayed = caller.relay_partner is agent and caller.relay_monitored
    rig.far_rtp.media.record(supervisor.leg_no, seconds=3.0)
    rig.far_rtp.media.play(caller_far.leg_no, tone(1000, 0.8))
    rig.run(1.0)
    rig.far_rtp.media.play(agent_far.leg_no, tone(600, 0.8))
    rig.run(1.0)
    monitored = rig.far_rtp.media.recorded(supervisor.leg_no)
    # whisper: the agent hears the supervisor too, mixed in: no relay while it lasts
    rig.pbx.supervise(call_id, "2002", "whisper")
    whisper_relayed = caller.relay_partner is not None
    rig.far_rtp.media.record(agent_far.leg_no, seconds=3.0)
    rig.far_rtp.media.play(supervisor.leg_no, tone(1500, 0.8))
    rig.far_rtp.media.play(caller_far.leg_no, tone(1000, 0.8))
    rig.run(1.0)
    agent_heard = rig.far_rtp.media.recorded(agent_far.leg_no)[-4000:]
    supervisor.hang_up()
    rig.run_until(lambda: supervisor.released is not None and rig.pbx.by_call[call_id].supervisor is None, 2.0)
    relayed_again = caller.relay_partner is agent and not caller.relay_monitored
    call.hang_up()
    rig.run_until(lambda: not rig.pbx.active, 3.0)
    assert monitor_relayed and not whisper_relayed and relayed_again
    first, second = monitored[-16000:-8000], monitored[-8000:]
    assert abs(strongest_hz(first[-4000:]) - 1000) < 20       # the caller, heard by the supervisor
    assert abs(strongest_hz(second[-4000:]) - 600) < 20       # then the agent
    spectrum = np.abs(np.fft.rfft(agent_heard.astype(float)))
    hz = np.fft.rfftfreq(len(agent_heard), 1 / 8000)
    level = {f: spectrum[np.argmin(np.abs(hz - f))] for f in (1000, 1500)}
    assert level[1000] > 10 * np.median(spectrum) and level[1500] > 10 * np.median(spectrum)


def test_hold_goes_through_the_media_plane_and_retrieve_relays_again(rig):
    call, call_id = connected_call(rig, rig.pbx.center)
    caller_far, agent_far = far_legs(rig, call)
    caller, agent = rig.pbx.agent_leg_media(call_id)
    assert rig.pbx.hold(call_id, tone(440, 1.0))
    held = caller.relay_partner is None and agent.relay_partner is None
    rig.far_rtp.media.record(caller_far.leg_no, seconds=2.0)
    rig.far_rtp.media.record(agent_far.leg_no, seconds=2.0)
    rig.far_rtp.media.play(agent_far.leg_no, tone(600, 1.0))
    rig.run(1.0)
    caller_heard = rig.far_rtp.media.recorded(caller_far.leg_no)[-4000:]
    agent_heard = rig.far_rtp.media.recorded(agent_far.leg_no)[-4000:]
    assert rig.pbx.retrieve(call_id)
    retrieved = caller.relay_partner is agent and not caller.relay_monitored
    rig.far_rtp.media.play(agent_far.leg_no, tone(600, 1.0))
    rig.run(1.0)
    after = rig.far_rtp.media.recorded(caller_far.leg_no)[-4000:]
    call.hang_up()
    rig.run_until(lambda: not rig.pbx.active, 3.0)
    assert held and retrieved
    assert abs(strongest_hz(caller_heard) - 440) < 20                    # the music, not the agent
    assert np.sqrt(np.mean(agent_heard.astype(float) ** 2)) < 100        # the agent hears silence
    assert abs(strongest_hz(after) - 600) < 20                           # and each other again

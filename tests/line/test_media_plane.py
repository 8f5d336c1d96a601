"""The media plane inside the line's advance: prompts, DTMF taps, recorder taps, per-call law,
barge-in, and bridges between channels of one span or of two — a call hairpinned E1 to E1, a
conference, a supervisor's monitor, whisper and barge."""

from __future__ import annotations

import numpy as np
import pytest

from dsp import lib
from dsp.dtmf import DtmfGenerator
from dsp.line_port import LinePort, PortMedia, WireEnd

ALAW, ULAW = lib.MEDIA_CODEC_ALAW, lib.MEDIA_CODEC_ULAW


class Spans:
    """Span pairs back to back on in-process wires, advanced together on a virtual clock."""

    def __init__(self, pairs: int = 1):
        self.ports, self.now = [], 0.0
        self.near, self.far = [], []
        for _ in range(pairs):
            a, b = WireEnd.pair(8)
            far, near = LinePort(a, clock_line=False), LinePort(b, clock_line=True)
            far.start(0.0)
            near.start(0.0)
            self.ports += [far, near]
            self.far.append(PortMedia(far))
            self.near.append(PortMedia(near))
        self.run(0.3)                                   # alignment and CRC-4 first

    def run(self, seconds: float) -> None:
        for _ in range(int(round(seconds / 0.001))):
            self.now += 0.001
            for port in self.ports:
                port.advance(self.now)


def tone(hz: float, seconds: float, amplitude: float = 6000.0) -> np.ndarray:
    n = int(seconds * 8000)
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(n) / 8000)).astype(np.int16)


def dtmf(digits: str) -> np.ndarray:
    gen = DtmfGenerator(level_dbm0=-10.0, on_ms=80, off_ms=80)
    gen.put(digits)
    return np.concatenate([gen.generate(8000) for _ in range(len(digits))])


def power_at(pcm: np.ndarray, hz: float) -> float:
    """Mean power of the hz component (Goertzel-like projection), in dB relative to full scale."""
    t = np.arange(len(pcm)) / 8000
    x = pcm.astype(float)
    i, q = np.mean(x * np.cos(2 * np.pi * hz * t)), np.mean(x * np.sin(2 * np.pi * hz * t))
    return 10 * np.log10(2 * (i * i + q * q) / 32767.0 ** 2 + 1e-12)


def test_a_prompt_crosses_the_line_and_its_digits_are_heard_by_the_far_channel():
    s = Spans()
    far, near = s.far[0], s.near[0]
    far.open(4, ALAW)
    near.open(4, ALAW)
    near.record(4)
    item = far.play(4, dtmf("159#"))
    s.run(1.0)
    assert near.digits(4) == list("159#")
    assert far.finished(4) == [(item, lib.PLAYER_END_DONE)]
    assert len(near.recorded(4)) >= 7000


def test_each_call_carries_its_own_law_on_one_span():
    s = Spans()
    far, near = s.far[0], s.near[0]
    far.open(0, ULAW)
    near.open(0, ULAW)                  # both ends agree on mu-law for this call
    far.open(1, ALAW)
    near.open(1, ULAW)                  # a mismatch mangles digits
    far.play(0, dtmf("42"))
    far.play(1, dtmf("42"))
    s.run(0.6)
    assert near.digits(0) == ["4", "2"]
    assert near.digits(1) != ["4", "2"]


def test_a_call_hairpinned_from_one_span_to_another_is_heard_both_ways():
    s = Spans(pairs=2)
    caller_far, caller_near = s.far[0], s.near[0]      # the carrier and the box's span 1
    agent_far, agent_near = s.far[1], s.near[1]        # the box's span 3 and the center's PBX
    caller_far.open(6, ALAW)
    caller_near.open(6, ALAW)
    agent_near.open(11, ALAW)
    agent_far.open(11, ALAW)
    caller_near.hear(6, agent_near, 11)
    agent_near.hear(11, caller_near, 6)
    caller_far.play(6, dtmf("2580"))
    agent_far.play(11, dtmf("*7"))
    s.run(1.0)
    assert agent_far.digits(11) == list("2580")
    assert caller_far.digits(6) == ["*", "7"]
    stats = agent_near.bridge_stats(11)
    assert stats["sources"] == 1 and stats["resyncs"] == 0
    agent_near.stop_hearing(11, caller_near, 6)
    caller_far.play(6, dtmf("9"))
    s.run(0.4)
    assert agent_far.digits(11) == []


def test_a_conference_each_hears_the_others_and_not_itself():
    s = Spans()
    far, near = s.far[0], s.near[0]
    freqs = {0: 500.0, 1: 1100.0, 2: 1700.0}
    for ch in freqs:
        far.open(ch, ALAW)
        near.open(ch, ALAW)
        far.record(ch)
    for ch in freqs:
        for other in freqs:
            if other != ch:
                near.hear(ch, near, other)
    for ch, hz in freqs.items():
        far.play(ch, tone(hz, 1.0))
    s.run(1.0)
    for ch, hz in freqs.items():
        heard = far.recorded(ch)[2000:6000]
        for other, other_hz in freqs.items():
            level = power_at(heard, other_hz)
            if other == ch:
                assert level < -40, (ch, other, level)
            else:
                assert level > -20, (ch, other, level)


def test_monitor_whisper_and_barge():
    s = Spans()
    far, near = s.far[0], s.near[0]
    caller, agent, supervisor = 0, 1, 2
    hz = {caller: 600.0, agent: 1000.0, supervisor: 1500.0}
    for ch in hz:
        far.open(ch, ALAW)
        near.open(ch, ALAW)
        far.record(ch)
    near.hear(caller, near, agent)
    near.hear(agent, near, caller)
    near.hear(supervisor, near, caller)          # monitor: the supervisor hears both sides
    near.hear(supervisor, near, agent)
    near.hear(agent, near, supervisor)           # whisper: only the agent hears the supervisor

    def heard(seconds=0.6):
        for ch, f in hz.items():
            far.play(ch, tone(f, seconds))
        s.run(seconds)
        return {ch: far.recorded(ch)[1600:4000] for ch in hz}

    whisper = heard()
    assert power_at(whisper[supervisor], hz[caller]) > -20 and power_at(whisper[supervisor], hz[agent]) > -20
    assert power_at(whisper[agent], hz[supervisor]) > -20
    assert power_at(whisper[caller], hz[supervisor]) < -40
    near.hear(caller, near, supervisor)          # barge: the caller hears the supervisor too
    barge = heard()
    assert power_at(barge[caller], hz[supervisor]) > -20


def test_barge_in_stops_an_interruptible_prompt_on_the_first_digit():
    s = Spans()
    far, near = s.far[0], s.near[0]
    far.open(2, ALAW)
    near.open(2, ALAW)
    near.barge_in(2)
    item = near.play(2, tone(425, 5.0), interruptible=True)
    s.run(0.5)
    far.play(2, dtmf("3"))
    s.run(0.5)
    assert near.finished(2) == [(item, lib.PLAYER_END_BARGE_IN)]
    assert near.digits(2) == ["3"]


def test_bad_requests_name_what_was_wrong():
    s = Spans()
    near = s.near[0]
    with pytest.raises(ValueError, match="channel: expected 0..29"):
        near.open(30, ALAW)
    with pytest.raises(ValueError, match="channel 5: not open"):
        near.play(5, tone(425, 0.1))
    near.open(5, ALAW)
    with pytest.raises(ValueError, match="cannot hear itself"):
        near.hear(5, near, 5)
    with pytest.raises(ValueError, match="non-empty 1-D int16"):
        near.play(5, np.zeros(0, np.int16))
    with pytest.raises(ValueError, match="gain"):
        near.open(6, ALAW) or near.hear(6, near, 5, gain_db=40)

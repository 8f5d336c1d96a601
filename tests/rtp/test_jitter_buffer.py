"""The adaptive jitter buffer alone (dsp/c/jitter.h), on a virtual clock: 20 ms packets of two
10 ms frames, each frame carrying its own index so the order played is visible."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp import ffi, lib

FRAME = 80


class Stream:
    """A sender of 20 ms packets and a player taking one frame every 10 ms."""

    def __init__(self, min_ms: int = 20, max_ms: int = 300, first_ts: int = 4_294_960_000):
        self.jb = ffi.new("jitter_buffer_t *")
        lib.jitter_init(self.jb, min_ms, max_ms)
        self.first_ts = first_ts               # wraps the 32-bit timestamp within a second
        self.out = ffi.new("uint8_t[80]")
        self.played: list[int | None] = []

    def frame(self, index: int, loud: bool) -> bytes:
        return bytes([index % 256]) * (FRAME if loud else 2)

    def run(self, packets: int, transit, loud=lambda i: True, repeat=lambda i: 1) -> None:
        """Packet i is sent at i*20 ms and arrives transit(i) s later; frames play at 10 ms."""
        arrivals = []
        for i in range(packets):
            at = 0.020 * i + transit(i)
            for _ in range(repeat(i)):
                arrivals.append((at, i))
        arrivals.sort()
        k, tick = 0, 0
        while k < len(arrivals) or any(slot.filled for slot in self.jb.slots):
            tick += 1
            now = tick * 0.010
            while k < len(arrivals) and arrivals[k][0] <= now:
                i = arrivals[k][1]
                for f in range(2):
                    index = 2 * i + f
                    data = self.frame(index, loud(index))
                    lib.jitter_put(self.jb, (self.first_ts + index * FRAME) % 2**32, data, len(data),
                                   int(not loud(index)), arrivals[k][0])
                k += 1
            n = lib.jitter_get(self.jb, self.out, now)
            if self.jb.playing:
                self.played.append(self.out[0] if n else None)

    @property
    def stats(self):
        return self.jb.stats

    def heard(self) -> list[int]:
        return [p for p in self.played if p is not None]


def test_in_order_frames_play_in_order_through_the_timestamp_wrap():
    s = Stream()
    s.run(200, lambda i: 0.003)
    assert s.heard() == [i % 256 for i in range(400)]
    assert s.stats.late == s.stats.missing == s.stats.duplicates == 0
    assert s.stats.target_ms == 23                  # the 20 ms minimum and its 2.5 ms margin


def test_reordered_packets_are_played_in_order():
    s = Stream(min_ms=40)
    swapped = {10: 0.025, 11: 0.0, 40: 0.030, 41: 0.005}
    s.run(100, lambda i: swapped.get(i, 0.002))
    assert s.heard() == [i % 256 for i in range(200)]
    assert s.stats.late == s.stats.missing == 0


def test_duplicates_are_dropped_and_counted():
    s = Stream()
    s.run(100, lambda i: 0.002, repeat=lambda i: 2 if i % 3 == 0 else 1)
    assert s.heard() == [i % 256 for i in range(200)]
    assert s.stats.duplicates == 2 * len(range(0, 100, 3))


def test_a_packet_later_than_the_buffer_can_wait_is_dropped_late_and_concealed():
    s = Stream(min_ms=20, max_ms=40)
    s.run(100, lambda i: 0.300 if i == 50 else 0.001)
    assert s.stats.late == 2
    assert 100 not in s.heard() and 101 not in s.heard()
    assert s.stats.missing >= 2


def test_the_buffer_grows_on_jitter_and_then_stops_dropping():
    s = Stream()
    rng = random.Random(3)
    s.run(500, lambda i: 0.002 if i < 100 else rng.uniform(0, 0.060))
    assert s.stats.target_ms >= 60
    assert s.stats.grown >= 2
    # After the first spikes the deeper buffer holds the same jitter: hardly anything is late.
    assert s.stats.late < 0.03 * 800


def test_it_shrinks_in_silence_and_never_cuts_speech():
    def spike(i):
        return 0.150 if i == 50 else 0.001

    quiet = Stream()
    quiet.run(3000, spike, loud=lambda i: i < 200)
    assert quiet.stats.shrunk >= 5
    assert quiet.stats.delay_ms <= 40
    speech = Stream()
    speech.run(3000, spike, loud=lambda i: True)
    # In speech the buffer only shrinks across gaps: every frame but the late packet's is heard.
    assert speech.heard() == [i % 256 for i in range(6000) if i not in (100, 101)]
    assert speech.stats.late == 2


def test_added_delay_is_measured_per_played_frame():
    s = Stream()
    rng = random.Random(5)
    s.run(1500, lambda i: rng.uniform(0, 0.020))
    p50 = lib.jitter_delay_percentile(s.jb, 50)
    assert 5 <= p50 <= 35
    assert sum(s.jb.histogram) == s.stats.played
    assert lib.jitter_delay_percentile(s.jb, 99) >= p50


def test_bad_lengths_are_refused():
    s = Stream()
    assert lib.jitter_put(s.jb, 0, b"", 0, 0, 0.0) == -1
    assert lib.jitter_put(s.jb, 0, b"x" * 81, 81, 0, 0.0) == -1
    assert s.stats.frames_in == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 199), st.floats(0.0, 0.2)), min_size=1, max_size=300),
       st.integers(0, 2**32 - 1), st.integers(10, 100), st.integers(40, 400))
def test_whatever_arrives_frames_play_once_and_in_order(arrivals, first_ts, min_ms, max_ms):
    """Any mix of reordering, duplicates, losses and delays: each frame plays at most once and
    timestamps only move forward."""
    jb = ffi.new("jitter_buffer_t *")
    lib.jitter_init(jb, min_ms, max_ms)
    events = sorted((0.010 * i + delay, i) for i, delay in arrivals)
    out = ffi.new("uint8_t[80]")
    played = []
    k = 0
    for tick in range(1, 700):
        now = tick * 0.005
        while k < len(events) and events[k][0] <= now:
            i = events[k][1]
            data = struct.pack("!H", i) * 40
            assert lib.jitter_put(jb, (first_ts + i * FRAME) % 2**32, data, 80, 0, events[k][0]) in (0, 1, 2, 3)
            k += 1
        if tick % 2 == 0 and lib.jitter_get(jb, out, now) == 80:
            played.append(struct.unpack("!H", bytes(out[0:2]))[0])
    assert played == sorted(set(played))
    assert jb.stats.played == len(played)


@pytest.mark.parametrize("ppm", [+500, -500])
def test_a_sender_clock_off_by_500_ppm_is_followed_without_drift(ppm):
    """Packets sent on a clock 500 ppm fast (slow): the buffer skips quiet frames (holds one)
    now and then, so its delay stays within a frame or two of the target and nothing is late."""
    s = Stream()
    # speech in bursts of 1.6 s with 0.4 s pauses: shrinking happens only in the pauses
    # a fast sender's packets arrive ever earlier than their timestamps say, a slow one's later
    s.run(3000, lambda i: 0.040 - 0.020 * i * ppm * 1e-6, loud=lambda f: (f // 40) % 5 != 4)
    assert s.stats.late == 0
    assert abs(s.stats.delay_ms - s.stats.target_ms) <= 20
    assert (s.stats.shrunk if ppm > 0 else s.stats.grown) >= 2

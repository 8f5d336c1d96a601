"""How media.py carries two RTP legs that hear each other: relayed in C when their codec and
packet size agree, through the media plane (transcoding or repacketizing) when not, and back and
forth as a prompt is played into one or a leg closes."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.rtp import RtpPort
from pbx_cti.pbx.media import TO_LINE, RtpLegMedia, bridge
from tests.rtp.support import Clock, connect_pair, tone


def strongest_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(float)))
    return float(np.argmax(spectrum[1:]) + 1) * 8000 / len(samples)


class TwoLegs:
    """Far ends A and C (legs 0 and 1 of `far`), the box's legs toward them (of `box`)."""

    def __init__(self, second_codec: str = "PCMA", second_ptime: int = 20):
        self.far, self.box = RtpPort(0.0, ntp_offset=0.0), RtpPort(0.0, ntp_offset=0.0)
        self.clock = Clock(self.far, self.box)
        connect_pair(self.far, 0, self.box, 0, "PCMA")
        connect_pair(self.far, 1, self.box, 1, second_codec, ptime=second_ptime)
        self.a, self.c = RtpLegMedia(self.box.sessions[0]), RtpLegMedia(self.box.sessions[1])

    def c_hears(self, seconds: float = 1.0, hz: float = 1000) -> float:
        """A's far end plays a tone; the strongest frequency C's far end hears at the end."""
        self.far.media.record(1, seconds=seconds + 1.0)
        self.far.media.recorded(1)
        self.far.media.play(0, tone(hz, seconds))
        self.clock.run(seconds + 0.2)
        return strongest_hz(self.far.media.recorded(1)[-3200:])


@pytest.mark.parametrize("codec, ptime, relayed", [("PCMA", 20, True), ("PCMU", 20, False), ("PCMA", 30, False),
                                                   ("G729", 20, False)])
def test_two_rtp_legs_are_relayed_only_when_codec_and_packet_size_agree(codec, ptime, relayed):
    legs = TwoLegs(codec, ptime)
    bridge(legs.a, legs.c)
    assert (legs.a.relay_partner is legs.c) is relayed and (legs.c.relay_partner is legs.a) is relayed
    assert legs.a.decoded() is not relayed
    assert abs(legs.c_hears() - 1000) < 20            # either way C hears A
    frames_in = legs.box.stats(0)["jitter_buffer"]["frames_in"]
    assert (frames_in == 0) is relayed                # relayed: the box decoded nothing of A
    assert (legs.box.stats(0)["relayed"] > 40) is relayed


def test_a_prompt_played_into_a_relayed_leg_breaks_the_relay_until_it_is_stopped():
    legs = TwoLegs()
    bridge(legs.a, legs.c)
    legs.c.play(tone(440, 5.0))
    assert legs.a.relay_partner is None
    legs.far.media.record(1, seconds=2.0)
    legs.clock.run(0.6)
    assert abs(strongest_hz(legs.far.media.recorded(1)[-3200:]) - 440) < 20    # C hears the prompt
    legs.c.stop()
    assert legs.a.relay_partner is legs.c
    assert abs(legs.c_hears(hz=700) - 700) < 20


def test_a_relayed_leg_that_closes_leaves_its_partner_unrelayed_and_usable():
    legs = TwoLegs()
    bridge(legs.a, legs.c)
    legs.a.close()
    assert legs.c.relay_partner is None and legs.box.sessions[1].relayed_with is None
    legs.c.play(tone(500, 1.0))
    legs.far.media.record(1, seconds=2.0)
    legs.clock.run(0.8)
    assert abs(strongest_hz(legs.far.media.recorded(1)[-3200:]) - 500) < 20


def test_recording_what_a_leg_hears_takes_the_call_through_the_media_plane():
    legs = TwoLegs()
    bridge(legs.a, legs.c)
    legs.c.record(2.0, direction=TO_LINE)
    assert legs.a.relay_partner is None
    legs.far.media.play(0, tone(900, 1.0))
    legs.clock.run(1.0)
    assert abs(strongest_hz(legs.c.recorded(TO_LINE)[-3200:]) - 900) < 20


def test_a_consultation_and_a_three_way_conference_move_between_relays_and_the_media_plane():
    legs = TwoLegs()
    connect_pair(legs.far, 2, legs.box, 2, "PCMA")
    a, b, c = legs.a, legs.c, RtpLegMedia(legs.box.sessions[2])     # caller, agent, consulted party
    bridge(a, b)
    # consultation: the caller hears music, the agent talks to the consulted party (relayed)
    a.stop_hearing(b)
    b.stop_hearing(a)
    a.play(tone(440, 5.0), loops=0)
    bridge(b, c)
    assert a.relay_partner is None and b.relay_partner is c and c.relay_partner is b
    # conference: everyone hears everyone, mixed by the media plane
    a.stop()
    for x, y in ((a, b), (a, c)):
        x.hear(y)
        y.hear(x)
    assert all(leg.relay_partner is None for leg in (a, b, c))
    legs.far.media.record(1, seconds=2.0)
    legs.far.media.play(0, tone(1000, 1.0))
    legs.far.media.play(2, tone(1500, 1.0))
    legs.clock.run(1.0)
    heard = legs.far.media.recorded(1)[-3200:]
    spectrum = np.abs(np.fft.rfft(heard.astype(float)))
    hz = np.fft.rfftfreq(len(heard), 1 / 8000)
    for f in (1000, 1500):                            # the agent hears caller and party at once
        assert spectrum[np.argmin(np.abs(hz - f))] > 10 * np.median(spectrum)
    # the consulted party leaves: caller and agent are relayed again
    c.close()
    assert a.relay_partner is b and b.relay_partner is a and not a.relay_monitored
    assert abs(legs.c_hears(hz=700) - 700) < 20

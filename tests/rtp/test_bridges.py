"""An RTP leg is a channel of the media plane like a B-channel: an E1 caller bridged to an RTP
agent (G.711 and G.729), RFC 4733 digits reported beside in-band ones, and pass-through relays
between RTP legs of one codec that leave the payload untouched."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dsp import ffi, lib
from dsp.line_port import LineThread
from dsp.rtp import RtpError, RtpPort
from tests.line.test_media_plane import Spans, dtmf
from tests.rtp.support import Clock, aligned_snr_db, connect_pair, power_db, tone

ALAW = lib.MEDIA_CODEC_ALAW


class E1AndRtp(Spans):
    """A span pair (carrier <-> box) and two RTP ports (box <-> agent's phone), one clock."""

    def __init__(self, codec: str = "PCMA"):
        super().__init__()
        self.box_rtp, self.phone = RtpPort(self.now), RtpPort(self.now)
        self.ports += [self.box_rtp, self.phone]
        # In-band receivers on G.729 legs too (off by default there): the test listens for tones.
        self.box_leg, self.phone_leg = connect_pair(self.box_rtp, 5, self.phone, 0, codec, inband_dtmf=True)


@pytest.mark.parametrize("codec", ["PCMA", "G729"])
def test_an_e1_caller_bridged_to_an_rtp_agent_hears_and_is_heard(codec):
    s = E1AndRtp(codec)
    carrier, box_span = s.far[0], s.near[0]
    carrier.open(7, ALAW)
    box_span.open(7, ALAW)
    box_span.hear(7, s.box_rtp.media, 5)            # the caller hears the agent
    s.box_rtp.media.hear(5, box_span, 7)            # the agent hears the caller
    carrier.play(7, dtmf("2580"))
    s.phone.media.play(0, dtmf("*7"))
    s.run(1.2)
    assert s.phone.media.digits(0) == list("2580")  # in-band, through the bridge and the codec
    assert carrier.digits(7) == ["*", "7"]
    assert s.box_rtp.media.bridge_stats(5)["resyncs"] == 0
    carrier.record(7)
    s.phone.media.play(0, tone(800, 1.0))
    s.run(1.0)
    heard = carrier.recorded(7)
    assert power_db(heard[2000:], 800) > power_db(tone(800, 1.0), 800) - (3.0 if codec == "G729" else 0.5)


@pytest.mark.parametrize("codec", ["PCMA", "G729"])
def test_rfc4733_digits_from_the_phone_are_digits_of_the_box_channel_and_tones_to_the_e1(codec):
    s = E1AndRtp()
    if codec == "G729":   # the default G.729 leg: no in-band receiver, the port reports events itself
        s.box_leg, s.phone_leg = connect_pair(s.box_rtp, 5, s.phone, 0, codec)
    carrier, box_span = s.far[0], s.near[0]
    carrier.open(7, ALAW)
    box_span.open(7, ALAW)
    box_span.hear(7, s.box_rtp.media, 5)
    s.box_rtp.media.record(5)
    s.phone_leg.send_digits("47#", duration=0.1)
    s.run(0.8)
    assert s.box_rtp.media.digits(5) == list("47#")          # once each, as from a B-channel
    assert s.box_leg.stats()["dtmf_received"] == 3
    assert carrier.digits(7) == list("47#")                   # regenerated as tones toward the E1
    heard = s.box_rtp.media.recorded(5)
    voiced = np.abs(heard[: len(heard) // 80 * 80].reshape(-1, 80)).mean(axis=1) > 1000
    assert 27 <= voiced.sum() <= 33                            # three tones of the events' 100 ms


def test_a_prompt_played_on_an_rtp_leg_reaches_the_phone_and_ends():
    s = E1AndRtp()
    item = s.box_rtp.media.play(5, tone(600, 0.5))
    s.phone.media.record(0)
    s.run(1.0)
    assert s.box_rtp.media.finished(5) == [(item, lib.PLAYER_END_DONE)]
    assert power_db(s.phone.media.recorded(0), 600) > -30


def relay_chain(codec_a="PCMA", codec_c="PCMA"):
    """Phone A <-> box leg 0 =relay= box leg 1 <-> phone C."""
    a, box, c = RtpPort(), RtpPort(), RtpPort()
    x, b0 = connect_pair(a, 0, box, 0, codec_a)
    b1, y = connect_pair(box, 1, c, 0, codec_c)
    return a, box, c, x, b0, b1, y


def test_pass_through_relays_g711_untouched_both_ways_with_digits():
    a, box, c, x, b0, b1, y = relay_chain()
    b0.relay(b1)
    speech = tone(1000, 2.0) // 2 + tone(350, 2.0) // 3
    a.media.play(0, speech)
    c.media.play(0, tone(700, 2.0))
    c.media.record(0)
    a.media.record(0)
    clock = Clock(a, box, c)
    clock.run(1.2)
    # What C decodes is exactly what A encoded: the relay never touched the payload.
    alaw = np.empty(len(speech), np.uint8)
    lib.g711_linear_to_alaw(ffi.from_buffer("int16_t[]", speech), ffi.from_buffer("uint8_t[]", alaw), len(speech))
    expected = np.empty(len(speech), np.int16)
    lib.g711_alaw_to_linear(ffi.from_buffer("uint8_t[]", alaw), ffi.from_buffer("int16_t[]", expected), len(speech))
    assert aligned_snr_db(expected, c.media.recorded(0)) > 90
    assert power_db(a.media.recorded(0)[2000:], 700) > -20
    x.send_digits("9*")
    clock.run(0.6)
    assert y.digits() == ["9", "*"]
    relayed = b0.stats()["relayed"]
    assert relayed >= 60 and b1.stats()["packets_sent"] >= relayed
    assert y.stats()["lost"] == 0 and y.stats()["ssrc_changes"] == 0
    box.unrelay(0)                           # back through the media plane: B hears and speaks again
    box.media.play(1, tone(1200, 1.0))
    c.media.recorded(0)
    clock.run(0.8)
    assert power_db(c.media.recorded(0)[-3000:], 1200) > -20
    b0.relay(b1)
    b0.close()                               # closing one end ends the relay
    assert b1.relayed_with is None


def test_relay_refuses_legs_whose_codecs_differ():
    a, box, c, x, b0, b1, y = relay_chain("PCMA", "G729")
    with pytest.raises(RtpError, match="codecs differ"):
        b0.relay(b1)
    # ... and the media plane transcodes them instead.
    box.media.hear(0, box.media, 1)
    box.media.hear(1, box.media, 0)
    a.media.play(0, tone(500, 1.5))
    c.media.record(0)
    Clock(a, box, c).run(1.2)
    assert power_db(c.media.recorded(0)[3000:], 500) > power_db(tone(500, 1.5), 500) - 3


def test_the_line_thread_drives_rtp_ports_in_real_time():
    thread = LineThread(period=0.002)
    now = LineThread.now()
    a, b = RtpPort(now), RtpPort(now)
    x, y = connect_pair(a, 0, b, 0, "PCMU")
    b.media.record(0)
    a.media.play(0, tone(900, 1.0))
    thread.attach_rtp(a)
    thread.attach_rtp(b)
    thread.start(realtime_priority=False)
    try:
        time.sleep(0.6)
        x.send_digits("5")
        time.sleep(0.4)
    finally:
        thread.stop()
    assert thread.stats()["rtp_ports"] == 2
    assert a.blocks()["run"] >= 90 and a.blocks()["skipped"] == 0
    assert y.digits() == ["5"]
    heard = b.media.recorded(0)
    assert len(heard) >= 6000 and power_db(heard[1000:4000], 900) > -25
    thread.detach_rtp(a)
    thread.detach_rtp(b)


def test_a_monitored_relay_is_recorded_and_its_digits_heard_while_payloads_pass_untouched():
    a, box, c, x, b0, b1, y = relay_chain("PCMU", "PCMU")
    b0.relay(b1, monitor=True)
    box.media.record(0)
    box.media.record(1)
    a.media.play(0, tone(1000, 1.0))
    c.media.play(0, tone(450, 1.0))
    c.media.record(0)
    clock = Clock(a, box, c)
    clock.run(0.8)
    x.send_digits("3")
    clock.run(0.4)
    from_a, from_c = box.media.recorded(0), box.media.recorded(1)
    assert power_db(from_a[2000:6000], 1000) > -20 and power_db(from_c[2000:6000], 450) > -20
    assert box.media.digits(0) == ["3"]                 # regenerated for the tap, reported once
    assert y.digits() == ["3"]                          # and relayed as an event to C
    assert b0.stats()["relayed"] >= 50
    assert power_db(c.media.recorded(0)[2000:6000], 1000) > -20

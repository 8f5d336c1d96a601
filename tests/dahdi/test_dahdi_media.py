"""A call on a DAHDI span has audio both ways through SpanAudio: the span's own media port runs
each 10 ms block its B-channel descriptors delivered (one C call a block) from the loop's tick,
and what it makes goes back out on the descriptors.  On the fake kernel device: a prompt the box
plays arrives in the octets written to the channel, and DTMF the line sends is heard as digits."""

import numpy as np
import pytest

from drivers import dahdi_ioctl as io
from drivers import make_span
from drivers.config import SpanConfig
from dsp import companding
from dsp.dtmf import DtmfGenerator, detect_digits
from firmware.isdn.bearer import SpanAudio
from runtime.bus import EventBus
from runtime.clock import ManualClock
from tests.dahdi.fake_kernel import FakeDahdi

BLOCK = 160                        # the span's B-channel block: 20 ms per read and write
TIMESLOT = 5                       # B-channel 5, DAHDI channel 5 on a span based at 1
KERNEL_LAW = {"alaw": io.DAHDI_LAW_ALAW, "ulaw": io.DAHDI_LAW_MULAW}
SILENCE = {"alaw": 0xD5, "ulaw": 0xFF}


def bearer_channels(kernel):
    return [kernel.channels[n] for n in range(1, 32) if n != 16]


def open_card(law):
    kernel = FakeDahdi()
    clock = ManualClock()
    span = make_span(SpanConfig(id=2, driver="dahdi", dahdi_span=1, side="te", clock="line", law=law),
                     clock=clock, bus=EventBus(), device=kernel)
    span.open()
    return span, kernel, clock


def run(span, kernel, clock, seconds, line_audio=None, law="alaw"):
    """The card delivers one 20 ms block per channel every 20 ms (idle, or `line_audio` on
    TIMESLOT) and the loop ticks the span every millisecond."""
    line = companding.encode(line_audio, law) if line_audio is not None else None
    for step in range(int(round(seconds / 0.020))):
        for channel in bearer_channels(kernel):
            channel.rx.append(bytes([SILENCE[law]]) * BLOCK)
        if line is not None:
            chunk = line[step * BLOCK:(step + 1) * BLOCK]
            chunk = np.concatenate([chunk, np.full(BLOCK - len(chunk), SILENCE[law], np.uint8)])
            kernel.channels[TIMESLOT].rx[-1] = chunk.tobytes()
        for _ in range(20):
            clock.advance(0.001)
            span.tick(clock.now())


@pytest.mark.parametrize("law", ["alaw", "ulaw"])
def test_a_call_on_a_card_hears_the_box_and_the_box_hears_its_digits(law):
    span, kernel, clock = open_card(law)
    audio = SpanAudio(span, clock)
    audio.start()
    # The card's channels carry the span's law; the media plane primes them with its silence.
    assert all(channel.law == KERNEL_LAW[law] for channel in bearer_channels(kernel))
    audio.open(TIMESLOT)

    prompt = DtmfGenerator(level_dbm0=-10.0, on_ms=80, off_ms=80)
    prompt.put("2468")
    audio.play(TIMESLOT, prompt)
    caller = DtmfGenerator(level_dbm0=-10.0, on_ms=80, off_ms=80).render("159#")
    run(span, kernel, clock, 1.0, line_audio=caller, law=law)

    written = b"".join(kernel.channels[TIMESLOT].tx)
    assert len(written) >= 7000 and all(len(w) == BLOCK for w in kernel.channels[TIMESLOT].tx)
    assert detect_digits(companding.decode(np.frombuffer(written, np.uint8), law)) == "2468"
    assert not audio.playing(TIMESLOT)                      # the prompt ended, and the box knows
    assert audio.digits(TIMESLOT) == list("159#")
    quiet = b"".join(kernel.channels[TIMESLOT + 1].tx)       # a channel with no call sends silence
    assert len(quiet) == len(written) and set(quiet) == {SILENCE[law]}
    assert span.counters()["media_blocks"] == 100
    assert span.media_port().blocks == 100


def test_the_media_plane_takes_whole_blocks_only_when_every_channel_has_one():
    span, kernel, clock = open_card("alaw")
    audio = SpanAudio(span, clock)
    audio.start()
    for channel in bearer_channels(kernel)[:-1]:             # B-channel 30's block is late
        channel.rx.append(bytes([0xD5]) * BLOCK)
    clock.advance(0.001)
    span.tick(clock.now())
    assert span.counters()["media_blocks"] == 0 and kernel.channels[1].tx == []
    kernel.channels[31].rx.append(bytes([0xD5]) * BLOCK)
    clock.advance(0.001)
    span.tick(clock.now())
    # Two 10 ms blocks ran; with the primed block, one whole 20 ms block went to every channel.
    assert span.counters()["media_blocks"] == 2
    assert all(len(channel.tx) == 1 for channel in bearer_channels(kernel))


def test_a_reopened_span_keeps_its_media_plane_and_primes_it_again():
    span, kernel, clock = open_card("alaw")
    audio = SpanAudio(span, clock)
    audio.start()
    run(span, kernel, clock, 0.1)
    span.close()
    kernel.channels[1].tx.clear()
    span.open()
    assert audio.span.media_port() is audio.media.port
    run(span, kernel, clock, 0.1)
    assert len(kernel.channels[1].tx) == 5 and span.media_port().blocks == 20

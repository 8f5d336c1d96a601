"""Prompts through the per-tick media batch: a prompt arrives on the E1 line octets of its
channel, and a DTMF digit from the line stops it in the very tick the receiver hears it."""

import numpy as np
import pytest

from dsp import codecs, ffi, lib
from dsp.codecs import Codec
from dsp.dtmf import DtmfGenerator
from dsp.media import Direction, MediaBatch
from dsp.player import EndReason, Player
from dsp.prompts import PromptStore, load_prompt

CHANNELS = 8
FRAMES = 2           # 20 ms ticks
TICK = FRAMES * 80
IVR = 5              # the channel the caller is on


def tone(freq, seconds, amplitude=8000):
    t = np.arange(int(8000 * seconds)) / 8000
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


@pytest.fixture
def greeting(tmp_path):
    octets = codecs.encode_alaw(tone(440, 1.0))
    (tmp_path / "greeting.alaw").write_bytes(octets.tobytes())
    return load_prompt(tmp_path / "greeting.alaw")


def make_batch():
    batch = MediaBatch(CHANNELS, FRAMES)
    for ch in range(CHANNELS):
        batch.configure(ch, line_law=Codec.ALAW, net_codec=Codec.ALAW)
    return batch, batch.new_buffers()


def test_prompt_arrives_bit_exact_on_the_line_octets_of_its_channel(greeting):
    batch, buffers = make_batch()
    buffers.line_in[:] = 0xD5
    player = Player()
    player.attach(batch, IVR)
    item = player.play(greeting)
    line = []
    for _ in range(greeting.samples.size // TICK + 3):
        batch.run(buffers)   # the network side sends nothing: only the prompt is on the line
        line.append(buffers.line_out.copy())
    line = np.concatenate(line, axis=1)
    n = greeting.samples.size
    assert np.array_equal(line[IVR, :n], greeting.octets("alaw"))
    assert not np.array_equal(line[IVR - 1, :n], greeting.octets("alaw"))
    assert [(e.item, e.reason, e.samples_played) for e in player.events()] == [(item, EndReason.DONE, n)]


def test_mu_law_line_gets_the_prompt_in_its_own_law(greeting):
    batch = MediaBatch(2, FRAMES)
    batch.configure(1, line_law=Codec.ULAW, net_codec=Codec.ULAW)
    buffers = batch.new_buffers()
    player = Player()
    player.attach(batch, 1)
    player.play(greeting)
    out = []
    for _ in range(10):
        batch.run(buffers)
        out.append(buffers.line_out[1].copy())
    assert np.array_equal(np.concatenate(out), greeting.octets("ulaw")[:10 * TICK])


def test_a_digit_from_the_line_stops_the_prompt_in_the_same_tick(greeting):
    batch, buffers = make_batch()
    receiver = ffi.gc(lib.dtmf_rx_new(), lib.dtmf_rx_free)
    batch.attach_tap(IVR, Direction.FROM_LINE, ffi.addressof(lib, "dtmf_rx"), receiver)
    player = Player()
    player.attach(batch, IVR)
    player.link_barge_in(ffi.addressof(lib, "dtmf_rx_current"), receiver)
    greeting_item = player.play(greeting)
    busy_item = player.play(greeting, loops=0)

    caller = np.zeros(8000, np.int16)                 # 0.3 s of quiet, then the caller presses 7
    caller[2400:2400 + 800] = DtmfGenerator().render("7")[:800]
    caller_octets = codecs.encode_alaw(caller)
    silence = codecs.encode_alaw(np.zeros(TICK, np.int16))
    heard_at = stopped_at = None
    for tick in range(caller.size // TICK):
        buffers.line_in[IVR] = caller_octets[tick * TICK:(tick + 1) * TICK]
        batch.run(buffers)
        if heard_at is None and lib.dtmf_rx_current(receiver) != b"\0":
            heard_at = tick
        expected = greeting.octets("alaw")[tick * TICK:(tick + 1) * TICK]
        if stopped_at is None and not np.array_equal(buffers.line_out[IVR], expected):
            stopped_at = tick
            assert np.array_equal(buffers.line_out[IVR], silence)  # not one prompt sample in it
    assert heard_at is not None and stopped_at == heard_at
    assert 2400 // TICK <= heard_at <= 2400 // TICK + 3
    events = player.events()
    assert [(e.item, e.reason, e.digit) for e in events] == [
        (greeting_item, EndReason.BARGE_IN, "7"), (busy_item, EndReason.BARGE_IN, "7")]
    assert events[0].samples_played == heard_at * TICK


def test_every_channel_plays_its_own_prompt_in_one_call(greeting):
    batch, buffers = make_batch()
    players = []
    for ch in range(CHANNELS):
        player = Player()
        player.attach(batch, ch)
        player.set_gain_db(-6.0 * ch)
        player.play(greeting)
        players.append(player)
    batch.run(buffers)
    levels = [np.sqrt(np.mean(batch.pcm_to_line[ch].astype(float) ** 2)) for ch in range(CHANNELS)]
    for ch in range(1, CHANNELS):
        assert abs(20 * np.log10(levels[ch] / levels[0]) + 6.0 * ch) < 0.3


def test_a_dropped_player_leaves_no_dangling_prompt_in_the_batch(tmp_path):
    batch, buffers = make_batch()
    player = Player()
    player.attach(batch, IVR)
    from dsp.prompts import Prompt
    player.play(Prompt("temp", tone(300, 2.0)), loops=0)
    batch.run(buffers)
    del player
    junk = [np.full(16000, 1000, np.int16) for _ in range(20)]
    batch.run(buffers)                  # the batch still runs the state: it plays nothing now
    assert np.abs(batch.pcm_to_line[IVR]).max() < 1000
    assert len(junk) == 20


def test_sources_are_limited_and_cleared():
    batch, buffers = make_batch()
    players = [Player() for _ in range(lib.MEDIA_MAX_SOURCES + 1)]
    for player in players[:-1]:
        player.attach(batch, 0)
    with pytest.raises(ValueError, match="already 2 sources"):
        players[-1].attach(batch, 0)
    with pytest.raises(ValueError, match="channel"):
        players[-1].attach(batch, CHANNELS)
    batch.clear_sources(0)
    players[-1].attach(batch, 0)


def test_a_korean_greeting_from_espeak_ng_plays_to_the_line_until_the_caller_presses_a_key(tmp_path):
    """A real streaming-written WAV (espeak-ng --stdout: 22.05 kHz, placeholder data size)."""
    import os
    import shutil
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # sanitizer runs preload
    wav = subprocess.run([shutil.which("espeak-ng") or "espeak-ng", "-v", "ko", "--stdout",
                          "안녕하세요? 고객님"], capture_output=True, check=True, timeout=60, env=env).stdout
    (tmp_path / "greeting.wav").write_bytes(wav)
    store = PromptStore()
    greeting = store.load("greeting", tmp_path / "greeting.wav")
    assert greeting.source_format == "16-bit PCM 22050 Hz mono" and not greeting.warnings
    assert 1.0 < greeting.duration < 5.0

    batch, buffers = make_batch()
    receiver = ffi.gc(lib.dtmf_rx_new(), lib.dtmf_rx_free)
    batch.attach_tap(IVR, Direction.FROM_LINE, ffi.addressof(lib, "dtmf_rx"), receiver)
    player = Player()
    player.attach(batch, IVR)
    player.link_barge_in(ffi.addressof(lib, "dtmf_rx_current"), receiver)
    player.play(greeting)
    press_at = int(greeting.samples.size * 0.6) // TICK * TICK
    caller = np.zeros(greeting.samples.size + 8000, np.int16)
    caller[press_at:press_at + 800] = DtmfGenerator().render("1")[:800]
    caller_octets = codecs.encode_alaw(caller)
    sent = []
    for tick in range(caller.size // TICK):
        buffers.line_in[IVR] = caller_octets[tick * TICK:(tick + 1) * TICK]
        batch.run(buffers)
        sent.append(buffers.line_out[IVR].copy())
    sent = np.concatenate(sent)
    [event] = player.events()
    assert event.reason == EndReason.BARGE_IN and event.digit == "1"
    played = event.samples_played
    assert press_at <= played <= press_at + 4 * TICK
    assert np.array_equal(sent[:played], greeting.octets("alaw")[:played])
    assert (sent[played:] == codecs.encode_alaw(np.zeros(1, np.int16))[0]).all()  # line silence

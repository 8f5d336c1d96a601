"""DTMF through our own G.729 path (issue 4): dsp.codecs' encoder → RTP payloads → decoder, and
the per-tick media batch with the receiver attached as a tap, then the same with lost frames
concealed.  tests/dsp/test_dtmf_g729.py checks the receiver against raw bcg729; this file checks that
our layers deliver the digits raw bcg729 does, bit for bit, loss included."""

import numpy as np
import pytest

from dsp import ffi, lib
from dsp import codecs
from dsp.codecs import FRAME_OCTETS, FRAME_SAMPLES, Codec, G729Decoder, G729Encoder
from dsp.dtmf import DIGITS, DtmfEvent, DtmfGenerator, DtmfReceiver, DtmfReceiverBank, detect_digits, digits_of
from dsp.media import Direction, MediaBatch
from hil_tests.peers import _bcg729_ref as ref
from hil_tests.peers._spandsp_ref import ffi as spandsp_ffi, lib as spandsp_lib

ON_MS = OFF_MS = 70
SLOT_SAMPLES = (ON_MS + OFF_MS) * 8           # digit i sounds from i * SLOT_SAMPLES for 70 ms
TICK_FRAMES = 2                               # 20 ms ticks
TICK_SAMPLES = TICK_FRAMES * FRAME_SAMPLES
LOSS_DIGITS = DIGITS * 4
_KIND = {lib.DTMF_EVENT_START: "start", lib.DTMF_EVENT_END: "end"}


def dtmf(digits: str, level_dbm0: float, multiple_of: int = 960) -> np.ndarray:
    """The digits, 70 ms on / 70 ms off, padded with silence to whole packets (960 samples
    is a whole number of 20, 30 and 40 ms packets)."""
    x = DtmfGenerator(level_dbm0=level_dbm0, on_ms=ON_MS, off_ms=OFF_MS).render(digits)
    return np.concatenate([x, np.zeros((-x.size) % multiple_of, np.int16)])


def raw_bcg729(pcm: np.ndarray, lost: np.ndarray | None = None) -> np.ndarray:
    """libbcg729 called directly, frame by frame, lost frames decoded as erasures."""
    lost = np.zeros(pcm.size // FRAME_SAMPLES, bool) if lost is None else lost
    encoder = ref.ffi.gc(ref.lib.initBcg729EncoderChannel(0), ref.lib.closeBcg729EncoderChannel)
    decoder = ref.ffi.gc(ref.lib.initBcg729DecoderChannel(), ref.lib.closeBcg729DecoderChannel)
    bits = ref.ffi.new("uint8_t[10]")
    length = ref.ffi.new("uint8_t *")
    out = np.zeros_like(pcm)
    for f in range(lost.size):
        frame = slice(f * FRAME_SAMPLES, (f + 1) * FRAME_SAMPLES)
        ref.lib.bcg729Encoder(encoder, ref.ffi.from_buffer("int16_t[]", pcm[frame]), bits, length)
        decoded = ref.ffi.from_buffer("int16_t[]", out[frame])
        if lost[f]:
            ref.lib.bcg729Decoder(decoder, ref.ffi.NULL, 0, 1, 0, 0, decoded)
        else:
            ref.lib.bcg729Decoder(decoder, bits, length[0], 0, 0, 0, decoded)
    return out


def assert_each_digit_in_its_slot(events: list[DtmfEvent], digits: str) -> None:
    starts = [e for e in events if e.kind == "start"]
    assert digits_of(starts) == digits
    for i, event in enumerate(starts):
        assert i * SLOT_SAMPLES <= event.sample < i * SLOT_SAMPLES + ON_MS * 8, event


def survivors(events: list[DtmfEvent], digits: str) -> tuple[int, int]:
    """(digits detected in their own slot, detections that match no digit or repeat one)."""
    found, spurious = set(), 0
    for e in events:
        if e.kind != "start":
            continue
        slot = e.sample // SLOT_SAMPLES
        if slot < len(digits) and digits[slot] == e.digit and slot not in found:
            found.add(slot)
        else:
            spurious += 1
    return len(found), spurious


# --- (a) dsp.codecs: encoder → RTP payloads → decoder → receiver -----------------------------

@pytest.mark.parametrize("ptime_ms", [20, 30, 40])
@pytest.mark.parametrize("level", [-30, -20, -10])
def test_every_digit_survives_our_g729_rtp_payloads(level, ptime_ms):
    x = dtmf(DIGITS * 2, level)
    packet = ptime_ms * 8
    encoder, decoder, receiver = G729Encoder(), G729Decoder(), DtmfReceiver()
    decoded, events = [], []
    for start in range(0, x.size, packet):
        (payload,) = encoder.encode_payloads(x[start:start + packet])
        assert payload.first_frame == 0 and len(payload.payload) == ptime_ms   # 10 octets / 10 ms
        pcm = decoder.decode_payload(payload.payload)
        decoded.append(pcm)
        events += receiver.process(pcm)
    assert_each_digit_in_its_slot(events, DIGITS * 2)
    assert receiver.lost_events == 0
    # the payload round trip is raw bcg729 to the sample, so the digits are the ones it keeps
    reference = np.zeros_like(x)
    assert spandsp_lib.ref_g729_roundtrip(spandsp_ffi.from_buffer("int16_t[]", x),
                                          spandsp_ffi.from_buffer("int16_t[]", reference), x.size) == 0
    assert np.array_equal(np.concatenate(decoded), reference)


def test_a_long_recording_loses_no_digit_in_one_call():
    # 64 digits are 128 events, twice what the C receiver queues: process() drains as it goes
    x = dtmf(LOSS_DIGITS, -20)
    assert detect_digits(x) == LOSS_DIGITS
    bank = DtmfReceiverBank(2).process(np.stack([x, np.zeros_like(x)]))
    assert digits_of(bank[0]) == LOSS_DIGITS and bank[1] == []


# --- (b) the media batch, detectors as taps -----------------------------------------------------

NETWORK_DIGITS = "0123456789*#ABCD"      # channel 0: G.729 from the network, heard on its way to the line
LINE_DIGITS = "D#9630*8520741CBA"        # channel 1: A-law from the line, heard before G.729 encoding
SILENT = 2


def tap_receiver(batch: MediaBatch, channel: int, direction: Direction):
    state = ffi.gc(lib.dtmf_rx_new(), lib.dtmf_rx_free)
    batch.attach_tap(channel, direction, ffi.addressof(lib, "dtmf_rx"), state)
    return state


def drain(state) -> list[DtmfEvent]:
    buffer = ffi.new("dtmf_event_t[64]")
    events = []
    while (n := lib.dtmf_rx_get_events(state, buffer, 64)) > 0:
        events += [DtmfEvent(_KIND[buffer[i].kind], buffer[i].digit.decode(), buffer[i].sample) for i in range(n)]
    assert lib.dtmf_rx_lost_events(state) == 0
    return events


def run_batch(network_frames: codecs.G729Frames, line_octets: np.ndarray, silence_frames: codecs.G729Frames,
              lost: np.ndarray | None = None):
    """Channels 0-2 all A-law line ↔ G.729 network, a receiver on each side of each.  Returns
    {(channel, direction): events}, channel 1's G.729 output and channel 0's line output."""
    batch = MediaBatch(3, frames_per_tick=TICK_FRAMES)
    receivers = {}
    for channel in range(3):
        batch.configure(channel, line_law=Codec.ALAW, net_codec=Codec.G729)
        for direction in Direction:
            receivers[channel, direction] = tap_receiver(batch, channel, direction)
    buffers = batch.new_buffers()
    quiet_line = codecs.encode_alaw(np.zeros(TICK_SAMPLES, np.int16))
    lengths = network_frames.lengths.copy()
    if lost is not None:
        lengths[lost] = 0
    line_out, net_out = [], []
    for tick in range(line_octets.size // TICK_SAMPLES):
        frames = slice(tick * TICK_FRAMES, (tick + 1) * TICK_FRAMES)
        for channel, (slots, frame_lengths) in ((0, (network_frames.slots, lengths)),
                                                (1, silence_frames), (SILENT, silence_frames)):
            net_slots, net_lengths = buffers.g729_in(channel)
            net_slots[:] = slots[frames]
            net_lengths[:] = frame_lengths[frames]
        buffers.line_in[0] = quiet_line
        buffers.line_in[1] = line_octets[tick * TICK_SAMPLES:(tick + 1) * TICK_SAMPLES]
        buffers.line_in[SILENT] = quiet_line
        assert batch.run(buffers) == 3
        line_out.append(buffers.line_out[0].copy())
        slots, out_lengths = buffers.g729_out(1)
        net_out.append((slots.copy(), out_lengths.copy()))
    events = {key: drain(state) for key, state in receivers.items()}
    g729_out = codecs.G729Frames(np.concatenate([s for s, _ in net_out]), np.concatenate([n for _, n in net_out]))
    return events, g729_out, np.concatenate(line_out), batch


@pytest.fixture(scope="module")
def silence_frames():
    return G729Encoder().encode(np.zeros(SLOT_SAMPLES * len(LINE_DIGITS), np.int16))


@pytest.mark.parametrize("level", [-30, -10])
def test_media_batch_hears_each_channels_digits_in_order_and_only_there(level, silence_frames):
    samples = SLOT_SAMPLES * len(LINE_DIGITS)
    network = dtmf(NETWORK_DIGITS, level, multiple_of=1)
    network = np.concatenate([network, np.zeros(samples - network.size, np.int16)])
    line = dtmf(LINE_DIGITS, level, multiple_of=1)
    network_frames = G729Encoder().encode(network)
    events, g729_out, line_out, batch = run_batch(network_frames, codecs.encode_alaw(line), silence_frames)

    assert_each_digit_in_its_slot(events[0, Direction.TO_LINE], NETWORK_DIGITS)
    assert_each_digit_in_its_slot(events[1, Direction.FROM_LINE], LINE_DIGITS)
    for key in [(0, Direction.FROM_LINE), (1, Direction.TO_LINE), (SILENT, Direction.FROM_LINE),
                (SILENT, Direction.TO_LINE)]:
        assert events[key] == [], key
    # what the taps heard is what left the batch: the line gets the network's digits in A-law,
    # the network gets the line's digits in G.729
    assert detect_digits(codecs.decode_alaw(line_out)) == NETWORK_DIGITS
    assert detect_digits(G729Decoder().decode(*g729_out)) == LINE_DIGITS
    assert batch.stats(0)["frames_in"] == network_frames.lengths.size
    assert batch.stats(0)["frames_missing"] == 0


def test_media_batch_decodes_g729_as_raw_bcg729_does(silence_frames):
    samples = SLOT_SAMPLES * len(LINE_DIGITS)
    network = dtmf(NETWORK_DIGITS, -20, multiple_of=1)
    network = np.concatenate([network, np.zeros(samples - network.size, np.int16)])
    lost = np.random.default_rng(4).random(samples // FRAME_SAMPLES) < 0.05
    batch = MediaBatch(1, frames_per_tick=TICK_FRAMES)
    batch.configure(0, line_law=Codec.ALAW, net_codec=Codec.G729)
    buffers = batch.new_buffers()
    frames = G729Encoder().encode(network)
    lengths = np.where(lost, 0, frames.lengths).astype(np.uint8)
    heard = []
    for tick in range(samples // TICK_SAMPLES):
        slots, tick_lengths = buffers.g729_in(0)
        slots[:] = frames.slots[tick * TICK_FRAMES:(tick + 1) * TICK_FRAMES]
        tick_lengths[:] = lengths[tick * TICK_FRAMES:(tick + 1) * TICK_FRAMES]
        batch.run(buffers)
        heard.append(batch.pcm_to_line[0].copy())
    assert np.array_equal(np.concatenate(heard), raw_bcg729(network, lost))
    assert batch.stats(0)["frames_missing"] == lost.sum()


# --- (c) 5 % of frames lost, concealed ---------------------------------------------------------

# Measured (64 digits, 40 seeds per level): 84 % survive at -30 dBm0, 86 % at -20, 84 % at -10;
# with LOSS_SEEDS below 85 %, 86 %, 83 %.  A digit is lost when one of the first five of its seven
# tone frames is lost (it survives 17-58 % of those): concealment and the decoder's recovery spoil
# ~30 ms, leaving fewer than the 4 clean hops the receiver needs.  A frame lost in the last 20 ms
# of a digit or in its pause costs nothing, no loss ever yields a wrong or doubled digit, and raw
# bcg729 loses exactly the same digits (checked sample for sample below).
LOSS_SEEDS = (1, 2, 3)
LOSS_FLOOR = 0.80


@pytest.mark.parametrize("level", [-30, -20, -10])
def test_digits_surviving_five_percent_frame_loss(level):
    x = dtmf(LOSS_DIGITS, level, multiple_of=FRAME_SAMPLES)
    frames = G729Encoder().encode(x)
    kept, total = 0, 0
    for seed in LOSS_SEEDS:
        lost = np.random.default_rng(seed).random(frames.lengths.size) < 0.05
        decoded = G729Decoder().decode(frames.slots, np.where(lost, 0, frames.lengths).astype(np.uint8))
        assert np.array_equal(decoded, raw_bcg729(x, lost))
        found, spurious = survivors(DtmfReceiver().process(decoded), LOSS_DIGITS)
        assert spurious == 0
        kept += found
        total += len(LOSS_DIGITS)
    print(f"\n{level} dBm0, 5 % frame loss: {kept}/{total} digits survive ({kept / total:.0%})")
    assert kept / total >= LOSS_FLOOR

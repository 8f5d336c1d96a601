"""HDLC on the D-channel timeslot, checked against an HDLC coder written here in pure Python
(its own FCS, bit stuffing and bit order) as well as in round trips through the C core."""

import numpy as np
from hypothesis import given, settings, strategies as st

from dsp.line import LineImpairment, SpanCore, fcs16

FLAG = [0, 1, 1, 1, 1, 1, 1, 0]
DTS = 16


def reference_fcs(data: bytes) -> int:
    crc = 0xFFFF
    for octet in data:
        crc ^= octet
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def stuffed_bits(data: bytes) -> list[int]:
    bits, ones = [], 0
    for octet in data:
        for i in range(8):                   # LSB first
            bit = (octet >> i) & 1
            bits.append(bit)
            ones = ones + 1 if bit else 0
            if ones == 5:
                bits.append(0)
                ones = 0
    return bits


def frame_bits(payload: bytes, *, corrupt_fcs=False) -> list[int]:
    fcs = reference_fcs(payload) ^ (0x0001 if corrupt_fcs else 0)
    return stuffed_bits(payload + bytes([fcs & 0xFF, fcs >> 8]))


def pack_line_bits(bits: list[int]) -> np.ndarray:
    bits = bits + FLAG * ((-len(bits)) % 8)  # pad with flags to whole octets
    bits = bits + [1] * ((-len(bits)) % 8)
    return np.packbits(np.array(bits, np.uint8))  # first line bit -> MSB


def reference_decode(octets: np.ndarray) -> list[bytes]:
    bits = np.unpackbits(octets).tolist()
    frames, i, ones, current, in_frame = [], 0, 0, [], False
    for bit in bits:
        if bit:
            ones += 1
            current.append(1)
            if ones >= 7:
                in_frame, current = False, []
            continue
        if ones == 6:
            data_bits = current[:-7]         # drop the flag's 0111111
            if in_frame and len(data_bits) % 8 == 0 and len(data_bits) >= 24:
                data = bytes(sum(b << k for k, b in enumerate(data_bits[j:j + 8]))
                             for j in range(0, len(data_bits), 8))
                if reference_fcs(data[:-2]) == int.from_bytes(data[-2:], "little"):
                    frames.append(data[:-2])
            in_frame, current = True, []
        elif ones == 5:
            pass                             # stuffed zero
        else:
            current.append(0)
        ones = 0
    return frames


def carrier_frames(n: int) -> np.ndarray:
    """n well-framed E1 frames (so a receiver aligns) whose D-channel we then overwrite."""
    out = np.zeros((n, 32), np.uint8)
    SpanCore(crc4=False).transmit(out)
    return out


def deliver_stream(bits: list[int], lead_flags=4) -> SpanCore:
    octets = pack_line_bits(FLAG * lead_flags + bits + FLAG * 4)
    frames = carrier_frames(8 + len(octets))
    frames[8:, DTS] = octets
    rx = SpanCore(crc4=False)
    rx.receive(frames)
    assert rx.status().frame_aligned
    return rx


def test_fcs16_matches_the_reference_and_the_check_value():
    assert fcs16(b"123456789") == 0x906E
    for data in (b"", b"\x00", b"\xff" * 7, bytes(range(256))):
        assert fcs16(data) == reference_fcs(data)


def test_transmitted_dchannel_bits_decode_with_the_reference_decoder():
    tx = SpanCore(crc4=False)
    payloads = [b"\x00\x01\x03", b"\xff" * 40, bytes(range(200)), b"\x7e\x7e\x7d"]
    for p in payloads:
        assert tx.send_dchannel(p)
    out = np.zeros((800, 32), np.uint8)
    tx.transmit(out)
    assert reference_decode(out[:, DTS]) == payloads
    assert tx.counters()["hdlc_tx_frames"] == len(payloads)


def test_reference_stream_decodes_in_c_including_shared_flags_and_max_length():
    payloads = [b"\x02\x01\x7f" + bytes([i]) * i for i in range(1, 6)] + [b"\xff" * 260]
    bits = []
    for p in payloads:
        bits += frame_bits(p) + FLAG         # one flag between frames: closing = opening
    rx = deliver_stream(bits)
    assert rx.recv_dchannel() == payloads
    c = rx.counters()
    assert c["hdlc_rx_frames"] == len(payloads) and c["hdlc_bad_fcs"] == 0


def test_bad_fcs_is_counted_and_dropped():
    bits = frame_bits(b"good-1") + FLAG + frame_bits(b"bad-frame", corrupt_fcs=True) + FLAG + frame_bits(b"good-2")
    rx = deliver_stream(bits)
    assert rx.recv_dchannel() == [b"good-1", b"good-2"]
    assert rx.counters()["hdlc_bad_fcs"] == 1


def test_abort_drops_the_frame_and_counts():
    aborted = frame_bits(b"this one is aborted")[:60] + [1] * 9
    bits = frame_bits(b"before") + FLAG + aborted + FLAG + frame_bits(b"after")
    rx = deliver_stream(bits)
    assert rx.recv_dchannel() == [b"before", b"after"]
    assert rx.counters()["hdlc_aborts"] == 1


def test_too_long_frame_is_counted_and_dropped():
    bits = frame_bits(b"\x55" * 261) + FLAG + frame_bits(b"fits")
    rx = deliver_stream(bits)
    assert rx.recv_dchannel() == [b"fits"]
    assert rx.counters()["hdlc_too_long"] == 1


def test_idle_ones_are_not_counted_as_aborts():
    rx = deliver_stream([1] * 400 + FLAG + frame_bits(b"after idle"))
    assert rx.recv_dchannel() == [b"after idle"]
    assert rx.counters()["hdlc_aborts"] == 0


def test_transmit_queue_overflow_is_refused_and_counted():
    tx = SpanCore()
    accepted = [tx.send_dchannel(b"x%d" % i) for i in range(17)]
    assert accepted == [True] * 16 + [False]
    assert tx.counters()["hdlc_tx_overflow"] == 1


def test_frame_size_limits_raise():
    tx = SpanCore(max_hdlc_frame=10)
    import pytest
    with pytest.raises(ValueError, match="exceeds max_hdlc_frame"):
        tx.send_dchannel(b"x" * 11)
    with pytest.raises(ValueError, match="at least one octet"):
        tx.send_dchannel(b"")


def round_trip(payloads: list[bytes]) -> list[bytes]:
    a, b = SpanCore(crc4=False), SpanCore(crc4=False)
    out = np.zeros((8, 32), np.uint8)
    a.transmit(out)
    b.receive(out)
    got = []
    for start in range(0, len(payloads), 16):
        chunk = payloads[start:start + 16]
        for p in chunk:
            assert a.send_dchannel(p)
        octets = sum((len(p) + 4) * 10 // 8 + 2 for p in chunk) + 8
        out = np.zeros((octets, 32), np.uint8)
        a.transmit(out)
        b.receive(out)
        got += b.recv_dchannel()
    return got


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=260), min_size=1, max_size=40))
def test_round_trip_property(payloads):
    assert round_trip(payloads) == payloads


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 260), min_size=1, max_size=20), st.sampled_from([0xFF, 0x7E, 0x3F, 0xFC]))
def test_round_trip_worst_case_stuffing(lengths, fill):
    payloads = [bytes([fill]) * n for n in lengths]
    assert round_trip(payloads) == payloads


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=60), min_size=1, max_size=8), st.data())
def test_reference_encoder_interoperates_with_random_errors(payloads, data):
    """Frames with one flipped bit anywhere are never delivered; the others always are."""
    bits, expected = [], []
    for p in payloads:
        fb = frame_bits(p)
        if data.draw(st.booleans()):
            i = data.draw(st.integers(0, len(fb) - 1))
            fb[i] ^= 1
        else:
            expected.append(p)
        bits += FLAG + fb + FLAG
    rx = deliver_stream(bits)
    got = rx.recv_dchannel()
    assert all(g in payloads for g in got)
    for p in expected:
        assert p in got


def test_ber_1e5_on_the_line_drops_corrupted_dchannel_frames_and_delivers_only_good_ones():
    a, b = SpanCore(), SpanCore()
    line = LineImpairment(seed=42)
    line.set_ber(1e-5)
    sent, got = [], []
    seq = 0
    block = np.zeros((160, 32), np.uint8)
    for _ in range(1500):                       # 30 s of line
        while True:
            payload = b"\x00\x01" + seq.to_bytes(4, "big") + bytes([seq & 0xFF]) * (seq % 50)
            if not a.send_dchannel(payload):
                break
            sent.append(payload)
            seq += 1
        a.transmit(block)
        line.apply(block)
        b.receive(block)
        got += b.recv_dchannel()
    c = b.counters()
    dropped = c["hdlc_bad_fcs"] + c["hdlc_aborts"] + c["hdlc_misaligned"] + c["hdlc_short"] + c["hdlc_too_long"]
    assert line.errors_injected > 400
    assert dropped >= 5, c
    index = {p: i for i, p in enumerate(sent)}
    positions = [index[g] for g in got]         # KeyError would mean a frame nobody sent
    assert positions == sorted(set(positions)), "in order, no duplicates"
    assert len(got) >= len(sent) - dropped - 40  # the rest is still in flight or queued
    assert c["hdlc_rx_frames"] == len(got)


def test_idle_dchannel_sends_flags():
    tx = SpanCore()
    out = np.zeros((16, 32), np.uint8)
    tx.transmit(out)
    assert (out[:, DTS] == 0x7E).all()

"""Transmitted TS0 checked bit by bit against G.704 by a checker that shares no code with the C
framer: its own bit extraction and its own CRC-4 by polynomial long division."""

import numpy as np
import pytest

from dsp.line import SpanCore

FAS_BITS_2_TO_8 = [0, 0, 1, 1, 0, 1, 1]
MFAS = [0, 0, 1, 0, 1, 1]


def bits_of(octet: int) -> list[int]:
    """Bit 1 (sent first) .. bit 8 of a timeslot octet."""
    return [(octet >> (7 - k)) & 1 for k in range(8)]


def crc4_by_division(message_bits: list[int]) -> list[int]:
    """Remainder of M(x) * x^4 divided by x^4 + x + 1, as [C1, C2, C3, C4]."""
    work = list(message_bits) + [0, 0, 0, 0]
    divisor = [1, 0, 0, 1, 1]
    for i in range(len(message_bits)):
        if work[i]:
            for j, d in enumerate(divisor):
                work[i + j] ^= d
    return work[-4:]


def smf_message_bits(frames: np.ndarray) -> list[int]:
    """The 2048 bits of one sub-multiframe with the C-bit positions (bit 1 of FAS frames) as 0."""
    bits = []
    for index, frame in enumerate(frames):
        for ts, octet in enumerate(frame):
            b = bits_of(int(octet))
            if ts == 0 and index % 2 == 0:
                b[0] = 0
            bits.extend(b)
    return bits


def find_multiframe_start(frames: np.ndarray) -> int:
    for start in range(16):
        if all((int(frames[start + 1 + 2 * k][0]) >> 7) == MFAS[k] for k in range(6)) and \
                (int(frames[start][0]) & 0x7F) == 0x1B:
            return start
    raise AssertionError("no CRC-4 multiframe alignment signal found")


def transmit_with_traffic(core: SpanCore, nframes: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    core.write_bearer(rng.integers(0, 256, size=(30, nframes), dtype=np.uint8))
    for i in range(20):
        core.send_dchannel(bytes([i]) * (3 + i))
    out = np.zeros((nframes, 32), np.uint8)
    core.transmit(out)
    return out


def test_ts0_bits_and_crc4_follow_g704():
    core = SpanCore(crc4=True)
    core.set_sa_bits(0b10110)
    frames = transmit_with_traffic(core, 16 * 9)
    start = find_multiframe_start(frames)
    nmf = (len(frames) - start) // 16
    checked_crcs = 0
    for m in range(nmf):
        mf = frames[start + 16 * m: start + 16 * (m + 1)]
        for pos, frame in enumerate(mf):
            b = bits_of(int(frame[0]))
            if pos % 2 == 0:
                assert b[1:] == FAS_BITS_2_TO_8, f"FAS bits in multiframe {m} frame {pos}"
            else:
                assert b[1] == 1, "NFAS bit 2"
                assert b[2] == 1, "A-bit: our receiver has seen nothing, so remote alarm is on"
                assert b[3:] == [1, 0, 1, 1, 0], "Sa4..Sa8 as set"
                if pos <= 11:
                    assert b[0] == MFAS[pos // 2], f"MFAS bit in frame {pos}"
                else:
                    assert b[0] == 0, "E-bits are 0 until our receiver is multiframe aligned"
        # C1..C4 in the FAS frames of each sub-multiframe cover the previous sub-multiframe.
        for half in (0, 1):
            first = start + 16 * m + 8 * half
            if first - 8 < 0:
                continue
            expected = crc4_by_division(smf_message_bits(frames[first - 8: first]))
            carried = [int(frames[first + 2 * k][0]) >> 7 for k in range(4)]
            assert carried == expected, f"CRC-4 of the sub-multiframe before frame {first}"
            checked_crcs += 1
    assert checked_crcs >= 15


def test_crc4_off_sends_si_ones_and_still_frames():
    core = SpanCore(crc4=False)
    frames = transmit_with_traffic(core, 32)
    for index, frame in enumerate(frames):
        b = bits_of(int(frame[0]))
        assert b[0] == 1, "Si = 1 without CRC-4"
        if index % 2 == 0:
            assert b[1:] == FAS_BITS_2_TO_8
        else:
            assert b[1] == 1 and b[3:] == [1, 1, 1, 1, 1]


def test_remote_alarm_forced_and_automatic():
    core = SpanCore(crc4=False)
    out = np.zeros((4, 32), np.uint8)
    core.transmit(out)
    assert core.status().remote_alarm_sent and (out[1, 0] >> 5) & 1 == 1
    core.set_remote_alarm(False)
    core.transmit(out)
    assert (out[1, 0] >> 5) & 1 == 0 and not core.status().remote_alarm_sent
    core.set_remote_alarm(True)
    core.transmit(out)
    assert (out[1, 0] >> 5) & 1 == 1
    core.set_remote_alarm(None)
    # Looped onto itself the span aligns, so the automatic A-bit goes off.
    core.set_loopback("local")
    core.transmit(np.zeros((8, 32), np.uint8))
    core.transmit(out)
    assert core.status().frame_aligned and (out[1, 0] >> 5) & 1 == 0


def test_send_ais_is_all_ones():
    core = SpanCore()
    core.set_send_ais(True)
    out = np.zeros((16, 32), np.uint8)
    core.transmit(out)
    assert (out == 0xFF).all()


def test_bearer_channels_map_to_timeslots_around_the_dchannel():
    for dts in (16, 5, 31):
        core = SpanCore(crc4=False, dchannel_timeslot=dts)
        block = np.arange(30 * 4, dtype=np.uint8).reshape(30, 4)
        core.write_bearer(block)
        out = np.zeros((4, 32), np.uint8)
        core.transmit(out)
        timeslots = [ts for ts in range(1, 32) if ts != dts]
        assert core.bearer_timeslots == tuple(timeslots)
        for ch, ts in enumerate(timeslots):
            assert list(out[:, ts]) == list(block[ch]), f"B{ch + 1} -> TS{ts}"


@pytest.mark.parametrize("kwargs, message", [
    ({"dchannel_timeslot": 0}, "dchannel_timeslot"),
    ({"dchannel_timeslot": 32}, "dchannel_timeslot"),
    ({"max_hdlc_frame": 0}, "max_hdlc_frame"),
    ({"crc4": 1}, "crc4"),
])
def test_bad_constructor_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpanCore(**kwargs)


def test_bad_arrays_are_refused_with_what_was_expected():
    core = SpanCore()
    with pytest.raises(ValueError, match="uint8"):
        core.transmit(np.zeros((2, 32), np.int16))
    with pytest.raises(ValueError, match=r"\(nx32\)"):
        core.receive(np.zeros((2, 31), np.uint8))
    with pytest.raises(ValueError, match="C-contiguous"):
        core.receive(np.zeros((32, 2), np.uint8).T)
    with pytest.raises(ValueError, match="writable"):
        ro = np.zeros((2, 32), np.uint8)
        ro.flags.writeable = False
        core.transmit(ro)
    with pytest.raises(ValueError, match=r"\(30xn\)"):
        core.write_bearer(np.zeros((29, 8), np.uint8))
    with pytest.raises(ValueError, match="numpy"):
        core.receive(b"\x00" * 32)
    with pytest.raises(ValueError, match="Sa4"):
        core.set_sa_bits(32)
    with pytest.raises(ValueError, match="loopback"):
        core.set_loopback("remote")
    with pytest.raises(ValueError, match="timeslot"):
        core.prbs_start([0])


def test_ebits_are_one_once_aligned_without_errors():
    a, b = SpanCore(), SpanCore()
    fa = np.zeros((8, 32), np.uint8)
    fb = np.zeros((8, 32), np.uint8)
    for _ in range(40):
        a.transmit(fa)
        b.transmit(fb)
        b.receive(fa)
        a.receive(fb)
    frames = np.zeros((32, 32), np.uint8)
    a.transmit(frames)
    start = find_multiframe_start(frames)
    for mf in range(start, start + 16 * ((32 - start) // 16), 16):
        assert [int(frames[mf + k][0]) >> 7 for k in (13, 15)] == [1, 1]

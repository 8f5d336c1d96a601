"""G.706 frame and CRC-4 multiframe alignment edges, E-bits, and G.775 alarms from the bits."""

import numpy as np

from dsp.line import LineImpairment, SpanCore


def frames_from(core: SpanCore, n: int) -> np.ndarray:
    out = np.zeros((n, 32), np.uint8)
    core.transmit(out)
    return out


def feed_one_by_one(core: SpanCore, frames: np.ndarray):
    for i in range(len(frames)):
        core.receive(frames[i:i + 1])


def aligned_pair(crc4=True, frames=64):
    far, near = SpanCore(crc4=crc4), SpanCore(crc4=crc4)
    near.receive(frames_from(far, frames))
    assert near.status().frame_aligned
    return far, near


def test_frame_alignment_lost_after_exactly_three_bad_fas():
    far, near = aligned_pair(crc4=False)
    frames = frames_from(far, 16)
    # Corrupt the FAS of the first two FAS frames only: still aligned.
    frames[0, 0] ^= 0x01
    frames[2, 0] ^= 0x01
    feed_one_by_one(near, frames[:4])
    assert near.status().frame_aligned and near.counters()["fas_errors"] == 2
    feed_one_by_one(near, frames[4:])
    assert near.status().frame_aligned

    frames = frames_from(far, 16)
    for k in (0, 2, 4):
        frames[k, 0] ^= 0x02
    feed_one_by_one(near, frames[:4])
    assert near.status().frame_aligned, "two bad FAS are not enough"
    near.receive(frames[4:5])
    st = near.status()
    assert not st.frame_aligned and st.lof, "the third consecutive bad FAS loses alignment"
    assert near.counters()["frame_alignment_losses"] == 1
    # Recovery: FAS, NFAS bit 2, FAS -> aligned again within a few frames of clean signal.
    near.receive(frames[5:])
    assert near.status().frame_aligned


def test_single_false_fas_does_not_align():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(40, 32), dtype=np.uint8)
    frames[:, 0] = 0x80                       # no FAS anywhere, NFAS bit 2 = 0
    frames[10, 0] = 0x9B                      # a lone FAS in frame n
    frames[11, 0] = 0xC0                      # NFAS bit 2 = 1 in n+1
    frames[12, 0] = 0x80                      # but no FAS in n+2
    core = SpanCore(crc4=False)
    core.receive(frames)
    assert not core.status().frame_aligned
    frames[12, 0] = 0x1B                      # control: with the FAS in n+2 it aligns
    core = SpanCore(crc4=False)
    feed_one_by_one(core, frames[:12])
    assert not core.status().frame_aligned
    core.receive(frames[12:13])
    assert core.status().frame_aligned


def test_fas_followed_by_nfas_without_bit2_restarts_the_search():
    frames = np.full((8, 32), 0x55, np.uint8)
    frames[:, 0] = [0x1B, 0x00, 0x1B, 0x40, 0x1B, 0x00, 0x00, 0x00]
    core = SpanCore(crc4=False)
    core.receive(frames)
    # n=0 fails at step b (frame 1 bit 2 = 0); n=2: bit 2 in 3, FAS in 4 -> aligned.
    assert core.status().frame_aligned


def test_crc4_multiframe_search_succeeds_within_8ms_of_frame_alignment():
    far = SpanCore(crc4=True)
    near = SpanCore(crc4=True)
    frames = frames_from(far, 200)
    aligned_at = mf_at = None
    for i in range(200):
        near.receive(frames[i:i + 1])
        st = near.status()
        if aligned_at is None and st.frame_aligned:
            aligned_at = i
            assert st.crc4 == "searching"
        if mf_at is None and st.multiframe_aligned:
            mf_at = i
            assert st.crc4 == "aligned"
    assert aligned_at is not None and mf_at is not None
    assert mf_at - aligned_at <= 64 + 16
    assert near.counters()["crc4_errors"] == 0


def test_crc4_falls_back_to_non_crc4_after_400ms_without_multiframe():
    far = SpanCore(crc4=False)
    near = SpanCore(crc4=True)
    near.receive(frames_from(far, 3))
    assert near.status().frame_aligned
    near.receive(frames_from(far, 3100))
    assert near.status().crc4 == "searching"
    near.receive(frames_from(far, 200))
    st = near.status()
    assert st.crc4 == "fallback" and st.frame_aligned and not st.multiframe_aligned
    assert near.counters()["crc4_errors"] == 0


def test_false_alignment_restart_at_915_errored_blocks_in_1000():
    far, near = aligned_pair(crc4=True, frames=200)
    assert near.status().multiframe_aligned
    start = near.counters()["crc4_errors"]
    # Flip C1 of every sub-multiframe: every checked block is errored.
    for _ in range(130):
        frames = frames_from(far, 64)
        frames[0::8, 0] ^= 0x80
        near.receive(frames)
        if near.counters()["crc4_false_alignments"]:
            break
    c = near.counters()
    assert c["crc4_false_alignments"] == 1
    assert c["crc4_errors"] - start == 915
    assert c["frame_alignment_losses"] == 1


def test_914_errored_blocks_in_1000_keep_alignment():
    far, near = aligned_pair(crc4=True, frames=200)
    blocks = 0
    corrupted = 0
    for _ in range(3000 // 8):
        frames = frames_from(far, 64)
        for smf in range(8):            # errors in 9 of every 10 blocks: 900 per 1000
            if blocks % 10 != 9:
                frames[8 * smf, 0] ^= 0x80
                corrupted += 1
            blocks += 1
        near.receive(frames)
    c = near.counters()
    assert c["crc4_false_alignments"] == 0 and near.status().multiframe_aligned
    assert abs(c["crc4_errors"] - corrupted) <= 1


def run_pair(a, b, nframes, impair_ab=None, mutate_ab=None):
    fa = frames_from(a, nframes)
    fb = frames_from(b, nframes)
    if impair_ab is not None:
        impair_ab.apply(fa)
    if mutate_ab is not None:
        mutate_ab(fa)
    b.receive(fa)
    a.receive(fb)


def test_ebits_report_received_crc_errors_back_to_the_far_end():
    a, b = SpanCore(), SpanCore()
    for _ in range(40):
        run_pair(a, b, 8)
    assert a.status().multiframe_aligned and b.status().multiframe_aligned
    base_e = a.counters()["ebits_received"]
    base_crc = b.counters()["crc4_errors"]

    def corrupt_some(frames):
        frames[0, 0] ^= 0x80   # the frame at the start of each 8-frame block is a C-bit
    for _ in range(50):
        run_pair(a, b, 16, mutate_ab=corrupt_some)
    for _ in range(20):
        run_pair(a, b, 16)
    errors_b_saw = b.counters()["crc4_errors"] - base_crc
    assert errors_b_saw == 50
    assert a.counters()["ebits_received"] - base_e == errors_b_saw
    assert a.counters()["crc4_errors"] == 0


def test_cut_gives_los_and_remote_alarm_then_clean_recovery():
    a, b = SpanCore(), SpanCore()
    line = LineImpairment(seed=3)
    for _ in range(40):
        run_pair(a, b, 8, impair_ab=line)
    assert b.status().multiframe_aligned and not a.status().rai
    line.set_cut(True)
    run_pair(a, b, 1, impair_ab=line)
    assert b.status().los, "one all-zeros frame is a run of 256 >= 255 zeros"
    for _ in range(4):
        run_pair(a, b, 8, impair_ab=line)
    st = b.status()
    assert st.los and st.lof and not st.frame_aligned and st.remote_alarm_sent
    assert a.status().rai, "the far end sees our A-bit"
    line.set_cut(False)
    for _ in range(40):
        run_pair(a, b, 8, impair_ab=line)
    st = b.status()
    assert not (st.los or st.lof or st.ais) and st.multiframe_aligned and not st.remote_alarm_sent
    assert not a.status().rai
    assert b.counters()["los_events"] == 1


def zero_run_frames(run: int, at_bit: int) -> np.ndarray:
    bits = np.ones(4 * 256, np.uint8)
    bits[at_bit:at_bit + run] = 0
    return np.packbits(bits).reshape(4, 32)


def los_seen(frames: np.ndarray) -> bool:
    core = SpanCore(crc4=False)
    seen = False
    for i in range(len(frames)):
        core.receive(frames[i:i + 1])
        seen |= core.status().los
    assert not core.status().los, "a frame of ones right after clears LOS"
    return seen


def test_los_needs_255_consecutive_zeros():
    for at_bit in (0, 1, 100, 256, 300):
        assert not los_seen(zero_run_frames(254, at_bit)), f"a run of 254 zeros at bit {at_bit}"
        assert los_seen(zero_run_frames(255, at_bit)), f"a run of 255 zeros at bit {at_bit}"


def test_ais_detected_and_cleared_per_g775():
    a, b = SpanCore(), SpanCore()
    line = LineImpairment()
    for _ in range(40):
        run_pair(a, b, 8, impair_ab=line)
    line.set_ais(True)
    run_pair(a, b, 4, impair_ab=line)
    st = b.status()
    assert st.ais and not st.los and st.remote_alarm_sent
    line.set_ais(False)
    for _ in range(40):
        run_pair(a, b, 8, impair_ab=line)
    st = b.status()
    assert not st.ais and st.multiframe_aligned


def test_ais_tolerates_two_zeros_per_512_bits_but_not_three():
    core = SpanCore(crc4=False)
    frames = np.full((8, 32), 0xFF, np.uint8)
    frames[0::2, 5] = 0xFC                    # 2 zeros in each 512-bit period
    core.receive(frames)
    assert core.status().ais
    frames[0::2, 5] = 0xF8                    # 3 zeros in each period clears it
    core.receive(frames)
    assert not core.status().ais


def test_rai_needs_three_consecutive_a_bits():
    far, near = aligned_pair(crc4=False)
    far.set_remote_alarm(False)               # the far end hears nothing from us: keep A = 0
    near.receive(frames_from(far, 16))
    assert not near.status().rai
    frames = frames_from(far, 12)
    frames[1, 0] |= 0x20                      # A = 1 in two consecutive NFAS frames
    frames[3, 0] |= 0x20
    near.receive(frames)
    assert not near.status().rai
    frames = frames_from(far, 6)
    frames[1::2, 0] |= 0x20                   # three in a row
    near.receive(frames)
    assert near.status().rai
    near.receive(frames_from(far, 6))
    assert not near.status().rai


def test_crc4_switched_on_at_run_time_searches_then_aligns():
    a, b = SpanCore(crc4=False), SpanCore(crc4=False)
    for _ in range(10):
        run_pair(a, b, 8)
    assert b.status().crc4 == "off" and b.status().frame_aligned
    b.set_crc4(True)
    assert b.status().crc4 == "searching"
    a.set_crc4(True)
    for _ in range(20):
        run_pair(a, b, 8)
    assert b.status().crc4 == "aligned" and b.counters()["crc4_errors"] == 0

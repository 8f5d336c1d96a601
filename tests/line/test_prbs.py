"""PRBS 2^15-1 BERT: the pattern against an LFSR written here, error counts against the
errors the line impairment injected, sync loss and resync, and loopbacks carrying the BERT."""

import numpy as np

from dsp.line import LineImpairment, SpanCore


def reference_prbs15_inverted(nbits: int) -> list[int]:
    """O.151 2^15-1: 15-stage register, stages 14 and 15 added into stage 1; output inverted."""
    reg = [1] * 15                              # reg[0] = stage 1 ... reg[14] = stage 15
    out = []
    for _ in range(nbits):
        fb = reg[13] ^ reg[14]
        reg = [fb] + reg[:-1]
        out.append(fb ^ 1)
    return out


def reference_is_prbs15(bits: list[int]) -> bool:
    """Every bit (un-inverted) equals the xor of the bits 14 and 15 before it."""
    b = [x ^ 1 for x in bits]
    return all(b[i] == b[i - 14] ^ b[i - 15] for i in range(15, len(b)))


def run(a, b, nframes, line=None, block=80):
    out_a = np.zeros((block, 32), np.uint8)
    out_b = np.zeros((block, 32), np.uint8)
    for _ in range(nframes // block):
        a.transmit(out_a)
        b.transmit(out_b)
        if line is not None:
            clean = out_a.copy()
            line.apply(out_a)
            yield clean, out_a
        b.receive(out_a)
        a.receive(out_b)


def test_generated_pattern_is_o151_prbs15_on_one_timeslot_and_on_all():
    core = SpanCore(crc4=False)
    core.prbs_start([5])
    out = np.zeros((200, 32), np.uint8)
    core.transmit(out)
    bits = np.unpackbits(out[:, 5]).tolist()
    assert bits == reference_prbs15_inverted(len(bits))
    core.prbs_start("all")
    core.transmit(out)
    payload_bits = np.unpackbits(out[:, 1:].reshape(-1)).tolist()
    assert reference_is_prbs15(payload_bits)
    assert 32767 > len(payload_bits) // 2 and max_run(payload_bits, 1) <= 15


def max_run(bits, value):
    best = run_len = 0
    for b in bits:
        run_len = run_len + 1 if b == value else 0
        best = max(best, run_len)
    return best


def test_clean_line_counts_bits_without_errors():
    a, b = SpanCore(), SpanCore()
    a.prbs_start([1, 2, 3])
    b.prbs_start([1, 2, 3])
    list(run(a, b, 8000))
    r = b.prbs_result()
    assert r["in_sync"] and r["bit_errors"] == 0 and r["active"]
    assert r["bits_checked"] > 8000 * 24 * 0.9


def payload_errors(clean: np.ndarray, dirty: np.ndarray, timeslots) -> int:
    diff = np.bitwise_xor(clean[:, timeslots], dirty[:, timeslots])
    return int(np.unpackbits(diff).sum())


def test_bit_errors_counted_equal_the_errors_injected_into_the_payload():
    a, b = SpanCore(crc4=False), SpanCore(crc4=False)
    a.prbs_start("all")
    b.prbs_start("all")
    list(run(a, b, 800))                        # align and sync first
    assert b.prbs_result()["in_sync"]
    base = b.prbs_result()["bit_errors"]
    line = LineImpairment(seed=9)
    line.set_ber(1e-4)
    injected = 0
    for clean, dirty in run(a, b, 16000, line=line):
        injected += payload_errors(clean, dirty, list(range(1, 32)))
    assert injected > 300
    r = b.prbs_result()
    assert r["bit_errors"] - base == injected
    assert r["resyncs"] == 0 and r["in_sync"]


def test_burst_on_one_timeslot_counts_exactly():
    a, b = SpanCore(crc4=False), SpanCore(crc4=False)
    a.prbs_start([7])
    b.prbs_start([7])
    list(run(a, b, 800))
    out = np.zeros((16, 32), np.uint8)
    a.transmit(out)
    out[3, 7] ^= 0b10100000                     # two errors in TS7
    out[9, 7] ^= 0xFF                           # eight more
    b.receive(out)
    assert b.prbs_result()["bit_errors"] == 10


def test_sync_is_lost_on_a_wrong_pattern_and_regained():
    a, b = SpanCore(crc4=False), SpanCore(crc4=False)
    a.prbs_start("all")
    b.prbs_start("all")
    list(run(a, b, 800))
    rng = np.random.default_rng(0)
    out = np.zeros((100, 32), np.uint8)
    a.transmit(out)
    out[:, 1:] = rng.integers(0, 256, size=(100, 31), dtype=np.uint8)   # garbage payload
    b.receive(out)
    assert b.prbs_result()["resyncs"] >= 1
    list(run(a, b, 800))
    r = b.prbs_result()
    assert r["in_sync"]


def test_local_loopback_bert():
    core = SpanCore()
    core.set_loopback("local")
    core.prbs_start("all")
    out = np.zeros((80, 32), np.uint8)
    for _ in range(20):
        core.transmit(out)
        core.receive(np.zeros((80, 32), np.uint8))   # the wire is ignored in local loopback
    r = core.prbs_result()
    st = core.status()
    assert st.multiframe_aligned and r["in_sync"] and r["bit_errors"] == 0 and r["bits_checked"] > 0


def test_line_loopback_returns_what_we_receive():
    tester, looped = SpanCore(), SpanCore()
    looped.set_loopback("line")
    tester.prbs_start("all")
    list(run(tester, looped, 8000))
    r = tester.prbs_result()
    assert r["in_sync"] and r["bit_errors"] == 0 and r["bits_checked"] > 100000
    assert tester.status().multiframe_aligned
    assert looped.status().frame_aligned      # monitored on the way through
    # Looped frames are exactly the received ones, whatever they carry.
    looped = SpanCore()
    looped.set_loopback("line")
    out = np.zeros((8, 32), np.uint8)
    sent = np.arange(256, dtype=np.uint8).reshape(8, 32)
    looped.receive(sent)
    looped.transmit(out)
    assert (out == sent).all()


def test_prbs_stop_gives_the_dchannel_back_to_hdlc():
    a, b = SpanCore(), SpanCore()
    a.prbs_start("all")
    b.prbs_start("all")
    list(run(a, b, 800))
    a.prbs_stop()
    b.prbs_stop()
    a.send_dchannel(b"back to signalling")
    list(run(a, b, 800))
    assert b.recv_dchannel() == [b"back to signalling"]

"""The 30 B-channels end to end, the many-span batch entry point, and hostile input."""

import numpy as np
import pytest

from dsp.line import B_CHANNELS, SpanBatch, SpanCore, process_spans


def test_bearer_blocks_arrive_intact_once_aligned():
    a, b = SpanCore(), SpanCore()
    warm = np.zeros((64, 32), np.uint8)
    a.transmit(warm)
    b.receive(warm)
    b.read_bearer(b.bearer_rx_available)
    rng = np.random.default_rng(3)
    sent = rng.integers(0, 256, size=(B_CHANNELS, 160), dtype=np.uint8)
    a.write_bearer(sent)
    frames = np.zeros((160, 32), np.uint8)
    a.transmit(frames)
    b.receive(frames)
    assert b.bearer_rx_available == 160
    assert (b.read_bearer(160) == sent).all()
    assert b.counters()["bearer_tx_underrun"] == 0


def test_idle_and_underrun_padding():
    a, b = SpanCore(), SpanCore()
    frames = np.zeros((64, 32), np.uint8)
    a.transmit(frames)
    assert (frames[:, 1] == 0xD5).all(), "A-law idle on B-channels with nothing queued"
    a.set_bearer_idle(0xFF)
    a.transmit(frames)
    b.receive(frames)
    got = b.read_bearer(100)
    assert got.shape == (30, 100) and (got[:, 64:] == 0xFF).all()
    assert b.counters()["bearer_rx_underrun"] == 36


def test_unaligned_receiver_delivers_all_ones_downstream():
    core = SpanCore()
    core.receive(np.zeros((8, 32), np.uint8))
    assert (core.read_bearer(8) == 0xFF).all()


def test_batch_equals_span_by_span_processing():
    n_spans, n = 3, 40
    rng = np.random.default_rng(5)
    rx = rng.integers(0, 256, size=(n_spans, n, 32), dtype=np.uint8)
    far = [SpanCore() for _ in range(n_spans)]
    for i, f in enumerate(far):
        f.transmit(rx[i, :8])                  # idle flags while the receiver aligns
        f.send_dchannel(b"span %d" % i)
        f.transmit(rx[i, 8:])
    bearer_in = rng.integers(0, 256, size=(n_spans, 30, n), dtype=np.uint8)

    batch_cores = [SpanCore() for _ in range(n_spans)]
    single_cores = [SpanCore() for _ in range(n_spans)]
    tx_batch = np.zeros((n_spans, n, 32), np.uint8)
    bearer_out = np.zeros((n_spans, 30, n), np.uint8)
    process_spans(batch_cores, rx, tx_batch, bearer_in, bearer_out)
    for i, core in enumerate(single_cores):
        core.write_bearer(bearer_in[i])
        core.receive(rx[i])
        tx = np.zeros((n, 32), np.uint8)
        core.transmit(tx)
        assert (tx == tx_batch[i]).all()
        assert (core.read_bearer(n) == bearer_out[i]).all()
        assert core.counters() == batch_cores[i].counters()
        assert core.recv_dchannel() == batch_cores[i].recv_dchannel() == [b"span %d" % i]


def test_batch_validates_every_array():
    cores = [SpanCore(), SpanCore()]
    batch = SpanBatch(cores)
    good = np.zeros((2, 8, 32), np.uint8)
    with pytest.raises(ValueError, match="rx"):
        batch.process(np.zeros((3, 8, 32), np.uint8), good)
    with pytest.raises(ValueError, match="tx"):
        batch.process(good, np.zeros((2, 7, 32), np.uint8))
    with pytest.raises(ValueError, match="bearer_in"):
        batch.process(good, good.copy(), np.zeros((2, 30, 9), np.uint8))
    with pytest.raises(ValueError, match="bearer_out"):
        batch.process(good, good.copy(), None, np.zeros((2, 30, 8), np.int8))
    with pytest.raises(ValueError, match="SpanCore"):
        SpanBatch([])


def test_random_line_noise_never_crashes_and_never_delivers_junk():
    rng = np.random.default_rng(11)
    core = SpanCore()
    for _ in range(50):
        core.receive(rng.integers(0, 256, size=(rng.integers(1, 200), 32), dtype=np.uint8))
        for frame in core.recv_dchannel():
            assert 1 <= len(frame) <= 260
        core.read_bearer(int(rng.integers(0, 300)))
    core.counters()
    core.status()


def test_bearer_rings_bound_memory_and_count_overflow():
    core = SpanCore()
    core.write_bearer(np.zeros((30, 2000), np.uint8))
    assert core.counters()["bearer_tx_overflow"] == 2000 - 1024
    core.receive(np.zeros((1500, 32), np.uint8))
    assert core.bearer_rx_available == 1024
    assert core.counters()["bearer_rx_overflow"] == 1500 - 1024


def test_bench_runs_and_ends_with_one_json_object():
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, str(root / "bench" / "e1_line.py"), "--pairs", "2", "--seconds", "0.2"],
                          capture_output=True, text=True, cwd=root, timeout=60,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["spans"] == 4 and result["spans_realtime_per_core"] > 0
    assert result["hdlc_frames_received"] > 0


def test_random_operation_sequences_keep_the_core_consistent():
    """Any mix of maintenance calls, sizes and noise: no crash, and the counters stay sane."""
    rng = np.random.default_rng(2024)
    a, b = SpanCore(), SpanCore(dchannel_timeslot=int(rng.integers(1, 32)), max_hdlc_frame=64)
    for _ in range(300):
        op = int(rng.integers(0, 9))
        n = int(rng.integers(0, 50))
        if op == 0:
            b.set_loopback(["none", "local", "line"][int(rng.integers(0, 3))])
        elif op == 1:
            b.set_crc4(bool(rng.integers(0, 2)))
        elif op == 2:
            b.prbs_start(sorted(set(int(t) for t in rng.integers(1, 32, size=int(rng.integers(1, 5))))))
        elif op == 3:
            b.prbs_stop()
        elif op == 4:
            b.write_bearer(rng.integers(0, 256, size=(30, n), dtype=np.uint8))
        elif op == 5:
            assert b.read_bearer(n).shape == (30, n)
        elif op == 6:
            b.send_dchannel(bytes(rng.integers(0, 256, size=int(rng.integers(1, 65)), dtype=np.uint8)))
        frames = np.zeros((n, 32), np.uint8)
        a.transmit(frames)
        if op == 7:
            frames[:] = rng.integers(0, 256, size=frames.shape, dtype=np.uint8)
        b.receive(frames)
        b.transmit(np.zeros((n, 32), np.uint8))
        for frame in b.recv_dchannel():
            assert 1 <= len(frame) <= 64
    c = b.counters()
    assert all(v >= 0 for v in c.values())
    assert c["frames_tx"] > 0

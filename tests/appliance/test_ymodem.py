"""The X/YMODEM receiver core: against lrzsz's real senders, and against crafted blocks for
the error paths (corruption, duplicates, cancel, timeouts)."""

import binascii
import os
import select
import shutil
import subprocess
import time

import pytest

from firmware.console import xymodem as xy
from firmware.console.xymodem import (ACK, CAN, CRC_REQUEST, EOT, NAK, SOH, STX,
                                      BlockRejected, FileCompleted, FileData, FileStarted,
                                      TransferCompleted, TransferFailed, XYModemReceiver)


def block(number, payload, *, crc=True, size=None):
    size = size or (1024 if len(payload) > 128 else 128)
    payload = payload.ljust(size, b"\x1a")
    head = bytes([STX if size == 1024 else SOH, number & 0xFF, 0xFF - (number & 0xFF)])
    check = binascii.crc_hqx(payload, 0).to_bytes(2, "big") if crc else bytes([sum(payload) & 0xFF])
    return head + payload + check


def header(name, size):
    return block(0, name.encode() + b"\0" + str(size).encode() + b" 0 100644\0")


def drain(rx):
    events = []
    while (e := rx.next_event()) is not None:
        events.append(e)
    return events


def received_bytes(events):
    return b"".join(e.data for e in events if isinstance(e, FileData))


def find_sender(*names):
    for name in names:
        if shutil.which(name):
            return name
    pytest.fail(f"lrzsz sender not installed (looked for {names}); apt-get install lrzsz")


def run_real_sender(argv, rx, *, corrupt_block=None):
    """Connect a real lrzsz sender to the receiver core over pipes, in real time.
    `corrupt_block=k` flips one bit in the k-th block the sender transmits (once)."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    events, fd = [], proc.stdout.fileno()
    seen = bytearray()
    corrupted = False
    deadline = time.monotonic() + 30
    try:
        while not rx.finished and time.monotonic() < deadline:
            out = rx.data_to_send()
            if out:
                proc.stdin.write(out)
                proc.stdin.flush()
            events += drain(rx)
            timer = rx.get_timer()
            wait = 0.5 if timer is None else max(0.0, min(0.5, timer - time.monotonic()))
            if select.select([fd], [], [], wait)[0]:
                data = os.read(fd, 65536)
                if not data:
                    break
                if corrupt_block is not None and not corrupted:
                    start = len(seen)
                    seen += data
                    # Blocks of a 1K YMODEM transfer: header (133 bytes) then 1029-byte blocks.
                    target = 133 + 1029 * (corrupt_block - 1) + 100
                    if start <= target < len(seen):
                        data = bytearray(data)
                        data[target - start] ^= 0x10
                        data = bytes(data)
                        corrupted = True
                rx.receive_data(data, time.monotonic())
            rx.handle_timer(time.monotonic())
        out = rx.data_to_send()
        if out:
            proc.stdin.write(out)
            proc.stdin.flush()
        events += drain(rx)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return events, proc.returncode


@pytest.fixture
def payloads(tmp_path):
    first = tmp_path / "pribox-1.2.raucb"
    first.write_bytes(os.urandom(70_000) + b"\x1a\x1a")  # trailing SUBs must survive in YMODEM
    second = tmp_path / "notes.txt"
    second.write_bytes(b"hello field engineer\n" * 7)
    return first, second


def test_ymodem_batch_from_lrzsz_sb_two_files(payloads):
    first, second = payloads
    rx = XYModemReceiver(batch=True, now=time.monotonic())
    events, status = run_real_sender([find_sender("sb", "lsb"), "-q", str(first), str(second)], rx)
    assert status == 0
    starts = [e for e in events if isinstance(e, FileStarted)]
    assert starts == [FileStarted("pribox-1.2.raucb", 70_002), FileStarted("notes.txt", 147)]
    assert [e for e in events if isinstance(e, FileCompleted)] == [
        FileCompleted("pribox-1.2.raucb", 70_002), FileCompleted("notes.txt", 147)]
    assert received_bytes(events) == first.read_bytes() + second.read_bytes()
    assert events[-1] == TransferCompleted(2)


@pytest.mark.parametrize("options,use_crc", [([], True), (["-k"], True), ([], False)],
                         ids=["crc-128", "crc-1k", "checksum-128"])
def test_xmodem_from_lrzsz_sx(payloads, options, use_crc):
    first, _ = payloads
    data = os.urandom(5000)
    first.write_bytes(data)
    rx = XYModemReceiver(batch=False, now=time.monotonic(), use_crc=use_crc, xmodem_name="fw.bin")
    events, status = run_real_sender([find_sender("sx", "lsx"), "-q", *options, str(first)], rx)
    assert status == 0
    # XMODEM carries no size: the last block's SUB padding is stripped.
    assert received_bytes(events) == data
    assert events[0] == FileStarted("fw.bin", None)
    assert events[-1] == TransferCompleted(1)


def test_corrupted_block_from_real_sender_is_naked_and_resent(payloads):
    first, _ = payloads
    rx = XYModemReceiver(batch=True, now=time.monotonic())
    events, status = run_real_sender([find_sender("sb", "lsb"), "-q", str(first)], rx,
                                     corrupt_block=3)
    assert status == 0
    rejected = [e for e in events if isinstance(e, BlockRejected)]
    assert len(rejected) == 1 and rejected[0].reason.startswith("CRC error in block ")
    assert received_bytes(events) == first.read_bytes()
    assert rx.blocks_rejected == 1


def test_corrupted_block_is_never_delivered_and_resend_is_accepted():
    rx = XYModemReceiver(batch=False, now=0.0)
    assert rx.data_to_send() == bytes([CRC_REQUEST])
    good = block(1, b"A" * 128)
    bad = bytearray(good)
    bad[50] ^= 0x01
    rx.receive_data(bytes(bad), 0.1)
    rx.receive_data(good[:40], 0.3)          # the sender was still going: dropped, unparsed
    assert rx.data_to_send() == b""          # NAK only once the line is quiet
    assert rx.get_timer() == pytest.approx(1.3)
    rx.handle_timer(1.3)
    assert rx.data_to_send() == bytes([NAK])
    assert received_bytes(drain(rx)) == b""
    rx.receive_data(good, 1.5)
    assert rx.data_to_send() == bytes([ACK])
    rx.receive_data(bytes([EOT]), 0.3)
    assert rx.data_to_send() == bytes([ACK])
    events = drain(rx)
    assert received_bytes(events) == b"A" * 128
    assert events[-1] == TransferCompleted(1)


def test_bad_complement_and_checksum_errors_are_rejected_with_reason():
    rx = XYModemReceiver(batch=False, now=0.0, use_crc=False)
    assert rx.data_to_send() == bytes([NAK])
    wrong_complement = bytearray(block(1, b"x", crc=False))
    wrong_complement[2] = 0x00
    rx.receive_data(bytes(wrong_complement), 1.0)
    rx.handle_timer(2.0)
    wrong_sum = bytearray(block(1, b"x", crc=False))
    wrong_sum[-1] ^= 0xFF
    rx.receive_data(bytes(wrong_sum), 3.0)
    rx.handle_timer(4.0)
    reasons = [e.reason for e in drain(rx) if isinstance(e, BlockRejected)]
    assert reasons == ["block number 1 and its complement 0 disagree", "checksum error in block 1"]
    assert rx.data_to_send() == bytes([NAK, NAK])


def test_duplicate_block_is_acked_but_not_written_twice():
    rx = XYModemReceiver(batch=False, now=0.0)
    rx.data_to_send()
    rx.receive_data(block(1, b"one"), 0.1)
    rx.receive_data(block(1, b"one"), 0.2)   # our ACK was lost on the line
    rx.receive_data(block(2, b"two"), 0.3)
    rx.receive_data(bytes([EOT]), 0.4)
    assert rx.data_to_send() == bytes([ACK, ACK, ACK, ACK])
    assert received_bytes(drain(rx)) == b"one".ljust(128, b"\x1a") + b"two"


def test_sequence_error_cancels():
    rx = XYModemReceiver(batch=False, now=0.0)
    rx.data_to_send()
    rx.receive_data(block(1, b"one"), 0.1)
    rx.receive_data(block(3, b"three"), 0.2)
    assert rx.data_to_send().endswith(xy.CANCEL_SEQUENCE)
    assert drain(rx)[-1] == TransferFailed("block sequence error: expected 2, got 3")
    assert rx.finished


def test_sender_cancel_with_can_can():
    rx = XYModemReceiver(batch=True, now=0.0)
    rx.data_to_send()
    rx.receive_data(header("fw.bin", 2000), 0.1)
    rx.receive_data(block(1, b"z" * 1024), 0.2)
    rx.receive_data(bytes([CAN]), 0.3)
    assert not rx.finished           # one CAN can be line noise
    rx.receive_data(bytes([CAN]), 0.31)
    events = drain(rx)
    assert events[-1] == TransferFailed("cancelled by the sender (CAN CAN)")
    assert rx.finished and rx.get_timer() is None


def test_timeouts_nak_then_give_up_after_ten_errors():
    rx = XYModemReceiver(batch=False, now=0.0)
    rx.data_to_send()
    rx.receive_data(block(1, b"one"), 1.0)
    assert rx.data_to_send() == bytes([ACK])
    now = 1.0
    for attempt in range(9):
        now = rx.get_timer()
        assert now == pytest.approx(1.0 + 10.0 * (attempt + 1))
        rx.handle_timer(now)
        assert rx.data_to_send() == bytes([NAK])
    rx.handle_timer(rx.get_timer())
    assert rx.data_to_send() == xy.CANCEL_SEQUENCE
    assert drain(rx)[-1].reason.startswith("10 errors in a row, last: no block within 10 s")


def test_block_cut_short_is_naked_after_one_second_of_silence():
    rx = XYModemReceiver(batch=False, now=0.0)
    rx.receive_data(block(1, b"one"), 0.2)
    rx.data_to_send()
    whole = block(2, b"two")
    rx.receive_data(whole[:60], 0.5)
    assert rx.get_timer() == pytest.approx(1.5)
    rx.handle_timer(1.5)
    assert rx.data_to_send() == bytes([NAK])
    assert drain(rx)[-1] == BlockRejected("block cut short (line silent for 1 s)")
    rx.receive_data(whole, 2.0)
    assert rx.data_to_send() == bytes([ACK])


def test_start_repeats_c_then_falls_back_to_checksum_then_gives_up():
    rx = XYModemReceiver(batch=False, now=0.0)
    sent = rx.data_to_send()
    while not rx.finished:
        rx.handle_timer(rx.get_timer())
        sent += rx.data_to_send()
    assert sent[:3] == bytes([CRC_REQUEST] * 3)
    assert set(sent[3:sent.index(CAN)]) == {NAK}   # an old checksum-only sender answers NAK
    assert drain(rx)[-1] == TransferFailed("no sender started within 60 s")


def test_ymodem_header_checks_name_and_size():
    rx = XYModemReceiver(batch=True, now=0.0, max_file_size=1000)
    rx.receive_data(header("big.bin", 5000), 0.1)
    assert drain(rx)[-1] == TransferFailed("big.bin: 5000 bytes is over the 1000-byte limit")
    rx = XYModemReceiver(batch=True, now=0.0)
    rx.receive_data(header("../../etc/passwd", 10), 0.1)
    assert drain(rx)[0] == FileStarted("passwd", 10)   # never outside the upload folder
    rx = XYModemReceiver(batch=True, now=0.0)
    rx.receive_data(header("..", 10), 0.1)
    assert "not usable" in drain(rx)[-1].reason
    rx = XYModemReceiver(batch=True, now=0.0)
    rx.receive_data(block(0, b"fw.bin\0twelve\0"), 0.1)
    assert drain(rx)[-1] == TransferFailed("YMODEM header for 'fw.bin': size b'twelve' is not a number")


def test_ymodem_short_file_is_refused_at_eot():
    rx = XYModemReceiver(batch=True, now=0.0)
    rx.receive_data(header("fw.bin", 3000), 0.1)
    rx.receive_data(block(1, b"q" * 1024), 0.2)
    rx.receive_data(bytes([EOT]), 0.3)
    assert drain(rx)[-1] == TransferFailed("fw.bin: sender ended after 1024 of 3000 bytes")


def test_cancel_while_dropping_a_bad_block_is_honoured_but_payload_cans_are_not():
    rx = XYModemReceiver(batch=False, now=0.0)
    rx.receive_data(block(1, b"one"), 0.1)
    bad = bytearray(block(2, b"\x18\x18\x18" * 40))
    bad[-1] ^= 1
    rx.receive_data(bytes(bad[:100]), 0.2)
    rx.receive_data(bytes(bad[100:]), 0.3)   # a payload full of CAN bytes: not a cancel
    rx.receive_data(bytes(bad), 0.4)          # the sender repeats early: dropped as well
    assert not rx.finished
    rx.handle_timer(1.4)
    assert rx.data_to_send().endswith(bytes([NAK]))
    rx.receive_data(bytes(bad), 1.5)
    rx.receive_data(bytes([CAN] * 8 + [0x08] * 8), 1.6)   # lrzsz's cancel
    assert drain(rx)[-1] == TransferFailed("cancelled by the sender (CAN CAN)")


def test_line_noise_between_blocks_is_skipped():
    rx = XYModemReceiver(batch=False, now=0.0)
    rx.receive_data(b"\r\n\xff" + block(1, b"data") + b"\x00", 0.1)
    rx.receive_data(bytes([EOT]), 0.2)
    assert received_bytes(drain(rx)) == b"data"

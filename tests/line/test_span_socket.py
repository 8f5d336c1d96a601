"""Emulated spans on the real Unix SEQPACKET wire, driven by asyncio (virtual time): alignment,
D-channel both ways, a far end that leaves and comes back, a raw far end sending bad datagrams."""

import asyncio
import socket

import numpy as np

from drivers import make_span
from drivers.config import SpanConfig
from drivers.pacing import SpanPacer
from dsp.line import SpanCore
from runtime.bus import EventBus
from runtime.clock import LoopClock, virtual_time_loop


def configs(path, **extra):
    nt = SpanConfig(id=1, driver="emulated", side="nt", clock="internal", law="alaw",
                    wire=path, wire_role="listen", **extra)
    te = SpanConfig(id=2, driver="emulated", side="te", clock="line", law="alaw",
                    wire=path, wire_role="connect", **extra)
    return nt, te


def aligned(span):
    status = span.status()
    return status.line.frame_aligned and status.line.multiframe_aligned and not status.alarms


def run_virtual(coroutine):
    loop = virtual_time_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def test_two_spans_align_over_the_socket_and_carry_dchannel_frames(tmp_path):
    async def scenario():
        clock, bus = LoopClock(), EventBus()
        nt_config, te_config = configs(str(tmp_path / "e1.wire"))
        nt = make_span(nt_config, clock=clock, bus=bus)
        te = make_span(te_config, clock=clock, bus=bus)
        nt.open()
        te.open()
        pacer = SpanPacer(clock, [nt, te])
        pacer.start()
        await asyncio.sleep(0.2)
        assert aligned(nt) and aligned(te)
        assert nt.send_dchannel(b"\x02\x01\x7f") and te.send_dchannel(b"\x00\x01\x73")
        await asyncio.sleep(0.05)
        assert te.recv_dchannel() == [b"\x02\x01\x7f"]
        assert nt.recv_dchannel() == [b"\x00\x01\x73"]
        await asyncio.sleep(2)
        for span in (nt, te):
            counters = span.counters()
            assert counters["slips"] == 0 and counters["wire_bad_datagrams"] == 0
            assert counters["frames_rx"] > 8000 * 2
        pacer.stop()
        nt.close()
        te.close()
        assert not (tmp_path / "e1.wire").exists()

    run_virtual(scenario())


def test_far_end_leaving_is_loss_of_signal_without_slips_and_a_new_one_realigns(tmp_path):
    async def scenario():
        clock, bus = LoopClock(), EventBus()
        nt_config, te_config = configs(str(tmp_path / "e1.wire"))
        nt = make_span(nt_config, clock=clock, bus=bus)
        te = make_span(te_config, clock=clock, bus=bus)
        nt.open()
        te.open()
        pacer = SpanPacer(clock, [nt, te])
        pacer.start()
        await asyncio.sleep(0.2)
        assert aligned(nt)
        te.close()
        await asyncio.sleep(0.5)
        assert "los" in nt.status().alarms
        assert nt.counters()["slips"] == 0
        te2 = make_span(te_config, clock=clock, bus=bus)
        te2.open()
        pacer.spans.append(te2)
        await asyncio.sleep(0.3)
        assert aligned(nt) and aligned(te2)
        assert nt.counters()["slips"] == 0
        pacer.stop()
        nt.close()
        te2.close()

    run_virtual(scenario())


def test_a_raw_far_end_with_bad_datagrams_is_counted_and_the_span_still_aligns(tmp_path):
    """The far end here is not a pribox span: a plain socket sending frames from a bare
    SpanCore, with a datagram of 33 octets and one of 100 mixed in."""
    async def scenario():
        clock, bus = LoopClock(), EventBus()
        nt_config, _ = configs(str(tmp_path / "e1.wire"))
        nt = make_span(nt_config, clock=clock, bus=bus)
        nt.open()
        pacer = SpanPacer(clock, [nt])
        pacer.start()
        far = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        far.connect(nt_config.wire)
        far.setblocking(False)
        core = SpanCore(crc4=True)
        frames = np.zeros((8, 32), np.uint8)
        for ms in range(300):
            core.transmit(frames)
            far.send(frames.tobytes())
            if ms in (100, 150):
                far.send(b"\xff" * (33 if ms == 100 else 100))
            try:
                while data := far.recv(65536):
                    core.receive(np.frombuffer(data, np.uint8).reshape(-1, 32))
            except BlockingIOError:
                pass
            await asyncio.sleep(0.001)
        assert nt.counters()["wire_bad_datagrams"] == 2
        assert aligned(nt)
        pacer.stop()
        nt.close()
        far.close()

    run_virtual(scenario())


def test_a_span_that_cannot_listen_says_which_path_and_stays_closed(tmp_path):
    import pytest

    from drivers.seqpacket import SocketPathError

    plain = tmp_path / "not-a-socket"
    plain.write_text("")
    nt_config, _ = configs(str(tmp_path / "e1.wire"), dchannel_export=str(plain))
    loop = virtual_time_loop()
    try:
        span = make_span(nt_config, clock=LoopClock(loop), bus=EventBus())
        with pytest.raises(SocketPathError, match="not-a-socket: exists and is not a socket"):
            span.open()
        assert not span.is_open
        assert not (tmp_path / "e1.wire").exists()    # the wire it had opened is released
        with pytest.raises(SocketPathError, match="cannot listen"):
            make_span(configs(str(tmp_path / "missing-dir" / "e1.wire"))[0],
                      clock=LoopClock(loop), bus=EventBus()).open()
    finally:
        loop.close()

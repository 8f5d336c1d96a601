"""The asyncio D-channel adapter: our two roles over a socketpair under virtual time, hdlcfcs
framing on the socket, a layer 3 driven through the Layer3 interface, and bad line input."""

import asyncio
import socket

import pytest

from runtime.clock import LoopClock, virtual_time_loop
from firmware.isdn.dchannel import DChannel
from firmware.isdn.lapd import DlData, DlEstablished, DlReleased, Lapd, LapdTimers, Role


class EchoLayer3:
    """A minimal sans-I/O layer 3: answers every message with b'ack:' + message, and runs a
    timer that sends b'tick' once, so the adapter's layer-3 path is exercised end to end."""

    def __init__(self, tick_at: float | None = None):
        self.events = []
        self._out: list[bytes] = []
        self.tick_at = tick_at

    def dl_event(self, event, now):
        self.events.append((now, event))
        if isinstance(event, DlData) and not event.payload.startswith(b"ack:"):
            self._out.append(b"ack:" + event.payload)

    def messages_to_send(self):
        out, self._out = self._out, []
        return out

    def get_timer(self):
        return self.tick_at

    def handle_timer(self, now):
        self.tick_at = None
        self._out.append(b"tick")


def run(coro_fn):
    loop = virtual_time_loop()
    try:
        return loop.run_until_complete(coro_fn(loop))
    finally:
        loop.close()


def test_two_adapters_keep_the_link_up_for_an_idle_hour_in_virtual_time():
    async def main(loop):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        clock = LoopClock(loop)
        user = DChannel(Lapd(Role.USER), a, clock)
        net = DChannel(Lapd(Role.NETWORK), b, clock)
        user.establish()
        await user.wait_for(DlEstablished)
        await net.wait_for(DlEstablished)
        start = clock.now()
        await asyncio.sleep(3600)
        assert clock.now() - start == pytest.approx(3600)
        assert user.lapd.established and net.lapd.established
        assert user.events.empty() and net.events.empty()
        # T203 = 10 s: each side polls about 360 times an hour, every poll answered
        assert 300 < user.lapd.counters["t203_expiry"] + net.lapd.counters["t203_expiry"] < 800
        assert user.lapd.counters["t200_expiry"] == 0
        user.close()
        net.close()
    run(main)


def test_socket_packets_carry_two_fcs_octets_and_runts_are_counted():
    async def main(loop):
        ours, line = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        dc = DChannel(Lapd(Role.USER), ours, LoopClock(loop))
        dc.establish()
        assert line.recv(64) == b"\x00\x01\x7f\x00\x00"  # SABME, then 2 FCS placeholders
        line.send(b"\x00")                                   # a runt: no frame in it
        line.send(b"\x00\x01\x73\xab\xcd")                   # UA from the network, FCS stripped
        ev = await dc.wait_for(DlEstablished)
        assert isinstance(ev, DlEstablished) and dc.counters["rx_runt"] == 1
        line.send(b"\x02\x01\x00\x00SETUP\x12\x34")          # an I frame, N(S)=0
        assert (await dc.wait_for(DlData)).payload == b"SETUP"
        await asyncio.sleep(0)
        assert line.recv(64) == b"\x02\x01\x01\x02\x00\x00"  # RR response (C/R=1 from the user), N(R)=1
        line.close()  # the far end goes away: layer 1 down
        assert isinstance(await dc.wait_for(DlReleased), DlReleased)
        assert dc.counters["rx_closed"] == 1 and not dc.connected
        dc.close()
    run(main)


def test_layer3_is_driven_through_events_messages_and_its_timer():
    async def main(loop):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        clock = LoopClock(loop)
        l3 = EchoLayer3(tick_at=clock.now() + 30.0)
        user = DChannel(Lapd(Role.USER), a, clock, layer3=l3)
        net = DChannel(Lapd(Role.NETWORK), b, clock)
        user.establish()
        await net.wait_for(DlEstablished)
        net.send(b"SETUP")
        assert (await net.wait_for(DlData)).payload == b"ack:SETUP"
        assert (await net.wait_for(DlData, timeout=60)).payload == b"tick"
        assert clock.now() == pytest.approx(30.0, abs=0.01)
        kinds = [type(e).__name__ for _, e in l3.events]
        assert kinds == ["DlEstablished", "DlData"]
        user.close()
        net.close()
    run(main)


def test_detach_and_attach_move_layer1_and_reestablish():
    async def main(loop):
        clock = LoopClock(loop)
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        user = DChannel(Lapd(Role.USER, LapdTimers(t200=0.5)), a, clock)
        net = DChannel(Lapd(Role.NETWORK, LapdTimers(t200=0.5)), b, clock)
        user.establish()
        await user.wait_for(DlEstablished)
        old = user.detach()
        assert isinstance(await user.wait_for(DlReleased), DlReleased)
        old.close()
        assert isinstance(await net.wait_for(DlReleased, timeout=60), DlReleased)  # b saw the far end close
        a2, b2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        net.attach(b2)
        user.attach(a2)
        await user.wait_for(DlEstablished, timeout=10)
        await net.wait_for(DlEstablished, timeout=10)
        user.send(b"again")
        assert (await net.wait_for(DlData)).payload == b"again"
        user.close()
        net.close()
    run(main)


def test_adapter_refuses_a_stream_socket_by_name():
    async def main(loop):
        s1, s2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with pytest.raises(ValueError, match="SOCK_SEQPACKET"):
            DChannel(Lapd(Role.USER), s1, LoopClock(loop))
        s1.close()
        s2.close()
    run(main)


class BrokenLayer3(EchoLayer3):
    def dl_event(self, event, now):
        if isinstance(event, DlData) and event.payload == b"boom":
            raise RuntimeError("layer 3 bug")
        super().dl_event(event, now)


def test_a_layer3_bug_is_counted_and_the_dchannel_keeps_running():
    async def main(loop):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        clock = LoopClock(loop)
        user = DChannel(Lapd(Role.USER), a, clock, layer3=BrokenLayer3())
        net = DChannel(Lapd(Role.NETWORK), b, clock)
        user.establish()
        await net.wait_for(DlEstablished)
        net.send(b"boom")
        net.send(b"fine")
        assert (await net.wait_for(DlData)).payload == b"ack:fine"
        assert user.counters["layer3_errors"] == 1 and user.lapd.established
        user.close()
        net.close()
    run(main)


@pytest.mark.parametrize("role", ["user", "network"])
def test_pribox_dchannel_command_brings_the_link_up_with_libpri_and_writes_a_pcap(role, tmp_path, capsys):
    from firmware.cli import main
    from firmware.isdn.pcap import read_pcap

    path = tmp_path / "d.pcap"
    rc = main(["dchannel", "--role", role, "--seconds", "0.8", "--t203", "0.3", "--call", "--pcap", str(path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "D-channel UP" in out and "I frame in: 08 02" in out and "state established" in out
    frames = read_pcap(path.read_bytes())
    assert len(frames) >= 6 and all(network == (role == "network") for _, _, network, _ in frames)


def test_pribox_dchannel_command_names_a_missing_socket(tmp_path, capsys):
    from firmware.cli import main

    assert main(["dchannel", "--connect", str(tmp_path / "no-such-span")]) == 2
    assert "cannot open the D-channel at" in capsys.readouterr().err


def test_connect_unix_reaches_a_span_style_listening_socket_and_release_sends_disc(tmp_path):
    from firmware.isdn.dchannel import connect_unix

    async def main(loop):
        path = str(tmp_path / "span1.dchan")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(path)
        listener.listen(1)
        dc = DChannel(Lapd(Role.NETWORK), connect_unix(path), LoopClock(loop))
        span, _ = listener.accept()
        dc.establish()
        assert span.recv(64) == b"\x02\x01\x7f\x00\x00"      # SABME from the network side
        span.send(b"\x02\x01\x73\x00\x00")                     # UA from the user: C/R=1
        await dc.wait_for(DlEstablished)
        dc.release()
        assert span.recv(64) == b"\x02\x01\x53\x00\x00"      # DISC, P=1
        span.send(b"\x02\x01\x73\x00\x00")
        assert isinstance(await dc.wait_for(DlReleased), DlReleased)
        dc.close()
        span.close()
        listener.close()
    run(main)


def test_a_full_line_loses_frames_and_counts_them():
    async def main(loop):
        ours, line = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        dc = DChannel(Lapd(Role.USER, LapdTimers(k=127)), ours, LoopClock(loop))
        dc.establish()
        line.send(b"\x00\x01\x73\x00\x00")
        await dc.wait_for(DlEstablished)
        for _ in range(127):  # nobody reads the line: its small buffer fills up
            dc.send(bytes(200))
        assert dc.counters["tx_dropped_full"] > 0
        dc.close()
        line.close()
    run(main)


def test_stay_connected_waits_for_the_span_socket_and_reconnects_after_it_closes(tmp_path):
    async def main(loop):
        path = str(tmp_path / "span1.dchan")
        clock = LoopClock(loop)
        dc = DChannel(Lapd(Role.USER, LapdTimers(t200=0.5)), None, clock)
        dc.establish()
        keeper = asyncio.ensure_future(dc.stay_connected(path, retry_interval=1.0))
        await asyncio.sleep(3.5)  # no span yet: attempts fail and are counted
        assert dc.counters["connect_failures"] >= 3 and not dc.connected
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(path)
        listener.listen(1)
        span = None
        for _ in range(5):
            await asyncio.sleep(1.0)
            try:
                listener.setblocking(False)
                span, _ = listener.accept()
                break
            except BlockingIOError:
                continue
        assert span is not None and dc.connected
        await asyncio.sleep(0.1)
        assert span.recv(64)[:3] == b"\x00\x01\x7f"  # layer 1 up: SABME goes out at once
        span.close()                                 # the span driver restarts
        assert isinstance(await dc.wait_for(DlReleased, timeout=5), DlReleased)
        for _ in range(5):
            await asyncio.sleep(1.0)
            try:
                span, _ = listener.accept()
                break
            except BlockingIOError:
                continue
        assert dc.connected and dc.counters["connects"] == 2
        keeper.cancel()
        dc.close()
        span.close()
        listener.close()
    run(main)


def test_lockstep_on_a_manual_clock_without_any_event_loop():
    from runtime.clock import ManualClock

    clock = ManualClock()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    user = DChannel(Lapd(Role.USER), a, clock)
    net = DChannel(Lapd(Role.NETWORK), b, clock)
    user.establish()
    for _ in range(100 * 100):  # 100 s in 10 ms ticks, as a span's tick would drive it
        user.poll()
        net.poll()
        clock.advance(0.01)
    got = []
    while not net.events.empty():
        got.append(net.events.get_nowait())
    assert got == [DlEstablished()]
    assert user.lapd.established and net.lapd.established
    assert user.lapd.counters["t203_expiry"] + net.lapd.counters["t203_expiry"] >= 9
    user.send(b"lockstep")
    net.poll()
    assert net.events.get_nowait() == DlData(b"lockstep")
    user.close()
    net.close()

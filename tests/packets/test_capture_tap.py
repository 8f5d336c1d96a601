"""The data plane's capture tap: RTP ports copy each datagram they send and receive (relayed
ones included, before the relay rewrites them) with its real addresses; a full tap drops and
counts copies while the call goes on; the feed turns the copies into a capture tshark decodes."""

import struct
from collections import defaultdict

import pytest
from scapy.layers.inet import UDP

from dsp.capture_tap import RTCP, SENT, CaptureTap
from dsp.rtp import RtpPort
from firmware.capture.capture import Capture
from firmware.capture.data_plane import DataPlaneFeed
from firmware.capture.definition import parse_definition
from hil_tests.packets.capture_file import read_capture
from tests.packets.test_capture import tshark
from tests.rtp.support import Clock, connect_pair


def relayed_call(tap):
    """Phone A <-> box leg 0 =relay= box leg 1 <-> phone C, RTCP every half second; the box's
    port copies into `tap`."""
    a, box, c = RtpPort(), RtpPort(), RtpPort()
    x, b0 = connect_pair(a, 0, box, 0, rtcp_interval=0.5)
    b1, y = connect_pair(box, 1, c, 0, rtcp_interval=0.5)
    b0.relay(b1)
    box.set_capture_tap(tap)
    return Clock(a, box, c), x, b0, b1, y


def ssrc_of(payload: bytes) -> int:
    return struct.unpack_from(">I", payload, 8)[0]


def test_a_relayed_call_is_captured_both_ways_with_real_addresses_rtcp_and_the_callers_own_headers(tmp_path):
    tap = CaptureTap(1 << 20)
    clock, x, b0, b1, y = relayed_call(tap)
    path = tmp_path / "relayed.pcapng"
    capture = Capture(parse_definition("rtp"), path)
    feed = DataPlaneFeed(tap, capture)
    capture.start()
    tap.enable(True)
    for _ in range(10):
        clock.run(0.2)
        feed.pump()
    tap.enable(False)
    feed.pump()
    capture.stop()
    assert capture.status()["dropped"] == 0 and tap.stats()["dropped"] == 0 and feed.refused == 0

    flows = defaultdict(list)
    for p in read_capture(path):
        udp = p.packet[UDP]
        flows[(p.packet.src, udp.sport, p.packet.dst, udp.dport, p.outbound)].append(bytes(udp.payload))
    host = "127.0.0.1"
    from_a = flows[(host, x.local[1], host, b0.local[1], False)]
    to_c = flows[(host, b1.local[1], host, y.local[1], True)]
    from_c = flows[(host, y.local[1], host, b1.local[1], False)]
    to_a = flows[(host, b0.local[1], host, x.local[1], True)]
    assert len(from_a) == b0.stats()["packets_received"] >= 90
    assert len(from_c) == b1.stats()["packets_received"] >= 90
    # What came in is captured as the caller sent it; what the relay sent, as it went out.
    assert {ssrc_of(p) for p in from_a} == {x.ssrc} and {ssrc_of(p) for p in to_c} == {b1.ssrc}
    assert {ssrc_of(p) for p in from_c} == {y.ssrc} and {ssrc_of(p) for p in to_a} == {b0.ssrc}
    assert [p[12:] for p in from_a[:len(to_c)]] == [p[12:] for p in to_c]
    rtcp_sent = flows[(host, b0.rtcp_local[1], host, x.local[1] + 1, True)]
    rtcp_received = flows[(host, x.local[1] + 1, host, b0.rtcp_local[1], False)]
    assert rtcp_sent and rtcp_received and all(p[1] in (200, 201) for p in rtcp_sent + rtcp_received)
    assert tshark(path, "-Y", "_ws.malformed || _ws.expert.severity >= 6291456") == ""
    assert "rtp" in tshark(path, "-T", "fields", "-e", "frame.protocols")


def test_a_full_tap_drops_and_counts_copies_while_the_call_goes_on():
    tap = CaptureTap(4096)
    clock, x, b0, b1, y = relayed_call(tap)
    tap.enable(True)
    clock.run(1.0)
    stats = tap.stats()
    assert stats["dropped"] > 0 and 0 < stats["records"] <= 4096 // 48
    assert b0.stats()["lost"] == 0 and y.stats()["lost"] == 0 and y.stats()["packets_received"] >= 45
    records = tap.drain()
    assert len(records) == stats["records"] and tap.stats()["queued_octets"] == 0


def test_records_keep_their_order_and_content_across_the_ring_end():
    tap = CaptureTap(4096)       # about 18 G.711 packets: drained every 4 ms, it wraps often
    clock, x, b0, b1, y = relayed_call(tap)
    tap.enable(True)
    records = []
    for _ in range(500):
        clock.run(0.004)
        records += tap.drain()
    assert tap.stats()["dropped"] == 0 and len(records) == tap.stats()["records"] > 400
    sequences = defaultdict(list)
    for time_ns, flags, family, src, sport, dst, dport, payload in records:
        assert family == 4 and src[:4] == dst[:4] == bytes([127, 0, 0, 1])
        if not flags & RTCP:
            assert len(payload) == 172 and payload[0] >> 6 == 2
            sequences[(sport, dport, bool(flags & SENT))].append(struct.unpack_from(">H", payload, 2)[0])
    assert len(sequences) == 4
    for seqs in sequences.values():
        assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))
    assert [r[0] for r in records] == sorted(r[0] for r in records)


def test_a_tap_turned_off_copies_nothing():
    tap = CaptureTap()
    clock, *_ = relayed_call(tap)
    clock.run(0.5)
    assert tap.stats()["records"] == 0 and tap.drain() == []


@pytest.mark.parametrize("capacity", [0, 100, 1 << 31, "big"])
def test_a_tap_size_out_of_range_is_refused_naming_it(capacity):
    with pytest.raises(ValueError, match="capture tap capacity"):
        CaptureTap(capacity)


def test_the_consoles_capture_takes_rtp_from_a_registered_tap_and_stops_its_feed(tmp_path):
    from firmware.capture.console import CaptureControl

    tap = CaptureTap()
    clock, x, b0, b1, y = relayed_call(tap)
    control = CaptureControl()
    control.taps.append(tap)
    control.define(parse_definition("rtp"), None)
    path = control.start(tmp_path, None)
    clock.run(1.0)
    status = control.stop()
    assert not control._feeds and tap.stats()["records"] == status["packets"] >= 180
    received = b0.stats()["packets_received"] + b1.stats()["packets_received"]
    assert sum(not p.outbound for p in read_capture(path) if p.packet[UDP].payload.load[1] & 0x7F == 8) == received
    clock.run(0.2)                       # stopped: the tap is off again
    assert tap.stats()["records"] == status["packets"]

"""The bench's RTP/RTCP analyser on streams forged with scapy, whose loss, jitter, duplicates
and reordering are known, also after a round trip through the box's pcapng writer."""

import struct

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.rtp import RTP
from scapy.packet import Raw

from firmware.capture.capture import Capture
from firmware.capture.definition import parse_definition
from firmware.capture.pcapng import Flow
from hil_tests.packets import forge
from hil_tests.packets.rtp_analysis import analyse

START = 1000.0     # small epoch so float arrival times keep sub-microsecond precision


def stream(count, **kw):
    return forge.rtp_stream(count, start=START, **kw)


def test_clean_stream_has_no_loss_and_no_jitter():
    (s,) = analyse(stream(200)).streams.values()
    assert (s.packets, s.expected, s.lost, s.duplicates, s.reordered, s.sequence_errors) == (200, 200, 0, 0, 0, 0)
    assert s.jitter == pytest.approx(0, abs=1e-3) and s.payload_types == [8] and s.marker_packets == 1
    assert abs(s.clock_drift_ppm) < 1 and abs(s.clock_skew_ms) < 0.01
    assert (s.src, s.sport, s.dst, s.dport) == ("127.0.0.2", 40000, "127.0.0.1", 30000)


def test_jitter_matches_rfc3550_a8_computed_by_hand():
    # Arrivals 0, 25 and 40 ms for timestamps 0, 160, 320 at 8 kHz:
    # D1 = (200 - 0) - 160 = 40 -> J = 40/16 = 2.5; D2 = (320 - 200) - 160 = -40 -> J = 2.5 + 37.5/16 = 4.84375.
    packets = forge.with_jitter(stream(3, first_timestamp=0), [0.0, 0.005, 0.0])
    (s,) = analyse(packets).streams.values()
    assert s.jitter == pytest.approx(4.84375, abs=1e-4)
    assert s.jitter_ms == pytest.approx(4.84375 / 8, abs=1e-5)


def test_loss_duplicates_and_reordering_are_counted():
    faulty = forge.reordered(forge.duplicated(forge.loss_burst(stream(100), 20, 5), [40, 41]), 60, 3)
    (s,) = analyse(faulty).streams.values()
    assert (s.expected, s.lost, s.duplicates, s.reordered) == (100, 5, 2, 1)
    assert s.packets == 100 - 5 + 2
    # one gap, the step over the late packet, and the late packet's step back (then back to +1)
    assert s.sequence_errors == 3
    assert s.loss_percent == pytest.approx(5.0)


def test_sequence_wrap_is_not_loss():
    (s,) = analyse(stream(50, first_seq=65520)).streams.values()
    assert (s.expected, s.lost, s.sequence_errors) == (50, 0, 0)


def test_random_jitter_rises_and_uniform_delay_does_not():
    delayed = analyse(forge.with_jitter(stream(300), [0.030] * 300)).stream(0x1234ABCD)
    assert delayed.jitter_ms == pytest.approx(0, abs=0.01)
    jittery = analyse(forge.with_jitter(stream(300), forge.random_delays(300, 0.010))).stream(0x1234ABCD)
    # Uniform 0..10 ms delays: mean |D| is 10/3 ms, which J approaches.
    assert 2.0 < jittery.jitter_ms < 5.0 and jittery.max_jitter_ms >= jittery.jitter_ms


def test_wrong_ssrc_mid_stream_is_a_second_stream():
    result = analyse(forge.wrong_ssrc_from(stream(100), 60, 0xBADBAD))
    assert sorted((s.ssrc, s.packets) for s in result.streams.values()) == [(0xBADBAD, 40), (0x1234ABCD, 60)]


def test_payload_type_changes_and_rfc4733_events():
    voice = stream(10)
    base_ts = voice[5][RTP].timestamp
    packets = voice[:5]
    for i, (duration, end) in enumerate([(160, False), (320, False), (480, True), (480, True), (480, True)]):
        p = (IP(src="127.0.0.2", dst="127.0.0.1") / UDP(sport=40000, dport=30000)
             / RTP(payload_type=101, sequence=1005 + i, timestamp=base_ts, sourcesync=0x1234ABCD, marker=int(i == 0))
             / Raw(struct.pack(">BBH", 11, (0x80 if end else 0) | 10, duration)))
        p.time = START + (5 + i) * 0.02
        packets.append(p)
    for i, p in enumerate(forge.rtp_stream(5, start=START + 0.2, first_seq=1010, first_timestamp=base_ts + 800,
                                           marker_first=False)):
        packets.append(p)
    (s,) = analyse(packets).streams.values()
    assert s.payload_types == [8, 101] and s.payload_type_changes == [(1005, 8, 101), (1010, 101, 8)]
    (event,) = s.events
    assert (event.name, event.volume, event.duration, event.ended, event.packets) == ("#", 10, 480, True, 5)
    assert s.lost == 0 and s.timestamp_errors == 0


def test_clock_skew_of_a_fast_sender():
    # The sender's clock runs 1000 ppm fast: 160 timestamp units every 19.98 ms of arrival.
    packets = forge.rtp_stream(500, start=START, ptime=0.02)
    for i, p in enumerate(packets):
        p.time = START + i * 0.02 / 1.001
    s = analyse(packets).stream(0x1234ABCD)
    assert s.clock_drift_ppm == pytest.approx(1000, rel=0.01) and s.clock_skew_ms > 9


def test_timestamp_going_back_is_counted():
    packets = stream(20)
    packets[10][RTP].timestamp -= 1600
    assert analyse(packets).stream(0x1234ABCD).timestamp_errors == 1


def test_malformed_packets_are_counted_not_raised():
    good = stream(3)
    bad = [forge.wrong_version(good[0]), forge.truncated_header(good[0]), forge.csrc_past_end(good[0])]
    bad += [forge.rtcp_garbage(kind) for kind in forge.RTCP_GARBAGE_KINDS]
    packets = good + [IP(src="127.0.0.2", dst="127.0.0.1") / UDP(sport=40001, dport=30001) / Raw(b) for b in bad]
    for p in packets[3:]:
        p.time = START + 1
    result = analyse(packets)
    assert len(result.streams) == 1 and result.stream(0x1234ABCD).packets == 3
    assert sum(result.not_rtp.values()) == len(bad) and result.rtcp == []
    assert result.not_rtp["CSRC list past the end"] == 1 and result.not_rtp["RTCP length past the end"] == 1


def test_rtcp_sr_and_rr_are_parsed():
    sr = struct.pack(">BBHIIIIII", 0x81, 200, 12, 0xAAAA, 0xE8000000, 0x80000000, 16000, 50, 8000)
    sr += struct.pack(">IIIIII", 0x1234ABCD, (25 << 24) | 0xFFFFFE, 0x103E8, 40, 0x12345678, 65536)
    rr = struct.pack(">BBHI", 0x81, 201, 7, 0xBBBB) + struct.pack(">IIIIII", 0xAAAA, 0, 1099, 3, 0, 0)
    sdes = struct.pack(">BBHIBB", 0x81, 202, 2, 0xAAAA, 1, 0) + b"\x00\x00"
    packets = [IP(src="127.0.0.2", dst="127.0.0.1") / UDP(sport=40001, dport=30001) / Raw(sr + sdes),
               IP(src="127.0.0.1", dst="127.0.0.2") / UDP(sport=30001, dport=40001) / Raw(rr)]
    for p in packets:
        p.time = START
    result = analyse(packets)
    assert [p.kind for p in result.rtcp] == ["SR", "SDES", "RR"] and not result.not_rtp
    sender = result.rtcp[0]
    assert (sender.ssrc, sender.ntp, sender.rtp_timestamp, sender.packet_count, sender.octet_count) == (
        0xAAAA, 0xE800000080000000, 16000, 50, 8000)
    (block,) = sender.reports
    assert (block.ssrc, block.fraction_lost, block.cumulative_lost, block.highest_seq, block.jitter) == (
        0x1234ABCD, 25, -2, 0x103E8, 40)
    assert result.rtcp[2].reports[0].highest_seq == 1099


def test_same_figures_after_a_round_trip_through_the_box_capture(tmp_path):
    faulty = forge.with_jitter(forge.duplicated(forge.loss_burst(stream(250), 100, 10), [5]),
                               forge.random_delays(250, 0.004, seed=3))
    path = tmp_path / "media.pcapng"
    capture = Capture(parse_definition("rtp"), path)
    capture.start()
    for p in faulty:
        flow = Flow(p[IP].src, p[UDP].sport, p[IP].dst, p[UDP].dport)
        assert capture.rtp(flow, bytes(p[UDP].payload), sent=False, timestamp=float(p.time))
    capture.stop()
    direct = analyse(faulty).stream(0x1234ABCD)
    read = analyse(path).stream(0x1234ABCD)
    assert (read.lost, read.duplicates, read.reordered, read.packets) == (
        direct.lost, direct.duplicates, direct.reordered, direct.packets) == (10, 1, direct.reordered, 241)
    assert read.jitter == pytest.approx(direct.jitter, abs=0.01)


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(st.binary(max_size=80), min_size=1, max_size=20))
def test_any_udp_payload_is_analysed_or_counted_never_raised(payloads):
    packets = []
    for i, raw in enumerate(payloads):
        p = IP(src="127.0.0.2", dst="127.0.0.1") / UDP(sport=40000, dport=30000) / Raw(raw)
        p.time = START + i * 0.02
        packets.append(p)
    result = analyse(packets)
    taken = sum(s.packets for s in result.streams.values())
    assert result.packets == len(payloads)
    assert taken + sum(result.not_rtp.values()) + result.rtcp_datagrams == len(payloads)
    for stream in result.streams.values():
        assert stream.lost >= 0 and stream.jitter >= 0 and stream.expected >= 1


def test_classic_pcap_with_ethernet_vlan_and_ipv6_from_scapy(tmp_path):
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.utils import wrpcap

    plain = forge.loss_burst(stream(60), 10, 3)
    tagged = stream(40, ssrc=0x7777, src=("127.0.0.3", 40002))
    v6 = forge.duplicated(stream(30, ssrc=0x6666), [4])
    frames = []

    def ether():            # explicit addresses: scapy would otherwise try ARP for them
        return Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01")

    for p in plain:
        frames.append(ether() / p)
    for p in tagged:
        frames.append(ether() / Dot1Q(vlan=20, prio=5) / p)
    for p in v6:
        frames.append(ether() / IPv6(src="2001:db8::2", dst="2001:db8::1") / p[UDP])
    for frame, p in zip(frames, plain + tagged + v6):
        frame.time = p.time
    path = tmp_path / "scapy.pcap"
    wrpcap(str(path), frames)
    result = analyse(path)
    assert (result.stream(0x1234ABCD).lost, result.stream(0x1234ABCD).packets) == (3, 57)
    assert (result.stream(0x7777).packets, result.stream(0x7777).lost) == (40, 0)
    six = result.stream(0x6666)
    assert (six.src, six.packets, six.duplicates) == ("2001:db8::2", 31, 1)


def _wireshark_streams(path) -> dict[int, dict]:
    """Wireshark's own RTP stream analysis (tshark -z rtp,streams) of a capture, by SSRC."""
    import subprocess
    out = subprocess.run(["tshark", "-r", str(path), "-o", "rtp.heuristic_rtp:TRUE", "-q", "-z", "rtp,streams"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    streams = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 17 and words[6].startswith("0x"):
            streams[int(words[6], 16)] = {"packets": int(words[8]), "lost": int(words[9]),
                                          "mean_jitter": float(words[15]), "max_jitter": float(words[16])}
    return streams


def test_loss_and_jitter_agree_with_wiresharks_rtp_stream_analysis(tmp_path):
    a = forge.with_jitter(forge.loss_burst(stream(500), 100, 7), forge.random_delays(493, 0.015, seed=4))
    b = forge.with_jitter(forge.loss_burst(stream(300, ssrc=0x2222, src=("127.0.0.2", 40002)), 50, 1),
                          forge.random_delays(299, 0.004, seed=9))
    path = tmp_path / "two.pcapng"
    capture = Capture(parse_definition("rtp"), path)
    capture.start()
    for p in sorted(a + b, key=lambda p: p.time):
        capture.rtp(Flow(p[IP].src, p[UDP].sport, p[IP].dst, p[UDP].dport), bytes(p[UDP].payload), sent=False,
                    timestamp=float(p.time))
    capture.stop()
    ours = analyse(path)
    theirs = _wireshark_streams(path)
    assert set(theirs) == {0x1234ABCD, 0x2222}
    for ssrc, want in theirs.items():
        got = ours.stream(ssrc)
        assert (got.packets, got.lost) == (want["packets"], want["lost"])
        # tshark prints three decimals.
        assert got.max_jitter_ms == pytest.approx(want["max_jitter"], abs=0.0015)
        assert got.mean_jitter_ms == pytest.approx(want["mean_jitter"], abs=0.0015)


def test_mos_estimate_by_the_e_model_against_hand_computed_values():
    from hil_tests.packets.rtp_analysis import mos_estimate
    # No loss, G.711: R = 93.2, MOS = 1 + 0.035 R + R (R - 60)(100 - R) 7e-6 = 4.4093.
    assert mos_estimate(0.0) == pytest.approx((93.2, 4.4093), abs=1e-4)
    # 2 % random loss with PLC (Bpl 25.1): Ie,eff = 95 * 2 / (2 + 25.1) = 7.0111 -> R 86.1889, MOS 4.2348.
    assert mos_estimate(2.0) == pytest.approx((86.1889, 4.2348), abs=1e-4)
    # G.729A (Ie 11): R 82.2, MOS 4.1044; 200 ms one way: Idd = 25 (2^(1/6) - 3 (1 + 1/729)^(1/6) + 2) = 3.0444.
    assert mos_estimate(0.0, codec="G.729A") == pytest.approx((82.2, 4.1044), abs=1e-4)
    assert mos_estimate(0.0, one_way_delay_ms=200)[0] == pytest.approx(93.2 - 3.0444, abs=1e-4)
    with pytest.raises(ValueError, match="codec 'G.722'"):
        mos_estimate(0.0, codec="G.722")


def test_rtcp_report_blocks_are_paired_with_the_analysed_stream():
    from hil_tests.packets.rtp_analysis import rtcp_agreement
    media = forge.loss_burst(stream(100, first_seq=0), 30, 4)
    rr = (IP(src="127.0.0.1", dst="127.0.0.2") / UDP(sport=30001, dport=40001)
          / Raw(struct.pack(">BBHI", 0x81, 201, 7, 0xBBBB)
                + struct.pack(">IIIIII", 0x1234ABCD, (10 << 24) | 4, 99, 40, 0, 0)))
    rr.time = START + 2.1
    (agreement,) = rtcp_agreement(analyse(media + [rr]))
    assert (agreement.ssrc, agreement.reporter, agreement.lost_difference) == (0x1234ABCD, 0xBBBB, 0)
    assert agreement.reported_jitter_ms == pytest.approx(5.0) and agreement.analysed_jitter_ms == pytest.approx(0, abs=1e-3)
    assert agreement.reported_highest_seq == agreement.analysed_highest_seq == 99

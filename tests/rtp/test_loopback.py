"""Two RTP ports over loopback: audio both ways in G.711 (A-law, mu-law, IPv4 and IPv6) and
G.729, RFC 4733 digits both ways, and RTCP figures through a middlebox that delays and drops."""

from __future__ import annotations

import pytest

from dsp.rtp import RtpError, RtpPort, emodel
from tests.rtp.support import Clock, Middlebox, aligned_snr_db, connect_pair, legs_through, power_db, tone


@pytest.mark.parametrize("codec, host", [("PCMA", "127.0.0.1"), ("PCMU", "127.0.0.1"), ("PCMA", "::1")])
def test_g711_tones_cross_both_ways_bit_for_bit(codec, host):
    a, b = RtpPort(), RtpPort()
    x, y = connect_pair(a, 3, b, 17, codec, host)
    out_a, out_b = tone(1000, 1.5), tone(700, 1.5, 5000)
    a.media.play(3, out_a)
    b.media.play(17, out_b)
    a.media.record(3)
    b.media.record(17)
    Clock(a, b).run(1.0)
    heard_by_b, heard_by_a = b.media.recorded(17), a.media.recorded(3)
    assert power_db(heard_by_b[2000:], 1000) > power_db(out_a, 1000) - 0.5
    assert power_db(heard_by_a[2000:], 700) > power_db(out_b, 700) - 0.5
    # Nothing lost on loopback, so G.711 arrives as sent: only the law's quantisation remains.
    assert aligned_snr_db(out_a, heard_by_b) > 35
    assert aligned_snr_db(out_b, heard_by_a) > 35
    for s in (x.stats(), y.stats()):
        assert s["packets_received"] >= 45 and s["lost"] == 0 and s["malformed_total"] == 0
        assert s["jitter_buffer"]["late"] == 0 and s["mos"] > 4.3
        assert 0 <= s["jitter_delay_p50_ms"] <= 20


def test_g729_tone_in_tone_out():
    a, b = RtpPort(), RtpPort()
    x, y = connect_pair(a, 0, b, 0, "G729")
    assert (x.payload_type, y.payload_type) == (18, 18)
    speech = tone(440, 2.0) // 2 + tone(1300, 2.0) // 3
    a.media.play(0, speech)
    b.media.record(0)
    Clock(a, b).run(1.6)
    heard = b.media.recorded(0)[4000:]
    for hz in (440, 1300):
        assert abs(power_db(heard, hz) - power_db(speech, hz)) < 3.0
    assert power_db(heard, 2500) < power_db(speech, 440) - 25
    s = y.stats()
    assert s["octets_received"] == s["packets_received"] * 20      # two 10-octet frames a packet
    assert s["mos"] < emodel("PCMA", 0, 50)[1]                     # G.729's own impairment counts


def test_rfc4733_digits_both_ways_and_reported_like_e1_digits():
    a, b = RtpPort(), RtpPort()
    x, y = connect_pair(a, 1, b, 2, "PCMU")
    clock = Clock(a, b)
    x.send_digits("159#", duration=0.08)
    y.send_digits("*0D", duration=0.12)
    clock.run(1.5)
    assert y.digits() == list("159#")
    assert x.digits() == list("*0D")
    assert x.stats()["dtmf_sent"] == 4 and y.stats()["dtmf_received"] == 4
    assert y.stats()["lost"] == 0


def test_sending_a_digit_that_is_not_one_is_refused_with_the_reason():
    a, b = RtpPort(), RtpPort()
    x, _ = connect_pair(a, 0, b, 0, dtmf_payload_type=None)
    with pytest.raises(RtpError, match="telephone-event"):
        x.send_digits("1")
    x2, _ = connect_pair(a, 1, b, 1)
    with pytest.raises(RtpError, match="not a DTMF digit"):
        x2.send_digits("X")


def test_rtcp_reports_the_loss_jitter_and_round_trip_the_middlebox_imposed():
    a, b = RtpPort(), RtpPort()
    # Every 10th packet x sends is dropped; 40 ms each way.
    box = Middlebox(delay=0.040, drop_x_to_y={n for n in range(5, 100_000, 10)})
    x, y = legs_through(box, a, 0, b, 0, "PCMA", rtcp_interval=1.0)
    clock = Clock(a, b)
    clock.boxes.append(box)
    a.media.play(0, tone(500, 30.0))
    b.media.play(0, tone(900, 30.0))
    clock.run(12.0)
    # Report intervals are randomised (0.5-1.5 of the interval, RFC 3550 6.3.1) and every 10th
    # packet x sends is dropped, so 12 s may bring fewer than 8 reports: wait for them, bounded.
    while min(x.stats()["rtcp_received"], y.stats()["rtcp_received"]) < 8 and clock.now < 30.0:
        clock.run(1.0)
    at_y, at_x = y.stats(), x.stats()
    assert at_y["loss"] == pytest.approx(0.10, abs=0.02)          # what y measured
    assert 0.05 <= at_x["remote_fraction_lost"] <= 0.15            # what y reported to x in RTCP
    assert at_x["loss"] == 0
    assert at_x["rtt_ms"] == pytest.approx(80, abs=6)
    assert at_y["rtt_ms"] == pytest.approx(80, abs=6)
    assert at_y["jitter_ms"] < 2.0                                 # constant delay: no jitter
    assert at_x["rtcp_received"] >= 8 and at_y["rtcp_received"] >= 8
    assert at_y["mos"] < at_x["mos"] - 0.3                         # 10 % loss costs
    assert at_y["jitter_buffer"]["missing"] >= 50                  # concealed, not silent
    box.close()


def test_rtcp_jitter_follows_rfc3550_under_injected_jitter():
    a, b = RtpPort(), RtpPort()
    box = Middlebox(jitter=0.020, seed=7)
    x, y = legs_through(box, a, 0, b, 0, "PCMA", rtcp_interval=1.0)
    clock = Clock(a, b, step=0.001)
    clock.boxes.append(box)
    a.media.play(0, tone(500, 6.0))
    clock.run(6.0)
    s = y.stats()
    # Uniform 0..20 ms transit: the mean |D| of RFC 3550 A.8 is 20/3 ms, more with the 1 ms steps.
    assert 4.0 < s["jitter_ms"] < 10.0                        # the estimator swings about its mean
    assert 4.0 < x.stats()["remote_jitter_ms"] < 10.0           # what y reported to x in RTCP
    assert s["jitter_buffer"]["late"] <= 0.02 * s["packets_received"] * 2
    box.close()


def test_emodel_orders_codecs_loss_and_delay():
    r, mos = emodel("PCMA", 0, 0)
    assert r == pytest.approx(93.2) and 4.4 < mos < 4.5
    assert emodel("G729", 0, 0)[1] < mos
    assert emodel("PCMA", 5, 0)[1] < mos
    assert emodel("PCMA", 0, 300)[1] < emodel("PCMA", 0, 100)[1] < mos
    assert emodel("PCMA", 100, 1000)[1] == 1.0


def test_loss_jitter_and_reports_agree_with_an_independent_analysis_of_the_capture():
    from scapy.layers.inet import IP, UDP
    from scapy.packet import Raw

    from hil_tests.packets.rtp_analysis import analyse, mos_estimate, rtcp_agreement

    a, b = RtpPort(), RtpPort()
    box = Middlebox(jitter=0.015, loss=0.03, seed=21)
    box.capture = []
    x, y = legs_through(box, a, 0, b, 0, "PCMA", rtcp_interval=1.0)
    clock = Clock(a, b, step=0.001)
    clock.boxes.append(box)
    a.media.play(0, tone(500, 8.0))
    clock.run(8.0)
    packets = []
    for when, (src, sport), (dst, dport), data in box.capture:
        packet = IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(data)
        packet.time = when
        packets.append(packet)
    result = analyse(packets)
    theirs = result.stream(x.ssrc)
    ours = y.stats()
    assert ours["expected"] == theirs.expected and ours["lost"] == theirs.lost
    assert ours["reordered"] == theirs.reordered
    assert ours["jitter_ms"] == pytest.approx(theirs.jitter_ms, abs=0.05)
    # y's receiver reports, as captured on their way to x, agree with the analysis too.
    reports = [r for r in rtcp_agreement(result) if r.ssrc == x.ssrc and r.reporter == y.ssrc]
    assert len(reports) == 1
    assert abs(reports[0].lost_difference) <= 5          # the last report is up to a second old
    assert abs(reports[0].jitter_difference_ms) < 2.0
    # The same E-model: G.113's G.711-with-concealment and G.729A figures.
    for codec, theirs_codec in (("PCMA", "G.711+PLC"), ("G729", "G.729A")):
        assert emodel(codec, 3.0, 0)[1] == pytest.approx(mos_estimate(3.0, codec=theirs_codec)[1], abs=1e-9)
    box.close()

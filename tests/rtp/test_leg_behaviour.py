"""One leg's behaviour in detail: ptime, RTCP on its own port, concealment under loss (G.711
PLC, G.729 frame erasure), a new SSRC mid-call, bad arguments named, late advances, and payloads
as reference decoders read them (audioop for G.711, the reference bcg729 build for G.729)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from dsp.rtp import RtpError, RtpPort
from hil_tests.packets.udp_middlebox import Middlebox
from tests.rtp.support import Clock, FarEnd, aligned_snr_db, connect_pair, legs_through, power_db, tone


@pytest.mark.parametrize("ptime, octets", [(10, 80), (30, 240), (60, 480)])
def test_ptime_sets_the_packet_size(ptime, octets):
    port = RtpPort()
    far = FarEnd()
    port.open(0, ("127.0.0.1", 0), far.address, "PCMU", ptime=ptime, rtcp_mux=True)
    Clock(port).run(0.6)
    sizes = {len(d) - 12 for d in far.received() if d[1] & 0x7F == 0}
    assert sizes == {octets}
    far.close()


def test_g729_packs_two_frames_a_packet_at_20_ms_and_ptime_40_packs_four():
    for ptime, octets in ((20, 20), (40, 40)):
        port = RtpPort()
        far = FarEnd()
        port.open(0, ("127.0.0.1", 0), far.address, "G729", ptime=ptime, rtcp_mux=True)
        Clock(port).run(0.5)
        assert {len(d) - 12 for d in far.received() if d[1] & 0x7F == 18} == {octets}
        far.close()


def test_rtcp_on_its_own_port_reports_round_trip():
    a, b = RtpPort(), RtpPort()
    x, y = connect_pair(a, 0, b, 0, "PCMA", rtcp_interval=0.5)
    assert x.rtcp_local == (x.local[0], x.local[1] + 1) and x.local[1] % 2 == 0
    Clock(a, b).run(3.0)
    for s in (x.stats(), y.stats()):
        assert s["rtcp_received"] >= 3 and s["rtcp_malformed"] == 0
        assert 0 <= s["rtt_ms"] < 15          # both advance together: the round trip is a tick or two
        assert s["remote_fraction_lost"] == 0


@pytest.mark.parametrize("codec", ["PCMA", "G729"])
def test_loss_is_concealed_not_silenced(codec):
    a, b = RtpPort(), RtpPort()
    box = Middlebox(loss=0.10, seed=3)
    x, y = legs_through(box, a, 0, b, 0, codec)
    clock = Clock(a, b)
    clock.boxes.append(box)
    a.media.play(0, tone(400, 4.0))
    b.media.record(0)
    clock.run(3.0)
    heard = b.media.recorded(0)[4000:]
    s = y.stats()
    assert s["concealed"] >= 0.05 * 250
    # 10 ms blocks: concealment keeps nearly every block voiced, where silence would leave 10 %.
    blocks = heard[: len(heard) // 80 * 80].reshape(-1, 80)
    silent = np.mean(np.abs(blocks).mean(axis=1) < 300)
    assert silent < 0.03
    assert power_db(heard, 400) > power_db(tone(400, 1.0), 400) - 3.0
    box.close()


def test_a_new_ssrc_mid_call_starts_the_stream_afresh():
    port = RtpPort()
    far = FarEnd()
    leg = port.open(0, ("127.0.0.1", 0), far.address, "PCMA", rtcp_mux=True)
    port.media.record(0)
    clock = Clock(port)
    for i in range(50):
        far.send(far.packet(b"\x55" * 160, seq=100 + i, ts=1000 + 160 * i), leg.local)
        clock.run(0.02)
    far.ssrc = 0x0BADCAFE
    for i in range(50):
        far.send(far.packet(b"\x55" * 160, seq=30_000 + i, ts=9_000_000 + 160 * i), leg.local)
        clock.run(0.02)
    s = leg.stats()
    assert s["ssrc_changes"] == 1
    assert s["expected"] == 50 and s["lost"] == 0          # counted from the new source's first packet
    assert s["jitter_buffer"]["late"] == 0
    far.close()


def test_bad_arguments_are_named():
    port = RtpPort()
    with pytest.raises(RtpError, match="codec"):
        port.open(0, ("127.0.0.1", 0), ("127.0.0.1", 9), "OPUS")
    with pytest.raises(RtpError, match="leg"):
        port.open(30, ("127.0.0.1", 0), ("127.0.0.1", 9))
    with pytest.raises(RtpError, match="ptime"):
        port.open(0, ("127.0.0.1", 0), ("127.0.0.1", 9), ptime=25)
    with pytest.raises(RtpError, match="address family"):
        port.open(0, ("127.0.0.1", 0), ("::1", 9))
    with pytest.raises(RtpError, match="IPv4 or IPv6 literal"):
        port.open(0, ("localhost", 0), ("127.0.0.1", 9))
    with pytest.raises(RtpError, match="not open"):
        port.stats(3)
    assert not port.sessions


def test_an_advance_late_by_more_than_half_a_second_skips_ahead_and_counts_it():
    a, b = RtpPort(), RtpPort()
    connect_pair(a, 0, b, 0)
    a.advance(0.1)
    assert a.blocks() == {"run": 10, "skipped": 0}
    a.advance(2.1)
    assert a.blocks() == {"run": 210, "skipped": 150}


def _payloads(far: FarEnd, pt: int) -> list[tuple[int, int, bytes]]:
    """(sequence, timestamp, payload) of the RTP packets of payload type pt, in sequence order."""
    out = []
    for d in far.received():
        if len(d) > 12 and d[1] & 0x7F == pt:
            seq, ts = struct.unpack("!HI", d[2:8])
            out.append((seq, ts, d[12:]))
    return sorted(out)


@pytest.mark.parametrize("codec, pt", [("PCMA", 8), ("PCMU", 0)])
def test_g711_payloads_are_what_a_reference_decoder_expects(codec, pt):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    port = RtpPort()
    far = FarEnd()
    port.open(0, ("127.0.0.1", 0), far.address, codec, rtcp_mux=True)
    sent = tone(1000, 1.0)
    port.media.play(0, sent)
    Clock(port).run(0.6)
    packets = _payloads(far, pt)
    assert [ts - packets[0][1] for _, ts, _ in packets] == [160 * k for k in range(len(packets))]
    stream = b"".join(p for _, _, p in packets)
    decode = audioop.alaw2lin if codec == "PCMA" else audioop.ulaw2lin
    heard = np.frombuffer(decode(stream, 2), np.int16)
    assert aligned_snr_db(sent, heard, max_lag=800, n=3000) > 35
    far.close()


def test_g729_payloads_decode_with_the_reference_bcg729():
    from hil_tests.peers._bcg729_ref import ffi as ref_ffi
    from hil_tests.peers._bcg729_ref import lib as ref

    port = RtpPort()
    far = FarEnd()
    port.open(0, ("127.0.0.1", 0), far.address, "G729", rtcp_mux=True)
    sent = tone(440, 1.5) // 2 + tone(1300, 1.5) // 3
    port.media.play(0, sent)
    Clock(port).run(1.2)
    decoder = ref.initBcg729DecoderChannel()
    frame_out = ref_ffi.new("int16_t[80]")
    heard = []
    for _, _, payload in _payloads(far, 18):
        assert len(payload) == 20                        # RFC 3551: two 10-octet frames, no SID
        for f in range(2):
            ref.bcg729Decoder(decoder, payload[10 * f: 10 * f + 10], 10, 0, 0, 0, frame_out)
            heard.append(np.frombuffer(ref_ffi.buffer(frame_out), np.int16).copy())
    ref.closeBcg729DecoderChannel(decoder)
    heard = np.concatenate(heard)[2000:]
    for hz in (440, 1300):
        assert abs(power_db(heard, hz) - power_db(sent, hz)) < 3.0
    far.close()

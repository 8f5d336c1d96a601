"""What the bench's forgers produce, and the loopback sender's schedule."""

import socket
import struct

import pytest
from scapy.layers.inet import UDP
from scapy.layers.rtp import RTP

from hil_tests.packets import forge


def seqs(stream):
    return [p[RTP].sequence for p in stream]


def test_rtp_stream_is_a_well_formed_paced_stream():
    stream = forge.rtp_stream(5, ssrc=0xCAFE, first_seq=65534, first_timestamp=0, start=100.0)
    assert seqs(stream) == [65534, 65535, 0, 1, 2]
    assert [p[RTP].timestamp for p in stream] == [0, 160, 320, 480, 640]
    assert [round(float(p.time) - 100.0, 6) for p in stream] == [0.0, 0.02, 0.04, 0.06, 0.08]
    raw = bytes(stream[0][UDP].payload)
    assert len(raw) == 172 and raw[0] == 0x80 and raw[1] == 0x80 | 8 and struct.unpack(">I", raw[8:12])[0] == 0xCAFE
    assert bytes(stream[1][UDP].payload)[1] == 8          # marker on the first packet only


def test_faults_change_only_what_they_say():
    stream = forge.rtp_stream(10, first_seq=0, start=100.0)
    assert seqs(forge.loss_burst(stream, 3, 4)) == [0, 1, 2, 7, 8, 9]
    dup = forge.duplicated(stream, [2])
    assert seqs(dup) == [0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9] and float(dup[3].time) == pytest.approx(100.041)
    assert seqs(forge.reordered(stream, 2, 3)) == [0, 1, 3, 4, 5, 2, 6, 7, 8, 9]
    late = forge.with_jitter(stream, [0.0, 0.05] + [0.0] * 8)
    assert seqs(late)[:5] == [0, 2, 3, 1, 4]      # 20 ms + 50 ms late lands after 40 and 60 ms
    changed = forge.wrong_ssrc_from(stream, 4, 0xBAD)
    assert [p[RTP].sourcesync for p in changed] == [0x1234ABCD] * 4 + [0xBAD] * 6
    assert seqs(stream) == list(range(10)) and stream[4][RTP].sourcesync == 0x1234ABCD   # input untouched
    delays = forge.random_delays(100, 0.01, seed=5)
    assert delays == forge.random_delays(100, 0.01, seed=5) and all(0 <= d <= 0.01 for d in delays)


def test_malformed_rtp():
    packet = forge.rtp_stream(1)[0]
    assert forge.wrong_version(packet)[0] >> 6 == 1 and len(forge.wrong_version(packet)) == 172
    assert forge.truncated_header(packet, 7) == bytes(packet[RTP])[:7]
    with pytest.raises(ValueError, match="keep 12"):
        forge.truncated_header(packet, 12)
    csrc = forge.csrc_past_end(packet, 15)
    assert csrc[0] & 0x0F == 15 and len(csrc) == 16 < 12 + 4 * 15


def test_rtcp_garbage_kinds():
    for kind in forge.RTCP_GARBAGE_KINDS:
        raw = forge.rtcp_garbage(kind)
        assert raw and isinstance(raw, bytes)
    assert struct.unpack(">H", forge.rtcp_garbage("length_past_end")[2:4])[0] * 4 + 4 > 8
    assert forge.rtcp_garbage("wrong_version")[0] >> 6 == 1
    assert len(forge.rtcp_garbage("not_multiple_of_4")) % 4 == 3
    with pytest.raises(ValueError, match="unknown RTCP garbage kind 'x'"):
        forge.rtcp_garbage("x")


def test_sip_cut_short_oversized_and_split():
    invite = forge.sip_invite("c1", body=b"v=0\r\n")
    assert invite.endswith(b"Content-Length: 5\r\n\r\nv=0\r\n")
    assert forge.sip_cut_short(invite, 40) == invite[:40]
    big = forge.sip_oversized(invite, 4000)
    assert len(big) == 4000 and big.startswith(b"INVITE ") and big.endswith(b"\r\n\r\nv=0\r\n")
    assert b"\r\nX-Padding: xxx" in big
    parts = forge.sip_split(invite, 3)
    assert len(parts) == 3 and b"".join(parts) == invite
    with pytest.raises(ValueError, match="parts 1"):
        forge.sip_split(invite, 1)
    with pytest.raises(ValueError, match="size 10"):
        forge.sip_oversized(invite, 10)


def test_sender_plays_the_schedule_on_the_loopback():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2.0)
    port = receiver.getsockname()[1]
    stream = forge.reordered(forge.rtp_stream(10, first_seq=0, start=50.0), 1, 2)
    mixed = forge.as_pairs(stream) + [(50.5, forge.rtcp_garbage("short_sr"))]
    sent_at = forge.send_schedule(mixed, ("127.0.0.1", port), speed=2.0)
    got = [receiver.recv(2048) for _ in range(11)]
    receiver.close()
    assert [struct.unpack(">H", g[2:4])[0] for g in got[:10]] == [0, 2, 3, 1, 4, 5, 6, 7, 8, 9]
    assert got[10] == forge.rtcp_garbage("short_sr")
    # 0.5 s of schedule played at twice the speed.
    assert sent_at[-1] - sent_at[0] == pytest.approx(0.25, abs=0.05)
    with pytest.raises(ValueError, match="not a loopback address"):
        forge.send_schedule(mixed, ("192.0.2.1", 9))

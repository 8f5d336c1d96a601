"""The RTP/RTCP/RFC 4733 parsers (dsp/c/rtp_packet.h), by hand and with hypothesis, and a live
leg fed malformed datagrams: each counted by its fault and dropped, good packets unharmed."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from dsp import ffi, lib
from dsp.rtp import RtpPort
from tests.rtp.support import Clock, FarEnd, tone

KINDS = {lib.RTP_ERR_SHORT: "short", lib.RTP_ERR_VERSION: "version", lib.RTP_ERR_CSRC: "csrc",
         lib.RTP_ERR_EXTENSION: "extension", lib.RTP_ERR_PADDING: "padding"}


def parse(data: bytes):
    h = ffi.new("rtp_header_t *")
    return lib.rtp_parse(data, len(data), h), h


def header(pt=8, seq=1, ts=160, ssrc=7, marker=0, first=0x80) -> bytes:
    return struct.pack("!BBHII", first, (marker << 7) | pt, seq, ts, ssrc)


def test_a_plain_packet_parses():
    rc, h = parse(header(pt=0, seq=65535, ts=2**32 - 1, ssrc=0xDEADBEEF, marker=1) + b"\xff" * 160)
    assert rc == 0
    assert (h.payload_type, h.sequence, h.timestamp, h.ssrc, h.marker) == (0, 65535, 2**32 - 1, 0xDEADBEEF, 1)
    assert (h.payload_offset, h.payload_length) == (12, 160)


def test_csrcs_extension_and_padding_are_skipped():
    csrcs = struct.pack("!II", 1, 2)
    extension = struct.pack("!HH", 0xBEDE, 2) + b"\0" * 8
    data = header(first=0x80 | 0x20 | 0x10 | 2) + csrcs + extension + b"P" * 20 + b"\0\0\x03"
    rc, h = parse(data)
    assert rc == 0
    assert (h.csrc_count, h.has_extension, h.has_padding) == (2, 1, 1)
    assert (h.payload_offset, h.payload_length) == (12 + 8 + 12, 20)


def test_each_fault_is_named():
    assert parse(b"\x80\x08\0")[0] == lib.RTP_ERR_SHORT
    assert parse(header(first=0x40) + b"x" * 10)[0] == lib.RTP_ERR_VERSION
    assert parse(header(first=0x8F) + b"x" * 20)[0] == lib.RTP_ERR_CSRC               # 15 CSRCs promised
    assert parse(header(first=0x90) + b"\0\0")[0] == lib.RTP_ERR_EXTENSION
    assert parse(header(first=0x90) + struct.pack("!HH", 0, 50))[0] == lib.RTP_ERR_EXTENSION
    assert parse(header(first=0xA0) + b"abc\0")[0] == lib.RTP_ERR_PADDING              # count 0
    assert parse(header(first=0xA0) + b"abc\x09")[0] == lib.RTP_ERR_PADDING            # more than there is
    assert parse(bytes([0x80, 200]) + b"\0" * 10)[0] == lib.RTP_ERR_RTCP                # RFC 5761


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=200))
def test_any_datagram_parses_or_is_refused_and_never_read_past_its_end(data):
    rc, h = parse(data)
    assert rc in (0, *KINDS, lib.RTP_ERR_RTCP)
    if rc == 0:
        assert 12 <= h.payload_offset and h.payload_length >= 0
        assert h.payload_offset + h.payload_length <= len(data)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 127), st.integers(0, 65535), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
       st.integers(0, 1), st.binary(max_size=160))
def test_a_written_header_parses_back(pt, seq, ts, ssrc, marker, payload):
    buf = ffi.new("uint8_t[12]")
    assert lib.rtp_write_header(buf, marker, pt, seq, ts, ssrc) == 12
    data = bytes(ffi.buffer(buf)) + payload
    rc, h = parse(data)
    if rc == lib.RTP_ERR_RTCP:           # marker + pt 64..95 reads as an RTCP type by RFC 5761
        assert 192 <= data[1] <= 223
        return
    assert rc == 0
    assert (h.payload_type, h.sequence, h.timestamp, h.ssrc, h.marker) == (pt, seq, ts, ssrc, marker)
    assert h.payload_length == len(payload)


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=300))
def test_any_rtcp_datagram_parses_or_is_refused(data):
    info = ffi.new("rtcp_info_t *")
    rc = lib.rtcp_parse(data, len(data), info)
    assert rc <= 0
    if rc == 0:
        assert 0 <= info.n_reports <= 31


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.integers(0, 2**32 - 1), st.integers(0, 2**63), st.integers(0, 2**32 - 1),
       st.integers(0, 255), st.integers(-0x800000, 0x7FFFFF), st.integers(0, 2**32 - 1))
def test_a_built_report_parses_back(sender, ssrc, ntp, rtp_ts, fraction, lost, lsr):
    block = ffi.new("rtcp_report_block_t *", {"ssrc": 99, "fraction_lost": fraction, "cumulative_lost": lost,
                                              "highest_sequence": 70000, "jitter": 12, "lsr": lsr, "dlsr": 65536})
    out = ffi.new("uint8_t[200]")
    n = lib.rtcp_build(out, 200, sender, ssrc, ntp, rtp_ts, 5, 800, block, b"pribox")
    assert n > 0 and n % 4 == 0
    info = ffi.new("rtcp_info_t *")
    assert lib.rtcp_parse(out, n, info) == 0
    assert (bool(info.is_sender_report), info.ssrc, info.n_reports) == (sender, ssrc, 1)
    if sender:
        assert (info.ntp, info.rtp_timestamp, info.packets, info.octets) == (ntp, rtp_ts, 5, 800)
    r = info.reports[0]
    assert (r.ssrc, r.fraction_lost, r.cumulative_lost, r.highest_sequence, r.jitter, r.lsr, r.dlsr) == \
        (99, fraction, lost, 70000, 12, lsr, 65536)


def test_telephone_event_payload():
    e = ffi.new("rtp_dtmf_payload_t *")
    assert lib.rtp_dtmf_parse(b"\x0b\x8a\x03\x20", 4, e) == 0
    assert (e.event, e.end, e.volume, e.duration) == (11, 1, 10, 800)
    assert lib.rtp_dtmf_parse(b"\x0b\x8a\x03", 3, e) == lib.RTP_ERR_SHORT


def test_a_live_leg_counts_and_drops_malformed_datagrams_and_keeps_playing():
    port = RtpPort()
    far = FarEnd()
    leg = port.open(0, ("127.0.0.1", 0), far.address, "PCMA", rtcp_mux=True)
    port.media.record(0)
    clock = Clock(port)
    bad = [
        b"\x80\x08",                                             # short
        header(first=0x40) + b"\xd5" * 160,                      # version 1
        header(first=0x8F) + b"\xd5" * 20,                       # 15 CSRCs in 20 octets
        header(first=0x90) + struct.pack("!HH", 0, 400),         # extension longer than the datagram
        header(first=0xA0) + b"\xd5" * 10 + b"\xff",             # padding count beyond the payload
        header(first=0xA0) + b"\xd5" * 10 + b"\x00",             # padding count 0
        header(pt=31) + b"\xd5" * 160,                           # a payload type not negotiated
        bytes([0x80, 201, 0, 50]) + b"\0" * 8,                   # RTCP whose length runs past the datagram
    ]
    pcm = tone(1000, 1.0)
    alaw = bytearray(len(pcm))
    lib.g711_linear_to_alaw(ffi.from_buffer("int16_t[]", pcm), ffi.from_buffer("uint8_t[]", alaw), len(pcm))
    for i in range(50):
        far.send(far.packet(bytes(alaw[i * 160:(i + 1) * 160]), seq=1000 + i, ts=50_000 + 160 * i), leg.local)
        if i % 5 == 0:
            for datagram in bad:
                far.send(datagram, leg.local)
        clock.run(0.020)
    clock.run(0.1)
    s = leg.stats()
    assert s["malformed"] == {"short": 10, "version": 10, "csrc": 10, "extension": 10, "padding": 20, "payload": 0}
    assert s["malformed_total"] == 60
    assert s["wrong_payload_type"] == 10
    assert s["rtcp_malformed"] == 10
    assert s["packets_received"] == 50 and s["lost"] == 0
    heard = port.media.recorded(0)
    assert abs(float(abs(heard[2000:7000]).mean()) - float(abs(pcm).mean())) < 100
    far.close()


# Datagrams that mostly look like RTP for the leg (version 2, G.729 or telephone-event), with
# lying CSRC counts, extensions, padding and payload lengths, and plain noise.
_rtp_like = st.builds(lambda first, pt, rest: bytes([0x80 | (first & 0x3F), pt]) + rest,
                      st.integers(0, 255), st.sampled_from([18, 101, 18 | 0x80, 200, 201, 9]),
                      st.binary(max_size=300))
_datagrams = st.lists(st.one_of(_rtp_like, st.binary(max_size=300)), min_size=1, max_size=20)


@settings(max_examples=150, deadline=None)
@given(_datagrams)
def test_a_live_leg_survives_any_datagrams(datagrams):
    port = RtpPort()
    far = FarEnd()
    leg = port.open(0, ("127.0.0.1", 0), far.address, "G729", rtcp_mux=True)
    for d in datagrams:
        far.send(d, leg.local)
    port.advance(0.05)
    port.advance(0.30)
    s = leg.stats()
    counted = s["malformed_total"] + s["wrong_payload_type"] + s["packets_received"] + s["rtcp_received"] + \
        s["rtcp_malformed"]
    assert counted == len(datagrams)
    leg.close()
    far.close()


def test_a_closed_peer_port_is_counted_and_does_not_stall_the_leg():
    port = RtpPort()
    far = FarEnd()
    leg = port.open(0, ("127.0.0.1", 0), far.address, "PCMA", rtcp_mux=True)
    address = far.address
    far.close()                                   # the leg's packets now draw ICMP port unreachable
    clock = Clock(port)
    clock.run(0.2)
    far = FarEnd()
    far.sock.close()
    import socket as _socket
    far.sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    far.sock.bind(address)                        # the peer comes back on the same port
    for i in range(20):
        far.send(far.packet(b"\xd5" * 160, seq=i, ts=160 * i), leg.local)
        clock.run(0.02)
    s = leg.stats()
    assert s["send_errors"] + s["receive_errors"] >= 1
    assert s["packets_received"] == 20
    far.close()

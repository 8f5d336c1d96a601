"""The box's pcapng captures: tshark decodes every packet with 0 malformed and checksums good,
scapy reads back the same content; the ring drops and counts instead of blocking; definitions
refuse what they cannot use, naming the field."""

import struct
import subprocess
import threading
import time

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6

from firmware.capture.capture import Capture
from firmware.capture.definition import CaptureDefinitionError, parse_definition
from firmware.capture.pcapng import Flow
from firmware.capture.ring import PacketRing
from firmware.isdn import lapd_frames as lf
from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.messages import MessageType as MT, encode
from hil_tests.packets.capture_file import read_capture
from hil_tests.packets.isdn_layers import LAPD_I, LAPD_S, Q931

TSHARK_CHECKS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                 "-o", "rtp.heuristic_rtp:TRUE", "-o", "rtcp.heuristic_rtcp:TRUE"]

INVITE = (b"INVITE sip:100@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK77\r\n"
          b"Max-Forwards: 70\r\nFrom: <sip:4930@192.0.2.10>;tag=a1\r\nTo: <sip:100@192.0.2.1>\r\n"
          b"Call-ID: c7@192.0.2.10\r\nCSeq: 1 INVITE\r\nContact: <sip:4930@192.0.2.10>\r\nContent-Length: 0\r\n\r\n")
OK = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK77\r\nFrom: <sip:4930@192.0.2.10>;tag=a1\r\n"
      b"To: <sip:100@192.0.2.1>;tag=b2\r\nCall-ID: c7@192.0.2.10\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


def rtp(seq, ssrc=0x11223344, pt=8):
    return struct.pack(">BBHII", 0x80, pt, seq, seq * 160, ssrc) + bytes([0xD5]) * 160


def rtcp_sr(ssrc=0x11223344):
    return struct.pack(">BBHIIIIII", 0x80, 200, 6, ssrc, 0xE8000000, 0, 1600, 10, 1600)


def tshark(path, *args):
    result = subprocess.run(["tshark", "-r", str(path), *TSHARK_CHECKS, *args], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def write_call(path):
    """One call's worth of every kind, as the box's layers would offer it."""
    capture = Capture(parse_definition("all"), path)
    capture.start()
    t = 1_800_000_000.0
    setup = encode(MT.SETUP, 7, 0, [ie.BearerCapability(), ie.ChannelId(3), ie.CalledNumber("100")])
    frames = [(lf.Frame(lf.Kind.I, 0, False, 0, 0, setup), False), (lf.Frame(lf.Kind.RR, 0, False, None, 1), True),
              (lf.Frame(lf.Kind.I, 1, False, 0, 1, encode(MT.CONNECT, 7, 1, [ie.ChannelId(3)])), True)]
    for i, (frame, sent) in enumerate(frames):
        assert capture.dchannel(1, lf.encode(frame), sent=sent, network_side=False, timestamp=t + i * 0.01)
    out, back = Flow("192.0.2.10", 5060, "192.0.2.1", 5060), Flow("192.0.2.1", 5060, "192.0.2.10", 5060)
    capture.sip(out, INVITE, sent=True, timestamp=t + 0.1, call="c7")
    capture.sip(back, OK, sent=False, timestamp=t + 0.2, call="c7")
    tcp_out = Flow("2001:db8::10", 40000, "2001:db8::1", 5060, "tcp")
    capture.sip(tcp_out, INVITE, sent=True, timestamp=t + 0.3)
    capture.sip(tcp_out.reversed(), OK, sent=False, timestamp=t + 0.4)
    media = Flow("192.0.2.10", 20000, "192.0.2.1", 30000)
    for seq in range(50):
        capture.rtp(media, rtp(seq), sent=True, timestamp=t + 0.5 + seq * 0.02, call="c7")
        capture.rtp(media.reversed(), rtp(seq, ssrc=0x55667788, pt=0), sent=False, timestamp=t + 0.5 + seq * 0.02)
    capture.rtp(Flow("192.0.2.10", 20001, "192.0.2.1", 30001), rtcp_sr(), sent=True, timestamp=t + 1.6)
    capture.stop()
    return capture


def test_tshark_decodes_every_packet_with_no_malformed_and_good_checksums(tmp_path):
    path = tmp_path / "call.pcapng"
    capture = write_call(path)
    assert capture.status()["packets"] == 3 + 4 + 100 + 1 and capture.status()["dropped"] == 0
    assert tshark(path, "-Y", "_ws.malformed || _ws.expert.severity >= 6291456") == ""
    fields = tshark(path, "-T", "fields", "-e", "frame.protocols").split("\n")
    protocols = [f for f in fields if f]
    assert len(protocols) == 108
    assert sum("q931" in p for p in protocols) == 2 and sum(p.endswith("lapd") for p in protocols) == 1
    assert sum(p.endswith("sip") for p in protocols) == 4 and sum("rtp" in p for p in protocols) == 100
    assert sum(p.endswith("rtcp") for p in protocols) == 1
    status = tshark(path, "-T", "fields", "-e", "ip.checksum.status", "-e", "udp.checksum.status",
                    "-e", "tcp.checksum.status")
    assert "2" not in status.replace("\t", "").replace("\n", "")      # 2: bad
    assert status.count("1") >= 100
    # Direction and side decode as the ISDN traces write them: we are the user side, so the SETUP
    # we received went network -> user (1) and what we sent user -> network (0).
    directions = tshark(path, "-Y", "lapd", "-T", "fields", "-e", "lapd.direction").split()
    assert directions == ["1", "0", "0"]


def test_scapy_reads_back_the_same_content(tmp_path):
    path = tmp_path / "call.pcapng"
    write_call(path)
    packets = read_capture(path)
    assert [p.interface for p in packets][:4] == ["dchannel", "dchannel", "dchannel", "sip"]
    setup = packets[0]
    assert isinstance(setup.packet, LAPD_I) and setup.packet[Q931].message_type == MT.SETUP
    assert setup.lapd_sent is False and setup.outbound is False and setup.lapd_network_side is False
    assert isinstance(packets[1].packet, LAPD_S) and packets[1].outbound is True
    invite = packets[3].packet
    assert (invite[IP].src, invite[IP].dst, invite[UDP].sport, invite[UDP].dport) == ("192.0.2.10", "192.0.2.1",
                                                                                      5060, 5060)
    assert bytes(invite[UDP].payload) == INVITE and packets[3].time == pytest.approx(1_800_000_000.1)
    tcp = packets[5].packet
    assert isinstance(tcp, IPv6) and tcp[TCP].dport == 5060 and bytes(tcp[TCP].payload) == INVITE
    reply = packets[6].packet
    assert reply[TCP].ack == tcp[TCP].seq + len(INVITE) and bytes(reply[TCP].payload) == OK
    media = [p for p in packets if p.interface == "rtp"]
    assert len(media) == 101
    assert [bytes(p.packet[UDP].payload) for p in media[:100:2]] == [rtp(s) for s in range(50)]
    # Checksums as scapy computes them for the same headers.
    for p in packets[3:]:
        layer = p.packet
        rebuilt = layer.__class__(bytes(layer))
        transport = rebuilt[UDP] if UDP in rebuilt else rebuilt[TCP]
        claimed = transport.chksum
        del transport.chksum
        if IP in rebuilt:
            claimed_ip = rebuilt[IP].chksum
            del rebuilt[IP].chksum
        again = rebuilt.__class__(bytes(rebuilt))
        assert (again[UDP] if UDP in again else again[TCP]).chksum == claimed
        if IP in rebuilt:
            assert again[IP].chksum == claimed_ip


def test_filters_by_kind_span_and_call_and_stops_at_its_limit(tmp_path):
    capture = Capture(parse_definition("rtp", call="c7", packets="5"), tmp_path / "c.pcapng")
    capture.start()
    flow = Flow("192.0.2.10", 20000, "192.0.2.1", 30000)
    assert not capture.dchannel(1, b"\x00\x01\x01\x01", sent=True, network_side=False)
    assert not capture.rtp(flow, rtp(0), sent=True, call="c8")
    for seq in range(20):
        capture.rtp(flow, rtp(seq), sent=True, call="c7")
    assert capture.wait(5.0)
    status = capture.status()
    assert status["state"] == "stopped" and status["stop_reason"] == "packet limit" and status["packets"] == 5
    assert not capture.rtp(flow, rtp(99), sent=True, call="c7")
    assert [bytes(p.packet[UDP].payload) for p in read_capture(tmp_path / "c.pcapng")] == [rtp(s) for s in range(5)]
    spans = Capture(parse_definition("dchannel", span="2", known_spans=[1, 2]), tmp_path / "d.pcapng")
    spans.start()
    assert not spans.dchannel(1, b"\x00\x01\x01\x01", sent=True, network_side=False)
    assert spans.dchannel(2, b"\x00\x01\x01\x01", sent=True, network_side=False)
    spans.stop()
    assert spans.status()["packets"] == 1


def test_byte_and_time_limits(tmp_path):
    capture = Capture(parse_definition("rtp", bytes_="4K"), tmp_path / "b.pcapng")
    capture.start()
    flow = Flow("192.0.2.10", 20000, "192.0.2.1", 30000)
    for seq in range(100):
        capture.rtp(flow, rtp(seq), sent=True)
        time.sleep(0.0005)
    assert capture.wait(5.0) and capture.status()["stop_reason"] == "byte limit"
    assert 4096 <= capture.status()["bytes"] < 4096 + 100 * 300
    timed = Capture(parse_definition("all", seconds="0.2"), tmp_path / "t.pcapng")
    timed.start()
    assert timed.wait(5.0) and timed.status()["stop_reason"] == "time limit"


class _StuckFile:
    """A file whose writes hang until released: a slow disk."""

    def __init__(self):
        self.release = threading.Event()
        self.data = bytearray()
        self.header_written = False

    def write(self, data):
        if self.header_written:
            self.release.wait(10)
        self.header_written = True
        self.data += data

    def flush(self):
        pass


def test_a_stuck_writer_never_blocks_producers_and_drops_are_counted():
    stuck = _StuckFile()
    capture = Capture(parse_definition("rtp"), stuck, ring_capacity=64, batch=8)
    capture.start()
    flow = Flow("192.0.2.10", 20000, "192.0.2.1", 30000)
    began = time.monotonic()
    taken = sum(capture.rtp(flow, rtp(seq), sent=True) for seq in range(5000))
    assert time.monotonic() - began < 1.0
    stuck.release.set()
    capture.stop()
    status = capture.status()
    assert status["dropped"] == 5000 - taken and status["dropped"] >= 5000 - 64 - 8 - 8
    assert status["packets"] == taken


def test_ring_counts_what_it_refuses():
    ring = PacketRing(3)
    assert [ring.offer(i) for i in range(5)] == [True, True, True, False, False]
    assert ring.dropped == 2 and ring.take(10) == [0, 1, 2] and len(ring) == 0
    with pytest.raises(ValueError, match="capacity"):
        PacketRing(0)


@pytest.mark.parametrize("kwargs, field, text", [
    (dict(what="video"), "what", "'video' is not one of dchannel, sip, rtp, all"),
    (dict(what="all", span="9", known_spans=[1, 2]), "span", "no span 9 on this box (spans: 1, 2)"),
    (dict(what="all", span="one"), "span", "'one' is not a span number"),
    (dict(what="sip", call="c99", known_calls=["c7"]), "call", "no call 'c99'"),
    (dict(what="all", packets="lots"), "packets", "'lots' is not a positive packet count"),
    (dict(what="all", packets="0"), "packets", "'0'"),
    (dict(what="all", bytes_="12Q"), "bytes", "'12Q' is not a positive size"),
    (dict(what="all", seconds="-3"), "seconds", "'-3' is not a positive duration"),
])
def test_bad_definitions_name_the_field(kwargs, field, text):
    what = kwargs.pop("what")
    with pytest.raises(CaptureDefinitionError) as info:
        parse_definition(what, **kwargs)
    assert info.value.field == field and text in str(info.value) and str(info.value).startswith(f"capture {field}:")


def test_limits_parse_with_units():
    d = parse_definition("ALL", packets="10k", bytes_="64M", seconds="5m", span=1, known_spans=[1])
    assert (d.max_packets, d.max_bytes, d.max_seconds, d.span) == (10_000, 64 * 1024 ** 2, 300.0, 1)
    assert d.kinds == {"dchannel", "sip", "rtp"}


def test_bad_flow_ends_the_capture_with_an_error_not_an_exception(tmp_path):
    capture = Capture(parse_definition("sip"), tmp_path / "e.pcapng")
    capture.start()
    capture.sip(Flow("192.0.2.1", 5060, "2001:db8::1", 5060), INVITE, sent=True)
    assert capture.wait(5.0)
    assert capture.status()["stop_reason"] == "error" and "mixes IPv4 and IPv6" in capture.status()["error"]


from hypothesis import given, settings, strategies as st  # noqa: E402

_ADDRESSES = st.sampled_from([("192.0.2.10", "192.0.2.1"), ("198.51.100.7", "203.0.113.200"),
                              ("2001:db8::10", "2001:db8::1"), ("fe80::1", "ff02::fb")])


@settings(max_examples=40, deadline=None)
@given(packets=st.lists(st.tuples(_ADDRESSES, st.integers(0, 65535), st.integers(0, 65535),
                                  st.sampled_from(["udp", "tcp"]), st.binary(max_size=1400), st.booleans()),
                        min_size=1, max_size=12))
def test_any_flow_and_payload_reads_back_with_valid_checksums(tmp_path_factory, packets):
    path = tmp_path_factory.mktemp("h") / "h.pcapng"
    capture = Capture(parse_definition("sip"), path)
    capture.start()
    for (src, dst), sport, dport, transport, payload, sent in packets:
        assert capture.sip(Flow(src, sport, dst, dport, transport), payload, sent=sent, timestamp=1.5)
    capture.stop()
    read = read_capture(path)
    assert len(read) == len(packets)
    for got, ((src, dst), sport, dport, transport, payload, sent) in zip(read, packets):
        layer = got.packet
        ip = layer[IP] if IP in layer else layer[IPv6]
        transport_layer = layer[UDP] if transport == "udp" else layer[TCP]
        assert (ip.src, ip.dst, transport_layer.sport, transport_layer.dport) == (src, dst, sport, dport)
        assert bytes(transport_layer.payload) == payload and got.outbound is sent
        claimed = transport_layer.chksum
        rebuilt = layer.__class__(bytes(layer))
        inner = rebuilt[UDP] if transport == "udp" else rebuilt[TCP]
        del inner.chksum
        if IP in rebuilt:
            del rebuilt[IP].chksum
        again = rebuilt.__class__(bytes(rebuilt))
        assert (again[UDP] if transport == "udp" else again[TCP]).chksum == claimed
        if IP in layer:
            assert again[IP].chksum == layer[IP].chksum


def test_racing_producers_lose_no_drop_count():
    ring = PacketRing(1000)
    barrier = threading.Barrier(4)

    def produce():
        barrier.wait()
        for i in range(20_000):
            ring.offer(i)

    threads = [threading.Thread(target=produce) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ring.dropped + len(ring) == 80_000 and len(ring) <= 1000 + 4


def test_a_payload_no_ip_packet_can_hold_is_counted_not_written(tmp_path):
    capture = Capture(parse_definition("sip"), tmp_path / "o.pcapng")
    capture.start()
    flow = Flow("192.0.2.10", 5060, "192.0.2.1", 5060, "tcp")
    assert not capture.sip(flow, b"x" * 70_000, sent=True)
    assert capture.sip(flow, b"x" * 65_495, sent=True)
    capture.stop()
    status = capture.status()
    assert (status["oversized"], status["packets"], status["error"]) == (1, 1, None)
    assert len(bytes(read_capture(tmp_path / "o.pcapng")[0].packet[TCP].payload)) == 65_495

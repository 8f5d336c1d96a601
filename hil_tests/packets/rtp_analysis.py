"""RTP/RTCP analysis of a capture, per stream (SSRC and 5-tuple), as a voice engineer reads
Wireshark's RTP stream analysis:

    result = analyse("call.pcapng")                 # or analyse(list_of_scapy_packets)
    for stream in result.streams.values():
        stream.lost, stream.duplicates, stream.reordered, stream.jitter_ms, stream.events
    result.rtcp                                     # parsed SR/RR with their report blocks

- loss: expected (highest - first extended sequence + 1) minus distinct sequence numbers received;
- sequence errors: each break in +1 order (a gap, a step back, a jump);
- reordering: a new sequence number lower than the highest already seen;
- jitter: RFC 3550 A.8 interarrival jitter, J += (|D| - J) / 16 with D in timestamp units,
  over packets in arrival order (duplicates left out); also in ms and its maximum;
- payload-type changes; RFC 4733 events (one per event timestamp: digit, duration, end seen);
- timestamp errors (timestamp going back as sequence goes forward) and clock skew: the
  sender's clock against arrival times, as drift in ppm (least squares) and skew in ms.

UDP packets are taken as RTCP when byte 1 is 200..204 and as RTP when the version is 2 and the
header fits; anything else is counted in `not_rtp` with a reason.  A capture file is read with
scapy's raw readers and plain IPv4/IPv6/UDP headers are decoded with struct (the hot loop);
VLAN-tagged, fragmented or extension-header packets and packet lists are dissected by scapy.
"""

from __future__ import annotations

import math
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.utils import RawPcapNgReader, RawPcapReader

# Static payload types (RFC 3551) and their clock rates; dynamic ones default to 8000.
CLOCK_RATES = {0: 8000, 3: 8000, 4: 8000, 8: 8000, 9: 8000, 13: 8000, 18: 8000, 10: 44100, 11: 44100, 97: 8000,
               101: 8000}
EVENT_NAMES = {**{i: str(i) for i in range(10)}, 10: "*", 11: "#", 12: "A", 13: "B", 14: "C", 15: "D", 16: "flash"}
_RTP = struct.Struct(">BBHII")
_RTCP_HEAD = struct.Struct(">BBHI")
_REPORT_BLOCK = struct.Struct(">IIIIII")


@dataclass
class Event:
    """One RFC 4733 event, gathered from the packets sharing its timestamp."""

    timestamp: int
    event: int
    name: str
    volume: int
    duration: int = 0           # the longest duration seen, timestamp units
    ended: bool = False
    packets: int = 0
    first_seq: int = 0


@dataclass
class StreamStats:
    ssrc: int
    src: str
    sport: int
    dst: str
    dport: int
    packets: int = 0
    first_seq: int = 0
    highest_seq: int = 0        # extended
    expected: int = 0
    lost: int = 0
    duplicates: int = 0
    reordered: int = 0
    sequence_errors: int = 0
    timestamp_errors: int = 0
    marker_packets: int = 0
    jitter: float = 0.0         # timestamp units, RFC 3550 A.8
    jitter_ms: float = 0.0
    max_jitter_ms: float = 0.0
    mean_jitter_ms: float = 0.0     # J averaged over every packet after the first, as Wireshark shows it
    payload_types: list = field(default_factory=list)      # in order of first appearance
    payload_type_changes: list = field(default_factory=list)   # (sequence, from, to)
    events: list = field(default_factory=list)
    first_time: float = 0.0
    last_time: float = 0.0
    clock_rate: int = 8000
    clock_drift_ppm: float = 0.0
    clock_skew_ms: float = 0.0
    # working state
    _seen: set = field(default_factory=set, repr=False)
    _transit: float | None = field(default=None, repr=False)
    _last_pt: int | None = field(default=None, repr=False)
    _last_media: tuple | None = field(default=None, repr=False)
    _events: dict = field(default_factory=dict, repr=False)
    _points: list = field(default_factory=list, repr=False)
    _jitter_sum: float = field(default=0.0, repr=False)
    _jitter_n: int = field(default=0, repr=False)

    @property
    def key(self) -> tuple:
        return (self.ssrc, self.src, self.sport, self.dst, self.dport)

    @property
    def loss_percent(self) -> float:
        return 100.0 * self.lost / self.expected if self.expected else 0.0


@dataclass
class ReportBlock:
    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_seq: int
    jitter: int
    lsr: int
    dlsr: int


@dataclass
class RtcpPacket:
    time: float
    src: str
    sport: int
    kind: str                       # SR, RR, SDES, BYE, APP, XR
    ssrc: int
    ntp: int | None = None
    rtp_timestamp: int | None = None
    packet_count: int | None = None
    octet_count: int | None = None
    reports: list = field(default_factory=list)


@dataclass
class Analysis:
    streams: dict = field(default_factory=dict)        # key -> StreamStats
    rtcp: list = field(default_factory=list)
    not_rtp: Counter = field(default_factory=Counter)  # reason -> count
    packets: int = 0
    rtcp_datagrams: int = 0

    def stream(self, ssrc: int) -> StreamStats:
        """The one stream with this SSRC (ValueError when there are none or several)."""
        found = [s for s in self.streams.values() if s.ssrc == ssrc]
        if len(found) != 1:
            raise ValueError(f"{len(found)} streams with SSRC {ssrc:#010x}")
        return found[0]


def _udp_datagrams(source):
    """(time, src, sport, dst, dport, payload) for each UDP packet of a capture file or a list
    of scapy packets."""
    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        yield from _file_datagrams(source)
        return
    for packet in source:
        datagram = _scapy_datagram(packet)
        if datagram is not None:
            yield (float(packet.time),) + datagram


def _scapy_datagram(packet):
    if UDP not in packet:
        return None
    ip = packet[IP] if IP in packet else packet[IPv6] if IPv6 in packet else None
    if ip is None:
        return None
    udp = packet[UDP]
    return ip.src, udp.sport, ip.dst, udp.dport, bytes(udp.payload)


_RAW_IP_LINKTYPES = {101, 228, 229, 12, 14}
_ETHERNET = 1


def _file_datagrams(path):
    """Records read with scapy's raw readers; plain IPv4/IPv6 + UDP headers are decoded here
    (the hot path), anything else (VLAN tags, fragments, extension headers) by scapy."""
    with open(path, "rb") as handle:
        pcapng = handle.read(4) == b"\x0a\x0d\x0d\x0a"
    reader = RawPcapNgReader(str(path)) if pcapng else RawPcapReader(str(path))
    with reader:
        classic_linktype = None if pcapng else reader.linktype
        for data, meta in reader:
            if pcapng:
                linktype = meta.linktype
                when = ((meta.tshigh << 32) | meta.tslow) / meta.tsresol
            else:
                linktype = classic_linktype
                when = meta.sec + meta.usec / (1e9 if getattr(reader, "nano", False) else 1e6)
            if linktype in _RAW_IP_LINKTYPES:
                ip_at = 0
            elif linktype == _ETHERNET and len(data) >= 14 and data[12:14] in (b"\x08\x00", b"\x86\xdd"):
                ip_at = 14
            elif linktype == _ETHERNET:
                datagram = _scapy_datagram(Ether(data))
                if datagram is not None:
                    yield (when,) + datagram
                continue
            else:
                continue
            datagram = _fast_udp(data, ip_at)
            if datagram is False:
                packet = (Ether(data) if ip_at else IPv6(data) if data[:1] and data[0] >> 4 == 6 else IP(data))
                datagram = _scapy_datagram(packet)
            if datagram is not None:
                yield (when,) + datagram


def _fast_udp(data: bytes, at: int):
    """(src, sport, dst, dport, payload) of a plain IPv4/IPv6 UDP packet; None when it is not UDP;
    False when scapy should look (options-free parsing does not apply)."""
    if len(data) < at + 20:
        return None
    version = data[at] >> 4
    if version == 4:
        ihl = (data[at] & 0x0F) * 4
        if data[at + 9] != 17:
            return None
        if struct.unpack_from(">H", data, at + 6)[0] & 0x3FFF:     # a fragment
            return False
        udp = at + ihl
        src, dst = socket.inet_ntop(socket.AF_INET, data[at + 12:at + 16]), \
            socket.inet_ntop(socket.AF_INET, data[at + 16:at + 20])
        end = at + struct.unpack_from(">H", data, at + 2)[0]
    elif version == 6:
        if len(data) < at + 48:
            return None
        if data[at + 6] != 17:
            return False if data[at + 6] in (0, 43, 44, 60) else None    # extension headers: scapy
        udp = at + 40
        src, dst = socket.inet_ntop(socket.AF_INET6, data[at + 8:at + 24]), \
            socket.inet_ntop(socket.AF_INET6, data[at + 24:at + 40])
        end = udp + struct.unpack_from(">H", data, at + 4)[0]
    else:
        return None
    if len(data) < udp + 8:
        return None
    sport, dport, length = struct.unpack_from(">HHH", data, udp)
    return src, sport, dst, dport, bytes(data[udp + 8:min(udp + length, end, len(data))])


def analyse(source, *, event_payload_types=(101,), clock_rates: dict | None = None) -> Analysis:
    rates = dict(CLOCK_RATES, **(clock_rates or {}))
    events_pt = set(event_payload_types)
    result = Analysis()
    for when, src, sport, dst, dport, payload in _udp_datagrams(source):
        result.packets += 1
        if len(payload) >= 2 and 200 <= payload[1] <= 204:
            _rtcp(result, when, src, sport, payload)
            continue
        if len(payload) < 12:
            result.not_rtp["shorter than the 12-octet RTP header"] += 1
            continue
        first, second, seq, timestamp, ssrc = _RTP.unpack_from(payload)
        if first >> 6 != 2:
            result.not_rtp[f"RTP version {first >> 6}"] += 1
            continue
        header = 12 + 4 * (first & 0x0F)
        if first & 0x10:
            if len(payload) < header + 4:
                result.not_rtp["extension header past the end"] += 1
                continue
            header += 4 + 4 * struct.unpack_from(">H", payload, header + 2)[0]
        if header > len(payload):
            result.not_rtp["CSRC list past the end"] += 1
            continue
        key = (ssrc, src, sport, dst, dport)
        stream = result.streams.get(key)
        pt = second & 0x7F
        if stream is None:
            stream = result.streams[key] = StreamStats(ssrc, src, sport, dst, dport, first_seq=seq, highest_seq=seq,
                                                       first_time=when, clock_rate=rates.get(pt, 8000))
        _account(stream, when, seq, timestamp, pt, bool(second & 0x80), payload[header:], events_pt, rates)
    for stream in result.streams.values():
        _finish(stream)
    return result


def _account(s: StreamStats, when: float, seq: int, timestamp: int, pt: int, marker: bool, body: bytes,
             events_pt: set, rates: dict) -> None:
    s.packets += 1
    s.last_time = when
    if marker:
        s.marker_packets += 1
    # Extended sequence number: the one nearest the highest seen, so wraps and late packets
    # from before a wrap both land right.
    extended = seq
    if s._seen:
        ref = s.highest_seq
        extended = (ref & ~0xFFFF) | seq
        if extended - ref > 0x8000:
            extended -= 0x10000
        elif ref - extended > 0x8000:
            extended += 0x10000
    _sequence(s, when, extended, timestamp, pt, body, events_pt, rates)


def _sequence(s: StreamStats, when, extended, timestamp, pt, body, events_pt, rates):
    if extended in s._seen:
        s.duplicates += 1
        return
    if s.packets > 1 + s.duplicates:
        if extended != s.highest_seq + 1:
            s.sequence_errors += 1
        if extended < s.highest_seq:
            s.reordered += 1
    s._seen.add(extended)
    if extended > s.highest_seq:
        s.highest_seq = extended
    if extended < s.first_seq:
        s.first_seq = extended
    # Payload type changes (media and events alike, as a capture shows them).
    if s._last_pt is not None and pt != s._last_pt:
        s.payload_type_changes.append((extended & 0xFFFF, s._last_pt, pt))
    if pt not in s.payload_types:
        s.payload_types.append(pt)
    s._last_pt = pt
    rate = rates.get(pt, 8000)
    # RFC 3550 A.8: transit = arrival (timestamp units) - RTP timestamp; D = transit - last transit.
    transit = when * rate - timestamp
    if s._transit is not None:
        d = abs(transit - s._transit)
        if d > rate * 3600:        # a timestamp jump of an hour is a new timeline, not jitter
            d = 0.0
        s.jitter += (d - s.jitter) / 16.0
        s.max_jitter_ms = max(s.max_jitter_ms, s.jitter / rate * 1000.0)
        s._jitter_sum += s.jitter / rate * 1000.0
        s._jitter_n += 1
    s._transit = transit
    if pt in events_pt:
        _event(s, extended, timestamp, body)
        return
    if s._last_media is not None:
        last_seq, last_ts = s._last_media
        if extended > last_seq and ((timestamp - last_ts) & 0xFFFFFFFF) >= 0x80000000:
            s.timestamp_errors += 1
    if s._last_media is None or extended > s._last_media[0]:
        s._last_media = (extended, timestamp)
    s._points.append((when, timestamp))


def _event(s: StreamStats, extended: int, timestamp: int, body: bytes) -> None:
    if len(body) < 4:
        return
    code, flags, duration = body[0], body[1], struct.unpack_from(">H", body, 2)[0]
    event = s._events.get(timestamp)
    if event is None:
        event = s._events[timestamp] = Event(timestamp, code, EVENT_NAMES.get(code, str(code)), flags & 0x3F,
                                             first_seq=extended & 0xFFFF)
        s.events.append(event)
    event.packets += 1
    event.duration = max(event.duration, duration)
    event.ended = event.ended or bool(flags & 0x80)


def _finish(s: StreamStats) -> None:
    s.expected = s.highest_seq - s.first_seq + 1
    s.lost = s.expected - len(s._seen)
    s.jitter_ms = s.jitter / s.clock_rate * 1000.0
    s.mean_jitter_ms = s._jitter_sum / s._jitter_n if s._jitter_n else 0.0
    points = s._points
    if len(points) >= 2:
        # Unwrap timestamps, then fit sender seconds against arrival seconds.
        base_t, base_ts = points[0]
        xs, ys, offset, last = [], [], 0, base_ts
        for when, ts in points:
            delta = (ts - last) & 0xFFFFFFFF
            if delta >= 0x80000000:
                delta -= 0x100000000
            offset += delta
            last = ts
            xs.append(when - base_t)
            ys.append(offset / s.clock_rate)
        n = len(xs)
        mean_x, mean_y = sum(xs) / n, sum(ys) / n
        var = sum((x - mean_x) ** 2 for x in xs)
        if var > 0:
            slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var
            s.clock_drift_ppm = (slope - 1.0) * 1e6
        s.clock_skew_ms = (ys[-1] - xs[-1]) * 1000.0


def _rtcp(result: Analysis, when: float, src: str, sport: int, payload: bytes) -> None:
    """A compound RTCP packet is taken whole or not at all (RFC 3550 A.2's validity check)."""
    parsed: list[RtcpPacket] = []
    problem = _rtcp_packets(parsed, when, src, sport, payload)
    if problem:
        result.not_rtp[problem] += 1
    else:
        result.rtcp.extend(parsed)
        result.rtcp_datagrams += 1


def _rtcp_packets(parsed: list, when: float, src: str, sport: int, payload: bytes) -> str | None:
    if len(payload) % 4:
        return "RTCP length not a multiple of 4"
    pos = 0
    while pos < len(payload):
        if len(payload) - pos < 8:
            return "RTCP packet shorter than 8 octets"
        first, kind, length, ssrc = _RTCP_HEAD.unpack_from(payload, pos)
        if first >> 6 != 2:
            return f"RTCP version {first >> 6}"
        end = pos + 4 * (length + 1)
        if end > len(payload):
            return "RTCP length past the end"
        count = first & 0x1F
        name = {200: "SR", 201: "RR", 202: "SDES", 203: "BYE", 204: "APP", 207: "XR"}.get(kind)
        if name is None:
            return f"RTCP packet type {kind}"
        packet = RtcpPacket(when, src, sport, name, ssrc)
        blocks_at = pos + 8
        if name == "SR":
            if end - pos < 28:
                return "RTCP SR shorter than its sender info"
            ntp_hi, ntp_lo, packet.rtp_timestamp, packet.packet_count, packet.octet_count = struct.unpack_from(
                ">IIIII", payload, pos + 8)
            packet.ntp = ntp_hi << 32 | ntp_lo
            blocks_at = pos + 28
        if name in ("SR", "RR"):
            if blocks_at + 24 * count > end:
                return "RTCP report blocks past the packet's length"
            for i in range(count):
                rssrc, lost_word, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(payload, blocks_at + 24 * i)
                cumulative = lost_word & 0xFFFFFF
                if cumulative & 0x800000:
                    cumulative -= 0x1000000
                packet.reports.append(ReportBlock(rssrc, lost_word >> 24, cumulative, highest, jitter, lsr, dlsr))
        parsed.append(packet)
        pos = end
    return None


# -- what the analyser says against what the endpoints said ----------------------------------------

@dataclass
class RtcpAgreement:
    """One RTCP report block about a stream we analysed, and how far the two disagree."""

    ssrc: int
    reporter: int
    reported_lost: int
    analysed_lost: int
    reported_jitter_ms: float
    analysed_jitter_ms: float
    reported_highest_seq: int
    analysed_highest_seq: int

    @property
    def lost_difference(self) -> int:
        return self.reported_lost - self.analysed_lost

    @property
    def jitter_difference_ms(self) -> float:
        return self.reported_jitter_ms - self.analysed_jitter_ms


def rtcp_agreement(result: Analysis) -> list[RtcpAgreement]:
    """Pair every SR/RR report block with the analysed stream of the SSRC it reports on (the
    last block per reporter and SSRC, as it is the most complete).  The capture point and the
    reporter see the same stream only when they sit side by side; bounds are the caller's."""
    latest: dict[tuple[int, int], ReportBlock] = {}
    for packet in result.rtcp:
        for block in packet.reports:
            latest[(packet.ssrc, block.ssrc)] = block
    out = []
    for (reporter, ssrc), block in latest.items():
        streams = [s for s in result.streams.values() if s.ssrc == ssrc]
        if len(streams) != 1:
            continue
        s = streams[0]
        out.append(RtcpAgreement(ssrc, reporter, block.cumulative_lost, s.lost,
                                 block.jitter / s.clock_rate * 1000.0, s.jitter_ms, block.highest_seq,
                                 s.highest_seq & 0xFFFFFFFF))
    return out


# ITU-T G.113 Appendix I equipment impairment (Ie) and packet-loss robustness (Bpl) by codec.
CODEC_IMPAIRMENT = {"G.711": (0.0, 4.3), "G.711+PLC": (0.0, 25.1), "G.729A": (11.0, 19.0)}


def mos_estimate(loss_percent: float, *, codec: str = "G.711+PLC", one_way_delay_ms: float = 0.0,
                 burst_ratio: float = 1.0) -> tuple[float, float]:
    """(R, MOS-CQE) by the ITU-T G.107 E-model with default values except for loss, codec and
    delay; an estimate to compare with the box's own, not a listening test."""
    if codec not in CODEC_IMPAIRMENT:
        raise ValueError(f"codec {codec!r} is not one of {', '.join(CODEC_IMPAIRMENT)}")
    ie, bpl = CODEC_IMPAIRMENT[codec]
    ie_eff = ie + (95.0 - ie) * loss_percent / (loss_percent / burst_ratio + bpl)
    ta = one_way_delay_ms
    idd = 0.0
    if ta > 100.0:
        x = math.log2(ta / 100.0)
        idd = 25.0 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    r = 93.2 - idd - ie_eff
    if r <= 0:
        return r, 1.0
    if r >= 100:
        return r, 4.5
    return r, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6

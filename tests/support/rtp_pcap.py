"""Write a pcap of one RTP stream (A-law audio and RFC 4733 digits) for SIPp's
`play_pcap_audio`, which replays the UDP payloads toward the peer's SDP address with the
capture's timing."""

from __future__ import annotations

import struct

import numpy as np

from dsp.codecs import encode_alaw

PCMA, EVENTS = 8, 101
DIGIT_EVENTS = {d: i for i, d in enumerate("0123456789*#ABCD")}


def _udp_frame(payload: bytes, src_port: int, dst_port: int) -> bytes:
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    return b"\x00" * 12 + b"\x08\x00" + ip + udp          # Ethernet (LINKTYPE 1), IPv4, UDP


def rtp_pcap(path, audio: np.ndarray, digits: dict[float, str], *, ssrc: int = 0x5eed, src_port: int = 6000,
             dst_port: int = 6002, digit_seconds: float = 0.12) -> int:
    """`audio` (int16, 8 kHz) as 20 ms PCMA packets; at each {time: digit} an RFC 4733 event
    (packets every 20 ms, three end packets) in place of the audio.  Returns the packet count."""
    payload = encode_alaw(np.asarray(audio, np.int16)).tobytes() if len(audio) else b""
    packets: list[tuple[float, bytes]] = []
    seq, event_until = 0, -1.0
    starts = sorted(digits.items())
    for n in range(len(payload) // 160):
        t = n * 0.02
        ts = n * 160
        if starts and t >= starts[0][0]:
            _, digit = starts.pop(0)
            steps = int(round(digit_seconds / 0.02))
            for k in range(steps + 3):
                end = k >= steps
                duration = 160 * min(k + 1, steps)
                body = struct.pack("!BBH", DIGIT_EVENTS[digit], (0x80 if end else 0) | 10, duration)
                header = struct.pack("!BBHII", 0x80, (0x80 if k == 0 else 0) | EVENTS, seq & 0xFFFF, ts, ssrc)
                packets.append((t + 0.02 * min(k, steps), header + body))
                seq += 1
            event_until = t + digit_seconds
        if t < event_until:
            continue
        header = struct.pack("!BBHII", 0x80, PCMA, seq & 0xFFFF, ts, ssrc)
        packets.append((t, header + payload[n * 160:(n + 1) * 160]))
        seq += 1
    packets.sort(key=lambda p: p[0])
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, rtp in packets:
            frame = _udp_frame(rtp, src_port, dst_port)
            out.write(struct.pack("<IIII", int(t), int(round((t % 1) * 1e6)), len(frame), len(frame)) + frame)
    return len(packets)

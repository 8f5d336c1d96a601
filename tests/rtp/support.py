"""Shared by the RTP tests: leg pairs on a virtual clock, legs through the bench's UDP
middlebox (hil_tests/packets/udp_middlebox.py), a far end that forges packets, and audio measures."""

from __future__ import annotations

import socket
import struct

import numpy as np

from dsp.rtp import RtpPort, RtpSession
from hil_tests.packets.udp_middlebox import Middlebox


def tone(hz: float, seconds: float, amplitude: float = 8000.0) -> np.ndarray:
    n = int(seconds * 8000)
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(n) / 8000)).astype(np.int16)


def power_db(pcm: np.ndarray, hz: float) -> float:
    """Power of the hz component relative to full scale (a projection on sine and cosine)."""
    t = np.arange(len(pcm)) / 8000
    x = pcm.astype(float)
    i, q = np.mean(x * np.cos(2 * np.pi * hz * t)), np.mean(x * np.sin(2 * np.pi * hz * t))
    return 10 * np.log10(2 * (i * i + q * q) / 32767.0 ** 2 + 1e-12)


def aligned_snr_db(reference: np.ndarray, received: np.ndarray, max_lag: int = 3200, n: int = 4000) -> float:
    """SNR of `received` against the first `n` samples of `reference` at the path delay (up to
    max_lag samples) that maximises it."""
    ref = reference[:n].astype(float)
    rec = received.astype(float)
    windows = np.lib.stride_tricks.sliding_window_view(rec[: max_lag + n], n)
    noise = np.sum((windows - ref) ** 2, axis=1)
    return float(10 * np.log10(np.sum(ref ** 2) / max(noise.min(), 1e-9)))


class Clock:
    """Ports (and middleboxes) advanced together on a virtual clock."""

    def __init__(self, *ports, step: float = 0.002):
        self.ports = list(ports)
        self.boxes: list[Middlebox] = []
        self.now = 0.0
        self.step = step

    def run(self, seconds: float) -> None:
        for _ in range(int(round(seconds / self.step))):
            self.now += self.step
            for box in self.boxes:
                box.pump(self.now)
            for port in self.ports:
                port.advance(self.now)
            for box in self.boxes:
                box.pump(self.now)


def connect_pair(a: RtpPort, leg_a: int, b: RtpPort, leg_b: int, codec: str = "PCMA", host: str = "127.0.0.1",
                 **options) -> tuple[RtpSession, RtpSession]:
    """Open a leg on each port, each connected to the other: the first is opened twice, once to
    learn its address and once connected to the second's."""
    first = a.open(leg_a, (host, 0), (host, 9), codec, **options)
    second = b.open(leg_b, (host, 0), first.local, codec, **options)
    first = a.open(leg_a, first.local, second.local, codec, **options)
    return first, second


def legs_through(box: Middlebox, a: RtpPort, leg_a: int, b: RtpPort, leg_b: int, codec: str = "PCMA",
                 host: str = "127.0.0.1", **options) -> tuple[RtpSession, RtpSession]:
    options.setdefault("rtcp_mux", True)
    x = a.open(leg_a, (host, 0), box.for_x.getsockname()[:2], codec, **options)
    y = b.open(leg_b, (host, 0), box.for_y.getsockname()[:2], codec, **options)
    box.attach(x.local, y.local)
    return x, y


class FarEnd:
    """A plain socket the leg is connected to, forging RTP by hand."""

    def __init__(self, host: str = "127.0.0.1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()[:2]
        self.seq, self.ts, self.ssrc = 1000, 50_000, 0x1234ABCD

    def packet(self, payload: bytes, pt: int = 8, marker: int = 0, seq: int | None = None, ts: int | None = None) -> bytes:
        seq = self.seq if seq is None else seq
        ts = self.ts if ts is None else ts
        return struct.pack("!BBHII", 0x80, (marker << 7) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, self.ssrc) + payload

    def send(self, data: bytes, to) -> None:
        self.sock.sendto(data, to)

    def received(self) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self.sock.recv(2048))
            except BlockingIOError:
                return out

    def close(self) -> None:
        self.sock.close()

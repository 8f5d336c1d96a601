"""A box with a registrar, RTP legs on the line thread and the WebRTC endpoint, on 127.0.0.1 in
real time; and an aiortc peer playing the browser.  Used by the tests and bench/webrtc.py.

The box places calls to an extension's registered contact with its own user agent (the
switching core does the same once it rings SIP contacts), on an RTP leg whose audio the test
plays and records through the leg's media channel.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from dsp import lib
from dsp.line_port import LineThread
from dsp.tones import CallProgressDetector, ToneGenerator
from firmware.sip.binding import SipCalls
from firmware.sip.dialog import LocalEndpoint
from firmware.sip.digest import DigestChallenger
from firmware.sip.registrar import Registrar
from firmware.sip.sdp import AudioConfig
from firmware.sip.useragent import SipUserAgent
from pbx_cti.pbx.sip_legs import RtpLegPool
from pbx_cti.webrtc.endpoint import EndpointConfig, WebRtcEndpoint
from runtime.bus import EventBus
from runtime.clock import LoopClock

HOST = "127.0.0.1"
PASSWORDS = {str(2000 + n): f"secret-{2000 + n}" for n in range(1, 200)}
BOX_TONE_HZ = 1000.0


def free_udp_port() -> int:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Box:
    """The box's side: registrar + user agent, RTP legs on a line thread, the WebRTC endpoint."""

    def __init__(self, tick: float = 0.001, realtime: bool = False):
        self.bus = EventBus()
        self.tick = tick
        self.realtime = realtime
        self.events: list = []
        self.calls: SipCalls | None = None

    async def start(self) -> "Box":
        clock = LoopClock(asyncio.get_running_loop())
        self.clock = clock
        registrar = Registrar((HOST,), DigestChallenger("pribox", algorithms=("MD5",)), PASSWORDS.get, bus=self.bus)
        self.registrar = registrar
        self.port = free_udp_port()
        self.calls = SipCalls(SipUserAgent(LocalEndpoint(HOST, self.port), [], registrar=registrar), clock=clock,
                              bus=self.bus)
        self.calls.handler = self
        self.thread = LineThread(self.tick)
        self.pool = RtpLegPool(HOST, now=clock.now, started=self.thread.attach_rtp)
        self.thread.start(realtime_priority=self.realtime)
        await self.calls.start(HOST, self.port, tcp=False)
        self.endpoint = WebRtcEndpoint(EndpointConfig(registrar=(HOST, self.port), domain=HOST), PASSWORDS.get,
                                       bus=self.bus)
        return self

    def on_event(self, event) -> None:
        self.events.append(event)

    def registered(self, extension: str) -> bool:
        return bool(self.registrar.lookup(f"sip:{extension}@{HOST}", self.clock.now()))

    def ring(self, extension: str, toward: tuple[str, int]):
        """A call to the extension's registered contact on a new RTP leg (toward the relay the
        contact's SDP will name: the test knows it); (call id, leg)."""
        leg = self.pool.open(toward, "PCMA")
        call_id = self.calls.setup(extension, phone=extension, calling="0212345678",
                                   media=AudioConfig(HOST, leg.local[1], codecs=("PCMA",), telephone_event_pt=None))
        return call_id, leg

    def answered(self, call_id: int) -> bool:
        return any(type(e).__name__ == "Answered" and e.call_id == call_id for e in self.events)

    def released(self, call_id: int):
        return next((e for e in self.events if type(e).__name__ == "Released" and e.call_id == call_id), None)

    async def stop(self) -> None:
        await self.endpoint.close()
        if self.calls is not None:
            for call_id in list(self.calls.ua.calls):
                self.calls.try_disconnect(call_id, 16)
            await asyncio.sleep(0.05)
            await self.calls.stop()
        self.thread.stop()
        self.pool.close()


def play_tone(leg, freq_hz: float = BOX_TONE_HZ, seconds: float = 4.0, level: float = 8000.0) -> None:
    t = np.arange(int(8000 * seconds)) / 8000.0
    leg.port.media.play(leg.leg, (level * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16))


def record(leg) -> None:
    leg.port.media.record(leg.leg, lib.MEDIA_FROM_LINE, seconds=10.0)


class DialToneEar:
    """The box's tone detector (dsp/c/tones.c) on what the leg receives, fed as it arrives:
    `heard()` drains the leg's recorder and says whether the KR dial tone has been matched."""

    def __init__(self, leg):
        self.leg = leg
        self.detector = CallProgressDetector("KR")
        self.samples = 0
        self.quiet_blocks = 0
        self.matched = False

    def heard(self) -> bool:
        samples = self.leg.port.media.recorded(self.leg.leg, lib.MEDIA_FROM_LINE)
        self.samples += len(samples)
        blocks = samples[: len(samples) // 160 * 160].reshape(-1, 160).astype(float)
        if len(blocks):
            self.quiet_blocks += int(np.sum(np.sqrt(np.mean(blocks ** 2, axis=1)) < 100))
        for k in range(0, len(samples), 3200):         # a few blocks at a time, as the line runs
            if any(r.name == "dial" for r in self.detector.process(samples[k:k + 3200])):
                self.matched = True
        return self.matched

    def debug(self) -> dict:
        return {"samples": self.samples, "quiet_blocks": self.quiet_blocks,
                "history": [(s.freqs_hz, round(s.duration_s, 2)) for s in self.detector.history()][-6:]}


def heard_dial_tone(leg) -> bool:
    return DialToneEar(leg).heard()


class DialToneTrack(MediaStreamTrack):
    """The browser's microphone: KR dial tone (350 + 440 Hz), 20 ms frames at 8 kHz, paced."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self.tone = ToneGenerator("KR", "dial", level_dbm0=-10.0)
        self.pts = 0
        self.start = None

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.pts / 8000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = av.AudioFrame.from_ndarray(self.tone.generate(160).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 8000
        frame.pts = self.pts
        frame.time_base = fractions.Fraction(1, 8000)
        self.pts += 160
        return frame


class BrowserPeer:
    """aiortc as the page: offers audio, plays a dial tone, keeps what it receives."""

    def __init__(self):
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTrack(DialToneTrack())
        self.received: list[np.ndarray] = []
        self.rate = 8000
        self._reader = None

        @self.pc.on("track")
        def on_track(track):
            self._reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track) -> None:
        try:
            while True:
                frame = await track.recv()
                self.rate = frame.sample_rate
                self.received.append(frame.to_ndarray()[0].copy())
        except MediaStreamError:
            return

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))

    def tone_level(self, freq_hz: float = BOX_TONE_HZ, last_seconds: float = 1.0) -> float:
        """How far the tone's bin stands above the rest of the spectrum (dB) in what arrived."""
        if not self.received:
            return 0.0
        rate = self.rate
        audio = np.concatenate(self.received)[-int(rate * last_seconds):].astype(float)
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
        freqs = np.fft.rfftfreq(len(audio), 1 / rate)
        peak = spectrum[np.argmin(np.abs(freqs - freq_hz))]
        rest = np.median(spectrum) + 1e-9
        return 20 * np.log10(peak / rest)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.pc.close()


async def wait_for(predicate, timeout: float = 5.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


class EncodedDialTone(MediaStreamTrack):
    """The dial tone already in A-law, 20 ms packets that aiortc sends as they are: a far end
    that costs little, for the benchmark's many agents (a browser encodes on its own machine)."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        from dsp import companding
        tone = ToneGenerator("KR", "dial", level_dbm0=-10.0).generate(8000)
        self.octets = companding.encode(tone, "alaw").tobytes()
        self.pts = 0
        self.start = None

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.pts / 8000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        offset = self.pts % 8000
        packet = av.Packet(self.octets[offset:offset + 160])
        packet.pts = self.pts
        packet.time_base = fractions.Fraction(1, 8000)
        self.pts += 160
        return packet


class LeanBrowserPeer(BrowserPeer):
    """BrowserPeer that sends A-law packets as they are and keeps the payloads it receives
    (decoded only when asked): aiortc's encoder, jitter buffer and decoder threads left out."""

    def __init__(self):
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTransceiver(EncodedDialTone(), direction="sendrecv")
        self.payloads: deque = deque(maxlen=150)        # the last 3 s
        self.rate = 8000
        self._reader = None

        async def keep(packet, arrival_time_ms=0):
            if packet.payload_type == 8:
                self.payloads.append(packet.payload)

        self.pc.getTransceivers()[0].receiver._handle_rtp_packet = keep

    @property
    def received(self) -> list:
        from dsp import companding
        return [companding.decode(np.frombuffer(p, np.uint8), "alaw") for p in self.payloads]

    @received.setter
    def received(self, value) -> None:
        pass

    async def offer(self) -> str:
        transceiver = self.pc.getTransceivers()[0]
        from aiortc import RTCRtpSender
        transceiver.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs
                                         if c.mimeType == "audio/PCMA"])
        return await super().offer()

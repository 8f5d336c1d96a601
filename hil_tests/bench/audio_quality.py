"""Audio through the box, measured: listening quality (hil_tests/bench/listening_model.py, a
P.862-structured model of our own — see there why not the ITU code) through the paths a call
takes, and a both-ways tone check any answered call can be put through.

Paths, all on a virtual clock and through the product's own C data plane:
- E1 G.711: two emulated spans back to back, A-law, speech played on one side's channel and
  recorded on the other's, both directions at once;
- RTP G.711 and G.729: two RTP ports (the leg's codec is transcoded to the channel's A-law by the
  media plane, bcg729 for G.729), with a UDP middlebox between them for 1 % and 5 % loss and
  20 ms of jitter: the C jitter buffer and concealment do the rest.

`measure_audio(quick)` returns one flat dict of the worse direction's scores: `pesq_g711` (E1,
clean), `pesq_g711_rtp` (RTP, clean), `pesq_g729` (RTP, clean), and `pesq_<codec>_loss1`,
`_loss5`, `_jitter20` for each codec over RTP; `mos_lqo_<same>` beside each, and the loss the
middlebox made (`loss_seen_...`) and what the jitter buffer did (`jitter_buffer_...`);
`verify_path(call)` plays 1004 Hz one way and 1804 Hz the other and says whether each side
heard its tone and only its tone.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dsp import lib
from dsp.levels import dbm0_to_amplitude, power_dbm0
from dsp.line_port import LinePort, PortMedia, WireEnd
from dsp.rtp import RtpPort
from hil_tests.bench.listening_model import Score, score
from hil_tests.packets.udp_middlebox import Middlebox

MODEL = "pribox P.862-structured model (not the ITU reference code; see docs/bench-faults.md)"
SPEECH_LEVEL_DBM0 = -20.0
GOALS = {"pesq_g711": 4.0, "pesq_g729": 3.5}


# ---------------------------------------------------------------- reference speech

@functools.lru_cache(maxsize=2)
def reference_speech(quick: bool = False) -> tuple[np.ndarray, str]:
    """int16 speech at -20 dBm0 with pauses, and what it is.  espeak-ng prompts when the
    synthesiser is there (the image and `make deps` install it), else the bench's own
    speech-like signal, named as such in the results."""
    from hil_tests.speech import SENTENCES, SpeechUnavailable, say, speech_at_level
    pause = np.zeros(4000)
    picked = SENTENCES[:1] if quick else (SENTENCES[0], SENTENCES[2])
    try:
        parts = [pause]
        for voice, text in picked:
            parts += [say(voice, text), pause]
        speech = speech_at_level(np.concatenate(parts), SPEECH_LEVEL_DBM0)
        kind = "espeak-ng: " + " / ".join(text for _, text in picked)
    except SpeechUnavailable:
        from hil_tests.speechlike import speech_like
        speech = speech_like(6.0 if quick else 12.0, seed=3, level_dbfs=SPEECH_LEVEL_DBM0 - 3.14)
        kind = "speech-like signal (espeak-ng not installed)"
    return np.clip(np.round(speech), -32768, 32767).astype(np.int16), kind


# ---------------------------------------------------------------- paths

def _e1_g711(reference: np.ndarray, channel: int = 7) -> tuple[Score, Score]:
    """Both directions of one A-law B-channel between two emulated spans (1 ms ticks)."""
    a, b = WireEnd.pair(8)
    far, near = LinePort(a, clock_line=False), LinePort(b, clock_line=True)
    far.start(0.0)
    near.start(0.0)
    ports, now = (far, near), 0.0

    def run(seconds: float) -> None:
        nonlocal now
        for _ in range(int(round(seconds / 0.001))):
            now += 0.001
            for port in ports:
                port.advance(now)

    run(0.3)                                            # frame and CRC-4 alignment first
    far_media, near_media = PortMedia(far), PortMedia(near)
    for media in (far_media, near_media):
        media.open(channel, lib.MEDIA_CODEC_ALAW)
        media.record(channel, seconds=reference.size / 8000 + 5)
    far_media.play(channel, reference)
    near_media.play(channel, reference)
    run(reference.size / 8000 + 0.5)
    heard_near, heard_far = near_media.recorded(channel), far_media.recorded(channel)
    return score(reference, heard_near), score(reference, heard_far)


def _rtp(reference: np.ndarray, codec: str, *, loss: float = 0.0, jitter: float = 0.0,
         seed: int = 1) -> tuple[Score, Score, dict]:
    """Both directions of one RTP leg pair through a middlebox (20 ms one way, plus `jitter`
    uniform, `loss` at random), on a 2 ms virtual tick."""
    x_port, y_port = RtpPort(), RtpPort()
    box = Middlebox(delay=0.020, jitter=jitter, loss=loss, seed=seed)
    host = "127.0.0.1"
    x = x_port.open(0, (host, 0), box.for_x.getsockname()[:2], codec, rtcp_mux=True)
    y = y_port.open(0, (host, 0), box.for_y.getsockname()[:2], codec, rtcp_mux=True)
    box.attach(x.local, y.local)
    try:
        seconds = reference.size / 8000 + 1.0
        for port in (x_port, y_port):
            port.media.record(0, seconds=seconds + 5)
            port.media.play(0, reference)
        now = 0.0
        for _ in range(int(round(seconds / 0.002))):
            now += 0.002
            box.pump(now)
            x_port.advance(now)
            y_port.advance(now)
            box.pump(now)
        figures = {"x_to_y": y.stats(), "y_to_x": x.stats()}
        return score(reference, y_port.media.recorded(0)), score(reference, x_port.media.recorded(0)), figures
    finally:
        x.close()
        y.close()
        box.for_x.close()
        box.for_y.close()


def measure_audio(quick: bool = False) -> dict:
    """Every path and impairment, scored; the flat dict the bench report and bench/hil.py take."""
    started = time.monotonic()
    reference, kind = reference_speech(quick)
    out: dict = {"model": MODEL, "reference": kind, "reference_seconds": round(reference.size / 8000, 2)}

    def put(name: str, forward: Score, backward: Score) -> None:
        worse = min((forward, backward), key=lambda s: s.pesq)
        out[f"pesq_{name}"] = worse.pesq
        out[f"mos_lqo_{name}"] = worse.mos_lqo
        out[f"pesq_{name}_each_way"] = [forward.pesq, backward.pesq]

    put("g711", *_e1_g711(reference))
    conditions = [("", {}), ("_loss1", {"loss": 0.01}), ("_loss5", {"loss": 0.05}), ("_jitter20", {"jitter": 0.020})]
    for codec, name in (("PCMA", "g711"), ("G729", "g729")):
        for suffix, impairment in conditions:
            forward, backward, figures = _rtp(reference, codec, **impairment)
            if codec == "PCMA" and not suffix:
                suffix = "_rtp"                 # plain `pesq_g711` is the E1 path's
            put(name + suffix, forward, backward)
            seen = figures["x_to_y"]
            if impairment.get("loss"):
                out[f"loss_seen_{name}{suffix}"] = round(seen["loss"], 4)
            if impairment.get("jitter"):
                buffer = seen["jitter_buffer"]
                out[f"jitter_buffer_{name}{suffix}"] = {"jitter_ms": round(seen["jitter_ms"], 1),
                                                        "late": buffer["late"], "missing": buffer["missing"],
                                                        "delay_ms": buffer["delay_ms"]}
    out["goals"] = dict(GOALS)
    out["goals_met"] = all(out[key] >= goal for key, goal in GOALS.items())
    out["seconds"] = round(time.monotonic() - started, 2)
    return out


# ---------------------------------------------------------------- both-ways path check

@dataclass
class PathEnd:
    """One side of a call's audio: how to play int16 samples into it and hear what reaches it."""

    play: Callable[[np.ndarray], None]
    start_recording: Callable[[], None]
    recorded: Callable[[], np.ndarray]


def port_media_end(media: PortMedia, channel: int) -> PathEnd:
    """A channel of a media port (an E1 span's or an RTP port's)."""
    return PathEnd(lambda samples: media.play(channel, samples),
                   lambda: media.record(channel, seconds=10.0),
                   lambda: media.recorded(channel))


def span_audio_end(bearer, timeslot: int) -> PathEnd:
    """A timeslot of an ISDN span's SpanAudio (firmware/isdn/bearer.py), which plays sources."""

    class _Samples:
        def __init__(self, samples: np.ndarray):
            self.samples, self.position = samples, 0

        def generate(self, n: int) -> np.ndarray:
            out = np.zeros(n, np.int16)
            piece = self.samples[self.position:self.position + n]
            out[:piece.size] = piece
            self.position += n
            return out

    return PathEnd(lambda samples: bearer.play(timeslot, _Samples(samples)),
                   lambda: bearer.record(timeslot, seconds=10.0),
                   lambda: bearer.recorded(timeslot))


@dataclass
class AudioPath:
    """A call's two ends and how to let time pass (the virtual clock's run, or a real sleep)."""

    a: PathEnd
    b: PathEnd
    run: Callable[[float], None]


@dataclass
class PathCheck:
    a_to_b: bool
    b_to_a: bool
    level_a_to_b_dbm0: float
    level_b_to_a_dbm0: float
    crossed: bool = False            # a side heard its own tone come back loud: a looped path
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.a_to_b and self.b_to_a and not self.crossed


TONE_A_HZ, TONE_B_HZ = 1004.0, 1804.0
TONE_DBM0 = -10.0
HEARD_DBM0 = -25.0              # a tone sent at -10 dBm0 must arrive above this
ABSENT_DBM0 = -40.0             # and the other side's must stay below this


def _tone(hz: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 8000)) / 8000
    return np.round(dbm0_to_amplitude(TONE_DBM0) * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def _level_at(samples: np.ndarray, hz: float) -> float:
    """Level of the `hz` component in dBm0 (a projection on sine and cosine)."""
    if samples.size == 0:
        return -99.0
    t = np.arange(samples.size) / 8000
    x = samples.astype(float)
    i, q = np.mean(x * np.cos(2 * np.pi * hz * t)), np.mean(x * np.sin(2 * np.pi * hz * t))
    amplitude = 2 * np.hypot(i, q)
    reference = dbm0_to_amplitude(0.0)
    return float(20 * np.log10(max(amplitude / reference, 1e-5)))


def verify_path(call: AudioPath, seconds: float = 0.6) -> PathCheck:
    """Play a tone each way at once and check each side hears the other's tone, and not its
    own tone looped back.  The first 0.2 s of what arrives is skipped (path delay)."""
    call.a.start_recording()
    call.b.start_recording()
    call.a.recorded()
    call.b.recorded()                           # what was already queued is not the test
    call.a.play(_tone(TONE_A_HZ, seconds))
    call.b.play(_tone(TONE_B_HZ, seconds))
    call.run(seconds + 0.3)
    window = slice(1600, int(seconds * 8000))           # inside the tone, whatever the delay up to 0.2 s
    at_b, at_a = call.b.recorded()[window], call.a.recorded()[window]
    level_ab, level_ba = _level_at(at_b, TONE_A_HZ), _level_at(at_a, TONE_B_HZ)
    check = PathCheck(level_ab > HEARD_DBM0, level_ba > HEARD_DBM0, round(level_ab, 1), round(level_ba, 1))
    own_a, own_b = _level_at(at_a, TONE_A_HZ), _level_at(at_b, TONE_B_HZ)
    if own_a > ABSENT_DBM0 or own_b > ABSENT_DBM0:
        check.crossed = True
        check.notes.append(f"own tone heard back: a {own_a:.1f} dBm0, b {own_b:.1f} dBm0")
    if not check.a_to_b:
        check.notes.append(f"b heard a's {TONE_A_HZ:g} Hz at {level_ab:.1f} dBm0 (total {power_dbm0(at_b):.1f})")
    if not check.b_to_a:
        check.notes.append(f"a heard b's {TONE_B_HZ:g} Hz at {level_ba:.1f} dBm0 (total {power_dbm0(at_a):.1f})")
    return check

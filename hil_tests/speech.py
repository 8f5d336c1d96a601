"""Speech at 8 kHz for talk-off tests, synthesised with espeak-ng (Debian `espeak-ng`).

There is no speech corpus on the box; espeak-ng's formant synthesis gives voiced speech with
harmonics sweeping through the DTMF bands, which is what provokes talk-off.  Voices, pitches
and speeds are varied to widen the harmonic patterns.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import wave

import numpy as np

SENTENCES = (
    ("en", "Thank you for calling. Please hold while we connect you to the next available agent."),
    ("en", "Seven hundred and seventy, nine forty one, twelve oh nine: please repeat the number."),
    ("en-us", "Hello? Can you hear me? I am calling about my order from last Tuesday."),
    ("ko", "안녕하세요. 고객센터입니다. 무엇을 도와드릴까요? 잠시만 기다려 주십시오."),
    ("ko", "주문 번호는 일 이 삼 사 오 육 칠 팔 구 공 입니다. 확인 부탁드립니다."),
    ("de", "Guten Tag, bitte bleiben Sie in der Leitung, der nächste Mitarbeiter ist gleich für Sie da."),
    ("fr", "Bonjour, votre appel est important pour nous, merci de patienter quelques instants."),
    ("es", "Buenos días, le atendemos enseguida. Por favor, no cuelgue."),
    ("ja", "お電話ありがとうございます。担当者におつなぎします。"),
    ("zh", "您好，欢迎致电客户服务中心，请稍候。"),
)
PITCHES = (20, 50, 80, 99)   # espeak-ng -p, 0..99: higher pitch, sparser and higher harmonics
SPEEDS = (140, 190)


class SpeechUnavailable(RuntimeError):
    pass


def _resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling by FFT: everything above the new Nyquist frequency is cut."""
    n_out = int(round(x.size * rate_out / rate_in))
    spectrum = np.fft.rfft(x)
    keep = n_out // 2 + 1
    y = np.fft.irfft(spectrum[:keep], n_out) * (n_out / x.size)
    return y


@functools.lru_cache(maxsize=None)
def say(voice: str, text: str, pitch: int = 50, speed: int = 160) -> np.ndarray:
    """Float samples at 8 kHz, peak-normalised to 1.0."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SpeechUnavailable("espeak-ng not found: install the Debian package 'espeak-ng' (make deps does)")
    # a sanitizer run preloads its runtime into Python; espeak-ng must not inherit it
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    proc = subprocess.run([exe, "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text],
                          capture_output=True, check=False, timeout=60, env=env)
    if proc.returncode != 0 or not proc.stdout:
        raise SpeechUnavailable(f"espeak-ng -v {voice} failed: {proc.stderr.decode(errors='replace')[:200]}")
    with wave.open(io.BytesIO(proc.stdout)) as w:
        rate = w.getframerate()
        raw = w.readframes(w.getnframes())
    x = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    y = _resample(x, rate, 8000)
    peak = np.max(np.abs(y)) or 1.0
    return y / peak


def speech_corpus() -> list[np.ndarray]:
    """Every sentence in every pitch and speed: about 5 minutes of speech."""
    return [say(v, t, p, s) for v, t in SENTENCES for p in PITCHES for s in SPEEDS]


def speech_at_level(x: np.ndarray, active_dbm0: float) -> np.ndarray:
    """Scale float speech so its mean power (over the non-silent part) is `active_dbm0`."""
    from dsp.levels import DBM0_FULL_SCALE_SINE
    active = x[np.abs(x) > 0.02]
    rms = float(np.sqrt(np.mean(active ** 2))) if active.size else 1.0
    target_rms = 32767.0 / np.sqrt(2.0) * 10.0 ** ((active_dbm0 - DBM0_FULL_SCALE_SINE) / 20.0)
    return x * (target_rms / rms)


def synthetic_voiced(rng: np.random.Generator, seconds: float, level_dbm0: float,
                     formant_bandwidths_hz: tuple[float, float, float] = (60.0, 90.0, 120.0)) -> np.ndarray:
    """Structured speech-like int16 audio: a harmonic-rich glottal source whose pitch holds and
    glides between 70 and 350 Hz, shaped by three moving formants — vowels held long enough to
    look tonal, the classic talk-off hazard.  Vectorised over harmonics, no per-sample loop."""
    from dsp.levels import dbm0_to_amplitude
    n = int(seconds * 8000)
    pitch_knots = rng.uniform(70.0, 350.0, int(seconds * 2) + 2)
    f0 = np.interp(np.arange(n), np.linspace(0, n, pitch_knots.size), pitch_knots)
    phase = 2 * np.pi * np.cumsum(f0) / 8000
    formant_knots = rng.uniform([250, 800, 2000], [900, 2300, 3200], size=(int(seconds * 4) + 2, 3))
    step = 40   # the spectral envelope moves every 5 ms
    frames = np.arange(0, n, step)
    formants = np.stack([np.interp(frames, np.linspace(0, n, formant_knots.shape[0]), formant_knots[:, i])
                         for i in range(3)], axis=1)
    bw = np.asarray(formant_bandwidths_hz)
    x = np.zeros(n)
    for h in range(1, 50):
        fh = h * f0[::step]
        envelope = (1.0 / (1.0 + ((fh[:, None] - formants) / bw) ** 2)).sum(axis=1)
        envelope = np.where(fh < 3800, envelope, 0.0) / np.sqrt(h)
        x += np.repeat(envelope, step)[:n] * np.sin(h * phase)
    x *= dbm0_to_amplitude(level_dbm0) / np.sqrt(2 * np.mean(x ** 2))
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)

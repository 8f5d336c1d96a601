"""Prompt loading: every supported WAV layout and raw G.711, resampling figures, damaged and
unsupported files (each error names the file), the prompt store."""

import math
import struct
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dsp import companding
from dsp.prompts import Prompt, PromptFileError, PromptStore, load_prompt
from dsp.resample import resample
from dsp.wavfile import TAG_ALAW, TAG_FLOAT, TAG_PCM, TAG_ULAW, write_wav

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the reference G.711 (REFERENCE.md), Python 3.11


def tone(freq, rate, seconds=0.5, amplitude=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def chunk(chunk_id: bytes, body: bytes, size: int | None = None, pad: bool = True) -> bytes:
    size = len(body) if size is None else size
    return chunk_id + struct.pack("<I", size) + body + (b"\0" if pad and len(body) % 2 else b"")


def fmt_body(tag, channels, rate, bits):
    align = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)


def riff(*chunks: bytes, riff_size: int | None = None) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def level_db(samples, amplitude):
    rms = np.sqrt(np.mean(np.asarray(samples, np.float64) ** 2))
    return 20 * np.log10(max(rms, 1e-9) / (amplitude / np.sqrt(2)))


# --- formats ---------------------------------------------------------------------------------

def test_native_8k_16bit_mono_is_taken_sample_for_sample(tmp_path):
    pcm = (tone(440, 8000) * 32767).astype(np.int16)
    write_wav(tmp_path / "greeting.wav", pcm.tobytes(), rate=8000)
    prompt = load_prompt(tmp_path / "greeting.wav")
    assert prompt.name == "greeting"
    assert np.array_equal(prompt.samples, pcm)
    assert prompt.source_format == "16-bit PCM 8000 Hz mono"
    assert not prompt.samples.flags.writeable


def test_stdlib_wave_written_file_loads(tmp_path):
    import wave
    pcm = (tone(300, 8000) * 20000).astype(np.int16)
    with wave.open(str(tmp_path / "w.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(pcm.tobytes())
    assert np.array_equal(load_prompt(tmp_path / "w.wav").samples, pcm)


@pytest.mark.parametrize("bits", [8, 24, 32])
def test_integer_pcm_depths_scale_to_int16(tmp_path, bits):
    x = tone(500, 8000, amplitude=0.6)
    if bits == 8:
        payload = np.clip(np.rint(x * 127 + 128), 0, 255).astype(np.uint8).tobytes()
    elif bits == 24:
        v = np.rint(x * (2 ** 23 - 1)).astype(np.int32)
        payload = np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    else:
        payload = np.rint(x * (2 ** 31 - 1)).astype("<i4").tobytes()
    write_wav(tmp_path / "d.wav", payload, rate=8000, bits=bits)
    got = load_prompt(tmp_path / "d.wav").samples.astype(np.float64)
    tolerance = 260 if bits == 8 else 1.01
    assert np.max(np.abs(got - x * 32768)) <= tolerance


@pytest.mark.parametrize("bits", [32, 64])
def test_float_pcm_is_scaled_and_clipped(tmp_path, bits):
    x = tone(700, 8000, amplitude=0.25)
    x[:10] = 1.5      # over full scale: clipped, not wrapped
    x[10:20] = -1.5
    write_wav(tmp_path / "f.wav", x.astype("<f4" if bits == 32 else "<f8").tobytes(), rate=8000,
              bits=bits, tag=TAG_FLOAT)
    got = load_prompt(tmp_path / "f.wav").samples
    assert (got[:10] == 32767).all() and (got[10:20] == -32768).all()
    assert np.max(np.abs(got[20:] - x[20:] * 32768)) <= 1


def test_stereo_is_mixed_down(tmp_path):
    left = (tone(400, 8000) * 10000).astype(np.int16)
    right = (tone(900, 8000) * 10000).astype(np.int16)
    write_wav(tmp_path / "s.wav", np.stack([left, right], 1).tobytes(), rate=8000, channels=2)
    got = load_prompt(tmp_path / "s.wav").samples.astype(np.int32)
    expected = (left.astype(np.int32) + right) / 2
    assert np.max(np.abs(got - expected)) <= 0.5


def test_extensible_format_with_pcm_subformat(tmp_path):
    pcm = (tone(600, 16000) * 12000).astype("<i2")
    guid = struct.pack("<H", 1) + bytes.fromhex("000000001000800000aa00389b71")
    body = fmt_body(0xFFFE, 1, 16000, 16) + struct.pack("<HHI", 22, 16, 4) + guid
    (tmp_path / "x.wav").write_bytes(riff(chunk(b"fmt ", body), chunk(b"data", pcm.tobytes())))
    prompt = load_prompt(tmp_path / "x.wav")
    assert prompt.samples.size == pcm.size // 2
    assert abs(level_db(prompt.samples[100:-100], 6000)) < 0.1


@pytest.mark.parametrize("law,tag,suffix", [("alaw", TAG_ALAW, ".alaw"), ("ulaw", TAG_ULAW, ".ulaw")])
def test_g711_wav_and_raw_files_keep_their_code_words(tmp_path, law, tag, suffix):
    codes = companding.encode((tone(1000, 8000) * 20000).astype(np.int16), law)
    write_wav(tmp_path / f"p{law}.wav", codes.tobytes(), rate=8000, bits=8, tag=tag)
    (tmp_path / f"p{suffix}").write_bytes(codes.tobytes())
    for path in (tmp_path / f"p{law}.wav", tmp_path / f"p{suffix}"):
        prompt = load_prompt(path)
        assert np.array_equal(prompt.octets(law), codes)
        assert np.array_equal(prompt.samples, companding.decode(codes, law))


def test_other_law_octets_are_encoded_from_the_samples():
    prompt = Prompt("p", (tone(1000, 8000) * 20000).astype(np.int16))
    assert np.array_equal(prompt.octets("ulaw"),
                          np.frombuffer(audioop.lin2ulaw(prompt.samples.tobytes(), 2), np.uint8))
    assert prompt.octets("ulaw") is prompt.octets("ulaw")  # encoded once
    with pytest.raises(ValueError, match="law"):
        prompt.octets("g729")


def test_companding_by_law_name_matches_audioop_bit_for_bit():
    x = np.arange(-32768, 32768, dtype=np.int16)
    codes = np.arange(256, dtype=np.uint8)
    for law, enc, dec in (("alaw", audioop.lin2alaw, audioop.alaw2lin),
                          ("ulaw", audioop.lin2ulaw, audioop.ulaw2lin)):
        assert np.array_equal(companding.encode(x, law), np.frombuffer(enc(x.tobytes(), 2), np.uint8))
        assert np.array_equal(companding.decode(codes, law), np.frombuffer(dec(codes.tobytes(), 2), np.int16))


# --- resampling ------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [16000, 44100, 48000])
@pytest.mark.parametrize("freq", [4200, 5000, 7000])
def test_tones_above_4khz_are_attenuated_at_least_50db(tmp_path, rate, freq):
    amplitude = 0.5 * 32768
    write_wav(tmp_path / "hi.wav", tone(freq, rate, 0.4).astype("<f4").tobytes(), rate=rate,
              bits=32, tag=TAG_FLOAT)
    out = load_prompt(tmp_path / "hi.wav").samples
    assert level_db(out[200:-200], amplitude) <= -50


@pytest.mark.parametrize("rate", [11025, 16000, 22050, 32000, 44100, 48000])
def test_1khz_passes_within_half_a_db_and_stays_in_time(tmp_path, rate):
    amplitude = 0.5 * 32768
    write_wav(tmp_path / "one.wav", tone(1000, rate, 0.4).astype("<f4").tobytes(), rate=rate,
              bits=32, tag=TAG_FLOAT)
    out = load_prompt(tmp_path / "one.wav").samples
    assert out.size == int(np.ceil(int(rate * 0.4) * 8000 / rate))
    assert abs(level_db(out[200:-200], amplitude)) <= 0.5
    reference = tone(1000, 8000, out.size / 8000) * 32768  # no delay left by the filter
    assert np.max(np.abs(out[200:-200] - reference[200:-200])) < 0.01 * amplitude


def test_resampler_figures_over_the_telephone_band():
    for rate in (11025, 44100):
        for freq in (300, 1000, 3400):
            out = resample(tone(freq, rate, 0.3), rate)
            assert abs(level_db(out[200:-200], 0.5)) < 0.01


def test_upsampling_from_a_low_rate(tmp_path):
    write_wav(tmp_path / "low.wav", (tone(1000, 6000) * 16000).astype("<i2").tobytes(), rate=6000)
    out = load_prompt(tmp_path / "low.wav").samples
    assert out.size == 4000 and abs(level_db(out[200:-200], 8000)) < 0.1


# --- robustness ------------------------------------------------------------------------------

def test_list_chunk_odd_sizes_and_missing_pad_octets(tmp_path):
    pcm = (tone(500, 8000, 0.1) * 9000).astype("<i2").tobytes()
    info = chunk(b"LIST", b"INFOINAM\x05\x00\x00\x00hello")   # odd size, padded
    forgetful = chunk(b"junk", b"abc", pad=False)            # odd size, pad octet forgotten
    (tmp_path / "ok.wav").write_bytes(riff(info, chunk(b"fmt ", fmt_body(1, 1, 8000, 16)), forgetful,
                                           chunk(b"data", pcm), riff_size=12345678))
    assert np.array_equal(load_prompt(tmp_path / "ok.wav").samples, np.frombuffer(pcm, "<i2"))


@pytest.mark.parametrize("declared", [0, 0xFFFFFFFF, 0x7FFFF000])
def test_streaming_placeholder_data_size_means_the_rest_of_the_file(tmp_path, declared):
    pcm = (tone(500, 8000, 0.1) * 9000).astype("<i2").tobytes()
    (tmp_path / "s.wav").write_bytes(riff(chunk(b"fmt ", fmt_body(1, 1, 8000, 16)),
                                          chunk(b"data", pcm, size=declared)))
    assert load_prompt(tmp_path / "s.wav").samples.size == len(pcm) // 2


def test_data_size_larger_than_the_file_keeps_what_is_there_and_warns(tmp_path, caplog):
    pcm = (tone(500, 8000, 0.1) * 9000).astype("<i2").tobytes() + b"\x01"  # half a sample at the end
    (tmp_path / "cut.wav").write_bytes(riff(chunk(b"fmt ", fmt_body(1, 1, 8000, 16)),
                                            chunk(b"data", pcm, size=100000, pad=False)))
    prompt = load_prompt(tmp_path / "cut.wav")
    assert prompt.samples.size == len(pcm) // 2
    assert any("cut.wav" in w and "100000" in w for w in prompt.warnings)
    assert "cut.wav" in caplog.text


def fmt16():
    return chunk(b"fmt ", fmt_body(1, 1, 8000, 16))


BAD_FILES = {
    "empty.wav": (b"", "shorter than a RIFF header"),
    "text.wav": (b"hello, this is not audio at all", "not a WAV file"),
    "ogg.wav": (b"OggS" + bytes(40), "expected 'RIFF....WAVE'"),
    "avi.wav": (b"RIFF\x10\x00\x00\x00AVI " + bytes(8), "expected 'RIFF....WAVE'"),
    "big.wav": (b"RIFX" + bytes(40), "little-endian"),
    "mp3.wav": (riff(chunk(b"fmt ", fmt_body(85, 1, 8000, 16)), chunk(b"data", bytes(100))),
                "expected PCM/A-law/\u03bc-law WAV, got format tag 85 (MPEG)"),
    "adpcm.wav": (riff(chunk(b"fmt ", fmt_body(17, 1, 8000, 4)), chunk(b"data", bytes(100))),
                  "format tag 17 (IMA ADPCM)"),
    "odd.wav": (riff(chunk(b"fmt ", fmt_body(999, 1, 8000, 16)), chunk(b"data", bytes(100))), "format tag 999"),
    "ext.wav": (riff(chunk(b"fmt ", fmt_body(0xFFFE, 1, 8000, 16) + struct.pack("<HHI", 22, 16, 4) +
                           bytes(16)), chunk(b"data", bytes(10))), "sub-format GUID"),
    "bits.wav": (riff(chunk(b"fmt ", fmt_body(1, 1, 8000, 12)), chunk(b"data", bytes(100))), "12-bit PCM"),
    "fbits.wav": (riff(chunk(b"fmt ", fmt_body(3, 1, 8000, 16)), chunk(b"data", bytes(100))), "16-bit float"),
    "alaw16.wav": (riff(chunk(b"fmt ", fmt_body(6, 1, 8000, 16)), chunk(b"data", bytes(100))), "16-bit A-law"),
    "nochan.wav": (riff(chunk(b"fmt ", fmt_body(1, 0, 8000, 16)), chunk(b"data", bytes(100))), "0 channels"),
    "rate0.wav": (riff(chunk(b"fmt ", fmt_body(1, 1, 0, 16)), chunk(b"data", bytes(100))), "sample rate 0 Hz"),
    "rateodd.wav": (riff(chunk(b"fmt ", fmt_body(1, 1, 44099, 16)), chunk(b"data", bytes(100))),
                    "up-sampling factor"),
    "shortfmt.wav": (riff(chunk(b"fmt ", bytes(10)), chunk(b"data", bytes(100))), "expected at least 16"),
    "cutfmt.wav": (riff(fmt16())[:30], "truncated: the fmt chunk needs 16 bytes"),
    "headeronly.wav": (riff(), "truncated: no fmt chunk"),
    "nodata.wav": (riff(fmt16(), chunk(b"LIST", b"INFO")), "no data chunk"),
    "nofmt.wav": (riff(chunk(b"data", bytes(100))), "no fmt chunk"),
    "zero.wav": (riff(fmt16(), chunk(b"data", b"")), "no audio samples"),
    "empty.ulaw": (b"", "expected raw \u03bc-law octets"),
}


@pytest.mark.parametrize("filename", sorted(BAD_FILES))
def test_bad_files_are_clear_errors_naming_the_file(tmp_path, filename):
    content, expected = BAD_FILES[filename]
    (tmp_path / filename).write_bytes(content)
    with pytest.raises(PromptFileError) as info:
        load_prompt(tmp_path / filename)
    message = str(info.value)
    assert message.startswith(str(tmp_path / filename) + ":"), message
    assert expected in message, message


def test_missing_file_is_named(tmp_path):
    with pytest.raises(PromptFileError, match="greeting.wav: cannot read"):
        load_prompt(tmp_path / "greeting.wav")


def test_random_bytes_after_a_riff_header_never_crash(tmp_path):
    rng = np.random.default_rng(7)
    header = riff(fmt16())
    for k in range(300):
        junk = rng.integers(0, 256, int(rng.integers(0, 80)), dtype=np.uint8).tobytes()
        cut = int(rng.integers(0, len(header) + 1))
        path = tmp_path / f"r{k}.wav"
        path.write_bytes(header[:cut] + junk)
        try:
            prompt = load_prompt(path)
        except PromptFileError as exc:
            assert str(exc).startswith(str(path))
        else:
            assert prompt.samples.dtype == np.int16 and prompt.samples.size > 0


# --- the store -------------------------------------------------------------------------------

def test_store_loads_once_and_names_prompts(tmp_path):
    write_wav(tmp_path / "greeting.wav", (tone(440, 8000) * 9000).astype("<i2").tobytes(), rate=8000)
    (tmp_path / "busy.alaw").write_bytes(companding.encode((tone(620, 8000) * 9000).astype(np.int16),
                                                           "alaw").tobytes())
    (tmp_path / "notes.txt").write_text("not a prompt")
    store = PromptStore()
    loaded = store.load_directory(tmp_path)
    assert [p.name for p in loaded] == ["busy", "greeting"] and list(store) == ["busy", "greeting"]
    assert store["greeting"] is store["greeting"]
    assert "busy" in store and len(store) == 2
    moh = store.add("moh", np.zeros(800, np.int16))
    assert moh.duration == 0.1
    store.remove("moh")
    with pytest.raises(KeyError, match="'moh'.*busy, greeting"):
        store["moh"]


def test_prompt_from_samples_is_validated():
    with pytest.raises(ValueError, match="prompt 'x'"):
        Prompt("x", np.zeros(0, np.int16))
    with pytest.raises(ValueError, match="prompt 'x'"):
        Prompt("x", np.zeros((2, 3), np.int16))
    with pytest.raises(ValueError, match="name"):
        PromptStore().add("", np.zeros(8, np.int16))


# --- the pribox prompt command ---------------------------------------------------------------

def test_pribox_prompt_check_and_convert(tmp_path, capsys):
    from firmware.cli import main
    write_wav(tmp_path / "greeting.wav", tone(1000, 44100, 1.0).astype("<f4").tobytes(), rate=44100,
              bits=32, tag=TAG_FLOAT)
    (tmp_path / "song.wav").write_bytes(riff(chunk(b"fmt ", fmt_body(85, 2, 44100, 16)), chunk(b"data", bytes(8))))
    assert main(["prompt", "check", str(tmp_path / "greeting.wav")]) == 0
    assert "32-bit float 44100 Hz mono -> 1.000 s at 8000 Hz" in capsys.readouterr().out
    assert main(["prompt", "check", str(tmp_path / "greeting.wav"), str(tmp_path / "song.wav")]) == 1
    assert "song.wav: expected PCM/A-law/\u03bc-law WAV, got format tag 85 (MPEG)" in capsys.readouterr().out
    assert main(["prompt", "convert", str(tmp_path / "greeting.wav"), str(tmp_path / "greeting.alaw")]) == 0
    octets = np.frombuffer((tmp_path / "greeting.alaw").read_bytes(), np.uint8)
    assert np.array_equal(octets, load_prompt(tmp_path / "greeting.wav").octets("alaw"))
    assert main(["prompt", "convert", str(tmp_path / "greeting.alaw"), str(tmp_path / "back.wav")]) == 0
    assert np.array_equal(load_prompt(tmp_path / "back.wav").samples, companding.decode(octets, "alaw"))
    assert main(["prompt", "convert", str(tmp_path / "song.wav"), str(tmp_path / "x.wav")]) == 1
    assert main(["prompt", "convert", str(tmp_path / "greeting.wav"), str(tmp_path / "x.mp3")]) == 2


def test_data_chunk_before_fmt_chunk_still_loads(tmp_path):
    pcm = (tone(500, 8000, 0.1) * 9000).astype("<i2").tobytes()
    (tmp_path / "rev.wav").write_bytes(riff(chunk(b"data", pcm), fmt16()))
    assert load_prompt(tmp_path / "rev.wav").samples.size == len(pcm) // 2


@settings(max_examples=15, deadline=None)
@given(st.integers(4000, 192000).filter(lambda r: 8000 // math.gcd(r, 8000) <= 640))
def test_any_accepted_rate_keeps_length_level_and_timing(rate):
    x = tone(1000, rate, 0.1)
    out = resample(x, rate)
    assert out.size == -(-x.size * 8000 // rate)
    reference = tone(1000, 8000, out.size / 8000)
    assert np.max(np.abs(out[100:-100] - reference[100:-100])) < 0.01

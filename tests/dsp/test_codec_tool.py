"""`pribox codec`: a WAV file through the media batch and a lossy network, as a user runs it."""

import wave

import numpy as np

from dsp import codecs
from dsp.codec_tool import read_mono_8k, transcode, write_mono_8k
from dsp.codecs import Codec
from firmware.cli import main
from hil_tests.speechlike import speech_like

SPEECH = speech_like(1.0, seed=31)


def test_g711_without_loss_gives_back_the_line_audio_exactly():
    line = codecs.encode_alaw(SPEECH)
    back, stats = transcode(SPEECH, Codec.ALAW, line_law=Codec.ALAW)
    np.testing.assert_array_equal(back, codecs.decode_alaw(line))
    assert stats["lost"] == 0
    back, _ = transcode(SPEECH, Codec.ULAW, line_law=Codec.ALAW)
    np.testing.assert_array_equal(back, codecs.decode_ulaw(codecs.alaw_to_ulaw(line)))


def test_lost_frames_are_counted_and_concealed():
    back, stats = transcode(SPEECH, Codec.G729, loss=0.2, seed=3)
    assert stats["lost"] > 0 and back.size == SPEECH.size


def test_cli_writes_the_decoded_wav_and_reports(tmp_path, capsys):
    source, result = tmp_path / "in.wav", tmp_path / "out.wav"
    write_mono_8k(source, SPEECH)
    assert main(["codec", str(source), str(result), "--codec", "g729", "--vad", "--loss", "0.05"]) == 0
    report = capsys.readouterr().out
    assert "alaw line -> g729" in report and "SNR" in report
    assert read_mono_8k(result).size == SPEECH.size


def test_cli_names_the_file_and_the_format_it_expected(tmp_path, capsys):
    stereo = tmp_path / "stereo.wav"
    with wave.open(str(stereo), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(44100)
        wav.writeframes(bytes(400))
    assert main(["codec", str(stereo), str(tmp_path / "out.wav")]) == 2
    assert f"{stereo}: expected 8000 Hz 16-bit mono WAV, got 44100 Hz 16-bit 2-channel" in capsys.readouterr().err
    not_wav = tmp_path / "notes.txt"
    not_wav.write_text("hello")
    assert main(["codec", str(not_wav), str(tmp_path / "out.wav")]) == 2
    assert f"{not_wav}: not a WAV file" in capsys.readouterr().err
    assert main(["codec", str(stereo), str(tmp_path / "out.wav"), "--loss", "1.5"]) == 2
    assert "--loss: expected a fraction in 0..1, got 1.5" in capsys.readouterr().err

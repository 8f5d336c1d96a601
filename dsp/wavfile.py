"""Reading audio files for prompts: a RIFF/WAVE chunk parser of our own, because the stdlib
`wave` module reads integer PCM only (not IEEE float, A-law or mu-law, format tags 3/6/7) and
gives up on the damaged files that real prompt libraries contain.

The parser walks chunks to the real end of the file, whatever the RIFF size says; steps over
LIST/fact/cue and other chunks; copes with odd-sized chunks written with or without their pad
octet; and with a data size that is a placeholder (0 or 0xFFFFFFFF from a streaming writer) or
larger than the file (the audio that is there is kept, and a warning says what was missing).
Everything that cannot be read is a `PromptFileError` naming the file and what was expected.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsp import companding as g711

TAG_PCM = 1
TAG_FLOAT = 3
TAG_ALAW = 6
TAG_ULAW = 7
TAG_EXTENSIBLE = 0xFFFE

# Names for the format tags people actually meet, so an error says what the file really is.
_TAG_NAMES = {
    2: "Microsoft ADPCM", 17: "IMA ADPCM", 20: "G.723 ADPCM", 34: "TrueSpeech", 49: "GSM 6.10",
    64: "G.721 ADPCM", 66: "G.723.1", 80: "MPEG", 85: "MPEG", 100: "G.726 ADPCM",
    0x0161: "Windows Media Audio", 0x1610: "AAC", 0xF1AC: "FLAC",
}
# The tail every WAVE_FORMAT_EXTENSIBLE sub-format GUID shares (KSDATAFORMAT_SUBTYPE_*).
_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
_RAW_LAWS = {".alaw": "alaw", ".al": "alaw", ".ulaw": "ulaw", ".ul": "ulaw", ".mulaw": "ulaw",
             ".mu": "ulaw"}
# data sizes streaming writers put before they know the length (espeak-ng: 0x7FFFF000)
_PLACEHOLDER_SIZES = (0, 0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000)
_MIN_RATE, _MAX_RATE = 4000, 192000
_MAX_CHANNELS = 16


class PromptFileError(ValueError):
    """A prompt file that cannot be used; the message starts with the file's name."""


@dataclass
class Audio:
    """Decoded audio: `samples` float64 in int16 units, shape (frames, channels), or for G.711
    files `octets` (the law's code words, mono) as well."""

    rate: int
    channels: int
    description: str
    samples: np.ndarray
    octets: np.ndarray | None = None
    law: str | None = None
    warnings: list[str] = field(default_factory=list)


def read_audio(path: str | Path) -> Audio:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PromptFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    law = _RAW_LAWS.get(path.suffix.lower())
    if law is not None:
        return read_raw_g711(data, law, str(path))
    return parse_wav(data, str(path))


def read_raw_g711(data: bytes, law: str, name: str) -> Audio:
    if not data:
        raise PromptFileError(f"{name}: empty file, expected raw {_law_name(law)} octets at 8000 Hz")
    octets = np.frombuffer(data, np.uint8).copy()
    pcm = g711.decode(octets, law).astype(np.float64)
    return Audio(8000, 1, f"raw {_law_name(law)} 8000 Hz", pcm[:, None], octets, law)


def _law_name(law: str) -> str:
    return "A-law" if law == "alaw" else "\u03bc-law"


@dataclass
class _Format:
    tag: int
    channels: int
    rate: int
    block_align: int
    bits: int


def parse_wav(data: bytes, name: str) -> Audio:
    if len(data) < 12:
        raise PromptFileError(f"{name}: not a WAV file: {len(data)} bytes, shorter than a RIFF header")
    magic, form = data[0:4], data[8:12]
    if magic == b"RIFX" or magic == b"RF64":
        raise PromptFileError(f"{name}: {magic.decode()} WAV is not supported, expected a little-endian RIFF WAV")
    if magic != b"RIFF" or form != b"WAVE":
        raise PromptFileError(f"{name}: not a WAV file: starts with {data[:12]!r}, expected 'RIFF....WAVE'")
    warnings: list[str] = []
    fmt: _Format | None = None
    audio_bytes: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos:pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            if body + size > len(data):
                raise PromptFileError(f"{name}: truncated: the fmt chunk needs {size} bytes, the file has "
                                      f"{len(data) - body} left")
            fmt = _parse_fmt(data[body:body + size], name, body)
        elif chunk_id == b"data":
            available = len(data) - body
            if size in _PLACEHOLDER_SIZES and available > 0 and size != available:
                size = available
            elif size > available:
                warnings.append(f"{name}: data chunk says {size} bytes but the file has only {available}; "
                                f"playing what is there")
                size = available
            if audio_bytes is None:
                audio_bytes = data[body:body + size]
        pos = _next_chunk(data, body, size)
    if fmt is None:
        raise PromptFileError(f"{name}: no fmt chunk, expected one before the audio"
                              if audio_bytes is not None else f"{name}: truncated: no fmt chunk")
    if audio_bytes is None:
        raise PromptFileError(f"{name}: truncated or empty: no data chunk after the fmt chunk")
    return _decode(fmt, audio_bytes, name, warnings)


def _next_chunk(data: bytes, body: int, size: int) -> int:
    end = body + size
    if size % 2 == 0:
        return end
    # RIFF pads odd chunks to an even length, but some writers forget the pad octet: take the
    # reading that lands on a chunk we know, else on anything shaped like a chunk header.
    for test in (_known_id, _plausible_header):
        if test(data, end + 1):
            return end + 1
        if test(data, end):
            return end
    return end + 1


_KNOWN_IDS = {b"fmt ", b"data", b"LIST", b"fact", b"cue ", b"smpl", b"inst", b"bext", b"JUNK", b"junk",
              b"PAD ", b"id3 ", b"ID3 ", b"iXML", b"acid", b"plst", b"DISP", b"cart", b"PEAK", b"umid"}


def _known_id(data: bytes, pos: int) -> bool:
    return data[pos:pos + 4] in _KNOWN_IDS


def _plausible_header(data: bytes, pos: int) -> bool:
    header = data[pos:pos + 8]
    if len(header) < 8 or not all(32 <= c < 127 for c in header[:4]):
        return False
    return pos + 8 + struct.unpack_from("<I", header, 4)[0] <= len(data)


def _parse_fmt(body: bytes, name: str, offset: int) -> _Format:
    if len(body) < 16:
        raise PromptFileError(f"{name}: fmt chunk at byte {offset} has {len(body)} bytes, expected at least 16")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == TAG_EXTENSIBLE:
        if len(body) < 40:
            raise PromptFileError(f"{name}: WAVE_FORMAT_EXTENSIBLE fmt chunk has {len(body)} bytes, expected 40")
        guid = body[24:40]
        sub_tag = struct.unpack_from("<H", guid)[0]
        if guid[2:] != _GUID_TAIL:
            raise PromptFileError(f"{name}: expected PCM/A-law/\u03bc-law WAV, got an extensible format with "
                                  f"sub-format GUID {guid.hex()}")
        tag = sub_tag
    if tag not in (TAG_PCM, TAG_FLOAT, TAG_ALAW, TAG_ULAW):
        known = _TAG_NAMES.get(tag)
        raise PromptFileError(f"{name}: expected PCM/A-law/\u03bc-law WAV, got format tag {tag}"
                              + (f" ({known})" if known else ""))
    if not 1 <= channels <= _MAX_CHANNELS:
        raise PromptFileError(f"{name}: {channels} channels, expected 1 to {_MAX_CHANNELS}")
    if not _MIN_RATE <= rate <= _MAX_RATE:
        raise PromptFileError(f"{name}: sample rate {rate} Hz, expected {_MIN_RATE} to {_MAX_RATE} Hz")
    allowed = {TAG_PCM: (8, 16, 24, 32), TAG_FLOAT: (32, 64), TAG_ALAW: (8,), TAG_ULAW: (8,)}[tag]
    if bits not in allowed:
        kind = {TAG_PCM: "PCM", TAG_FLOAT: "float", TAG_ALAW: "A-law", TAG_ULAW: "\u03bc-law"}[tag]
        raise PromptFileError(f"{name}: {bits}-bit {kind}, expected {'/'.join(map(str, allowed))}-bit")
    return _Format(tag, channels, rate, block_align, bits)


def _decode(fmt: _Format, raw: bytes, name: str, warnings: list[str]) -> Audio:
    width = fmt.bits // 8
    frame = width * fmt.channels  # the block_align field is often wrong; the layout is not
    whole = len(raw) - len(raw) % frame
    if whole != len(raw):
        warnings.append(f"{name}: {len(raw) - whole} trailing bytes are not a whole sample frame; dropped")
        raw = raw[:whole]
    if whole == 0:
        raise PromptFileError(f"{name}: the data chunk holds no audio samples")
    octets = None
    law = None
    layout = f"{fmt.rate} Hz {'mono' if fmt.channels == 1 else f'{fmt.channels} channels'}"
    if fmt.tag == TAG_FLOAT:
        values = np.frombuffer(raw, "<f4" if width == 4 else "<f8").astype(np.float64)
        values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=-1.0)
        samples = np.clip(values * 32768.0, -32768.0, 32767.0)
        description = f"{fmt.bits}-bit float {layout}"
    elif fmt.tag in (TAG_ALAW, TAG_ULAW):
        law = "alaw" if fmt.tag == TAG_ALAW else "ulaw"
        codes = np.frombuffer(raw, np.uint8)
        samples = g711.decode(codes, law).astype(np.float64)
        if fmt.channels == 1:
            octets = codes.copy()
        description = f"{_law_name(law)} {layout}"
    elif width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) * 256.0
        description = f"8-bit PCM {layout}"
    elif width == 2:
        samples = np.frombuffer(raw, "<i2").astype(np.float64)
        description = f"16-bit PCM {layout}"
    elif width == 3:
        triples = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        value = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        samples = value.astype(np.float64) / 256.0
        description = f"24-bit PCM {layout}"
    else:
        samples = np.frombuffer(raw, "<i4").astype(np.float64) / 65536.0
        description = f"32-bit PCM {layout}"
    return Audio(fmt.rate, fmt.channels, description, samples.reshape(-1, fmt.channels), octets, law,
                 warnings)


def write_wav(path: str | Path, payload: bytes, *, rate: int, channels: int = 1, bits: int = 16,
              tag: int = TAG_PCM) -> None:
    """Writes a minimal RIFF/WAVE file (used by tests and by tools that export prompts)."""
    block_align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block_align, block_align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)

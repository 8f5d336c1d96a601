"""G.711 A-law and mu-law as lookup tables, for loading and storing prompts (control plane,
once per file).  The tables are built from the G.711 segment rules and checked against
Python's audioop in tests/test_prompts.py; the per-tick data plane uses the C codecs."""

from __future__ import annotations

import numpy as np

_A_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_U_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
LAWS = ("alaw", "ulaw")


def _alaw_decode_table() -> np.ndarray:
    code = np.arange(256) ^ 0x55
    mantissa = (code & 0x0F) << 4
    segment = (code & 0x70) >> 4
    magnitude = np.where(segment == 0, mantissa + 8, (mantissa + 0x108) << np.maximum(segment - 1, 0))
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


def _ulaw_decode_table() -> np.ndarray:
    code = ~np.arange(256) & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    pcm = np.where(pcm >= 0, pcm, -pcm - 1)
    segment = np.searchsorted(_A_SEG_END, pcm, side="left")
    shift = np.where(segment < 2, 1, segment)
    code = (np.minimum(segment, 7) << 4) | ((pcm >> shift) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _ulaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    pcm = np.minimum(np.abs(pcm), 8159) + (0x84 >> 2)
    segment = np.searchsorted(_U_SEG_END, pcm, side="left")
    code = (np.minimum(segment, 7) << 4) | ((pcm >> (np.minimum(segment, 7) + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


_DECODE = {"alaw": _alaw_decode_table(), "ulaw": _ulaw_decode_table()}
_ENCODE = {"alaw": _alaw_encode_table(), "ulaw": _ulaw_encode_table()}


def _check_law(law: str) -> None:
    if law not in LAWS:
        raise ValueError(f"law: expected 'alaw' or 'ulaw', got {law!r}")


def decode(octets: np.ndarray, law: str) -> np.ndarray:
    _check_law(law)
    return _DECODE[law][np.asarray(octets, np.uint8)]


def encode(samples: np.ndarray, law: str) -> np.ndarray:
    _check_law(law)
    return _ENCODE[law][np.asarray(samples, np.int16).astype(np.int32) + 32768]

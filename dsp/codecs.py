"""G.711 and G.729 for Python callers: whole NumPy blocks in, whole blocks out, all work in C.

G.711 (`encode_alaw`, `decode_ulaw`, `alaw_to_ulaw`, ...) is bit-exact with Python's audioop.
G.729 (`G729Encoder`, `G729Decoder`) is Annex A through libbcg729, Annex B VAD/DTX optional per
encoder.  A G.729 frame is a 10-octet slot and a length (10 speech, 2 SID, 0 none); RTP payloads
(RFC 3551: speech frames, then at most one SID) convert to and from frames with
`g729_payload_to_frames` and `g729_frames_to_payloads`.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import numpy as np

from dsp import ffi, lib
from dsp._buffers import c_buffer, require_array, require_bytes

FRAME_SAMPLES = lib.G729_FRAME_SAMPLES      # 10 ms at 8 kHz
FRAME_OCTETS = lib.G729_FRAME_OCTETS
SID_OCTETS = lib.G729_SID_OCTETS
RFC3389_MAX_OCTETS = lib.G729_RFC3389_MAX_OCTETS


class Codec(enum.IntEnum):
    """Codec numbers shared with the C core (dsp/c/media.h)."""
    ALAW = 1
    ULAW = 2
    G729 = 3


class G729Error(ValueError):
    pass


_G729_ERRORS = {
    lib.G729_ERR_ARGUMENT: "invalid argument",
    lib.G729_ERR_FRAME_LENGTH: "a frame length is not 0, 2 (SID) or 10 (speech)",
    lib.G729_ERR_PAYLOAD_LENGTH: "payload length is not 10*n or 10*n+2 octets (RFC 3551)",
    lib.G729_ERR_CAPACITY: "output buffer too small",
    lib.G729_ERR_NO_MEMORY: "out of memory",
}


def _check(result: int, what: str) -> int:
    if result < 0:
        raise G729Error(f"{what}: {_G729_ERRORS.get(result, f'error {result}')}")
    return result


def _output(name: str, out, dtype, size: int) -> np.ndarray:
    if out is None:
        return np.empty(size, dtype)
    return require_array(name, out, dtype, shape=(size,), writable=True)


# --- G.711 -----------------------------------------------------------------------------------

def _g711(func, name: str, data, in_dtype, out_dtype, out) -> np.ndarray:
    data = require_array(name, data, in_dtype, ndim=1)
    result = _output("out", out, out_dtype, data.size)
    func(c_buffer(data), c_buffer(result), data.size)
    return result


def encode_alaw(pcm: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """int16 linear samples -> A-law octets (uint8), as audioop.lin2alaw(..., 2)."""
    return _g711(lib.g711_linear_to_alaw, "pcm", pcm, np.int16, np.uint8, out)


def encode_ulaw(pcm: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """int16 linear samples -> mu-law octets (uint8), as audioop.lin2ulaw(..., 2)."""
    return _g711(lib.g711_linear_to_ulaw, "pcm", pcm, np.int16, np.uint8, out)


def decode_alaw(codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return _g711(lib.g711_alaw_to_linear, "codes", codes, np.uint8, np.int16, out)


def decode_ulaw(codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return _g711(lib.g711_ulaw_to_linear, "codes", codes, np.uint8, np.int16, out)


def alaw_to_ulaw(codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return _g711(lib.g711_alaw_to_ulaw, "codes", codes, np.uint8, np.uint8, out)


def ulaw_to_alaw(codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return _g711(lib.g711_ulaw_to_alaw, "codes", codes, np.uint8, np.uint8, out)


def encode(law: Codec, pcm: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    if law == Codec.ALAW:
        return encode_alaw(pcm, out)
    if law == Codec.ULAW:
        return encode_ulaw(pcm, out)
    raise ValueError(f"law: expected Codec.ALAW or Codec.ULAW, got {law!r}")


def decode(law: Codec, codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    if law == Codec.ALAW:
        return decode_alaw(codes, out)
    if law == Codec.ULAW:
        return decode_ulaw(codes, out)
    raise ValueError(f"law: expected Codec.ALAW or Codec.ULAW, got {law!r}")


# --- G.729 -----------------------------------------------------------------------------------

class G729Frames(NamedTuple):
    """`slots[i]` holds frame i (`lengths[i]` octets of it: 10 speech, 2 SID, 0 none)."""
    slots: np.ndarray    # uint8, shape (n, 10)
    lengths: np.ndarray  # uint8, shape (n,)


class G729Payload(NamedTuple):
    first_frame: int     # offset of its first frame: RTP timestamp + 80 * first_frame
    payload: bytes


def _pcm_frames(name: str, pcm) -> np.ndarray:
    return require_array(name, pcm, np.int16, ndim=1, multiple_of=FRAME_SAMPLES)


def _frames(slots, lengths) -> tuple[np.ndarray, np.ndarray]:
    lengths = require_array("lengths", lengths, np.uint8, ndim=1)
    slots = require_array("slots", slots, np.uint8, shape=(lengths.size, FRAME_OCTETS))
    return slots, lengths


class G729Encoder:
    """One direction of one channel: 80-sample frames in, G.729 frames out."""

    def __init__(self, vad: bool = False):
        handle = lib.g729_encoder_new(1 if vad else 0)
        if handle == ffi.NULL:
            raise MemoryError("G.729 encoder: out of memory")
        self._handle = ffi.gc(handle, lib.g729_encoder_free)
        self.vad = bool(vad)

    def encode(self, pcm: np.ndarray) -> G729Frames:
        """int16 samples (a multiple of 80) -> one frame per 80 samples."""
        pcm = _pcm_frames("pcm", pcm)
        n = pcm.size // FRAME_SAMPLES
        slots = np.zeros((n, FRAME_OCTETS), np.uint8)
        lengths = np.zeros(n, np.uint8)
        _check(lib.g729_encode(self._handle, c_buffer(pcm), n, c_buffer(slots), c_buffer(lengths)),
               "G.729 encode")
        return G729Frames(slots, lengths)

    def encode_payloads(self, pcm: np.ndarray) -> list[G729Payload]:
        """int16 samples -> RTP payloads for them (one unless DTX splits them, none in silence)."""
        return g729_frames_to_payloads(*self.encode(pcm))

    def comfort_noise(self) -> bytes:
        """RFC 3389 comfort-noise payload for the background the VAD last described."""
        if not self.vad:
            raise G729Error("comfort_noise: the encoder was made without VAD (G729Encoder(vad=True))")
        out = np.zeros(RFC3389_MAX_OCTETS, np.uint8)
        n = _check(lib.g729_encoder_comfort_noise(self._handle, c_buffer(out), out.size), "comfort_noise")
        return out[:n].tobytes()


class G729Decoder:
    """The other direction: G.729 frames or payloads in, 80 samples per frame out."""

    def __init__(self):
        handle = lib.g729_decoder_new()
        if handle == ffi.NULL:
            raise MemoryError("G.729 decoder: out of memory")
        self._handle = ffi.gc(handle, lib.g729_decoder_free)

    def decode(self, slots: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        slots, lengths = _frames(slots, lengths)
        pcm = np.empty(lengths.size * FRAME_SAMPLES, np.int16)
        _check(lib.g729_decode(self._handle, c_buffer(slots), c_buffer(lengths), lengths.size,
                               c_buffer(pcm)), "G.729 decode")
        return pcm

    def decode_payload(self, payload: bytes) -> np.ndarray:
        """One RTP payload (10*n octets, or 10*n+2 ending with a SID) -> 80*frames samples."""
        return self.decode(*g729_payload_to_frames(payload))

    def conceal(self, n_frames: int = 1) -> np.ndarray:
        """Frames that never arrived: concealment after speech, comfort noise after a SID."""
        if not isinstance(n_frames, int) or n_frames < 0:
            raise ValueError(f"n_frames: expected a non-negative int, got {n_frames!r}")
        return self.decode(np.zeros((n_frames, FRAME_OCTETS), np.uint8), np.zeros(n_frames, np.uint8))

    def decode_comfort_noise(self, payload: bytes) -> np.ndarray:
        """One RFC 3389 comfort-noise payload (payload type 13) -> one 80-sample frame."""
        payload = require_bytes("payload", payload)
        if not payload:
            raise G729Error("payload: an RFC 3389 payload needs at least its noise-level octet")
        buffer = ffi.from_buffer("uint8_t[]", payload)
        pcm = np.empty(FRAME_SAMPLES, np.int16)
        _check(lib.g729_decode_comfort_noise(self._handle, buffer, len(payload), c_buffer(pcm)),
               "comfort noise")
        return pcm


def g729_payload_to_frames(payload: bytes) -> G729Frames:
    """RFC 3551 payload -> frames.  An empty payload is zero frames, not an error."""
    payload = require_bytes("payload", payload)
    n_max = len(payload) // FRAME_OCTETS + 1
    slots = np.zeros((n_max, FRAME_OCTETS), np.uint8)
    lengths = np.zeros(n_max, np.uint8)
    buffer = ffi.from_buffer("uint8_t[]", payload) if payload else ffi.new("uint8_t[1]")
    n = lib.g729_payload_to_frames(buffer, len(payload), c_buffer(slots), c_buffer(lengths), n_max)
    if n < 0:
        raise G729Error(f"payload of {len(payload)} octets: {_G729_ERRORS.get(n, n)}")
    return G729Frames(slots[:n], lengths[:n])


def g729_frames_to_payloads(slots: np.ndarray, lengths: np.ndarray) -> list[G729Payload]:
    """Frames -> the RTP payloads carrying them: each a run of consecutive frames, a SID only
    last (RFC 3551 4.5.6); untransmitted frames (length 0) split runs and are not sent."""
    slots, lengths = _frames(slots, lengths)
    n = lengths.size
    out = np.empty(n * FRAME_OCTETS, np.uint8)
    first = ffi.new("int *")
    following = ffi.new("int *")
    payloads = []
    start = 0
    while start < n:
        size = _check(lib.g729_frames_to_payload(c_buffer(slots[start:]), c_buffer(lengths[start:]), n - start,
                                                 c_buffer(out), out.size, first, following),
                      "G.729 packing")
        if size:
            payloads.append(G729Payload(start + first[0], out[:size].tobytes()))
        start += following[0]
    return payloads

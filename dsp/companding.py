"""G.711 by law name for the prompt code: 'alaw' / 'ulaw' (or Codec.ALAW / Codec.ULAW), over
the C codecs of dsp/codecs.py (bit-exact with audioop)."""

from __future__ import annotations

import numpy as np

from dsp import codecs
from dsp.codecs import Codec

LAWS = ("alaw", "ulaw")
_BY_NAME = {"alaw": Codec.ALAW, "ulaw": Codec.ULAW}


def law_name(law) -> str:
    """'alaw' or 'ulaw' for a law given by name or as Codec.ALAW/ULAW; ValueError otherwise."""
    if isinstance(law, Codec) and law in (Codec.ALAW, Codec.ULAW):
        return "alaw" if law == Codec.ALAW else "ulaw"
    if isinstance(law, str) and law in LAWS:
        return law
    raise ValueError(f"law: expected 'alaw' or 'ulaw' (or Codec.ALAW/ULAW), got {law!r}")


def decode(octets: np.ndarray, law) -> np.ndarray:
    return codecs.decode(_BY_NAME[law_name(law)], np.ascontiguousarray(octets, np.uint8))


def encode(samples: np.ndarray, law) -> np.ndarray:
    return codecs.encode(_BY_NAME[law_name(law)], np.ascontiguousarray(samples, np.int16))

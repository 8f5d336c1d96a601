"""Conference and supervisor mixes for Python callers, computed in C with saturation.

`conference(pcm)` gives every party the sum of the others.  `supervisor_mix(caller, agent,
supervisor, mode)` gives each of the three what it hears when a supervisor monitors (listens
only), whispers (the agent hears the supervisor, the caller does not) or barges in (all three
hear each other).  `mix(pcm, weights)` is the general form: Q12 gains, 4096 = unity.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import numpy as np

from dsp import ffi, lib
from dsp._buffers import c_buffer, require_array

UNITY = lib.MIX_UNITY_GAIN
MAX_PARTIES = lib.MIX_MAX_PARTIES


class SupervisorMode(enum.Enum):
    MONITOR = "monitor"
    WHISPER = "whisper"
    BARGE = "barge"


# Rows: who listens (caller, agent, supervisor); columns: who speaks (caller, agent, supervisor).
_SUPERVISOR_WEIGHTS = {
    SupervisorMode.MONITOR: [[0, 1, 0], [1, 0, 0], [1, 1, 0]],
    SupervisorMode.WHISPER: [[0, 1, 0], [1, 0, 1], [1, 1, 0]],
    SupervisorMode.BARGE: [[0, 1, 1], [1, 0, 1], [1, 1, 0]],
}


class SupervisorMix(NamedTuple):
    to_caller: np.ndarray
    to_agent: np.ndarray
    to_supervisor: np.ndarray


def _parties(pcm) -> np.ndarray:
    pcm = require_array("pcm", pcm, np.int16, ndim=2)
    if not 1 <= pcm.shape[0] <= MAX_PARTIES:
        raise ValueError(f"pcm: expected 1..{MAX_PARTIES} parties (rows), got {pcm.shape[0]}")
    return pcm


def conference(pcm: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """pcm [parties, samples] int16 -> [parties, samples]: each row hears all the other rows."""
    pcm = _parties(pcm)
    if out is None:
        out = np.empty_like(pcm)
    out = require_array("out", out, np.int16, shape=pcm.shape, writable=True)
    lib.mix_conference(c_buffer(pcm), pcm.shape[0], pcm.shape[1], c_buffer(out))
    return out


def mix(pcm: np.ndarray, weights, out: np.ndarray | None = None) -> np.ndarray:
    """pcm [parties, samples] and weights [listeners, parties] (Q12, int32) -> [listeners, samples]."""
    pcm = _parties(pcm)
    weights = np.ascontiguousarray(weights, dtype=np.int32) if isinstance(weights, list) else weights
    weights = require_array("weights", weights, np.int32, ndim=2)
    if weights.shape[1] != pcm.shape[0] or not 1 <= weights.shape[0] <= MAX_PARTIES:
        raise ValueError(f"weights: expected shape (1..{MAX_PARTIES}, {pcm.shape[0]}) for {pcm.shape[0]} parties, "
                         f"got {weights.shape}")
    shape = (weights.shape[0], pcm.shape[1])
    if out is None:
        out = np.empty(shape, np.int16)
    out = require_array("out", out, np.int16, shape=shape, writable=True)
    lib.mix_weighted(c_buffer(pcm), pcm.shape[0], pcm.shape[1], ffi.from_buffer("int32_t[]", weights),
                     weights.shape[0], c_buffer(out))
    return out


def supervisor_mix(caller: np.ndarray, agent: np.ndarray, supervisor: np.ndarray,
                   mode: SupervisorMode) -> SupervisorMix:
    if not isinstance(mode, SupervisorMode):
        raise ValueError(f"mode: expected a SupervisorMode, got {mode!r}")
    streams = []
    for name, stream in (("caller", caller), ("agent", agent), ("supervisor", supervisor)):
        streams.append(require_array(name, stream, np.int16, ndim=1))
    if len({s.size for s in streams}) != 1:
        raise ValueError(f"caller, agent, supervisor: expected equal lengths, got {[s.size for s in streams]}")
    weights = np.array(_SUPERVISOR_WEIGHTS[mode], np.int32) * UNITY
    out = mix(np.stack(streams), weights)
    return SupervisorMix(out[0], out[1], out[2])

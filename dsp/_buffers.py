"""Checks every buffer a Python caller hands to the C core, so bad input is a ValueError that
names the argument and what was expected, never a crash or a silent copy."""

from __future__ import annotations

import numpy as np

from dsp import ffi

_C_TYPES = {np.dtype(np.int16): "int16_t[]", np.dtype(np.uint8): "uint8_t[]"}


def require_array(name: str, value, dtype, *, shape: tuple | None = None, ndim: int | None = None,
                  multiple_of: int | None = None, writable: bool = False) -> np.ndarray:
    """`value` itself, once it is a C-contiguous NumPy array of `dtype` with the given shape
    (None in `shape` = any size), number of dimensions, and total size a multiple of
    `multiple_of`."""
    dtype = np.dtype(dtype)
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array of {dtype.name}, got {type(value).__name__}")
    if value.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {dtype.name}, got {value.dtype.name}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimension(s), got shape {value.shape}")
    if shape is not None:
        wanted = tuple("any" if s is None else s for s in shape)
        if value.ndim != len(shape) or any(s is not None and s != v for s, v in zip(shape, value.shape)):
            raise ValueError(f"{name}: expected shape {wanted}, got {value.shape}")
    if multiple_of is not None and value.size % multiple_of:
        raise ValueError(f"{name}: expected a size that is a multiple of {multiple_of}, got {value.size}")
    if not value.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array (use numpy.ascontiguousarray)")
    if writable and not value.flags.writeable:
        raise ValueError(f"{name}: expected a writable array")
    return value


def require_bytes(name: str, value) -> bytes:
    if isinstance(value, np.ndarray):
        value = require_array(name, value, np.uint8, ndim=1).tobytes()
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ValueError(f"{name}: expected bytes, got {type(value).__name__}")
    return bytes(value)


def c_buffer(array: np.ndarray):
    """A cffi view of a checked array: no copy, the C core reads or writes the array itself."""
    return ffi.from_buffer(_C_TYPES[array.dtype], array, require_writable=False)

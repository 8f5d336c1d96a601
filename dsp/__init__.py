"""The pribox data plane: C blocks built by cffi (see dsp/build.py), with thin Python wrappers.

Samples and bits never loop in Python: every wrapper hands whole preallocated blocks to C.
"""

try:
    from dsp._core import ffi, lib  # noqa: F401
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError(
        "the pribox C core (dsp._core) is not built: run 'make build' (or reinstall with pip)"
    ) from exc

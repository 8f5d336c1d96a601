"""Build the pribox data plane (the `dsp._core` extension) with cffi in API mode.

Every C block lives in `dsp/c/` as `<block>.h` + `<block>.c`.  The part of a header that
Python may call sits between the markers `/* cffi:begin */` and `/* cffi:end */`; this script
stitches those parts into one cdef, so adding a block never means editing this file.

Run by `pip install` (through setup.py's cffi_modules) and by `make build`
(`setup.py build_ext --inplace`) for an in-place rebuild during development.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
C_DIR = HERE / "c"
MODULE = "dsp._core"

# System libraries the core links against: (library, a header it ships, the Debian package).
SYSTEM_LIBRARIES: list[tuple[str, str, str]] = [
    ("bcg729", "bcg729/encoder.h", "libbcg729-dev"),
    ("srtp2", "srtp2/srtp.h", "libsrtp2-dev"),
]

_CDEF = re.compile(r"/\*\s*cffi:begin\s*\*/(.*?)/\*\s*cffi:end\s*\*/", re.S)


class BuildError(RuntimeError):
    pass


def _check_toolchain() -> None:
    if shutil.which(os.environ.get("CC", "cc")) is None:
        raise BuildError("no C compiler found: install the Debian package 'build-essential'")
    include = Path(sys.base_prefix) / "include"
    if not any(include.glob("python3*/Python.h")):
        raise BuildError(f"Python.h not found under {include}: install the Debian package 'python3-dev'")
    for lib, header, package in SYSTEM_LIBRARIES:
        if not any(Path(d, header).exists() for d in ("/usr/include", "/usr/local/include")):
            raise BuildError(f"{header} not found (needed to link -l{lib}): install the Debian package '{package}'")


_INCLUDE = re.compile(r'#include\s+"([^"]+\.h)"')


def _blocks() -> list[Path]:
    """Headers in an order where each comes after the headers it includes, so a block's cdef
    may use another block's types (a line port names its media batch and player)."""
    headers = {h.name: h for h in sorted(C_DIR.glob("*.h"))}
    ordered: list[Path] = []

    def visit(name: str, trail: tuple[str, ...]) -> None:
        header = headers[name]
        if header in ordered:
            return
        if name in trail:
            raise BuildError(f"dsp/c: headers include each other in a circle: {' -> '.join(trail + (name,))}")
        for included in _INCLUDE.findall(header.read_text()):
            if included in headers:
                visit(included, trail + (name,))
        ordered.append(header)

    for name in headers:
        visit(name, ())
    return ordered


def make_builder() -> FFI:
    _check_toolchain()
    headers = _blocks()
    cdefs = []
    for header in headers:
        parts = _CDEF.findall(header.read_text())
        cdefs.extend(parts)
    ffi = FFI()
    ffi.cdef("\n".join(cdefs))
    sources = [str(p.relative_to(HERE.parent)) for p in sorted(C_DIR.glob("*.c"))]
    includes = "\n".join(f'#include "{h.name}"' for h in headers)
    ffi.set_source(
        MODULE,
        includes,
        sources=sources,
        include_dirs=[str(C_DIR)],
        libraries=[lib for lib, _, _ in SYSTEM_LIBRARIES] + ["m", "pthread"],
        extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
    )
    return ffi


try:
    ffibuilder = make_builder()
except BuildError as exc:  # a failed build names the missing package, not a compiler trace
    print(f"pribox build: {exc}", file=sys.stderr)
    raise SystemExit(1) from None


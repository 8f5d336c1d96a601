"""Build `hil_tests.peers._libpri`, the cffi module that links libpri as a test far end.

Run by `pip install` through setup.py's cffi_modules, and by `setup.py build_ext --inplace`.
The callable part is the `/* cffi:begin */ … /* cffi:end */` block of libpri_peer.h.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HEADER = HERE / "libpri_peer.h"


def make_builder() -> FFI:
    if not any(Path(d, "libpri.h").exists() for d in ("/usr/include", "/usr/local/include")):
        print("pribox build: libpri.h not found: install the Debian package 'libpri-dev'", file=sys.stderr)
        raise SystemExit(1)
    cdef = re.search(r"/\*\s*cffi:begin\s*\*/(.*?)/\*\s*cffi:end\s*\*/", HEADER.read_text(), re.S).group(1)
    ffi = FFI()
    ffi.cdef(cdef)
    ffi.set_source(
        "hil_tests.peers._libpri",
        '#include "libpri_peer.h"',
        sources=[str((HERE / "libpri_peer.c").relative_to(ROOT))],
        include_dirs=[str(HERE)],
        libraries=["pri", "pthread"],
        extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
    )
    return ffi


ffibuilder = make_builder()

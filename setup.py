# setuptools reads everything from pyproject.toml; this file exists only because cffi's
# build hook (cffi_modules) is passed as a setup() keyword.
from setuptools import setup

setup(cffi_modules=[
    # The data plane.
    "dsp/build.py:ffibuilder",
    # Reference peers the tests and benchmarks measure against.
    "hil_tests/peers/bcg729_ref_build.py:ffibuilder",
    "hil_tests/peers/build_libpri_peer.py:ffibuilder",
    "hil_tests/peers/spandsp_ref_build.py:ffibuilder",
])

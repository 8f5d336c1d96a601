# setuptools reads everything from pyproject.toml; this file exists only because cffi's
# build hook (cffi_modules) is passed as a setup() keyword.
from setuptools import setup

setup(cffi_modules=["dsp/build.py:ffibuilder", "hil_tests/peers/build_libpri_peer.py:ffibuilder"])

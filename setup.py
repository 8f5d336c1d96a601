# setuptools reads everything from pyproject.toml; this file exists only because cffi's
# build hook (cffi_modules) is passed as a setup() keyword.
from setuptools import setup

setup(cffi_modules=["dsp/build.py:ffibuilder", "tests/libpri_l2_build.py:ffibuilder"])

"""Setuptools stub: pyproject.toml holds the metadata; CFFI modules must be declared here."""

from setuptools import setup

setup(cffi_modules=[
    "lowprof/native/_tlb_build.py:ffibuilder",
])

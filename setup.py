"""Setuptools stub: pyproject.toml holds the metadata; CFFI modules must be declared here."""

from setuptools import Extension, setup

setup(cffi_modules=[
    "lowprof/native/_tlb_build.py:ffibuilder",
    "lowprof/native/_oobmalloc_build.py:ffibuilder",
    "lowprof/native/_kscan_build.py:ffibuilder",
], ext_modules=[
    # The oobmalloc LD_PRELOAD library: a plain shared object exporting malloc/free/..., not importable.
    Extension("lowprof.native.liboobmalloc",
              sources=["lowprof/native/oobmalloc_preload.c", "lowprof/native/oobmalloc.c"],
              include_dirs=["lowprof/native"], extra_link_args=["-pthread"],
              extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-fno-strict-aliasing",
                                  "-fvisibility=hidden", "-ftls-model=initial-exec"]),
])

"""Setuptools stub: pyproject.toml holds the metadata; CFFI modules must be declared here."""

import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class build_ext_and_helpers(build_ext):
    """build_ext, plus the native executables lowprof runs (not imported): ``lowprof/native/lowprof-spawn``."""

    EXECUTABLES = {"lowprof-spawn": ["lowprof/native/spawn.c"]}

    def run(self):
        super().run()
        for name, sources in self.EXECUTABLES.items():
            out_dir = os.path.join("lowprof", "native") if self.inplace else os.path.join(self.build_lib, "lowprof", "native")
            os.makedirs(out_dir, exist_ok=True)
            objects = self.compiler.compile(sources, output_dir=self.build_temp, extra_postargs=["-O2", "-Wall"])
            self.compiler.link_executable(objects, name, output_dir=out_dir)

    def get_outputs(self):
        out_dir = os.path.join("lowprof", "native") if self.inplace else os.path.join(self.build_lib, "lowprof", "native")
        return super().get_outputs() + [os.path.join(out_dir, n) for n in self.EXECUTABLES]


setup(cmdclass={"build_ext": build_ext_and_helpers}, cffi_modules=[
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

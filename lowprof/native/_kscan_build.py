"""CFFI builder (API / out-of-line mode) for ``lowprof.native._kscan``, the Kineto trace scanner.

setup.py lists it in ``cffi_modules``, so ``pip install -e .`` (and ``make test``) compiles kscan.c into
``lowprof/native/_kscan.abi3.so``; there are no prebuilt binaries.
"""

from pathlib import Path

from cffi import FFI

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent.parent

ffibuilder = FFI()
ffibuilder.cdef((_HERE / "kscan.h").read_text().split("#include <stdint.h>", 1)[1].rsplit("#endif", 1)[0])
ffibuilder.set_source(
    "lowprof.native._kscan",
    '#include "kscan.h"',
    sources=[str((_HERE / "kscan.c").relative_to(_ROOT))],
    include_dirs=[str(_HERE.relative_to(_ROOT))],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

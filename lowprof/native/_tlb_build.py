"""CFFI builder (API / out-of-line mode) for ``lowprof.native._tlb``, compiled by ``pip install``.

setup.py lists it in ``cffi_modules``, so ``pip install -e .`` (and ``make test``) compiles tlb.c into
``lowprof/native/_tlb.abi3.so``; there are no prebuilt binaries.
"""

from pathlib import Path

from cffi import FFI

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent.parent

ffibuilder = FFI()
ffibuilder.cdef((_HERE / "tlb.h").read_text().split("#include <stdint.h>", 1)[1].rsplit("#endif", 1)[0])
ffibuilder.set_source(
    "lowprof.native._tlb",
    '#include "tlb.h"',
    # setuptools wants source paths relative to the project root (where setup.py runs).
    sources=[str((_HERE / "tlb.c").relative_to(_ROOT))],
    include_dirs=[str(_HERE.relative_to(_ROOT))],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall"],
)

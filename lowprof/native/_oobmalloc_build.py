"""CFFI builder (API / out-of-line mode) for ``lowprof.native._oobmalloc``, compiled by ``pip install``.

setup.py lists it in ``cffi_modules``; the core exports only ``oob_*`` names, so importing the module
does not replace the interpreter's own allocator. The LD_PRELOAD library (the same core plus
oobmalloc_preload.c) is the ``lowprof.native.liboobmalloc`` entry of setup.py's ``ext_modules``.
"""

from pathlib import Path

from cffi import FFI

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent.parent
_REL = _HERE.relative_to(_ROOT)  # setuptools wants source paths relative to the project root
CFLAGS = ["-O2", "-std=gnu11", "-Wall", "-fno-strict-aliasing"]

ffibuilder = FFI()
ffibuilder.cdef((_HERE / "oobmalloc.h").read_text().split("#include <stdint.h>", 1)[1].rsplit("#endif", 1)[0])
ffibuilder.set_source(
    "lowprof.native._oobmalloc",
    '#include "oobmalloc.h"',
    sources=[str(_REL / "oobmalloc.c")],
    include_dirs=[str(_REL)],
    extra_compile_args=CFLAGS,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

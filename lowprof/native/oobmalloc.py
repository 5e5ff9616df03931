"""oobmalloc from Python: allocate/free through CFFI, its stats, and the LD_PRELOAD library's path.

The allocator (``oobmalloc.c``) keeps all metadata out of band: slabs of one size class with their
allocation and remote-free bitmaps in a separate mapping, large objects in page spans. Through CFFI
it is a private heap of this process (the interpreter's own malloc is untouched); with
:func:`preload_path` as ``LD_PRELOAD`` it replaces malloc/free/... for a whole process.

Example::

    >>> from lowprof.native import oobmalloc
    >>> addr = oobmalloc.allocate(100)
    >>> oobmalloc.usable_size(addr)
    112
    >>> oobmalloc.free(addr)
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from lowprof.errors import AllocatorError

__all__ = ["Stats", "allocate", "free", "usable_size", "owns", "write", "read", "stats",
           "report_errors", "last_error", "preload_path", "read_stats_dir"]

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Stats:
    """Allocator counters. Bytes are B; counts are totals since the heap started."""

    bytes_in_use: int       # usable bytes of live allocations (size-class or span size, not the request)
    bytes_active: int       # bytes of 16 KiB pages held by slabs and large objects
    bytes_mapped: int       # bytes of the heap region made read/write (active + free-page pool)
    bytes_meta: int         # bytes of the separate metadata region in use (descriptors, bitmaps, heaps)
    bytes_purged: int       # bytes of free pages returned to the kernel with madvise(DONTNEED), total
    peak_active_bytes: int  # high-water mark of bytes_active
    allocs: int
    frees: int
    remote_frees: int       # frees of an object another thread's heap owns
    large_allocs: int       # allocations that took their own page span (> 32 KiB or alignment > 32 KiB)
    errors: int             # bad frees detected while reporting instead of aborting
    heaps: int              # thread heaps created

    @property
    def fragmentation(self) -> float:
        """1 - bytes_in_use / bytes_active: share of held pages not in live objects (0 when none held)."""
        return 1.0 - self.bytes_in_use / self.bytes_active if self.bytes_active else 0.0

    def to_json(self) -> dict:
        return asdict(self) | {"fragmentation": self.fragmentation}


def _lib():
    try:
        from lowprof.native._oobmalloc import ffi, lib
    except ImportError as e:
        raise AllocatorError(f"native module lowprof.native._oobmalloc is not built ({e}); run `pip install -e .`") from None
    return ffi, lib


_SIZE_MAX = 2**64 - 1


def _size(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise AllocatorError(f"{name} must be an int, got {type(v).__name__}")
    if not 0 <= v <= _SIZE_MAX:
        raise AllocatorError(f"{name} must be in 0..2^64-1 B, got {v}")
    return v


def _addr(addr) -> int:
    if isinstance(addr, bool) or not isinstance(addr, int) or not 0 <= addr <= _SIZE_MAX:
        raise AllocatorError(f"not an address: {addr!r}")
    return addr


def allocate(size: int, alignment: int = 0) -> int:
    """Allocate ``size`` B (aligned to ``alignment`` B, a power of two, when given); returns the address.

    Fails as malloc does, as an AllocatorError: a size beyond 2^64-1 or one the machine cannot hold
    (as glibc's malloc returns NULL with ENOMEM), an alignment that is no power of two (EINVAL)."""
    ffi, lib = _lib()
    if isinstance(size, int) and not isinstance(size, bool) and size < 0:
        raise AllocatorError(f"size must be >= 0 B, got {size}")
    _size("size", size)
    _size("alignment", alignment)
    if alignment:
        out = ffi.new("void **")
        rc = lib.oob_posix_memalign(out, alignment, size)
        if rc:
            raise AllocatorError(f"posix_memalign(alignment={alignment}, size={size}) failed with errno {rc}"
                                 f" ({'EINVAL' if rc == 22 else 'ENOMEM' if rc == 12 else '?'})")
        p = out[0]
    else:
        p = lib.oob_malloc(size)
    if p == ffi.NULL:
        raise AllocatorError(f"out of memory allocating {size} B")
    return int(ffi.cast("uintptr_t", p))


def free(addr: int) -> None:
    """Free an address :func:`allocate` returned (a bad one aborts the process unless :func:`report_errors`)."""
    ffi, lib = _lib()
    lib.oob_free(ffi.cast("void *", _addr(addr)))


def usable_size(addr: int) -> int:
    """Bytes usable at ``addr`` (>= the size asked for): malloc_usable_size."""
    ffi, lib = _lib()
    return int(lib.oob_usable_size(ffi.cast("void *", _addr(addr))))


def owns(addr: int) -> bool:
    """True when ``addr`` is the start of a live object of this heap (never aborts)."""
    ffi, lib = _lib()
    return bool(lib.oob_owns(ffi.cast("void *", _addr(addr))))


def _span(addr: int, size: int, what: str):
    """Check that [addr, addr + size) lies inside one live object; returns (ffi, pointer)."""
    ffi, lib = _lib()
    _addr(addr)
    _size("size", size)
    start, usable = ffi.new("void **"), ffi.new("size_t *")
    if not lib.oob_object_of(ffi.cast("void *", addr), start, usable):
        raise AllocatorError(f"{what} at {addr:#x}: not inside a live object of this heap")
    begin = int(ffi.cast("uintptr_t", start[0]))
    if addr + size > begin + usable[0]:
        raise AllocatorError(f"{what} of {size} B at {addr:#x} runs past its object ({usable[0]} B at {begin:#x})")
    return ffi, ffi.cast("char *", addr)


def write(addr: int, data: bytes) -> None:
    """Copy ``data`` to ``addr``, which must lie with all of data inside one live object."""
    ffi, ptr = _span(addr, len(data), "write")
    ffi.memmove(ptr, data, len(data))


def read(addr: int, size: int) -> bytes:
    """``size`` bytes from ``addr``, which must lie with all of them inside one live object."""
    ffi, ptr = _span(addr, size, "read")
    return bytes(ffi.buffer(ptr, size))


def stats() -> Stats:
    """The heap's counters now (the CFFI heap of this process, not an LD_PRELOAD one)."""
    ffi, lib = _lib()
    s = ffi.new("oob_stats_t *")
    lib.oob_get_stats(s)
    return Stats(s.bytes_in_use, s.bytes_active, s.bytes_mapped, s.bytes_meta, s.bytes_purged, s.peak_active,
                 s.allocs, s.frees, s.remote_frees, s.large_allocs, s.errors, s.heaps)


@contextlib.contextmanager
def report_errors() -> Iterator[None]:
    """Within the block, a bad free is counted and kept in :func:`last_error` instead of aborting."""
    _, lib = _lib()
    old = lib.oob_set_error_policy(1)
    try:
        yield
    finally:
        lib.oob_set_error_policy(old)


def last_error() -> str:
    """The message of the last bad free seen in report mode ('' if none)."""
    ffi, lib = _lib()
    return ffi.string(lib.oob_last_error()).decode().rstrip()


def preload_path() -> Path:
    """The LD_PRELOAD shared library (built by ``pip install`` from oobmalloc_preload.c + oobmalloc.c)."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        p = _HERE / f"liboobmalloc{suffix}"
        if p.is_file():
            return p
    raise AllocatorError(f"the LD_PRELOAD library liboobmalloc*.so is not built in {_HERE}; run `pip install -e .`")


def read_stats_dir(path: str | Path) -> list[dict]:
    """The per-process stats the preloaded library wrote at exit into ``path`` (OOBMALLOC_STATS), by pid."""
    rows = []
    for f in sorted(Path(path).glob("oobmalloc.*.json")):
        try:
            row = json.loads(f.read_text())
        except (OSError, ValueError):
            continue  # a process killed mid-write
        active = row.get("bytes_active", 0)
        row["fragmentation"] = 1.0 - row.get("bytes_in_use", 0) / active if active else 0.0
        rows.append(row)
    return sorted(rows, key=lambda r: r["pid"])

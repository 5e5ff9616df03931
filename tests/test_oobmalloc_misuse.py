"""The allocator misuse suite (standing test): each misuse of tests/oobmalloc_misuse.c run on glibc (the
reference), on oobmalloc under LD_PRELOAD, and on oobmalloc's core built with ASan + UBSan.

- Sizes: every size computation fails as glibc's does: the same NULL and errno (or the same success),
  measured side by side on this machine (malloc of more than RAM + swap: NULL on both, as the kernel's
  overcommit policy says, though it fits oobmalloc's 256 GiB reserve).
- Bad frees (double free in every thread order, the never-issued tail of a slab, interior and foreign
  pointers): oobmalloc aborts with its message wherever glibc does, and also where glibc does not; with
  OOBMALLOC_ON_ERROR=report it says so and goes on with a consistent heap (no live object handed out
  twice, none past its slab).
- OOBMALLOC_POISON=1: a freed object reads 0xdf, not its old bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lowprof.errors import AllocatorError

oob = pytest.importorskip("lowprof.native.oobmalloc")
REPO = Path(__file__).resolve().parents[1]
NATIVE = REPO / "lowprof" / "native"
SRC = Path(__file__).with_name("oobmalloc_misuse.c")
CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler")
FLAGS = ["-O1", "-g", "-std=gnu11", "-Wall", "-Werror", "-fno-builtin", "-Wno-alloc-size-larger-than",
         "-Wno-use-after-free", "-Wno-unknown-warning-option", "-pthread"]

SIZE_CASES = ["realloc-wrap", "realloc-wrap-large", "realloc-size-max", "realloc-null-huge", "pvalloc-wrap",
              "valloc-huge", "memalign-size-max", "memalign-2^63+1", "memalign-2^63", "memalign-odd",
              "posix_memalign-2^63", "aligned_alloc-2^62", "malloc-beyond-ram", "calloc-beyond-ram", "malloc-ptrdiff-max",
              "malloc-size-max", "calloc-wrap", "reallocarray-wrap", "malloc-1-gib", "malloc-0"]
BAD_FREES = {"double-free": "double free", "double-free-cross-thread": "double free (already freed by another thread)",
             "double-free-cross-thread-owner-first": "double free", "free-slab-tail": "past the slab's last object",
             "free-interior": "interior pointer", "free-foreign": "foreign pointer"}


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("misuse")
    plain = out / "misuse"
    p = subprocess.run([CC, *FLAGS, "-o", str(plain), str(SRC)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    progs = {"plain": plain}
    direct = out / "misuse_asan"
    cmd = [CC, *FLAGS, "-DDIRECT", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
           "-fno-sanitize-recover=undefined", f"-I{NATIVE}", "-o", str(direct), str(SRC), str(NATIVE / "oobmalloc.c")]
    if subprocess.run(cmd, capture_output=True).returncode == 0:
        progs["asan"] = direct
    return progs


def _run(exe: Path, case: str, env: dict | None = None) -> subprocess.CompletedProcess:
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OOBMALLOC_", "LD_PRELOAD"))}
    env |= {"ASAN_OPTIONS": "detect_leaks=0"} | extra
    return subprocess.run([str(exe), case], capture_output=True, text=True, timeout=60, env=env)


def _preload() -> dict:
    return {"LD_PRELOAD": str(oob.preload_path())}


@pytest.mark.parametrize("case", SIZE_CASES)
def test_sizes_fail_as_glibc_does(programs, case):
    glibc = _run(programs["plain"], case)
    assert glibc.returncode == 0, glibc.stderr
    ours = _run(programs["plain"], case, _preload())
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == glibc.stdout, f"glibc: {glibc.stdout!r}, oobmalloc: {ours.stdout!r}"
    if "asan" in programs:
        direct = _run(programs["asan"], case)
        assert direct.returncode == 0 and "runtime error" not in direct.stderr, direct.stderr[-2000:]
        assert direct.stdout == glibc.stdout, f"glibc: {glibc.stdout!r}, oobmalloc core under ASan: {direct.stdout!r}"


@pytest.mark.parametrize("case", list(BAD_FREES))
def test_every_bad_free_is_caught(programs, case):
    glibc = _run(programs["plain"], case)
    glibc_caught = glibc.returncode == -6 and "free()" in glibc.stderr
    ours = _run(programs["plain"], case, _preload())
    assert ours.returncode == -6 and "oobmalloc: " in ours.stderr and BAD_FREES[case] in ours.stderr, \
        f"oobmalloc: rc {ours.returncode} {ours.stdout!r} {ours.stderr[-500:]!r} (glibc: rc {glibc.returncode})"
    assert "survived" not in ours.stdout
    print(f"{case}: glibc {'aborts: ' + glibc.stderr.strip()[:60] if glibc_caught else f'misses it (rc {glibc.returncode})'}"
          f"; oobmalloc aborts: {ours.stderr.strip()[:80]}")
    for exe in [programs["plain"]] + ([programs["asan"]] if "asan" in programs else []):
        env = {"OOBMALLOC_ON_ERROR": "report"} | (_preload() if exe == programs["plain"] else {})
        rep = _run(exe, case, env)
        assert rep.returncode == 0 and BAD_FREES[case] in rep.stderr, (exe.name, rep.returncode, rep.stderr[-800:])
        assert "runtime error" not in rep.stderr and "AddressSanitizer" not in rep.stderr, rep.stderr[-2000:]
        if "handed out again" in rep.stdout:
            assert "0 live objects handed out again, 0 past their slab" in rep.stdout, rep.stdout
        if "run into the next page" in rep.stdout:
            assert "0 objects run into the next page" in rep.stdout, rep.stdout


def test_poison_fills_freed_objects(programs):
    glibc = _run(programs["plain"], "use-after-free-read")
    plain = _run(programs["plain"], "use-after-free-read", _preload())
    poisoned = _run(programs["plain"], "use-after-free-read", _preload() | {"OOBMALLOC_POISON": "1"})
    assert "184 of 184 old bytes readable" in glibc.stdout and "184 of 184 old bytes readable" in plain.stdout
    assert "0 of 184 old bytes readable, 200 poisoned" in poisoned.stdout, poisoned.stdout


# ---- the Python API -----------------------------------------------------------------------------------


def test_read_and_write_stay_inside_their_object():
    """read(a, 10**6) on a 16 B object read its neighbours; read(0, 10) killed Python with SIGSEGV."""
    a = oob.allocate(16)
    try:
        oob.write(a, b"x" * 16)
        assert oob.read(a, 16) == b"x" * 16 and oob.read(a + 4, 12) == b"x" * 12
        for addr, n in ((a, 10**6), (a, 17), (a + 8, 9), (0, 10), (16, 1), (id(object()), 8)):
            with pytest.raises(AllocatorError):
                oob.read(addr, n)
        with pytest.raises(AllocatorError, match="runs past its object"):
            oob.write(a, b"y" * 17)
        assert oob.read(a, 16) == b"x" * 16
        big = oob.allocate(100_000)
        assert len(oob.read(big, oob.usable_size(big))) == oob.usable_size(big)
        with pytest.raises(AllocatorError):
            oob.read(big, oob.usable_size(big) + 1)
        oob.free(big)
    finally:
        oob.free(a)
    with pytest.raises(AllocatorError, match="not inside a live object"):
        oob.read(a, 1)  # freed


@pytest.mark.parametrize("size, alignment", [(2**64, 0), (2**70, 0), (10, 2**64), (2**63, 0), (1.5, 0), ("1", 0)])
def test_impossible_requests_are_allocator_errors(size, alignment):
    """allocate(2**64) raised OverflowError from CFFI."""
    with pytest.raises(AllocatorError):
        oob.allocate(size, alignment)


@pytest.mark.parametrize("addr", [-1, 2**64, None, 1.0])
def test_bad_addresses_are_allocator_errors(addr):
    for fn in (oob.free, oob.usable_size, oob.owns):
        with pytest.raises(AllocatorError):
            fn(addr)

"""oobmalloc through CFFI: a randomized sequence checked against a model, stats, and bad frees caught."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from lowprof.errors import AllocatorError

oob = pytest.importorskip("lowprof.native.oobmalloc")


def _no_overlap(live: dict[int, int]) -> None:
    spans = sorted((a, a + n) for a, n in live.items())
    for (a0, a1), (b0, _) in zip(spans, spans[1:]):
        assert a1 <= b0, f"objects overlap: [{a0:#x}, {a1:#x}) and {b0:#x}"


def test_random_sequence_matches_model():
    """malloc/calloc/realloc/memalign/free in random order; the model holds each object's bytes."""
    rng = random.Random(6)
    model: dict[int, bytes] = {}  # address -> contents the program wrote
    base = oob.stats()
    sizes = [0, 1, 15, 16, 17, 100, 512, 4000, 32768, 32769, 70000, 300000]
    for step in range(6000):
        op = rng.random()
        if op < 0.45 or not model:
            n = rng.choice(sizes) if rng.random() < 0.3 else rng.randrange(1, 3000)
            align = rng.choice([0, 0, 0, 32, 64, 4096, 1 << 17])
            addr = oob.allocate(n, align)
            if align:
                assert addr % align == 0, (n, align, hex(addr))
            assert addr % 16 == 0 and oob.usable_size(addr) >= n and oob.owns(addr)
            data = rng.randbytes(min(n, 256)) + bytes(max(0, n - 256))
            oob.write(addr, data)
            model[addr] = data
        elif op < 0.75:
            addr = rng.choice(list(model))
            assert oob.read(addr, len(model[addr])) == model[addr], f"object {addr:#x} corrupted at step {step}"
            oob.free(addr)
            assert not oob.owns(addr)
            del model[addr]
        else:  # realloc through the C library entry point
            from lowprof.native._oobmalloc import ffi, lib

            addr = rng.choice(list(model))
            n = rng.choice(sizes) or 1 if rng.random() < 0.3 else rng.randrange(1, 2 * len(model[addr]) + 64)
            new = int(ffi.cast("uintptr_t", lib.oob_realloc(ffi.cast("void *", addr), n)))
            kept = model.pop(addr)[:n]
            assert oob.read(new, len(kept)) == kept, f"realloc {addr:#x} -> {new:#x} lost data"
            model[new] = kept
        if step % 500 == 0:
            _no_overlap({a: max(len(d), 1) for a, d in model.items()})
            assert oob.stats().bytes_in_use - base.bytes_in_use == sum(oob.usable_size(a) for a in model)
    for addr, data in model.items():
        assert oob.read(addr, len(data)) == data
        oob.free(addr)
    end = oob.stats()
    assert end.bytes_in_use == base.bytes_in_use
    assert end.allocs - base.allocs == end.frees - base.frees  # every allocation freed
    assert end.bytes_meta > 0 and end.peak_active_bytes >= end.bytes_active


def test_stats_track_usable_bytes_and_fragmentation():
    base = oob.stats()
    addrs = [oob.allocate(100) for _ in range(1000)]  # class 112 B
    s = oob.stats()
    assert s.bytes_in_use - base.bytes_in_use == 1000 * 112
    assert s.allocs - base.allocs == 1000
    assert 0.0 <= s.fragmentation < 1.0 and s.bytes_mapped >= s.bytes_active
    for a in addrs[::2]:
        oob.free(a)
    half = oob.stats()
    assert half.bytes_in_use - base.bytes_in_use == 500 * 112
    assert half.fragmentation > s.fragmentation  # same pages, half the objects
    for a in addrs[1::2]:
        oob.free(a)
    assert oob.stats().bytes_in_use == base.bytes_in_use


@pytest.mark.parametrize("case, message", [
    ("double", "double free"),
    ("interior", "interior pointer"),
    ("foreign", "foreign pointer"),
    ("large-double", "double free"),
])
def test_bad_free_reported(case, message):
    before = oob.stats().errors
    with oob.report_errors():
        if case == "double":
            a = oob.allocate(48)
            oob.free(a)
            oob.free(a)
        elif case == "interior":
            a = oob.allocate(200)
            oob.free(a + 16)
            oob.free(a)
        elif case == "foreign":
            oob.free(id(object()))
        else:
            a = oob.allocate(1 << 20)
            oob.free(a)
            oob.free(a)
    assert message in oob.last_error()
    assert oob.stats().errors == before + 1


def test_double_free_aborts_with_message():
    code = ("from lowprof.native import oobmalloc as m\n"
            "a = m.allocate(64); m.free(a); m.free(a)\nprint('survived')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == -6, (p.returncode, p.stdout, p.stderr)  # SIGABRT
    assert "oobmalloc: double free" in p.stderr and "survived" not in p.stdout


def test_bad_arguments_raise():
    with pytest.raises(AllocatorError, match="24"):
        oob.allocate(10, alignment=24)
    with pytest.raises(AllocatorError, match="-1"):
        oob.allocate(-1)


def test_importing_does_not_replace_the_process_allocator():
    from lowprof.native import _oobmalloc

    assert not hasattr(_oobmalloc.lib, "malloc")
    out = subprocess.run(["nm", "-D", "--defined-only", _oobmalloc.__file__], capture_output=True, text=True)
    if out.returncode == 0:
        names = {line.split()[-1] for line in out.stdout.splitlines()}
        assert not names & {"malloc", "free", "calloc", "realloc"}
        assert "oob_malloc" in names

"""TLB reach and page-walk cost: a one-line-per-page pointer chase swept over working sets (lmbench/Calibrator).

For each working set of ``pages`` pages the chase touches one 64 B line per page, in one random cycle,
with the line offset varying from page to page (``(i mod lines_per_page) * 64``) so the lines do not
alias onto one cache set. The same number of lines packed densely in one 2 MiB huge page is the
cache-only chase; ``extra = chase - cache-only`` is the address-translation cost per access.
Time is ns on CLOCK_MONOTONIC_RAW; cycles are TSC ticks read with ``rdtscp`` (a constant-rate
reference clock, not core cycles: under DVFS or turbo the core may run faster or slower).

Every point is measured in ``passes`` interleaved passes over the whole sweep (each with a fresh
random cycle) and the minimum is kept, so a burst of noise from other processes hits one pass of a
point, not all of them. :mod:`lowprof.native.tlb_curve` turns the curve into TLB levels.
"""

from __future__ import annotations

import errno
import math
import os
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from lowprof.errors import TLBError

__all__ = ["SweepConfig", "Buffer", "tsc_hz", "thp_mode", "perf_dtlb_probe", "sweep_grid",
           "run_sweep", "sweep_rows", "detect", "KIB", "MIB"]

KIB, MIB = 1 << 10, 1 << 20
LINE = 64
HUGE = 2 * MIB
# perf_event_open(PERF_TYPE_HW_CACHE, DTLB | OP_READ << 8 | RESULT_MISS << 16): "dTLB-load-misses".
PERF_TYPE_HW_CACHE = 3
PERF_DTLB_READ_MISS = 3 | (0 << 8) | (1 << 16)
PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES = 0, 0


def _lib():
    try:
        from lowprof.native._tlb import ffi, lib
    except ImportError as e:
        raise TLBError(f"native helper lowprof.native._tlb is not built ({e}); run `pip install -e .`") from None
    return ffi, lib


def _check(rc: int, what: str) -> None:
    if rc:
        raise TLBError(f"{what} failed: {errno.errorcode.get(rc, rc)} ({os.strerror(rc)})")


def tsc_hz(seconds: float = 0.05, repeats: int = 5) -> float:
    """TSC rate in Hz: rdtscp ticks over ``seconds`` of CLOCK_MONOTONIC_RAW, median of ``repeats``."""
    ffi, lib = _lib()
    hz = ffi.new("double *")
    _check(lib.tlb_tsc_hz(seconds, repeats, hz), "TSC calibration")
    return float(hz[0])


def thp_mode() -> str | None:
    """The active THP mode (``always``/``madvise``/``never``), or None where the kernel has no THP."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            m = re.search(r"\[(\w+)\]", f.read())
    except OSError:
        return None
    return m.group(1) if m else None


def _smaps_huge_bytes(addr: int, length: int) -> int:
    """Bytes of AnonHugePages in the /proc/self/smaps mappings overlapping [addr, addr+length)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(None, 1)[0]
            if "-" in head and ":" not in head:
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo < addr + length and hi > addr
            elif inside and head == "AnonHugePages:":
                total += int(line.split()[1]) * KIB
    return total


@dataclass
class Buffer:
    """A pre-faulted anonymous mapping (2 MiB aligned), huge pages asked for or refused; ``close()`` it."""

    bytes: int
    huge: bool
    addr: object = None
    mapped: int = 0
    locked: bool = False
    mlock_error: str | None = None
    huge_bytes: int = 0

    def __post_init__(self) -> None:
        ffi, lib = _lib()
        addr, mapped = ffi.new("void **"), ffi.new("size_t *")
        locked, lock_err = ffi.new("int *"), ffi.new("int *")
        _check(lib.tlb_map(self.bytes, int(self.huge), addr, mapped, locked, lock_err),
               f"mapping {self.bytes} B ({'2 MiB' if self.huge else '4 KiB'} pages)")
        self.addr, self.mapped, self.locked = addr[0], int(mapped[0]), bool(locked[0])
        if not self.locked:
            e = int(lock_err[0])
            self.mlock_error = f"{errno.errorcode.get(e, e)} ({os.strerror(e)})"
        self.huge_bytes = _smaps_huge_bytes(int(ffi.cast("uintptr_t", self.addr)), self.mapped)

    @property
    def huge_fraction(self) -> float:
        """Share of the mapping the kernel backs with 2 MiB pages (AnonHugePages in /proc/self/smaps)."""
        return self.huge_bytes / self.mapped if self.mapped else 0.0

    def chase(self, n: int, stride: int, lines_per_slot: int, seed: int):
        """Link ``n`` lines (one per ``stride`` bytes) into one random cycle; returns its start pointer."""
        ffi, lib = _lib()
        if n * stride > self.mapped:
            raise TLBError(f"chase of {n} x {stride} B does not fit the {self.mapped} B buffer")
        start = ffi.new("void **")
        _check(lib.tlb_build_chase(self.addr, n, stride, lines_per_slot, seed, start), "building the chase")
        return start[0]

    def close(self) -> None:
        if self.addr is not None:
            _lib()[1].tlb_unmap(self.addr, self.mapped)
            self.addr = None

    def __enter__(self) -> "Buffer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _time_chase(start, warmup: int, accesses: int) -> tuple[float, float]:
    """(ns, TSC ticks) per access of one timed chase."""
    ffi, lib = _lib()
    ns, tsc, end = ffi.new("uint64_t *"), ffi.new("uint64_t *"), ffi.new("void **")
    lib.tlb_chase(start, warmup, accesses, ns, tsc, end)
    return ns[0] / accesses, tsc[0] / accesses


def perf_dtlb_probe() -> dict:
    """Whether perf_event_open can count dTLB-load-misses here: ``{"available", "reason"}``."""
    ffi, lib = _lib()
    try:
        paranoid = open("/proc/sys/kernel/perf_event_paranoid").read().strip()
    except OSError:
        paranoid = "unknown"
    with Buffer(HUGE, huge=False) as b:
        start = b.chase(64, 4 * KIB, 64, 1)
        count = ffi.new("uint64_t *")
        rc = lib.tlb_chase_counted(start, 10_000, PERF_TYPE_HW_CACHE, PERF_DTLB_READ_MISS, count)
        cycles_rc = lib.tlb_chase_counted(start, 1000, PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, count)
    if rc == 0:
        return {"available": True, "event": "dTLB-load-misses (PERF_TYPE_HW_CACHE)", "reason": None}
    name = errno.errorcode.get(rc, str(rc))
    no_pmu = cycles_rc == rc and name == "ENOENT"
    why = {"ENOENT": ("no hardware PMU is exposed to this kernel (cpu-cycles fails the same way; "
                      "typical of a VM without vPMU)") if no_pmu else "the kernel has no such hardware event",
           "EOPNOTSUPP": "the PMU does not support this event",
           "EACCES": f"not permitted (perf_event_paranoid={paranoid})",
           "EPERM": f"not permitted (perf_event_paranoid={paranoid})"}.get(name, os.strerror(rc))
    return {"available": False, "event": "dTLB-load-misses (PERF_TYPE_HW_CACHE)",
            "reason": f"perf_event_open: {name}: {why}", "perf_event_paranoid": paranoid}


def _count_dtlb(start, accesses: int) -> float | None:
    ffi, lib = _lib()
    count = ffi.new("uint64_t *")
    rc = lib.tlb_chase_counted(start, accesses, PERF_TYPE_HW_CACHE, PERF_DTLB_READ_MISS, count)
    return count[0] / accesses if rc == 0 else None


def sweep_grid(first: int, last: int, per_octave: int) -> list[int]:
    """Page counts ``first * 2**(k / per_octave)`` up to ``last``, rounded, without repeats."""
    steps = int(math.floor(per_octave * math.log2(last / first) + 1e-9))
    return sorted({int(round(first * 2 ** (k / per_octave))) for k in range(steps + 1)})


@dataclass
class SweepConfig:
    """One page size's sweep: its page size (B), grid of page counts, passes and minimum accesses."""

    page_bytes: int
    pages: list[int]
    passes: int = 5
    min_accesses: int = 200_000
    seed: int = 0x5EED
    count_dtlb: bool = False
    rows: list[dict] = field(default_factory=list)
    samples: dict = field(default_factory=dict)  # per-pass arrays (passes x points) filled by run_sweep
    dtlb: list = field(default_factory=list)


def run_sweep(cfg: SweepConfig, sparse: Buffer, dense: Buffer,
              progress: Callable[[int], None] | None = None) -> list[dict]:
    """Measure every point of ``cfg.pages`` ``cfg.passes`` times (interleaved); one row per point.

    ``sparse`` holds ``max(pages)`` pages of ``cfg.page_bytes``; ``dense`` at least ``max(pages) * 64`` B
    in 2 MiB pages. Each row: the minimum over passes of ns and TSC ticks per access for the chase and
    the cache-only chase, the median chase ns, and the difference (``extra``) in ns and ticks.
    """
    lines_per_page = min(cfg.page_bytes // LINE, 1024)
    n_pts = len(cfg.pages)
    sp_ns = np.full((cfg.passes, n_pts), np.nan)
    sp_tsc, de_ns, de_tsc = sp_ns.copy(), sp_ns.copy(), sp_ns.copy()
    dtlb: list[float | None] = [None] * n_pts
    for p in range(cfg.passes):
        for i, n in enumerate(cfg.pages):
            acc = max(2 * n, cfg.min_accesses)
            seed = cfg.seed + 7919 * p + n
            start = sparse.chase(n, cfg.page_bytes, lines_per_page, seed)
            sp_ns[p, i], sp_tsc[p, i] = _time_chase(start, n + 1000, acc)
            if cfg.count_dtlb and p == 0:
                dtlb[i] = _count_dtlb(start, acc)
            start = dense.chase(n, LINE, 1, seed)
            de_ns[p, i], de_tsc[p, i] = _time_chase(start, n + 1000, acc)
            if progress:
                progress(1)
    cfg.samples = {"sp_ns": sp_ns, "sp_tsc": sp_tsc, "de_ns": de_ns, "de_tsc": de_tsc}
    cfg.dtlb = dtlb
    cfg.rows = sweep_rows(cfg)
    return cfg.rows


def sweep_rows(cfg: SweepConfig, passes: list[int] | None = None, also: SweepConfig | None = None) -> list[dict]:
    """One row per point of a measured ``cfg``: minima over ``passes`` (default: all) of each chase, and over
    all passes of ``also`` (a repeat of the same sweep) too."""
    idx = list(range(cfg.passes)) if passes is None else list(passes)
    arrays = {k: v[idx] for k, v in cfg.samples.items()}
    if also is not None:
        arrays = {k: np.concatenate([v, also.samples[k]]) for k, v in arrays.items()}
    n_passes = len(idx) + (also.passes if also is not None else 0)
    rows = []
    for i, n in enumerate(cfg.pages):
        ns, tsc, cns, ctsc = (float(arrays[k][:, i].min()) for k in ("sp_ns", "sp_tsc", "de_ns", "de_tsc"))
        rows.append({
            "page_size_bytes": cfg.page_bytes, "pages": n, "working_set_bytes": n * cfg.page_bytes,
            "lines": n, "accesses": max(2 * n, cfg.min_accesses), "passes": n_passes,
            "ns_per_access": ns, "ns_per_access_median": float(np.median(arrays["sp_ns"][:, i])),
            "cycles_per_access": tsc, "cache_only_ns": cns, "cache_only_cycles": ctsc,
            "extra_ns": ns - cns, "extra_cycles": tsc - ctsc, "dtlb_misses_per_access": cfg.dtlb[i],
        })
    return rows


def detect(rows: list[dict], tsc_hz_: float) -> dict:
    """Detected L1 dTLB / L2 STLB reach (entries, bytes) and page-walk cost (ns, TSC cycles) of one sweep.

    A level's ``entries`` is the largest swept working set (pages) still below the 50 %-miss crossing,
    so it sits on the sweep grid; ``crossing_pages`` is the crossing interpolated between grid points.
    Cycles are ns times the measured TSC rate.
    """
    from lowprof.native.tlb_curve import analyse

    page = rows[0]["page_size_bytes"]
    pages = [r["pages"] for r in rows]
    res = analyse(pages, [r["extra_ns"] for r in rows])
    to_cyc = tsc_hz_ / 1e9

    def level(t) -> dict | None:
        if t is None:
            return None
        i = pages.index(t.last_pages_below)
        above = pages[i + 1] if i + 1 < len(pages) else None
        return {"entries": t.last_pages_below, "bytes": t.last_pages_below * page,
                "crossing_pages": round(t.reach_pages, 1),
                "last_pages_below": t.last_pages_below, "first_pages_above": above,
                "extra_ns_below": t.below.extra_ns, "extra_ns_above": t.above.extra_ns,
                "extra_cycles_above": t.above.extra_ns * to_cyc}

    walk = res["walk_extra_ns"]
    last = rows[-1]
    return {
        "page_size_bytes": page,
        "l1_dtlb": level(res["l1"]),
        "l2_stlb": level(res["l2"]),
        "walk_extra_ns": walk,
        "walk_extra_cycles": walk * to_cyc if walk is not None else None,
        "walk_regimes": [level(t) for t in res["walk_regimes"]],
        "max_pages": last["pages"],
        "extra_ns_at_max": last["extra_ns"],
        "extra_cycles_at_max": last["extra_cycles"],
        "plateaus": res["plateaus"],
    }

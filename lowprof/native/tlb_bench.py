"""Record a TLB sweep into a run directory: the ``tlb`` table and the detected figures in the manifest.

Sequence: calibrate the TSC (checked against the machine's own figure, :mod:`lowprof.native.tlb_tsc`), read
what CPUID reports, probe perf's dTLB event, then for each page size map a pre-faulted buffer (2 MiB ones
checked against ``AnonHugePages``), sweep, detect, judge each level (:mod:`lowprof.native.tlb_verdict`;
one more sweep when a level is uncertain), unmap. At most
``max_bytes`` are mapped at any time (the sparse buffer plus the dense cache-only buffer).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Callable

from lowprof.inventory import recording_facts
from lowprof.native import tlb
from lowprof.native.tlb_cpuid import reported_entries, reported_tlbs
from lowprof.native.tlb_tsc import calibrate_tsc
from lowprof.native.tlb_verdict import LEVELS, judge_sweep, needs_repeat
from lowprof.rundir import RunWriter
from lowprof.rundir.specs.bench import TLB_TABLE

__all__ = ["record_tlb", "compare_rows"]

_START_PAGES = {4096: 4, 2 << 20: 2}


def _thp_facts(buf: "tlb.Buffer", mode: str | None) -> dict:
    facts = {"thp_enabled": mode, "mapped_bytes": buf.mapped, "anon_huge_bytes": buf.huge_bytes,
             "huge_fraction": round(buf.huge_fraction, 4)}
    if mode in (None, "never"):
        facts["note"] = f"THP is off (transparent_hugepage/enabled={mode}): the 2 MiB sweep ran on 4 KiB pages"
    elif buf.huge_fraction < 0.95:
        facts["note"] = (f"THP refused in part: only {buf.huge_bytes} of {buf.mapped} B are AnonHugePages "
                         "(fragmented memory or defrag policy); the 2 MiB figures are mixed")
    else:
        facts["note"] = "the kernel backed the buffer with 2 MiB pages (AnonHugePages in /proc/self/smaps)"
    return facts


def _small_page_facts(buf: "tlb.Buffer") -> dict:
    facts = {"mapped_bytes": buf.mapped, "anon_huge_bytes": buf.huge_bytes,
             "huge_fraction": round(buf.huge_fraction, 4)}
    facts["note"] = ("MADV_NOHUGEPAGE: 4 KiB pages (no AnonHugePages in the buffer)" if buf.huge_bytes == 0 else
                     f"{buf.huge_bytes} B of the 4 KiB buffer are huge pages despite MADV_NOHUGEPAGE")
    return facts


def compare_rows(detected: dict, report: dict) -> list[dict]:
    """Detected vs CPUID-reported entries for each level, per page size; ``within_one_step`` judged on
    the sweep grid (|log2(detected / reported)| <= 1 / per_octave)."""
    rows = []
    for page, d in detected["sweeps"].items():
        step = 1 / detected["config"]["per_octave"]
        for level, key in (("L1", "l1_dtlb"), ("L2", "l2_stlb")):
            got = d.get(key)
            rep = reported_entries(report, level, int(page))
            within = None
            if got and rep:
                within = abs(math.log2(got["entries"] / rep)) <= step + 0.01  # grid points are whole pages
            rows.append({"page_size_bytes": int(page), "level": f"{level} {'dTLB' if level == 'L1' else 'STLB'}",
                         "detected_entries": got["entries"] if got else None,
                         "detected_bytes": got["bytes"] if got else None,
                         "reported_entries": rep, "reported_bytes": rep * int(page) if rep else None,
                         "within_one_step": within})
    return rows


def record_tlb(out: str | os.PathLike, *, page_sizes: list[int], max_bytes: int, max_pages: int = 65536,
               per_octave: int = 4, passes: int = 5, force: bool = False, available_bytes: int | None = None,
               progress: Callable[[str, int], Callable[[int], None]] | None = None) -> tuple[Path, dict]:
    """Run the sweeps and write the run directory at ``out``; returns (path, manifest["tlb"]).

    ``progress(label, total)`` may return a callback advanced by 1 per measured point.
    """
    t_start = time.monotonic()
    writer = RunWriter(out, kind="bench", force=force)
    m = writer.manifest
    m.update(recording_facts())
    tsc = calibrate_tsc()
    hz = tsc["hz"]
    report = reported_tlbs()
    perf = tlb.perf_dtlb_probe()
    thp = tlb.thp_mode()
    facts: dict = {
        "config": {"page_sizes_bytes": page_sizes, "max_bytes": max_bytes, "available_bytes": available_bytes,
                   "max_pages": max_pages, "per_octave": per_octave, "passes": passes},
        "tsc": tsc,
        "cpu_reported": report,
        "perf": perf,
        "thp": {},
        "mlock": {},
        "sweeps": {},
        "method": "lowprof.native.tlb_curve (optimal-partitioning plateaus, 50%-miss crossing)",
    }
    m["tlb"] = facts
    table = writer.table(TLB_TABLE)
    try:
        for page in page_sizes:
            dense_bytes = max(max_pages * tlb.LINE, tlb.HUGE)
            budget = max_bytes - dense_bytes - tlb.HUGE  # tlb_map rounds each buffer up to 2 MiB
            n_max = min(max_pages, budget // page)
            start = _START_PAGES[page]
            if n_max < 8 * start:
                facts["sweeps"][str(page)] = {"skipped": f"--max-bytes {max_bytes} B holds only {n_max} pages"}
                continue
            grid = tlb.sweep_grid(start, n_max, per_octave)
            huge = page != 4096
            with tlb.Buffer(grid[-1] * page, huge=huge) as sparse, \
                    tlb.Buffer(max(grid[-1] * tlb.LINE, tlb.HUGE), huge=True) as dense:
                facts["thp"][str(page)] = _thp_facts(sparse, thp) if huge else _small_page_facts(sparse)
                facts["thp"]["cache_only_buffer"] = _thp_facts(dense, thp)
                facts["mlock"][str(page)] = ("locked" if sparse.locked
                                             else f"not locked: mlock {sparse.mlock_error} (pre-faulted instead)")
                label = f"{page // 1024} KiB pages" if page < (1 << 20) else f"{page >> 20} MiB pages"
                cfg = tlb.SweepConfig(page_bytes=page, pages=grid, passes=passes, count_dtlb=perf["available"])
                rows = tlb.run_sweep(cfg, sparse, dense, progress(label, len(grid) * passes) if progress else None)
                reported = {key: reported_entries(report, lvl, page) for key, (lvl, _) in LEVELS.items()}
                halves = [tlb.sweep_rows(cfg, list(range(k, passes, 2))) for k in (0, 1)] if passes >= 2 else []
                det = tlb.detect(rows, hz)
                verdicts = judge_sweep(det, [tlb.detect(h, hz) for h in halves], per_octave, reported)
                repeated = needs_repeat(verdicts)
                if repeated:  # one more sweep, own random cycles; judged over both sweeps
                    again = tlb.SweepConfig(page_bytes=page, pages=grid, passes=passes, seed=cfg.seed + 104729,
                                            count_dtlb=perf["available"])
                    tlb.run_sweep(again, sparse, dense,
                                  progress(f"{label} (repeat)", len(grid) * passes) if progress else None)
                    rows = tlb.sweep_rows(cfg, also=again)
                    det = tlb.detect(rows, hz)
                    verdicts = judge_sweep(det, [tlb.detect(cfg.rows, hz), tlb.detect(again.rows, hz)],
                                           per_octave, reported)
            table.extend(rows)
            table.flush()
            for key, v in verdicts.items():
                if det[key] is not None:
                    det[key].update(v)
                else:
                    det[f"{key}_verdict"] = v
            det["repeated_sweep"] = repeated
            facts["sweeps"][str(page)] = det
            writer.save()
        facts["comparison"] = compare_rows(facts, report)
        facts["elapsed_s"] = time.monotonic() - t_start
    except BaseException:
        writer.finish(status="failed")
        raise
    writer.finish()
    return writer.path, facts

"""Metrics of a ``lowprof bench tlb`` run: L1 dTLB and L2 STLB reach and the page-walk cost, per page size,
from the manifest's ``tlb.sweeps`` (as :func:`lowprof.native.tlb.detect` wrote them); none for a level
bench tlb judged uncertain. Light: standard library only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lowprof.analysis.metric import Metric, metric

if TYPE_CHECKING:
    from lowprof.rundir import Run

__all__ = ["metrics"]


def _tlb_levels(run: Run, key: str, field: str, scale: float = 1.0):
    """Per page size: (value, {page_size_bytes}) of one level's ``field``."""
    sweeps = (run.manifest.get("tlb") or {}).get("sweeps") or {}
    out = []
    for page, d in sweeps.items():
        v = d.get(key) if key != "walk" else d
        if isinstance(v, dict) and v.get("status") == "uncertain":  # bench tlb could not confirm it: no figure
            continue
        v = v.get(field) if isinstance(v, dict) else None
        if v is not None:
            out.append((float(v) * scale, {"page_size_bytes": int(page)}))
    return out or None


@metric("tlb_l1_entries", "pages", "higher", "L1 dTLB reach: largest working set (pages) below the 50 %-miss crossing; "
        "none where bench tlb judged it uncertain")
def tlb_l1_entries(run: Run):
    return _tlb_levels(run, "l1_dtlb", "entries")


@metric("tlb_l2_entries", "pages", "higher", "L2 STLB reach: largest working set (pages) below the 50 %-miss crossing; "
        "none where bench tlb judged it uncertain")
def tlb_l2_entries(run: Run):
    return _tlb_levels(run, "l2_stlb", "entries")


@metric("tlb_walk_s", "s", "lower", "page-walk cost: extra time per access on the plateau above the STLB")
def tlb_walk_s(run: Run):
    return _tlb_levels(run, "walk", "walk_extra_ns", 1e-9)


def metrics() -> tuple[Metric, ...]:
    return (tlb_l1_entries, tlb_l2_entries, tlb_walk_s)

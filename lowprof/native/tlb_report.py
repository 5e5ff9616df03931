"""The ``tlb`` feature: the table ``lowprof bench tlb`` writes, its `lowprof report` section (detected
reach vs CPUID, walk cost) and its metrics. The bench itself is :mod:`lowprof.native.tlb_bench`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lowprof.feature import Feature
from lowprof.rundir.sections import owned_by
from lowprof.rundir.specs.bench import TLB_TABLE

if TYPE_CHECKING:
    from lowprof.analysis.metric import Metric

__all__ = ["section_tlb", "FEATURE"]


def _level(d: dict | None, verdict: dict | None = None) -> str:
    if not d:
        return "uncertain, see the notice above" if (verdict or {}).get("status") == "uncertain" else "not seen"
    text = f"{d['entries']} entries ({d['bytes']} B), 50%-miss crossing {d['crossing_pages']:.0f} pages"
    return f"uncertain ({d['entries']} entries?), see the notice above" if d.get("status") == "uncertain" else text


def section_tlb(run) -> dict | None:
    """Key/value block per page size; None for runs without a ``tlb`` manifest entry."""
    facts = run.manifest.get("tlb")
    if not facts:
        return None
    tsc = facts["tsc"]
    out: dict = {"tsc_hz": tsc["hz"],
                 "tsc check": ("uncertain, see the notice above" if tsc.get("status") == "uncertain" else
                               f"within {100 * abs(tsc['off_reference']):.2f} % of {tsc['reference']}"
                               if tsc.get("reference") else "repeated calibrations agree (no reference)")
                 if "status" in tsc else "not checked (recorded before the check existed)",
                 "perf": "available" if facts["perf"]["available"] else facts["perf"]["reason"]}
    reported = {(c["page_size_bytes"], c["level"]): c["reported_entries"] for c in facts.get("comparison", [])}
    for page, d in facts["sweeps"].items():
        label = f"{int(page) >> 10} KiB" if int(page) < (1 << 20) else f"{int(page) >> 20} MiB"
        if "skipped" in d:
            out[label] = d["skipped"]
            continue
        out[f"{label} L1 dTLB"] = f"{_level(d['l1_dtlb'], d.get('l1_dtlb_verdict'))}; CPUID {reported.get((int(page), 'L1 dTLB'))}"
        out[f"{label} L2 STLB"] = f"{_level(d['l2_stlb'], d.get('l2_stlb_verdict'))}; CPUID {reported.get((int(page), 'L2 STLB'))}"
        if d["walk_extra_ns"] is not None:
            out[f"{label} page walk"] = (f"{d['walk_extra_ns']:.1f} ns = {d['walk_extra_cycles']:.0f} TSC cycles "
                                         f"per access just beyond STLB reach")
        out[f"{label} at {d['max_pages']} pages"] = f"{d['extra_ns_at_max']:.1f} ns extra per access"
        if page in facts.get("thp", {}):
            out[f"{label} pages given"] = facts["thp"][page]["note"]
    return out


def _metrics() -> tuple[Metric, ...]:
    """L1 dTLB and L2 STLB reach and the walk cost, per page size (:mod:`lowprof.analysis.tlb_metrics`)."""
    from lowprof.analysis import tlb_metrics

    return tlb_metrics.metrics()


FEATURE = Feature("tlb", "TLB reach and page-walk cost measured by `lowprof bench tlb`", tables=(TLB_TABLE,),
                  manifest=owned_by("tlb"), report=section_tlb, metrics=_metrics)

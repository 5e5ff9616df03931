"""`lowprof report` section for a run recorded by `lowprof bench tlb`: detected reach vs CPUID, walk cost."""

from __future__ import annotations

__all__ = ["section_tlb"]


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


# --- metrics: TLB reach and walk cost (manifest tlb.sweeps, as lowprof.native.tlb.detect wrote them) ---------

from lowprof.analysis.metric import Metric, metric  # noqa: E402  (light: standard library only)

__all__ += ["metrics"]


def _tlb_levels(run, key: str, field: str, scale: float = 1.0):
    """Per page size: (value, {page_size_bytes}) of one level's ``field``; none where bench tlb judged it uncertain."""
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
def tlb_l1_entries(run):
    return _tlb_levels(run, "l1_dtlb", "entries")


@metric("tlb_l2_entries", "pages", "higher", "L2 STLB reach: largest working set (pages) below the 50 %-miss crossing; "
        "none where bench tlb judged it uncertain")
def tlb_l2_entries(run):
    return _tlb_levels(run, "l2_stlb", "entries")


@metric("tlb_walk_s", "s", "lower", "page-walk cost: extra time per access on the plateau above the STLB")
def tlb_walk_s(run):
    return _tlb_levels(run, "walk", "walk_extra_ns", 1e-9)


def metrics() -> tuple[Metric, ...]:
    """The TLB figures of a `lowprof bench tlb` run."""
    return (tlb_l1_entries, tlb_l2_entries, tlb_walk_s)

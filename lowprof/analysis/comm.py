"""Communication kernels (NCCL/RCCL) and how much of their time compute kernels overlap, per pass.

Kernel classes (:func:`kernel_class`), from the launches table's ``kind`` and ``name``, as HTA's
``hta.utils.utils.get_kernel_type`` decides them, with RCCL's prefix added:
  communication  a kernel whose name starts with ``nccl`` or ``rccl`` (``ncclKernel_AllReduce_RING_LL_Sum_float``,
                 ``ncclDevKernel_Generic``; HTA: ``^nccl.*Kernel``)
  memory         a memcpy or memset (HTA: names ``^Memcpy``, ``^Memset``, ``^dma``)
  other          a kernel whose name HTA's compute rule refuses (contains ``Sync`` or ``Memcpy``, or starts
                 with ``Memset``), and nsys graph-level records (a graph's kernels are not told apart)
  computation    every other kernel
The class comes from the name alone: a trace's ``Collective name`` argument is on the CPU op
(``record_param_comms``), not on the kernel, and lowprof does not read it.

Compute/communication overlap (HTA's ``get_comm_comp_overlap``, hta/analyzers/communication_analysis.py):
  overlap % = 100 x |U(comm) ∩ U(compute)| / |U(comm)|
where U(comm) is the union of the communication kernels' [start, end) intervals on every GPU and stream
of the rank, and U(compute) likewise for computation kernels: the share of communication time during
which some compute kernel ran. :func:`comm_overlap` gives it per pass (the kernels a pass's launch calls
launched; exact ns); :func:`hta_comm_overlap_pct` gives HTA's one figure per rank under HTA's rules
(µs as HTA parses them, the last ``ProfilerStep`` cut; rounded to 0.01 % as HTA rounds it).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from lowprof.intervals import union
from lowprof.rundir import Run

__all__ = ["kernel_class", "comm_overlap", "hta_comm_overlap_pct", "interval_overlap", "KERNEL_CLASSES",
           "COMM_KERNEL", "OVERLAP_RULE"]

COMM_KERNEL = re.compile(r"^(?:nccl|rccl)")
_NOT_COMPUTE = re.compile(r"(^nccl.*Kernel)|(.*(Memcpy)|(Memset))|(.*Sync)")  # HTA's NCCL_COMPUTE_KERNEL_RE, as HTA matches it
KERNEL_CLASSES = ("communication", "computation", "memory", "other")
OVERLAP_RULE = ("overlap = share of communication-kernel time (NCCL/RCCL, union over streams) during which a "
                "compute kernel ran (HTA's get_comm_comp_overlap), per pass")


def _name_class(name: object) -> str:
    if not isinstance(name, str):
        return "other"
    if COMM_KERNEL.match(name):
        return "communication"
    return "other" if _NOT_COMPUTE.match(name) else "computation"


def kernel_class(launches: pd.DataFrame) -> pd.Series:
    """Each GPU activity's class (see the module docstring): communication, computation, memory or other."""
    codes, names = pd.factorize(launches["name"])
    by_name = np.array([_name_class(n) for n in names] + ["other"], dtype=object)[codes]
    kind = launches["kind"].astype("string").fillna("")
    out = np.where(kind.isin(["memcpy", "memset"]).to_numpy(), "memory",
                   np.where((kind == "kernel").to_numpy(), by_name, "other"))
    return pd.Series(pd.Categorical(out, categories=KERNEL_CLASSES), index=launches.index, name="kernel_class")


def interval_overlap(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]):
    """(|U(a)|, |U(a) ∩ U(b)|) for two sets of intervals given as (starts, ends), in their unit."""
    sa, ea = union(*a)
    sb, eb = union(*b)
    total = (ea - sa).sum()
    if not len(sa) or not len(sb):
        return total, total * 0
    # every a-segment against the b-segments that may meet it (both lists disjoint and sorted)
    lo = np.searchsorted(eb, sa, "right")
    hi = np.searchsorted(sb, ea, "left")
    counts = np.maximum(hi - lo, 0)
    idx = np.repeat(np.arange(len(sa)), counts)
    js = lo[idx] + (np.arange(len(idx)) - np.repeat(np.cumsum(counts) - counts, counts))
    inter = np.minimum(ea[idx], eb[js]) - np.maximum(sa[idx], sb[js])
    return total, inter[inter > 0].sum() if len(inter) else total * 0


def comm_overlap(launches: pd.DataFrame) -> pd.DataFrame:
    """Per pass (the ``step`` of the launch call; ``(no step)`` for the rest): communication kernels,
    communication time (union, ns), compute time (union, ns), overlapped time (ns) and the overlap % (null
    without communication). Rows in order of the pass's first GPU start."""
    cls = kernel_class(launches).to_numpy()
    s = pd.to_numeric(launches["gpu_start_ns"], errors="coerce").astype("Int64")
    e = pd.to_numeric(launches["gpu_end_ns"], errors="coerce").astype("Int64")
    ok = (s.notna() & e.notna()).to_numpy()
    step = launches["step"].astype("string").fillna("(no step)").to_numpy(dtype=object)
    sv, ev = s.to_numpy(np.int64, na_value=0), e.to_numpy(np.int64, na_value=0)
    rows = []
    first = pd.Series(np.where(ok, sv, np.iinfo(np.int64).max)).groupby(step, sort=False).min()
    for name in first.sort_values(kind="stable").index:
        here = ok & (step == name)
        comm, comp = here & (cls == "communication"), here & (cls == "computation")
        comm_ns, over_ns = interval_overlap((sv[comm], ev[comm]), (sv[comp], ev[comp]))
        seg_s, seg_e = union(sv[comp], ev[comp])
        comp_ns = (seg_e - seg_s).sum()
        rows.append({"step": name, "comm_kernels": int(comm.sum()), "comm_ns": int(comm_ns),
                     "compute_ns": int(comp_ns), "overlap_ns": int(over_ns),
                     "overlap_pct": 100.0 * over_ns / comm_ns if comm_ns > 0 else None})
    return pd.DataFrame(rows, columns=["step", "comm_kernels", "comm_ns", "compute_ns", "overlap_ns", "overlap_pct"])


def hta_comm_overlap_pct(run: Run) -> float | None:
    """HTA's ``get_comm_comp_overlap`` figure for this rank under HTA's rules (see the module docstring),
    in %, rounded to 2 decimals as HTA does; None when the rank ran no communication kernel."""
    from lowprof.analysis.launches import hta_activities

    pl, start_us, end_us = hta_activities(run)
    cls = kernel_class(pl).to_numpy()
    comm, comp = cls == "communication", cls == "computation"
    total, over = interval_overlap((start_us[comm], end_us[comm]), (start_us[comp], end_us[comp]))
    return None if not total > 0 else round(100 * float(over) / float(total), 2)


def comm_summary(run: Run, launches: pd.DataFrame) -> dict:
    """What ``lowprof launches`` shows of communication: activities per class, the overlap per pass
    (:func:`comm_overlap`, ns and %) and HTA's whole-trace figure (:func:`hta_comm_overlap_pct`); the
    overlap parts are empty / null when the run has no communication kernel."""
    classes = kernel_class(launches)
    counts = {c: int(n) for c, n in classes.value_counts(sort=False).items()}
    has_comm = counts.get("communication", 0) > 0
    steps = comm_overlap(launches) if has_comm else None
    return {"rule": OVERLAP_RULE, "activities_by_class": counts,
            "per_step": [] if steps is None else [
                {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                for r in steps.to_dict(orient="records")],
            "hta_overlap_pct": hta_comm_overlap_pct(run) if has_comm else None}

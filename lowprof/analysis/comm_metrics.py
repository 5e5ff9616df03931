"""Metric of the communication kernels (:mod:`lowprof.analysis.comm`): how much of their time overlaps
compute. Light: the analysis is imported when the figure is computed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lowprof.analysis.metric import Metric, metric

if TYPE_CHECKING:
    from lowprof.rundir import Run

__all__ = ["metrics"]


@metric("comm_overlap_share", "", "higher",
        "median per pass of the share of communication-kernel (NCCL/RCCL) time during which a compute kernel ran "
        "(HTA's get_comm_comp_overlap; lowprof.analysis.comm); none without communication kernels")
def comm_overlap_share(run: Run):
    from lowprof.analysis.comm import comm_overlap
    from lowprof.rundir.specs.launches import is_warmup

    if "launches" not in run.tables or not len(run["launches"]):
        return None
    per = comm_overlap(run["launches"])
    per = per[per["overlap_pct"].notna() & ~per["step"].map(is_warmup)]
    named = per[per["step"] != "(no step)"]
    per = named if len(named) else per
    return float(per["overlap_pct"].astype(float).median()) / 100 if len(per) else None


def metrics() -> tuple[Metric, ...]:
    return (comm_overlap_share,)

"""Metric of a ``lowprof bench gpu`` / ``bench host`` run: every figure of its ``bench_results`` table (median
over repeats), in its own unit, with the direction its unit implies (:func:`bench_direction`). Light:
standard library only."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from lowprof.analysis.metric import Metric, metric

if TYPE_CHECKING:
    from lowprof.rundir import Run

__all__ = ["metrics", "bench_direction"]

_TIME_UNITS = {"ns", "us", "µs", "ms", "s", "cycles", "cycle", "clk"}


def bench_direction(unit: str) -> str:
    """``lower`` for a time or cycle count, ``higher`` for a rate (``/s``, ``/cycle``), else ``""``."""
    u = str(unit).strip()
    if u in _TIME_UNITS or u.startswith("cycles"):
        return "lower"
    if "/s" in u or "/cycle" in u or u.endswith("ps"):
        return "higher"
    return ""


@metric("microbench", "", "",
        "each figure of `lowprof bench gpu/host` (bench_results: median over repeats), in its own unit, "
        "named by benchmark and figure; time-like units are better lower, rates higher")
def microbench(run: Run):
    if "bench_results" not in run.tables or not len(run["bench_results"]):
        return None
    b = run["bench_results"]
    dup = b.duplicated(["benchmark", "metric"], keep=False)
    out = []
    for r, is_dup in zip(b.itertuples(index=False), dup):
        params = {"benchmark": r.benchmark, "figure": r.metric}
        if is_dup:  # the same figure at several points: name the point by its scalar parameters
            extra = json.loads(r.params_json or "{}")
            params |= {k: v for k, v in extra.items() if isinstance(v, (int, str)) and not isinstance(v, bool)}
        out.append((r.value, params, {"unit": r.unit, "better": bench_direction(r.unit)}))
    return out or None


def metrics() -> tuple[Metric, ...]:
    return (microbench,)

"""The ``microbench`` feature: the ``bench_results`` table and the ``lowprof report`` section for runs
recorded by ``lowprof bench gpu`` / ``bench host``: per benchmark its status, time and clocks, then every
figure that has a published reference, measured beside it; and its metric, every figure of the table."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from lowprof.feature import Feature
from lowprof.rundir.sections import owned_by
from lowprof.rundir.specs.bench import BENCH_RESULTS

if TYPE_CHECKING:
    from lowprof.analysis.metric import Metric

__all__ = ["section_microbench", "FEATURE"]


def _g4(v: float) -> str:
    """4 significant figures, never e-notation (a 10110 ns p95 is 10110, not 1.011e+04)."""
    import numpy as np

    return np.format_float_positional(float(v), precision=4, unique=False, fractional=False, trim="-")


def _num(v) -> bool:
    return v is not None and not (isinstance(v, float) and v != v)


def section_microbench(run) -> dict | None:
    """Key/value block; None for runs without a ``microbench`` manifest entry."""
    facts = run.manifest.get("microbench")
    if not facts:
        return None
    out: dict = {"suite": facts.get("suite")}
    if facts.get("gpu_name"):
        out["gpu"] = f"{facts['gpu_name']} (sm_{facts.get('compute_capability')}, {facts.get('sm_count')} SMs)"
    for name, e in (facts.get("benchmarks") or {}).items():
        clk = e.get("clocks") or {}
        hz = clk.get("sm_clock_hz_median")
        out[f"{name}"] = (f"{e.get('status')} in {e.get('elapsed_s', 0):.1f} s"
                          + (f", SM {hz / 1e6:.0f} MHz" if hz else "")
                          + (f", THROTTLED ({', '.join(clk.get('reasons', []))})" if clk.get("throttled") else "")
                          + (f": {e['error']}" if e.get("error") else ""))
    if "cupy_launch" in facts:
        out["cupy launch"] = facts["cupy_launch"]
    try:
        df = run["bench_results"]
    except KeyError:
        return out
    for r in df.itertuples():
        if facts.get("suite") != "host" and not _num(r.reference_value):
            continue
        params = json.loads(r.params_json or "{}")
        where = ", ".join(f"{k}={params[k]}" for k in ("footprint_bytes", "ilp", "warps", "size_bytes") if k in params)
        key = f"{r.benchmark} {r.metric}" + (f" [{where}]" if where else "")
        val = f"{_g4(r.value)} {r.unit}"
        if _num(r.p5):
            val += f" (p5-p95 {_g4(r.p5)}-{_g4(r.p95)})"
        if _num(r.reference_value):
            val += f"; reference {_g4(r.reference_value)} {r.reference_unit} ({r.reference_source})"
            differs = getattr(r, "reference_differs", None)
            if isinstance(differs, str) and differs:
                val += f"; method differs: {differs}"
        out[key] = val
    return out


def _metrics() -> tuple[Metric, ...]:
    """Every figure of the bench_results table (:mod:`lowprof.analysis.bench_metrics`)."""
    from lowprof.analysis import bench_metrics

    return bench_metrics.metrics()


FEATURE = Feature("microbench", "GPU and host micro-benchmarks of `lowprof bench gpu` / `bench host`",
                  tables=(BENCH_RESULTS,), manifest=owned_by("microbench"),
                  report=section_microbench, metrics=_metrics)

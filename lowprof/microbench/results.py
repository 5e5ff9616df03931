"""Rows of the ``bench_results`` table (declared in :mod:`lowprof.rundir.specs.bench`): one row per measured
figure, with its spread, the clocks seen while it was measured and the published reference beside it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from lowprof.microbench.references import lookup

__all__ = ["Result", "result_rows"]


@dataclass
class Result:
    """One measured figure before clocks and references are attached."""

    benchmark: str
    metric: str
    value: float
    unit: str
    p5: float | None = None
    p95: float | None = None
    samples: int = 1
    params: dict = field(default_factory=dict)
    sm_clock_hz: float | None = None  # the clock the figure was measured at, where the benchmark measured it

    @classmethod
    def from_summary(cls, benchmark: str, metric: str, s: dict, unit: str, scale: float = 1.0, **params) -> "Result":
        """From :func:`lowprof.microbench.stats.summarize` output, multiplied by ``scale``."""
        return cls(benchmark, metric, s["median"] * scale, unit, s["p5"] * scale, s["p95"] * scale, s["n"], params)


def result_rows(results: list[Result], gpu_name: str, clocks: dict | None = None, cc: str | None = None) -> list[dict]:
    """Table rows for ``results``: ``clocks`` is a :class:`lowprof.microbench.clockwatch.ClockWatch`
    summary for the benchmark that produced them (or None without NVML); ``cc`` the compute capability."""
    rows = []
    for r in results:
        ref = lookup(gpu_name, r.benchmark, r.metric, cc=cc)
        rows.append({
            "benchmark": r.benchmark, "metric": r.metric, "value": float(r.value), "unit": r.unit,
            "p5": r.p5, "p95": r.p95, "samples": int(r.samples),
            "params_json": json.dumps(r.params, sort_keys=True, default=str),
            "sm_clock_hz": r.sm_clock_hz if r.sm_clock_hz else (clocks.get("sm_clock_hz_median") if clocks else None),
            "throttled": bool(clocks.get("throttled")) if clocks else None,
            "throttle_reasons": ",".join(clocks.get("reasons", [])) if clocks else None,
            "reference_value": ref.value if ref else None,
            "reference_unit": ref.unit if ref else None,
            "reference_source": ref.source if ref else None,
            "reference_differs": ref.differs if ref else None,
        })
    return rows

"""The ``bench_results`` table: one row per measured figure, with its spread, the clocks seen while it
was measured and the published reference beside it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from lowprof.microbench.references import lookup
from lowprof.rundir import Column, TableSpec

__all__ = ["BENCH_RESULTS", "Result", "result_rows"]

BENCH_RESULTS = TableSpec(
    name="bench_results",
    version=2,
    doc=("one row per GPU microbenchmark figure (lowprof bench gpu / host): median over repeats with p5/p95, "
         "the SM clock and throttle reasons NVML reported during that benchmark, and the published reference"),
    columns=(
        Column("benchmark", "string", "", "suite member: launch, instr, regs, sched, smem, memory, h2d, host"),
        Column("metric", "string", "", "what was measured, e.g. 'latency FFMA', 'bandwidth triad'"),
        Column("value", "float64", "", "median over repeats, in `unit`"),
        Column("unit", "string", "", "unit of value, p5, p95 (cycles, ns, us, GB/s, thread-instr/cycle/SM, ...)"),
        Column("p5", "float64", "", "5th percentile over repeats, in `unit` (null: single measurement)"),
        Column("p95", "float64", "", "95th percentile over repeats, in `unit`"),
        Column("samples", "int64", "", "repeats behind value"),
        Column("params_json", "string", "", "parameters of this point as JSON (footprint_bytes, ilp, warps, ...)"),
        Column("sm_clock_hz", "float64", "Hz", "SM clock this figure was measured at: from clock64 against %globaltimer "
               "inside the timed kernels where the benchmark measures it (instr), else the median NVML read during "
               "this benchmark (null: neither)"),
        Column("throttled", "bool", "", "NVML reported a throttling clock-event reason during this benchmark"),
        Column("throttle_reasons", "string", "", "comma-separated reasons seen (lowprof.probes.nvml names)"),
        Column("reference_value", "float64", "", "published figure for this GPU and metric (null: none)"),
        Column("reference_unit", "string", "", "unit of reference_value"),
        Column("reference_source", "string", "", "where reference_value was published (references.json)"),
        Column("reference_differs", "string", "", "how the published method differs from this measurement "
               "(null: like for like, or no reference)"),
    ),
)


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

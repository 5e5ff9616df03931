"""Summaries of repeated measurements (median and spread) and the SM-cycle -> ns conversion."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lowprof.errors import LowprofError

__all__ = ["summarize", "cycles_to_ns"]


def summarize(samples: Sequence[float]) -> dict:
    """``{"n", "median", "p5", "p95", "min", "max", "spread"}`` of ``samples``; ``spread`` is (p95 - p5) /
    median (0 when the median is 0). Units are those of the samples."""
    a = np.asarray(samples, dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        raise LowprofError(f"no finite samples to summarise (got {len(samples)} values)")
    p5, med, p95 = np.percentile(a, [5, 50, 95])
    return {"n": int(a.size), "median": float(med), "p5": float(p5), "p95": float(p95),
            "min": float(a.min()), "max": float(a.max()),
            "spread": float((p95 - p5) / med) if med else 0.0}


def cycles_to_ns(cycles: float, sm_clock_hz: float) -> float:
    """SM clock cycles -> ns at the SM clock read (NVML) while the cycles were counted."""
    if not sm_clock_hz or sm_clock_hz <= 0:
        raise LowprofError(f"SM clock {sm_clock_hz!r} Hz cannot convert cycles to ns")
    return float(cycles) / float(sm_clock_hz) * 1e9

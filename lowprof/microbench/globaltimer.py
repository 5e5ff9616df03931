"""``%globaltimer``: the GPU's ns timer, how coarsely it ticks, and the two figures lowprof takes from it.

The PTX ISA documents ``%globaltimer`` as a 64-bit timer in ns, "for NVIDIA tools" and without a promised
resolution; on recent GPUs it advances in steps of ~0.3-1 µs (32 ns under some profilers). So lowprof
measures the step on the GPU it runs on (:func:`measure_tick`, kernel ``globaltimer_ticks`` in
``kernels/launch.cu``) and uses it to say what a stamp can resolve:

* gaps between kernels (:func:`gap_result`): every stamp is floored to a tick, so one gap is off by less
  than one tick either way. The distribution (median, p5, p95) is reported only where the tick is at most
  :data:`RESOLVED_FRACTION` of the mean gap; otherwise only the mean, which telescopes to
  (last - first) / (n - 1) and is off by less than tick / (n - 1).
* the SM clock a kernel ran at (:func:`kernel_clock`): clock64 cycles over %globaltimer ns of the same
  interval, summed over kernels; worst-case relative error n x tick / total ns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lowprof.microbench.results import Result
from lowprof.microbench.stats import summarize

__all__ = ["tick_from_reads", "measure_tick", "gap_result", "kernel_clock", "RESOLVED_FRACTION", "CLOCK_MAX_ERROR"]

RESOLVED_FRACTION = 0.1  # a gap distribution is reported where one tick <= 10 % of the mean gap
CLOCK_MAX_ERROR = 0.02   # cycles are converted to ns only with a clock known to within 2 %
TICK_VALUES = 256        # distinct timer values the tick kernel keeps
TICK_MAX_READS = 1 << 22  # reads before it gives up (a stuck timer)


def tick_from_reads(values: Sequence[int]) -> dict:
    """The timer's step from successive distinct reads (ns): ``{"tick_ns", "median_step_ns", "values"}``.

    ``tick_ns`` is the smallest step seen: the tick itself when a read is faster than a tick, else a multiple
    of it (then it overstates the tick, so what it is said to resolve is resolved). None below 2 values.
    """
    v = np.asarray(values, dtype=np.int64)
    steps = np.diff(v)
    steps = steps[steps > 0]
    if steps.size == 0:
        return {"tick_ns": None, "median_step_ns": None, "values": int(v.size)}
    return {"tick_ns": int(steps.min()), "median_step_ns": float(np.median(steps)), "values": int(v.size)}


def measure_tick(gpu) -> dict:
    """Run ``globaltimer_ticks`` on ``gpu`` (a :class:`lowprof.microbench.gpu.GpuSession`); see :func:`tick_from_reads`."""
    cp = gpu.cupy
    fn = gpu.module("launch").get_function("globaltimer_ticks")
    out = cp.zeros(TICK_VALUES + 1, dtype=cp.uint64)
    for _ in range(2):  # the first launch loads the module
        fn((1,), (1,), (out, np.int32(TICK_VALUES), np.int64(TICK_MAX_READS)))
        cp.cuda.runtime.deviceSynchronize()
    host = out.get()
    kept = int(host[TICK_VALUES])
    return tick_from_reads(host[:kept].astype(np.int64)) | {"kernel": "globaltimer_ticks"}


def gap_result(benchmark: str, metric: str, stamps_ns: Sequence[int], tick_ns: int | None, **params) -> Result:
    """Gaps between consecutive ``%globaltimer`` stamps (µs), reported as far as the tick resolves them."""
    s = np.asarray(stamps_ns, dtype=np.int64)
    gaps = np.diff(s) / 1e3
    mean = (int(s[-1]) - int(s[0])) / (s.size - 1) / 1e3
    params = {**params, "clock": "%globaltimer", "globaltimer_tick_ns": tick_ns}
    if tick_ns is not None and tick_ns / 1e3 <= RESOLVED_FRACTION * mean:
        return Result.from_summary(benchmark, metric, summarize(gaps), "us", statistic="median", **params)
    why = ("tick not measured" if tick_ns is None else
           f"a {tick_ns} ns tick is more than {RESOLVED_FRACTION:.0%} of the {mean * 1e3:.0f} ns mean gap")
    return Result(benchmark, metric, mean, "us", None, None, int(gaps.size),
                  {**params, "statistic": "mean = (last - first) / (n - 1)",
                   "error_max_us": None if tick_ns is None else tick_ns / 1e3 / gaps.size,
                   "distribution": f"not resolved: {why}"})


def kernel_clock(cycles: Sequence[int], ns: Sequence[int], tick_ns: int | None) -> dict:
    """SM clock (Hz) of kernels from clock64 ``cycles`` and %globaltimer ``ns`` over the same intervals.

    Returns ``{"hz", "kernels", "ns_total", "rel_error_max"}``: hz = sum(cycles) / sum(ns); each interval's
    ns is off by less than one tick, so the relative error is below kernels x tick / ns_total (None when the
    tick is unknown). The interval read by %globaltimer encloses the clock64 one by the two reads' cost.
    """
    c = np.asarray(cycles, dtype=np.float64)
    t = np.asarray(ns, dtype=np.float64)
    ok = (c > 0) & (t > 0)
    if not ok.any():
        return {"hz": None, "kernels": 0, "ns_total": 0, "rel_error_max": None}
    total = float(t[ok].sum())
    return {"hz": float(c[ok].sum() / total * 1e9), "kernels": int(ok.sum()), "ns_total": int(total),
            "rel_error_max": None if tick_ns is None else float(ok.sum() * tick_ns / total)}

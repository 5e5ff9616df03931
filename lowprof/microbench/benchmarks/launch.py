"""Launch: empty-kernel launch latency (launch -> completion, one at a time), the CPU cost of one launch
call, launch throughput over 10,000 back-to-back kernels on a stream and through a CUDA graph, and the
GPU-side gap between consecutive kernel starts (``%globaltimer`` stamps), reported as far as that timer's
tick (measured here, reported as ``globaltimer tick``) resolves it. Method after RRZE gpu-benches'
cuda-launch-latency; host times on ``time.perf_counter_ns`` (CLOCK_MONOTONIC), GPU stamps in ns of the
GPU's global timer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import time

from lowprof.microbench.results import Result

if TYPE_CHECKING:  # annotations only: numpy and pandas are imported inside the functions
    import numpy as np

NAME = "launch"
HELP = "empty-kernel launch latency and throughput (stream, CUDA graph), CPU cost per launch, GPU-side gap"
EXPECTED_S = 5.0  # 3,000 x ~10 us synchronous launches, 5 x 10,000 back-to-back, two 10,000-node graphs

BACK_TO_BACK = 10_000


def gpu_gaps_us(stamps_ns: np.ndarray) -> np.ndarray:
    """Gaps between consecutive kernel starts (µs) from ``%globaltimer`` stamps (ns), in launch order."""
    import numpy as np

    s = np.asarray(stamps_ns, dtype=np.int64)
    if s.size < 2:
        return np.empty(0)
    return np.diff(s) / 1e3


def measure(gpu, quick: bool = False) -> list[Result]:
    import numpy as np
    from lowprof.microbench.globaltimer import gap_result
    from lowprof.microbench.stats import summarize

    cp = gpu.cupy
    mod = gpu.module("launch")
    empty, stamp = mod.get_function("empty_kernel"), mod.get_function("stamp_start")
    n_lat = 300 if quick else 3000
    n_b2b = 1000 if quick else BACK_TO_BACK
    reps = 2 if quick else 5
    out: list[Result] = []
    tick = gpu.globaltimer_tick()
    tick_ns = tick["tick_ns"]
    if tick_ns:
        out.append(Result(NAME, "globaltimer tick", float(tick_ns), "ns", samples=tick["values"],
                          params={"median_step_ns": tick["median_step_ns"], "kernel": tick["kernel"]}))
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        for _ in range(200):  # warm: module load, first-launch setup
            empty((1,), (1,), ())
        stream.synchronize()
        lat = []
        for _ in range(n_lat):
            t0 = time.perf_counter_ns()
            empty((1,), (1,), ())
            stream.synchronize()
            lat.append(time.perf_counter_ns() - t0)
        out.append(Result.from_summary(NAME, "launch latency", summarize(lat), "us", 1e-3, launches=n_lat,
                                       path="CuPy RawKernel call + stream.synchronize()"))
        cpu = []
        for _ in range(n_lat // 100):
            for _ in range(100):
                t0 = time.perf_counter_ns()
                empty((1,), (1,), ())
                cpu.append(time.perf_counter_ns() - t0)
            stream.synchronize()
        out.append(Result.from_summary(NAME, "launch cpu cost", summarize(cpu), "us", 1e-3, launches=len(cpu),
                                       path="CuPy RawKernel call, no sync (queue kept shallow)"))
        per = []
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            for _ in range(n_b2b):
                empty((1,), (1,), ())
            stream.synchronize()
            per.append((time.perf_counter_ns() - t0) / n_b2b)
        out.append(Result.from_summary(NAME, "launch throughput stream", summarize(per), "us", 1e-3, launches=n_b2b))
        stamps = cp.zeros(n_b2b, dtype=cp.uint64)
        for i in range(n_b2b):
            stamp((1,), (32,), (stamps, np.int32(i)))
        stream.synchronize()
        out.append(gap_result(NAME, "gpu gap stream", stamps.get().astype(np.int64), tick_ns, launches=n_b2b))
        stream.begin_capture()
        for _ in range(n_b2b):
            empty((1,), (1,), ())
        graph = stream.end_capture()
        graph.upload(stream)
        graph.launch(stream)
        stream.synchronize()
        per = []
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            graph.launch(stream)
            stream.synchronize()
            per.append((time.perf_counter_ns() - t0) / n_b2b)
        out.append(Result.from_summary(NAME, "launch throughput graph", summarize(per), "us", 1e-3, kernels_per_graph=n_b2b))
        stream.begin_capture()
        for i in range(n_b2b):
            stamp((1,), (32,), (stamps, np.int32(i)))
        graph = stream.end_capture()
        graph.launch(stream)
        stream.synchronize()
        out.append(gap_result(NAME, "gpu gap graph", stamps.get().astype(np.int64), tick_ns, kernels_per_graph=n_b2b))
    return out

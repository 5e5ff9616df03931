"""Instruction latency and throughput: dependent chains timed with ``clock64`` (Jia et al. 2018).

Latency: one warp, one chain: cycles per instruction = (end - start) / steps. Throughput: W warps x ILP
chains in one block on one SM: thread-instructions per cycle per SM = W * 32 * ILP * steps / (latest end -
earliest start). Cycles are SM cycles. The clock they ran at is measured inside the same kernels: warp 0's
clock64 cycles over its %globaltimer ns, summed over every timed launch of the op
(:func:`lowprof.microbench.globaltimer.kernel_clock`); ns are reported only where that clock is known to
within 2 % (%globaltimer's tick bounds it). NVML's reading before the kernels is kept for comparison only:
an idle GPU reads its idle clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lowprof.microbench.results import Result

if TYPE_CHECKING:  # annotations only: numpy and pandas are imported inside the functions
    import numpy as np
    import pandas as pd

NAME = "instr"
HELP = "FFMA, IMAD, HFMA2, MUFU.EX2, DFMA latency (dependent chains) and ILP x TLP throughput tables"
EXPECTED_S = 10.0  # 5 ops x (4 ILP x 6 warp counts + latency) launches, each < 10 ms, x 5 repeats, + NVRTC

OPS = {"ffma": ("FFMA", "float32"), "imad": ("IMAD", "int32"), "hfma2": ("HFMA2", "uint32"),
       "ex2": ("EX2", "float32"), "dfma": ("DFMA", "float64")}
ILPS = (1, 2, 4, 8)
WARPS = (1, 2, 4, 8, 16, 32)
UNROLL = 32  # kernels/instr.cu default


def chain_latency_cycles(stamps: np.ndarray, steps: int) -> float:
    """Cycles per dependent instruction from one warp's (start, end) stamps."""
    t0, t1 = int(stamps[0]), int(stamps[1])
    return (t1 - t0) / steps


def throughput_per_sm(stamps: np.ndarray, warps: int, ilp: int, steps: int) -> float:
    """Thread-instructions per cycle on one SM from per-warp (start, end) stamps of one block."""
    import numpy as np

    s = np.asarray(stamps, dtype=np.int64).reshape(-1, 2)[:warps]
    span = int(s[:, 1].max() - s[:, 0].min())
    return warps * 32 * ilp * steps / span


def ilp_tlp_table(rows: list[dict]) -> pd.DataFrame:
    """``rows`` of {op, ilp, warps, per_sm}: one table per op, warps down, ILP across (median cell value)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    return df.pivot_table(index=["op", "warps"], columns="ilp", values="per_sm", aggfunc="median")


def measure(gpu, quick: bool = False) -> list[Result]:
    import numpy as np
    from lowprof.microbench.globaltimer import CLOCK_MAX_ERROR, kernel_clock
    from lowprof.microbench.stats import cycles_to_ns, summarize

    cp = gpu.cupy
    mod = gpu.module("instr")
    iters = 64 if quick else 1024  # ~66k FFMA-latency cycles: 33 µs, 33 ticks of a 1 µs %globaltimer
    steps = iters * UNROLL
    reps = 2 if quick else 5
    out: list[Result] = []
    tick = gpu.globaltimer_tick().get("tick_ns")
    nvml_hz = gpu.sm_clock_hz()  # for comparison only
    for op, (label, dtype) in OPS.items():
        a, b, seed = _operands(cp, dtype)
        mine: list[Result] = []
        latency, clk_cycles, clk_ns = [], [], []
        for ilp in ILPS:
            fn = mod.get_function(f"{op}_ilp{ilp}")
            for warps in WARPS:
                sink = cp.zeros(warps * 32, dtype=dtype)
                stamps = cp.zeros(2 * warps, dtype=cp.int64)
                gstamps = cp.zeros(2 * warps, dtype=cp.uint64)
                args = (sink, stamps, gstamps, np.int32(iters), a, b, seed)
                fn((1,), (warps * 32,), args)  # warm
                vals = []
                for _ in range(reps):
                    fn((1,), (warps * 32,), args)
                    cp.cuda.runtime.deviceSynchronize()
                    st, gt = stamps.get(), gstamps.get().astype(np.int64)
                    vals.append(throughput_per_sm(st, warps, ilp, steps))
                    clk_cycles.append(int(st[1]) - int(st[0]))
                    clk_ns.append(int(gt[1]) - int(gt[0]))
                    if warps == 1 and ilp == 1:
                        latency.append(chain_latency_cycles(st, steps))
                mine.append(Result.from_summary(NAME, f"throughput {label}", summarize(vals), "thread-instr/cycle/SM",
                                                ilp=ilp, warps=warps, steps=steps))
        clock = kernel_clock(clk_cycles, clk_ns, tick)
        hz = clock["hz"]
        lat = summarize(latency)
        mine.append(Result.from_summary(NAME, f"latency {label}", lat, "cycles", steps=steps))
        err = clock["rel_error_max"]
        if hz:
            mine.append(Result(NAME, f"sm clock {label}", hz / 1e6, "MHz", samples=clock["kernels"],
                               params={"from": "clock64 cycles / %globaltimer ns inside the timed kernels (warp 0)",
                                       "rel_error_max": err, "globaltimer_tick_ns": tick,
                                       "ns_total": clock["ns_total"], "nvml_sm_clock_hz_before": nvml_hz}))
        if hz and err is not None and err <= CLOCK_MAX_ERROR:  # an unknown tick bounds nothing
            mine.append(Result.from_summary(NAME, f"latency {label} ns", lat, "ns", cycles_to_ns(1, hz),
                                            clock_rel_error_max=err))
        peak = max((r for r in mine if r.metric == f"throughput {label}"), key=lambda r: r.value)
        mine.append(Result(NAME, f"throughput peak {label}", peak.value, peak.unit, peak.p5, peak.p95, peak.samples,
                           dict(peak.params)))
        for r in mine:
            r.sm_clock_hz = hz
        out += mine
    return out


def _operands(cp, dtype: str):
    import numpy as np

    if dtype == "float32":
        return np.float32(1.0), np.float32(0.0), np.float32(0.5)
    if dtype == "float64":
        return np.float64(1.0), np.float64(0.0), np.float64(0.5)
    if dtype == "int32":
        return np.int32(1), np.int32(0), np.int32(3)
    return np.uint32(0x3C003C00), np.uint32(0), np.uint32(0x3C003C00)  # half2 (1.0, 1.0); b = +0

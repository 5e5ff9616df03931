"""Instruction latency and throughput: dependent chains timed with ``clock64`` (Jia et al. 2018).

Latency: one warp, one chain: cycles per instruction = (end - start) / steps. Throughput: W warps x ILP
chains in one block on one SM: thread-instructions per cycle per SM = W * 32 * ILP * steps / (latest end -
earliest start). Cycles are SM cycles; ns use the SM clock NVML read during the run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lowprof.microbench.results import Result
from lowprof.microbench.stats import cycles_to_ns, summarize

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
    s = np.asarray(stamps, dtype=np.int64).reshape(-1, 2)[:warps]
    span = int(s[:, 1].max() - s[:, 0].min())
    return warps * 32 * ilp * steps / span


def ilp_tlp_table(rows: list[dict]) -> pd.DataFrame:
    """``rows`` of {op, ilp, warps, per_sm}: one table per op, warps down, ILP across (median cell value)."""
    df = pd.DataFrame(rows)
    return df.pivot_table(index=["op", "warps"], columns="ilp", values="per_sm", aggfunc="median")


def run(gpu, quick: bool = False) -> list[Result]:
    cp = gpu.cupy
    mod = gpu.module("instr")
    iters = 64 if quick else 256
    steps = iters * UNROLL
    reps = 2 if quick else 5
    out: list[Result] = []
    cells = []
    sm_hz = gpu.sm_clock_hz()
    for op, (label, dtype) in OPS.items():
        a, b, seed = _operands(cp, dtype)
        for ilp in ILPS:
            fn = mod.get_function(f"{op}_ilp{ilp}")
            for warps in WARPS:
                sink = cp.zeros(warps * 32, dtype=dtype)
                stamps = cp.zeros(2 * warps, dtype=cp.int64)
                fn((1,), (warps * 32,), (sink, stamps, np.int32(iters), a, b, seed))  # warm
                vals = []
                for _ in range(reps):
                    fn((1,), (warps * 32,), (sink, stamps, np.int32(iters), a, b, seed))
                    cp.cuda.runtime.deviceSynchronize()
                    st = stamps.get()
                    vals.append(throughput_per_sm(st, warps, ilp, steps))
                    if warps == 1 and ilp == 1:
                        cells.append({"op": label, "latency": chain_latency_cycles(st, steps)})
                s = summarize(vals)
                out.append(Result.from_summary(NAME, f"throughput {label}", s, "thread-instr/cycle/SM",
                                               ilp=ilp, warps=warps, steps=steps))
        lat = summarize([c["latency"] for c in cells if c["op"] == label])
        out.append(Result.from_summary(NAME, f"latency {label}", lat, "cycles", steps=steps))
        if sm_hz:
            out.append(Result.from_summary(NAME, f"latency {label} ns", lat, "ns", cycles_to_ns(1, sm_hz),
                                           sm_clock_hz=sm_hz))
        peak = max((r for r in out if r.metric == f"throughput {label}"), key=lambda r: r.value)
        out.append(Result(NAME, f"throughput peak {label}", peak.value, peak.unit, peak.p5, peak.p95, peak.samples,
                          dict(peak.params)))
    return out


def _operands(cp, dtype: str):
    if dtype == "float32":
        return np.float32(1.0), np.float32(0.0), np.float32(0.5)
    if dtype == "float64":
        return np.float64(1.0), np.float64(0.0), np.float64(0.5)
    if dtype == "int32":
        return np.int32(1), np.int32(0), np.int32(3)
    return np.uint32(0x3C003C00), np.uint32(0), np.uint32(0x3C003C00)  # half2 (1.0, 1.0); b = +0

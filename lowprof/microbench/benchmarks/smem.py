"""Shared memory: bank-conflict cost vs stride (1..32-way) and load-to-use latency, from a dependent
chase where each lane's next word is ``32 * stride`` words on (kernels/smem.cu). With 32 banks of 4 B, a
warp whose 32 lanes read words ``t * stride`` hits ``gcd(stride, 32)`` distinct words per bank."""

from __future__ import annotations

import math

from lowprof.microbench.results import Result

NAME = "smem"
HELP = "shared-memory latency and bank-conflict cost vs stride (1..32-way)"
EXPECTED_S = 2.0

SMEM_WORDS = 8192  # kernels/smem.cu
STRIDES = (0, 1, 2, 3, 4, 8, 16, 32)


def ways(stride_words: int, lanes: int = 32, banks: int = 32, words: int = SMEM_WORDS) -> int:
    """Most distinct words any one bank must serve when lanes 0..lanes-1 read word ``(t * stride) mod
    words`` (same word in a bank = broadcast, one pass)."""
    per_bank: dict[int, set[int]] = {}
    for t in range(lanes):
        w = (t * stride_words) % words
        per_bank.setdefault(w % banks, set()).add(w)
    return max(len(v) for v in per_bank.values())


def expected_ways(stride_words: int) -> int:
    """Closed form for 32 lanes, 32 banks: gcd(stride, 32) (stride 0 is a broadcast: 1)."""
    return 1 if stride_words == 0 else math.gcd(stride_words, 32)


def measure(gpu, quick: bool = False) -> list[Result]:
    import numpy as np
    from lowprof.microbench.stats import summarize

    cp = gpu.cupy
    fn = gpu.module("smem").get_function("smem_chase")
    steps = 256 if quick else 4096
    reps = 3 if quick else 11
    cycles = cp.zeros(1, dtype=cp.int64)
    sink = cp.zeros(32, dtype=cp.uint32)
    out: list[Result] = []

    def measure(stride: int, lanes: int) -> dict:
        vals = []
        for _ in range(reps):
            fn((1,), (32,), (cycles, sink, np.int32(stride), np.int32(steps), np.int32(lanes)))
            cp.cuda.runtime.deviceSynchronize()
            vals.append(int(cycles.get()[0]) / steps)
        return summarize(vals)

    base = measure(1, 1)
    out.append(Result.from_summary(NAME, "latency", base, "cycles", lanes=1, steps=steps))
    per_stride = []
    for stride in STRIDES:
        s = measure(stride, 32)
        per_stride.append((ways(stride), s["median"]))
        out.append(Result.from_summary(NAME, "cycles per access", s, "cycles", stride_words=stride,
                                       ways_expected=ways(stride), steps=steps))
    fit = conflict_fit(per_stride)
    out.append(Result(NAME, "cycles per extra way", fit["slope"], "cycles", samples=len(per_stride),
                      params={"intercept_cycles": fit["intercept"], "method": "least squares of cycles per access "
                              "on expected ways over the strides"}))
    return out


def conflict_fit(points: list[tuple[int, float]]) -> dict:
    """Least-squares line through (ways, cycles per access): slope = cycles each extra way adds."""
    import numpy as np

    w = np.array([p[0] for p in points], dtype=float)
    c = np.array([p[1] for p in points], dtype=float)
    slope, intercept = np.polyfit(w, c, 1)
    return {"slope": float(slope), "intercept": float(intercept)}

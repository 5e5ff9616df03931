"""Scheduler / sub-core: per-warp SM-clock stamps, hardware warp slot (%warpid) and SM (%smid) for blocks
of 1..16 warps, each warp running 4 independent dependent FFMA chains. Warps with equal %warpid mod 4 share
a sub-core (Huerta et al. 2025); as a sub-core's warp count grows, each of its warps slows, while warps on
other sub-cores do not. Issue order is the order of start stamps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lowprof.microbench.results import Result

if TYPE_CHECKING:  # annotations only: numpy and pandas are imported inside the functions
    import numpy as np
    import pandas as pd

NAME = "sched"
HELP = "warp -> sub-core mapping (%warpid mod 4), per-warp cycles vs warps sharing a sub-core, issue order"
EXPECTED_S = 3.0

WARP_COUNTS = (1, 2, 4, 5, 8, 16)
FFMA_PER_ITER = 64  # kernels/sched.cu: 16 x 4 chains


def warp_table(stamps: np.ndarray, ids: np.ndarray) -> pd.DataFrame:
    """One row per warp of a block: warp (index in block), hw_warpid, smid, subcore (hw_warpid % 4),
    start/end stamps (SM cycles), cycles, issue_rank (0 = first to start), sharing (warps on its sub-core)."""
    import numpy as np
    import pandas as pd

    s = np.asarray(stamps, dtype=np.int64).reshape(-1, 2)
    i = np.asarray(ids, dtype=np.int64).reshape(-1, 2)
    df = pd.DataFrame({"warp": np.arange(len(s)), "hw_warpid": i[:, 0], "smid": i[:, 1],
                       "start": s[:, 0], "end": s[:, 1]})
    df["subcore"] = df.hw_warpid % 4
    df["cycles"] = df.end - df.start
    df["issue_rank"] = df.start.rank(method="first").astype(int) - 1
    df["sharing"] = df.groupby(["smid", "subcore"]).warp.transform("size")
    return df


def subcore_summary(df: pd.DataFrame) -> dict:
    """Does warp index mod 4 equal %warpid mod 4 (the documented mapping for warps of one block), and how
    much longer do warps take per extra warp on their sub-core (cycles by ``sharing``)."""
    match = float(((df.warp % 4) == df.subcore).mean())
    by_sharing = df.groupby("sharing").cycles.median().to_dict()
    return {"warp_mod4_is_subcore": match, "median_cycles_by_sharing": {int(k): float(v) for k, v in by_sharing.items()}}


def measure(gpu, quick: bool = False) -> list[Result]:
    import numpy as np
    import pandas as pd
    from lowprof.microbench.stats import summarize

    cp = gpu.cupy
    fn = gpu.module("sched").get_function("warp_stamps")
    iters = 32 if quick else 256
    reps = 2 if quick else 5
    out: list[Result] = []
    for warps in WARP_COUNTS:
        stamps = cp.zeros(2 * warps, dtype=cp.int64)
        ids = cp.zeros(2 * warps, dtype=cp.uint32)
        sink = cp.zeros(32 * warps, dtype=cp.float32)
        tables = []
        for _ in range(reps + 1):
            fn((1,), (32 * warps,), (stamps, ids, sink, np.int32(iters), np.float32(1.0), np.float32(0.0)))
            cp.cuda.runtime.deviceSynchronize()
            tables.append(warp_table(stamps.get(), ids.get()))
        df = pd.concat(tables[1:])
        summ = subcore_summary(df)
        out.append(Result(NAME, "sub-core = warpid mod 4", summ["warp_mod4_is_subcore"], "fraction",
                          samples=len(df), params={"warps": warps}))
        for sharing, cyc in summ["median_cycles_by_sharing"].items():
            per = df[df.sharing == sharing].cycles / (iters * FFMA_PER_ITER)
            out.append(Result.from_summary(NAME, "cycles per FFMA per warp", summarize(per), "cycles",
                                           warps=warps, warps_on_subcore=sharing))
        order = tables[-1].sort_values("issue_rank")
        out.append(Result(NAME, "issue order", float(order.warp.iloc[0]), "first warp", samples=1,
                          params={"warps": warps, "order": order.warp.tolist(),
                                  "hw_warpid": order.hw_warpid.tolist(),
                                  "start_offset_cycles": (order.start - order.start.min()).tolist()}))
    return out

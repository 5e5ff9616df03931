"""Memory hierarchy: pointer-chase latency vs footprint (p50 / p95 of per-load SM-cycle stamps, and the
mean from an unstamped pass as gpu-benches reports it), the same with one slot per 2 MiB page as a GPU-TLB
control, the levels (L1, L2 near/far, DRAM) found in the curve, and read / write / copy / triad bandwidth
vs footprint (CUDA events, bytes moved / s)."""

from __future__ import annotations

from lowprof.microbench.results import Result

NAME = "memory"
HELP = "pointer-chase latency vs footprint (L1, L2 near/far, HBM) with a page-stride control; bandwidth vs footprint"
EXPECTED_S = 45.0  # latency: 35 footprints, ~2M warm loads + 4k timed per repeat (~1 s), x 3; page stride;
# host-side list building ~10 s; bandwidth: 11 sizes x 4 kernels x 10 repeats (< 1 s per GiB at 3 TB/s)

LINE = 128          # B between chase slots: one slot per L1/L2 line
PAGE = 2 << 20      # B between slots in the page-stride control
SAMPLES = 2048      # kernels/memory.cu MAX_SAMPLES
WARM_MAX_SLOTS = 1 << 20  # warm the whole list up to 128 MiB of lines; beyond, DRAM is cold anyway
BW_KINDS = {"read": (1, 0), "write": (0, 1), "copy": (1, 1), "triad": (2, 1)}  # (arrays read, written)


def bytes_moved(kind: str, array_bytes: int) -> int:
    """Bytes a bandwidth kernel moves over ``array_bytes``-byte arrays (reads + writes; no write-allocate)."""
    r, w = BW_KINDS[kind]
    return (r + w) * array_bytes


def latency_points(gpu, footprints: list[int], stride: int, reps: int) -> list[dict]:
    import numpy as np
    from lowprof.microbench.chase import build_chase
    from lowprof.microbench.stats import summarize

    cp = gpu.cupy
    fn = gpu.module("memory").get_function("chase_latency")
    lat = cp.zeros(SAMPLES, dtype=cp.uint32)
    total = cp.zeros(1, dtype=cp.int64)
    sink = cp.zeros(2, dtype=cp.uint64)
    rows = []
    for fp in footprints:
        slots = max(fp // stride, 2)
        words = build_chase(slots, stride, seed=slots)
        buf = cp.asarray(words)
        buf += cp.uint64(buf.data.ptr)  # offsets -> addresses (words between slots are never read)
        warm = slots if slots <= WARM_MAX_SLOTS else 0
        p50, p95, mean = [], [], []
        for _ in range(reps):
            fn((1,), (1,), (buf, np.int32(warm), np.int32(SAMPLES), lat, total, sink))
            cp.cuda.runtime.deviceSynchronize()
            per = lat.get().astype(float)
            p50.append(np.percentile(per, 50))
            p95.append(np.percentile(per, 95))
            mean.append(int(total.get()[0]) / SAMPLES)
        rows.append({"footprint_bytes": slots * stride, "slots": slots, "stride_bytes": stride,
                     "p50": summarize(p50), "p95": summarize(p95), "mean": summarize(mean)})
        del buf
    return rows


def bandwidth_points(gpu, array_bytes_list: list[int], reps: int) -> list[dict]:
    import numpy as np
    from lowprof.analysis.metric import bandwidth_gb_per_s
    from lowprof.microbench.stats import summarize

    cp = gpu.cupy
    mod = gpu.module("memory")
    fns = {k: mod.get_function(f"bw_{k}") for k in BW_KINDS}
    rows = []
    start, end = cp.cuda.Event(), cp.cuda.Event()
    for nbytes in array_bytes_list:
        n = nbytes // 16
        a = cp.ones(n * 4, dtype=cp.float32)
        b = cp.ones(n * 4, dtype=cp.float32)
        c = cp.ones(n * 4, dtype=cp.float32)
        blocks = min(max(n // 256, 1), gpu.sm_count * 8)
        args = {"read": (a, b, np.int64(n)), "write": (a, np.int64(n), np.float32(2.0)),
                "copy": (a, b, np.int64(n)), "triad": (a, b, c, np.int64(n), np.float32(3.0))}
        for kind, fn in fns.items():
            fn((blocks,), (256,), args[kind])
            vals = []
            for _ in range(reps):
                start.record()
                fn((blocks,), (256,), args[kind])
                end.record()
                end.synchronize()
                vals.append(bandwidth_gb_per_s(bytes_moved(kind, n * 16), cp.cuda.get_elapsed_time(start, end) * 1e-3))
            rows.append({"kind": kind, "array_bytes": n * 16, "gbps": summarize(vals)})
        del a, b, c
    return rows


def measure(gpu, quick: bool = False) -> list[Result]:
    from lowprof.analysis.metric import BANDWIDTH_UNIT
    from lowprof.microbench.chase import footprint_grid
    from lowprof.microbench.curve import curve_levels

    reps = 2 if quick else 3
    out: list[Result] = []
    fps = footprint_grid(4 << 10, (16 << 20) if quick else (512 << 20), per_octave=2)
    pts = latency_points(gpu, fps, LINE, reps)
    for p in pts:
        for stat in ("p50", "p95", "mean"):
            out.append(Result.from_summary(NAME, f"latency {stat}", p[stat], "cycles", footprint_bytes=p["footprint_bytes"],
                                           stride_bytes=LINE, samples_per_run=SAMPLES))
    levels = curve_levels([p["footprint_bytes"] for p in pts], [p["mean"]["median"] for p in pts])
    for lv in levels["levels"]:
        out.append(Result(NAME, f"latency {lv['name']}", lv["latency"], "cycles",
                          params={"first_bytes": lv["first_bytes"], "last_bytes": lv["last_bytes"], "from": "mean"}))
    for k in levels["knees"]:
        out.append(Result(NAME, f"knee {k['between']}", k["knee_bytes"], "B", params={}))
    pages = [PAGE * n for n in ((4, 16, 64) if quick else (4, 8, 16, 32, 64, 128, 256, 512))]
    for p in latency_points(gpu, pages, PAGE, reps):
        out.append(Result.from_summary(NAME, "latency page-stride p50", p["p50"], "cycles",
                                       footprint_bytes=p["footprint_bytes"], stride_bytes=PAGE, pages=p["slots"]))
    sizes = footprint_grid(1 << 20, (64 << 20) if quick else (1 << 30), per_octave=1)
    best: dict[str, Result] = {}
    for p in bandwidth_points(gpu, sizes, 3 if quick else 10):
        r = Result.from_summary(NAME, f"bandwidth {p['kind']}", p["gbps"], BANDWIDTH_UNIT, array_bytes=p["array_bytes"])
        out.append(r)
        if p["array_bytes"] >= (256 << 20) or quick:  # DRAM-resident: well past the 50 MiB L2
            if p["kind"] not in best or r.value > best[p["kind"]].value:
                best[p["kind"]] = r
    for kind, r in best.items():
        out.append(Result(NAME, f"bandwidth {kind} peak", r.value, r.unit, r.p5, r.p95, r.samples,
                          {**r.params, "note": "best DRAM-resident footprint (>= 256 MiB per array)"}))
    return out

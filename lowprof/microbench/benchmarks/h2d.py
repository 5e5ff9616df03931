"""Host <-> device copy bandwidth vs size (1 KiB .. 1 GiB), pinned and pageable host memory: H2D, D2H
and both at once on two streams. Times on CUDA events (GPU clock); GB/s = bytes / s / 1e9. This is the
figure that separates NVLink-C2C (GH200) from PCIe Gen5 hosts."""

from __future__ import annotations

from lowprof.microbench.results import Result

NAME = "h2d"
HELP = "H2D / D2H / bidirectional copy bandwidth vs size (1 KiB - 1 GiB), pinned and pageable"
EXPECTED_S = 15.0  # 11 sizes x 3 directions x 2 memories; 1 GiB pageable at ~20 GB/s = 50 ms x 6 copies

SIZES = tuple(1 << k for k in range(10, 31, 2))  # 1 KiB, 4 KiB, ..., 1 GiB


def reps_for(nbytes: int) -> int:
    """Repeats per point: many for small copies (latency-bound, noisy), few for large ones."""
    return 50 if nbytes <= (1 << 20) else 20 if nbytes <= (64 << 20) else 5


def measure(gpu, quick: bool = False) -> list[Result]:
    import numpy as np
    from lowprof.analysis.metric import BANDWIDTH_UNIT, bandwidth_gb_per_s
    from lowprof.microbench.stats import summarize

    cp = gpu.cupy
    from cupy_backends.cuda.api import runtime

    sizes = [s for s in SIZES if s <= ((64 << 20) if quick else (1 << 30))]
    big = sizes[-1]
    dev_a, dev_b = cp.empty(big, dtype=cp.uint8), cp.empty(big, dtype=cp.uint8)
    pinned = [cp.cuda.alloc_pinned_memory(big), cp.cuda.alloc_pinned_memory(big)]
    pageable = [np.ones(big, dtype=np.uint8), np.ones(big, dtype=np.uint8)]
    s1, s2 = cp.cuda.Stream(non_blocking=True), cp.cuda.Stream(non_blocking=True)
    out: list[Result] = []
    best: dict[str, Result] = {}
    for memory, hosts in (("pinned", [p.ptr for p in pinned]), ("pageable", [h.ctypes.data for h in pageable])):
        for size in sizes:
            reps = 2 if quick else reps_for(size)
            for direction in ("h2d", "d2h", "bidir"):
                vals = []
                for k in range(reps + 1):
                    e0, e1, e2 = cp.cuda.Event(), cp.cuda.Event(), cp.cuda.Event()
                    e0.record(s1)
                    s2.wait_event(e0)
                    if direction in ("h2d", "bidir"):
                        runtime.memcpyAsync(dev_a.data.ptr, hosts[0], size, runtime.memcpyHostToDevice, s1.ptr)
                    if direction in ("d2h", "bidir"):
                        st = s2 if direction == "bidir" else s1
                        runtime.memcpyAsync(hosts[1], dev_b.data.ptr, size, runtime.memcpyDeviceToHost, st.ptr)
                    e1.record(s1)
                    e2.record(s2)
                    e1.synchronize()
                    e2.synchronize()
                    ms = max(cp.cuda.get_elapsed_time(e0, e1), cp.cuda.get_elapsed_time(e0, e2))
                    moved = size * (2 if direction == "bidir" else 1)
                    if k:  # first is the warm-up
                        vals.append(bandwidth_gb_per_s(moved, ms * 1e-3))
                r = Result.from_summary(NAME, f"bandwidth {memory} {direction}", summarize(vals), BANDWIDTH_UNIT,
                                        size_bytes=size, memory=memory, direction=direction)
                out.append(r)
                key = f"{memory} {direction}"
                if key not in best or r.value > best[key].value:
                    best[key] = r
    for key, r in best.items():
        out.append(Result(NAME, f"bandwidth {key} peak", r.value, r.unit, r.p5, r.p95, r.samples, dict(r.params)))
    return out

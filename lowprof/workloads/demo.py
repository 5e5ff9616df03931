"""The demo workload: a few seconds of CPU work, then torch ops where torch is installed (on the GPU if any).

    python -m lowprof.workloads.demo [--seconds 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import threading
import time


def cpu_phase(seconds: float, threads: int) -> int:
    """Pure-Python arithmetic on ``threads`` threads plus a numpy matmul loop; returns iterations done."""
    import numpy as np

    stop = time.monotonic() + seconds
    done = [0]

    def spin() -> None:
        x = 0.0
        while time.monotonic() < stop:
            for i in range(10_000):
                x += math.sqrt(i)
            done[0] += 1

    workers = [threading.Thread(target=spin) for _ in range(max(0, threads - 1))]
    for t in workers:
        t.start()
    a = np.random.default_rng(0).standard_normal((256, 256))
    while time.monotonic() < stop:
        a = np.tanh(a @ a.T / 256)
        done[0] += 1
    for t in workers:
        t.join()
    return done[0]


def torch_phase(seconds: float) -> str:
    """Matmuls and elementwise ops with torch; returns the device used, or why torch was skipped."""
    try:
        import torch
    except ImportError:
        return "skipped (torch not installed)"
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    x = torch.randn(512, 512, device=dev)
    w = torch.randn(512, 512, device=dev)
    stop = time.monotonic() + seconds
    n = 0
    while time.monotonic() < stop:
        x = torch.nn.functional.gelu(x @ w) / 23.0
        n += 1
    if dev == "cuda":
        torch.cuda.synchronize()
    return f"{dev} ({n} iterations)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=2.0, help="length of each phase (s)")
    p.add_argument("--threads", type=int, default=2, help="threads in the CPU phase")
    a = p.parse_args(argv)
    t0 = time.monotonic()
    n = cpu_phase(a.seconds, a.threads)
    print(f"demo: cpu phase: {n} iterations in {time.monotonic() - t0:.2f} s", flush=True)
    t1 = time.monotonic()
    dev = torch_phase(a.seconds)
    print(f"demo: torch phase: {dev} in {time.monotonic() - t1:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

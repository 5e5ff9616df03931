"""pyperf worker script for ``lowprof bench host``: the CPU cost of dispatching one framework op.

Run by :mod:`lowprof.microbench.host`, which passes pyperf's options (``--output FILE``, ``-p``, ``-n``...);
pyperf re-runs this module in worker processes (``--worker``) and calibrates the loop count. Each time
function returns seconds (``time.perf_counter``) for ``loops`` calls; pyperf divides by ``loops``.
"""

from __future__ import annotations

import time

__all__ = ["main"]


def _noop() -> None:
    return None


def time_python_call(loops: int) -> float:
    """Baseline: an empty Python function call (the interpreter's share of any dispatch)."""
    f = _noop
    t0 = time.perf_counter()
    for _ in range(loops):
        f()
    return time.perf_counter() - t0


def time_torch_add(loops: int) -> float:
    """``a + b`` on 1-element CPU float32 tensors: Python binding, dispatcher, allocation of the result."""
    import torch

    a, b = torch.ones(1), torch.ones(1)
    t0 = time.perf_counter()
    for _ in range(loops):
        a + b
    return time.perf_counter() - t0


def time_torch_add_inplace(loops: int) -> float:
    """``a.add_(b)`` on 1-element CPU float32 tensors: dispatch without allocating a result."""
    import torch

    a, b = torch.zeros(1), torch.zeros(1)
    t0 = time.perf_counter()
    for _ in range(loops):
        a.add_(b)
    return time.perf_counter() - t0


_EMPTY = None


def time_cupy_launch(loops: int) -> float:
    """One CuPy RawKernel launch call of an empty kernel (CPU side only: the queue is drained every 256
    launches outside the timed region so it never applies back-pressure)."""
    import cupy

    global _EMPTY
    if _EMPTY is None:
        _EMPTY = cupy.RawKernel('extern "C" __global__ void empty_kernel() {}', "empty_kernel")
    k = _EMPTY
    k((1,), (1,), ())
    cupy.cuda.runtime.deviceSynchronize()
    total, done = 0.0, 0
    while done < loops:
        n = min(256, loops - done)
        t0 = time.perf_counter()
        for _ in range(n):
            k((1,), (1,), ())
        total += time.perf_counter() - t0
        cupy.cuda.runtime.deviceSynchronize()
        done += n
    return total


def cupy_reason() -> str | None:
    """None when a CuPy launch can be timed here, else why not."""
    from lowprof.microbench.gpu import gpu_unavailable_reason

    return gpu_unavailable_reason()


BENCHES = {
    "python call": time_python_call,
    "torch add": time_torch_add,
    "torch add_ in place": time_torch_add_inplace,
}


def main() -> None:
    import pyperf

    def forward(cmd, args):
        if args.only:
            cmd.extend(("--only", args.only))

    runner = pyperf.Runner(program_args=("-m", "lowprof.microbench.host_worker"), add_cmdline_args=forward)
    runner.argparser.add_argument("--only", default=None, help="comma-separated benchmark names to run")
    runner.metadata["description"] = "lowprof bench host: CPU cost of dispatching one framework op"
    args = runner.parse_args()
    benches = dict(BENCHES)
    if args.only:  # the parent's choice (lowprof.microbench.host passes it, having checked for a GPU once)
        benches["cupy launch"] = time_cupy_launch
    elif cupy_reason() is None:
        benches["cupy launch"] = time_cupy_launch
    if args.only:
        keep = [s.strip() for s in args.only.split(",")]
        benches = {k: v for k, v in benches.items() if k in keep}
    for name, fn in benches.items():
        runner.bench_time_func(name, fn)


if __name__ == "__main__":
    main()

"""A GPU modelled in Python, so a benchmark's host-side code (argument order, stamp reading, clock and unit
conversions) runs for real without one. CONSTRUCTED: the figures are those KINDS.md records for the lent
H200 (SM 345 MHz idle as NVML reads it before any kernel, 1980 MHz under load), a %globaltimer that
advances in 1 µs steps (the review's "~0.3-1 µs on recent GPUs"), and the CUDA Programming Guide's
cc 9.0 issue rates; latencies are Jia et al.'s (FFMA 4 cycles).

Only what lowprof's benchmarks call is modelled: ``cupy.zeros``/``.get``, ``RawModule.get_function`` for the
instr chains and the tick kernel, ``cuda.runtime.deviceSynchronize``.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from lowprof.microbench.gpu import GpuSession

LOAD_HZ, IDLE_HZ, TICK_NS = 1.98e9, 345e6, 1000
LATENCY = {"ffma": 4, "imad": 4, "hfma2": 4, "ex2": 18, "dfma": 8}        # cycles per dependent step
RATE = {"ffma": 128, "imad": 64, "hfma2": 128, "ex2": 16, "dfma": 64}     # thread-instr / cycle / SM
READ_NS = 40      # one %globaltimer read in the tick kernel's loop
GAP_NS = 5_000    # host launch + sync between two kernels


class _Array:
    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def get(self) -> np.ndarray:
        return self.a.copy()


class FakeGpu(GpuSession):
    """GpuSession's own methods over the model (``__init__`` replaced: no CuPy, no driver)."""

    def __init__(self, tick_ns: int = TICK_NS) -> None:
        self.now_ns = 1_700_000_000_000_000.0 + 123.4  # the GPU's true time, continuous
        self.cycles = 5_000_000  # SM clock64 counter
        self.tick_ns = tick_ns
        self.name, self.cc, self.sm_count = "NVIDIA H200", "90", 132
        self.nvml = SimpleNamespace()  # truthy: sm_clock_hz below answers like NVML before any kernel
        self._tick = None
        self.cupy = SimpleNamespace(
            int64=np.int64, uint64=np.uint64, float32=np.float32,
            zeros=lambda n, dtype=np.float64: _Array(np.zeros(n, dtype=dtype)),
            cuda=SimpleNamespace(runtime=SimpleNamespace(deviceSynchronize=lambda: None)))

    def sm_clock_hz(self) -> float:
        return IDLE_HZ

    def module(self, name: str, defines=None, maxrregcount=None):
        return SimpleNamespace(get_function=lambda fn: (lambda grid, block, args: self._run(fn, block, args)))

    def _globaltimer(self, t_ns: float) -> int:
        return int(t_ns // self.tick_ns * self.tick_ns)

    def _run(self, fn: str, block, args) -> None:
        self.now_ns += GAP_NS
        if fn == "globaltimer_ticks":
            out, n, max_reads = args[0].a, int(args[1]), int(args[2])
            last, kept, t = self._globaltimer(self.now_ns), 1, self.now_ns
            out[0] = last
            for _ in range(max_reads):
                if kept >= n:
                    break
                t += READ_NS
                g = self._globaltimer(t)
                if g != last:
                    out[kept], last, kept = g, g, kept + 1
            out[n] = kept
            self.now_ns = t
            return
        op, ilp = fn.split("_ilp")
        ilp = int(ilp)
        if len(args) == 7:
            _, stamps, gstamps, iters = args[:4]
        else:  # the kernel before it stamped %globaltimer
            (_, stamps, iters), gstamps = args[:3], None
        warps = block[0] // 32
        steps = int(iters) * 32
        cycles = int(max(LATENCY[op] * steps, warps * 32 * ilp * steps / RATE[op]))
        for w in range(warps):
            stamps.a[2 * w], stamps.a[2 * w + 1] = self.cycles + 2 * w, self.cycles + 2 * w + cycles
            if gstamps is not None:
                gstamps.a[2 * w] = self._globaltimer(self.now_ns - 15)
                gstamps.a[2 * w + 1] = self._globaltimer(self.now_ns + cycles / LOAD_HZ * 1e9 + 15)
        self.cycles += cycles + 200
        self.now_ns += cycles / LOAD_HZ * 1e9 + 30

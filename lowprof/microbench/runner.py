"""Run GPU benchmarks and record them: ``bench_results`` rows plus manifest facts (GPU, driver, clocks
seen per benchmark, compile options, expected and actual seconds). A benchmark that fails is recorded as
failed with its error and the others still run; rows already written stay."""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Callable

from lowprof.microbench.gpu import GpuSession
from lowprof.microbench.registry import benchmark
from lowprof.microbench.results import result_rows
from lowprof.rundir.specs.bench import BENCH_RESULTS
from lowprof.rundir import RunWriter

__all__ = ["record_gpu"]


def record_gpu(out: str | os.PathLike, names: list[str], *, quick: bool = False, force: bool = False,
               progress: Callable[[str], None] | None = None) -> tuple[Path, dict]:
    """Run ``names`` (registry order as given) on GPU 0 into the run directory ``out``."""
    gpu = GpuSession(0)  # raises GPUUnavailable before any directory is made
    from lowprof.inventory import gpu_facts, recording_facts

    writer = RunWriter(out, kind="bench", force=force)
    m = writer.manifest
    m.update(recording_facts())
    facts = {"suite": "gpu", "gpu_name": gpu.name, "compute_capability": gpu.cc, "sm_count": gpu.sm_count,
             "nvml": gpu_facts(), "nvml_reason": gpu.nvml_reason, "quick": quick, "benchmarks": {},
             "locked_clocks": False, "note": "clocks are observed (NVML), never set"}
    m["microbench"] = facts
    table = writer.table(BENCH_RESULTS)
    try:
        for name in names:
            mod = benchmark(name)
            if progress:
                progress(name)
            t0 = time.monotonic()
            entry = {"expected_s_h100": mod.EXPECTED_S, "status": "running"}
            facts["benchmarks"][name] = entry
            watch = gpu.watch()
            try:
                with watch:
                    results = mod.measure(gpu, quick=quick)
                table.extend(result_rows(results, gpu.name, watch.summary(), cc=gpu.cc))
                table.flush()
                entry.update(status="ok", rows=len(results))
            except Exception as e:  # noqa: BLE001 - record the failure, keep the other benchmarks
                entry.update(status="failed", error=f"{type(e).__name__}: {e}",
                             traceback=traceback.format_exc(limit=4))
            finally:
                entry["elapsed_s"] = round(time.monotonic() - t0, 3)
                entry["clocks"] = watch.summary()
                writer.save()
        facts["compile_options"] = gpu.compile_options
    finally:
        writer.finish()
    return writer.path, facts

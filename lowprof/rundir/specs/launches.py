"""The ``launches`` table: one row per GPU activity (kernel, memcpy, memset) with the CPU call that launched it.

Every source (Kineto JSON, Nsight Systems SQLite, live capture) writes this same table. Derived
quantities are computed by analysis, not stored:
  api_ns   = cpu_end_ns - cpu_start_ns     (launch API time on the CPU)
  queue_ns = gpu_start_ns - cpu_end_ns     (API end -> GPU start; may be negative under clock skew)
  t_l_ns   = gpu_start_ns - cpu_start_ns   (Vellaisamy et al., ISPASS 2025: launch + queuing time)

Its companions: ``ops`` and ``steps`` (an import or a live capture), ``api_calls`` (an import); and what a
step/pass annotation is (:data:`STEP_PATTERN`, :func:`is_warmup`), which every reader of them shares.
Written by :mod:`lowprof.tracers` (importer, kineto, nsys, live_convert).
"""

from __future__ import annotations

import re

from lowprof.rundir.spec import Column, TableSpec

__all__ = ["LAUNCHES", "OPS", "STEPS", "API_CALLS", "COMPANION_TABLES", "IMPORTED_TABLES", "STEP_PATTERN", "is_warmup",
           "LAUNCH_TIME_COLUMNS", "TIME_COLUMNS"]

# An annotation names a step/pass when it reads NAME#N (ProfilerStep#3, pass#3, warmup#1). Passes whose
# name starts with ``warmup`` are excluded from per-pass statistics and sweeps.
STEP_PATTERN = re.compile(r"^[A-Za-z_][\w.\-]*#\d+$")


def is_warmup(step: object) -> bool:
    """True for a warm-up pass annotation (``warmup#N``)."""
    return isinstance(step, str) and step.lower().startswith("warmup")


LAUNCHES = TableSpec(
    "launches", 1,
    (
        Column("kind", "string", "", "GPU activity: kernel, memcpy, memset; graph (nsys: one CUDA graph execution, "
               "--cuda-graph-trace=graph)"),
        Column("name", "string", "", "kernel name (demangled where the source gives it) or copy kind"),
        Column("device", "int32", "", "GPU index"),
        Column("stream", "int64", "", "stream id as the source numbers it"),
        Column("correlation", "int64", "", "id linking the GPU activity to its CPU launch call"),
        Column("launch_api", "string", "", "the CPU call: cudaLaunchKernel, cuLaunchKernelEx, cudaGraphLaunch, hipLaunchKernel, ... "
               "(nsys's version suffix removed)"),
        Column("cpu_start_ns", "int64", "ns", "launch call start on the CPU (run clock); null if the call was not traced"),
        Column("cpu_end_ns", "int64", "ns", "launch call end on the CPU (run clock)"),
        Column("gpu_start_ns", "int64", "ns", "activity start on the GPU (run clock)"),
        Column("gpu_end_ns", "int64", "ns", "activity end on the GPU (run clock)"),
        Column("pid", "int64", "", "process of the launching thread"),
        Column("tid", "int64", "", "launching thread"),
        Column("op", "string", "", "innermost enclosing framework op (e.g. aten::mm), if traced"),
        Column("op_start_ns", "int64", "ns", "start of that op on the CPU (run clock)"),
        Column("step", "string", "", "enclosing step/annotation (e.g. ProfilerStep#3), if any"),
        Column("grid_x", "int32", "", "grid size x"), Column("grid_y", "int32", "", "grid size y"),
        Column("grid_z", "int32", "", "grid size z"),
        Column("block_x", "int32", "", "block size x"), Column("block_y", "int32", "", "block size y"),
        Column("block_z", "int32", "", "block size z"),
        Column("registers_per_thread", "int32", "", "registers per thread"),
        Column("shared_memory_bytes", "int64", "B", "static + dynamic shared memory per block"),
        Column("bytes", "int64", "B", "bytes moved (memcpy) or set (memset)"),
        Column("launch_api_raw", "string", "", "the CPU call's name as the source wrote it (nsys: cudaLaunchKernel_v7000)"),
    ),
    doc="GPU activities with their launching CPU call (kernel launch and queuing time)",
)

# Companion tables an importer writes beside ``launches`` (CPU ops for the ATen-op start of inference
# latency and dispatch time; step/pass annotations).
OPS = TableSpec(
    "ops", 1,
    (
        Column("name", "string", "", "framework op (aten::mm, ...), as the trace names it"),
        Column("pid", "int64", "", "process"), Column("tid", "int64", "", "thread"),
        Column("start_ns", "int64", "ns", "op start on the CPU (run clock)"),
        Column("end_ns", "int64", "ns", "op end on the CPU (run clock)"),
        Column("external_id", "int64", "", "Kineto 'External id' (links launch calls to their op)"),
        Column("step", "string", "", "enclosing step/annotation, if any"),
    ),
    doc="CPU framework ops of an imported trace",
)

STEPS = TableSpec(
    "steps", 1,
    (
        Column("name", "string", "", "step/pass annotation: ProfilerStep#3, pass#3, warmup#1"),
        Column("pid", "int64", "", "process"), Column("tid", "int64", "", "thread"),
        Column("start_ns", "int64", "ns", "annotation start on the CPU (run clock)"),
        Column("end_ns", "int64", "ns", "annotation end on the CPU (run clock)"),
    ),
    doc="step/pass annotations (record_function ranges, NVTX ranges) that group launches",
)

API_CALLS = TableSpec(
    "api_calls", 1,
    (
        Column("name", "string", "", "the call, nsys's version suffix removed (cudaLaunchKernel_v7000 -> cudaLaunchKernel)"),
        Column("name_raw", "string", "", "the call's name as the source wrote it (nsys StringIds text)"),
        Column("pid", "int64", "", "process"), Column("tid", "int64", "", "thread"),
        Column("start_ns", "int64", "ns", "call start on the CPU (run clock)"),
        Column("end_ns", "int64", "ns", "call end on the CPU (run clock)"),
        Column("correlation", "int64", "", "id linking the call to the GPU activities it launched, if any"),
    ),
    doc="every CUDA/HIP runtime and driver API call of an imported trace (nsys CUPTI_ACTIVITY_KIND_RUNTIME, "
        "Kineto cuda_runtime/cuda_driver), launching or not: what `kernels --api` summarises",
)

COMPANION_TABLES = {"ops": OPS, "steps": STEPS}
# What `lowprof import` writes beside ``launches`` (live capture writes COMPANION_TABLES only).
IMPORTED_TABLES = COMPANION_TABLES | {"api_calls": API_CALLS}

# The times (ns, run clock) of the launches table, and of every table an import or a live capture writes
# (what moves when a trace's clock becomes the run clock): every column in ns of these tables is a time.
LAUNCH_TIME_COLUMNS = tuple(c.name for c in LAUNCHES.columns if c.unit == "ns")
TIME_COLUMNS = tuple(dict.fromkeys(c.name for spec in (LAUNCHES, *IMPORTED_TABLES.values())
                                   for c in spec.columns if c.unit == "ns"))

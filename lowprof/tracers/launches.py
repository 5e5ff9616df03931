"""The ``launches`` table: one row per GPU activity (kernel, memcpy, memset) with the CPU call that launched it.

Every source (Kineto JSON, Nsight Systems SQLite, live capture) writes this same table. Derived
quantities are computed by analysis, not stored:
  api_ns   = cpu_end_ns - cpu_start_ns     (launch API time on the CPU)
  queue_ns = gpu_start_ns - cpu_end_ns     (API end -> GPU start; may be negative under clock skew)
  t_l_ns   = gpu_start_ns - cpu_start_ns   (Vellaisamy et al., ISPASS 2025: launch + queuing time)
"""

from __future__ import annotations

from lowprof.rundir import Column, TableSpec

__all__ = ["LAUNCHES"]

LAUNCHES = TableSpec(
    "launches", 1,
    (
        Column("kind", "string", "", "GPU activity: kernel, memcpy, memset"),
        Column("name", "string", "", "kernel name (demangled where the source gives it) or copy kind"),
        Column("device", "int32", "", "GPU index"),
        Column("stream", "int64", "", "stream id as the source numbers it"),
        Column("correlation", "int64", "", "id linking the GPU activity to its CPU launch call"),
        Column("launch_api", "string", "", "the CPU call: cudaLaunchKernel, cuLaunchKernelEx, cudaGraphLaunch, hipLaunchKernel, ..."),
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
    ),
    doc="GPU activities with their launching CPU call (kernel launch and queuing time)",
)

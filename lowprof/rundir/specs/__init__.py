"""Every table a run directory can hold, declared once, by area; with the readers analysis shares.

===========  ==========================================================  ===============================
module       tables                                                      written by
===========  ==========================================================  ===============================
``host``     ``system``, ``system_cores``, ``rapl``, ``hwmon_power``      :mod:`lowprof.probes` (system,
                                                                         rapl, hwmon)
``nvml``     ``gpu_power``, ``gpu_processes`` (+ clock-event reasons)     :mod:`lowprof.probes.nvml`,
                                                                         ``power_logs``, ``nvml_record``
``launches`` ``launches``, ``ops``, ``steps``, ``api_calls``              :mod:`lowprof.tracers` (import,
                                                                         live capture)
``stacks``   ``pystacks``, ``pystack_samples``                            :mod:`lowprof.tracers` (pyspy,
                                                                         pystack_timeline)
``marks``    ``marks`` (from ``marks.jsonl``)                             :mod:`lowprof.marks`
``bench``    ``bench_results``, ``tlb``, ``allocator``                    :mod:`lowprof.microbench`,
                                                                         :mod:`lowprof.native`
===========  ==========================================================  ===============================

Recorders import the spec they write from here; :mod:`lowprof.analysis` imports the spec, and the
readers beside it, from here too, never the recorder. Every module is light (standard library only):
pandas is imported inside the readers that build frames.
"""

from __future__ import annotations

from lowprof.rundir.spec import TableSpec
from lowprof.rundir.specs import bench, host, launches, marks, nvml, stacks

__all__ = ["TABLES", "bench", "host", "launches", "marks", "nvml", "stacks"]

# Every spec, by area (a new table is added here, beside its area's module).
TABLES: tuple[TableSpec, ...] = (
    host.SYSTEM, host.CORES, host.RAPL, host.HWMON_POWER,
    nvml.GPU_POWER, nvml.GPU_PROCESSES,
    launches.LAUNCHES, launches.OPS, launches.STEPS, launches.API_CALLS,
    stacks.PYSTACKS, stacks.PYSTACK_SAMPLES,
    marks.MARKS,
    bench.BENCH_RESULTS, bench.TLB_TABLE, bench.ALLOCATOR,
)

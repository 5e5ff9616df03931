"""Tables of experiments: GPU and host microbenchmark figures (``lowprof bench gpu|host``,
:mod:`lowprof.microbench.results`), the TLB sweep (``lowprof bench tlb``, :mod:`lowprof.native.tlb_bench`) and
the oobmalloc counters of a workload run with it (``--allocator oob``, :mod:`lowprof.native.allocator`)."""

from __future__ import annotations

from lowprof.rundir.spec import Column, TableSpec

__all__ = ["BENCH_RESULTS", "TLB_TABLE", "ALLOCATOR"]

BENCH_RESULTS = TableSpec(
    name="bench_results",
    version=2,
    doc=("one row per GPU microbenchmark figure (lowprof bench gpu / host): median over repeats with p5/p95, "
         "the SM clock and throttle reasons NVML reported during that benchmark, and the published reference"),
    columns=(
        Column("benchmark", "string", "", "suite member: launch, instr, regs, sched, smem, memory, h2d, host"),
        Column("metric", "string", "", "what was measured, e.g. 'latency FFMA', 'bandwidth triad'"),
        Column("value", "float64", "", "median over repeats, in `unit`"),
        Column("unit", "string", "", "unit of value, p5, p95 (cycles, ns, us, GB/s, thread-instr/cycle/SM, ...)"),
        Column("p5", "float64", "", "5th percentile over repeats, in `unit` (null: single measurement)"),
        Column("p95", "float64", "", "95th percentile over repeats, in `unit`"),
        Column("samples", "int64", "", "repeats behind value"),
        Column("params_json", "string", "", "parameters of this point as JSON (footprint_bytes, ilp, warps, ...)"),
        Column("sm_clock_hz", "float64", "Hz", "SM clock this figure was measured at: from clock64 against %globaltimer "
               "inside the timed kernels where the benchmark measures it (instr), else the median NVML read during "
               "this benchmark (null: neither)"),
        Column("throttled", "bool", "", "NVML reported a throttling clock-event reason during this benchmark"),
        Column("throttle_reasons", "string", "", "comma-separated reasons seen (lowprof.probes.nvml names)"),
        Column("reference_value", "float64", "", "published figure for this GPU and metric (null: none)"),
        Column("reference_unit", "string", "", "unit of reference_value"),
        Column("reference_source", "string", "", "where reference_value was published (references.json)"),
        Column("reference_differs", "string", "", "how the published method differs from this measurement "
               "(null: like for like, or no reference)"),
    ),
)

TLB_TABLE = TableSpec(
    name="tlb",
    version=1,
    doc=("one row per (page size, working set): a dependent chase touching one 64 B line per page in random "
         "order, and the same number of lines packed densely in one 2 MiB page (cache-only); minima over passes"),
    columns=(
        Column("page_size_bytes", "int64", "B", "page size of the chased buffer (4096 or 2097152)"),
        Column("pages", "int64", "", "working set in pages = lines chased (one 64 B line per page)"),
        Column("working_set_bytes", "int64", "B", "pages * page_size_bytes (address span the TLB must map)"),
        Column("lines", "int64", "", "cache lines in the cycle (= pages)"),
        Column("accesses", "int64", "", "timed loads per measurement: max(2 * pages, 200000)"),
        Column("passes", "int64", "", "interleaved passes over the sweep; the minimum is kept"),
        Column("ns_per_access", "float64", "ns", "chase time per load, minimum over passes (CLOCK_MONOTONIC_RAW)"),
        Column("ns_per_access_median", "float64", "ns", "chase time per load, median over passes"),
        Column("cycles_per_access", "float64", "TSC cycles", "rdtscp ticks per load, minimum over passes"),
        Column("cache_only_ns", "float64", "ns", "same number of lines packed densely: cache-only ns per load"),
        Column("cache_only_cycles", "float64", "TSC cycles", "cache-only rdtscp ticks per load"),
        Column("extra_ns", "float64", "ns", "ns_per_access - cache_only_ns: address translation per load"),
        Column("extra_cycles", "float64", "TSC cycles", "cycles_per_access - cache_only_cycles"),
        Column("dtlb_misses_per_access", "float64", "", "perf dTLB-load-misses per load (null: perf unavailable)"),
    ),
)

ALLOCATOR = TableSpec(
    name="allocator",
    version=1,
    doc="oobmalloc counters at exit of each workload process that ran with it (LD_PRELOAD)",
    columns=(
        Column("pid", "int64", "", "process id"),
        Column("is_workload", "bool", "", "true for the process lowprof started, false for its children"),
        Column("in_use_bytes", "int64", "B", "usable bytes of objects still live at exit"),
        Column("active_bytes", "int64", "B", "bytes of 16 KiB pages held by slabs and large objects at exit"),
        Column("peak_active_bytes", "int64", "B", "high-water mark of active_bytes"),
        Column("mapped_bytes", "int64", "B", "bytes of the heap region made read/write (active + free-page pool)"),
        Column("meta_bytes", "int64", "B", "bytes of the out-of-band metadata region in use"),
        Column("purged_bytes", "int64", "B", "bytes of free pages returned to the kernel (madvise DONTNEED), total"),
        Column("fragmentation", "float64", "", "1 - in_use_bytes / active_bytes at exit"),
        Column("allocs", "int64", "", "allocations served"),
        Column("frees", "int64", "", "frees"),
        Column("remote_frees", "int64", "", "frees of objects another thread's heap owns"),
        Column("large_allocs", "int64", "", "allocations that took their own page span (> 32 KiB)"),
        Column("errors", "int64", "", "bad frees reported (OOBMALLOC_ON_ERROR=report; with abort, the process died)"),
        Column("heaps", "int64", "", "thread heaps created"),
    ),
)

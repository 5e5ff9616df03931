"""Host tables: CPU and memory (the ``system`` probe, :mod:`lowprof.probes.system`), CPU energy (``rapl``,
:mod:`lowprof.probes.rapl`) and hwmon power sensors (``hwmon``, :mod:`lowprof.probes.hwmon`)."""

from __future__ import annotations

from lowprof.rundir.spec import Column, TableSpec

__all__ = ["SYSTEM", "CORES", "RAPL", "HWMON_POWER"]

# /proc: one row per sample, and the per-core utilisation in long format.
SYSTEM = TableSpec(
    "system", 1,
    (
        Column("t_ns", "int64", "ns", "run clock at the read"),
        Column("cpu_percent", "float64", "%", "host CPU busy since the previous sample, mean over cores (0-100); "
               "quantised: the kernel counts CPU time in ticks of 1/CLK_TCK s (10 ms), so at intervals near or "
               "below that one sample reads 0 or 100 per core; the run's figure (manifest probes.system.host_cpu) "
               "comes from the cumulative counters instead"),
        Column("mem_used_bytes", "int64", "B", "host memory in use (total - available)"),
        Column("mem_available_bytes", "int64", "B", "host memory available without swapping"),
        Column("swap_used_bytes", "int64", "B", "host swap in use"),
        Column("proc_count", "int64", "", "processes in the workload's tree (0 without a workload)"),
        Column("proc_threads", "int64", "", "threads in the workload's tree"),
        Column("proc_rss_bytes", "int64", "B", "resident set size summed over the workload's tree"),
        Column("proc_cpu_user_s", "float64", "s", "user CPU time of the tree, cumulative, reaped children included"),
        Column("proc_cpu_system_s", "float64", "s", "system CPU time of the tree, cumulative, reaped children included"),
    ),
    doc="host and workload-process figures, one row per sample",
)

CORES = TableSpec(
    "system_cores", 1,
    (
        Column("t_ns", "int64", "ns", "run clock at the read"),
        Column("core", "int32", "", "logical CPU number"),
        Column("util_percent", "float64", "%", "busy share of this core since the previous sample (0-100); "
               "quantised by the kernel's 1/CLK_TCK s (10 ms) ticks, as cpu_percent"),
    ),
    doc="per-core CPU utilisation, long format (one row per core per sample)",
)

# powercap (Intel RAPL; AMD Zen exposes the same zones): one row per zone per sample.
RAPL = TableSpec(
    "rapl", 1,
    (
        Column("t_ns", "int64", "ns", "run clock at the read"),
        Column("zone", "string", "", "powercap zone directory, e.g. intel-rapl:0 or intel-rapl:0:2"),
        Column("domain", "string", "", "the zone's name file: package-0, core, uncore, dram, psys"),
        Column("energy_j", "float64", "J", "energy since the probe started, wrap-around removed"),
        Column("power_w", "float64", "W", "mean power since the previous sample (null on the first)"),
    ),
    doc="RAPL energy counters, one row per zone per sample",
)

# /sys/class/hwmon, including the GH200 / Grace power meters: one row per sensor per sample.
HWMON_POWER = TableSpec(
    "hwmon_power", 1,
    (
        Column("t_ns", "int64", "ns", "run clock at the read"),
        Column("sensor", "string", "", "hwmonN/[device/]file the value came from"),
        Column("chip", "string", "", "the hwmon device's name file (e.g. power_meter, amdgpu)"),
        Column("label", "string", "", "the sensor's label, or power1_oem_info on ACPI power meters (Grace)"),
        Column("power_w", "float64", "W", "power reading (powerK_input/average, µW / 1e6); null for energy sensors"),
        Column("energy_j", "float64", "J", "energy counter (energyK_input, µJ / 1e6); null for power sensors"),
    ),
    doc="hwmon power and energy sensors, one row per sensor per sample",
)

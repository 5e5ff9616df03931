"""GPU tables read through NVML (the ``nvml`` probe, :mod:`lowprof.probes.nvml`), and what the bits of their
``clock_event_reasons`` column mean."""

from __future__ import annotations

from lowprof.rundir.spec import Column, TableSpec

__all__ = ["GPU_POWER", "GPU_PROCESSES", "CLOCK_EVENT_REASONS", "THROTTLE_BITS", "decode_reasons"]

GPU_POWER = TableSpec(
    "gpu_power", 2,
    (
        Column("t_ns", "int64", "ns", "run clock just before this GPU was read"),
        Column("gpu", "int32", "", "NVML device index"),
        Column("power_w", "float64", "W", "board power as the driver reports it (FI_DEV_POWER_AVERAGE, else nvmlDeviceGetPowerUsage): "
               "a 1 s average on Ampere (except GA100) and newer, instantaneous before; per GPU in the manifest "
               "(probes.nvml.devices[].power_w)"),
        Column("power_instant_w", "float64", "W", "instantaneous board power (FI_DEV_POWER_INSTANT, field 186; null where refused)"),
        Column("energy_j", "float64", "J", "total-energy counter since the driver loaded (field 83, else nvmlDeviceGetTotalEnergyConsumption)"),
        Column("power_t_ns", "int64", "ns", "run clock of the driver's own timestamp of power_w (field value timestamp; null without one)"),
        Column("power_instant_t_ns", "int64", "ns", "run clock of the driver's own timestamp of power_instant_w"),
        Column("energy_t_ns", "int64", "ns", "run clock of the driver's own timestamp of energy_j"),
        Column("module_power_w", "float64", "W", "module power, 1 s average (field 185 at scopeId 1: GPU + Grace CPU + memory on GH200; null where not offered)"),
        Column("module_power_instant_w", "float64", "W", "instantaneous module power (field 186 at scopeId 1)"),
        Column("module_energy_j", "float64", "J", "module energy counter (field 191 at scopeId 1)"),
        Column("module_t_ns", "int64", "ns", "run clock of the driver's own timestamp of the first module field read "
               "(instantaneous, else average power, else energy)"),
        Column("module_power_t_ns", "int64", "ns", "run clock of the driver's own timestamp of module_power_w"),
        Column("module_power_instant_t_ns", "int64", "ns", "run clock of the driver's own timestamp of module_power_instant_w"),
        Column("module_energy_t_ns", "int64", "ns", "run clock of the driver's own timestamp of module_energy_j"),
        Column("power_limit_w", "float64", "W", "enforced power limit"),
        Column("sm_clock_hz", "float64", "Hz", "SM clock"),
        Column("mem_clock_hz", "float64", "Hz", "memory clock"),
        Column("gpu_util_percent", "float64", "%", "share of the last sample period a kernel ran (0-100)"),
        Column("mem_util_percent", "float64", "%", "share of the last sample period memory was read or written (0-100)"),
        Column("temperature_c", "float64", "degC", "GPU die temperature"),
        Column("clock_event_reasons", "int64", "", "nvmlClocksEventReason* bitmask (see lowprof.probes.nvml.CLOCK_EVENT_REASONS)"),
        Column("read_ns", "int64", "ns", "wall time the reads of this GPU took"),
    ),
    doc="NVML readings, one row per GPU per sample",
)

GPU_PROCESSES = TableSpec(
    "gpu_processes", 1,
    (
        Column("t_ns", "int64", "ns", "run clock at the read"),
        Column("gpu", "int32", "", "NVML device index"),
        Column("pid", "int64", "", "a process of the workload's tree holding a compute context on this GPU"),
        Column("used_memory_bytes", "int64", "B", "GPU memory that process uses (null where the driver hides it)"),
    ),
    doc="the workload's processes on each GPU (nvmlDeviceGetComputeRunningProcesses), read every 0.5 s",
)

# nvmlClocksEventReason* bits (NVML API reference, "Clock Event Reasons"); pynvml exports the same values.
CLOCK_EVENT_REASONS: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
# Reasons that lower the clocks below what the work asks for (idle and user-set clocks are not throttling).
THROTTLE_BITS = 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80


def decode_reasons(mask: int) -> list[str]:
    """Names of the bits set in a clock-event-reason bitmask (unknown bits as ``bit_0x...``).

    Example: ``decode_reasons(0x44) == ["sw_power_cap", "hw_thermal_slowdown"]``
    """
    out, mask = [], int(mask)
    bit = 1
    while mask >= bit:
        if mask & bit:
            out.append(CLOCK_EVENT_REASONS.get(bit, f"bit_{bit:#x}"))
        bit <<= 1
    return out

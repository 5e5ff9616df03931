"""The ``power`` feature: per-device power and energy figures ``lowprof report`` shows for a run with power
tables (``gpu_power``, ``rapl``, ``hwmon_power``: the nvml, rapl and hwmon probes, or an imported power log).

A declaration, light to import; the analysis is :mod:`lowprof.analysis.power` (pandas), imported when a
report is made, and its metrics :mod:`lowprof.analysis.power_metrics`, imported when listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lowprof.feature import Feature

if TYPE_CHECKING:
    from lowprof.analysis.metric import Metric

__all__ = ["FEATURE"]


def report(run, signal: str = "auto", devices: str | None = None) -> dict | None:
    """``lowprof report``'s power block on the GPU power ``signal`` (auto, instant, average): per device (only
    those ``devices`` selects, default every one), then the energy per pass and per marked phase summed over
    ``devices`` (default auto: the GPUs, else the CPU packages, else all; lowprof.analysis.devices); None
    without power tables."""
    from lowprof.analysis.power import section_power
    from lowprof.analysis.power_metrics import energy_sums

    out = section_power(run, signal=signal, devices=devices)
    return None if out is None else (out | energy_sums(run, signal, devices)) or None


def metrics() -> tuple[Metric, ...]:
    """Mean and p99 power, energy per device, per pass and per marked phase."""
    from lowprof.analysis import power_metrics

    return power_metrics.metrics()


FEATURE = Feature("power", "power and energy per device: distribution, peak, energy, headroom, throttling",
                  report=report, metrics=metrics)

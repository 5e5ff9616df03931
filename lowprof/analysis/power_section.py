"""The ``power`` feature: per-device power and energy figures ``lowprof report`` shows for a run with power
tables (``gpu_power``, ``rapl``, ``hwmon_power``: the nvml, rapl and hwmon probes, or an imported power log).

A declaration, light to import; the analysis is :mod:`lowprof.analysis.power` (pandas), imported when a
report is made.
"""

from __future__ import annotations

from lowprof.feature import Feature

__all__ = ["FEATURE"]


def report(run, signal: str = "auto") -> dict | None:
    """``lowprof report``'s power block on the GPU power ``signal`` (auto, instant, average); None without
    power tables."""
    from lowprof.analysis.power import section_power

    return section_power(run, signal=signal)


FEATURE = Feature("power", "power and energy per device: distribution, peak, energy, headroom, throttling",
                  report=report)

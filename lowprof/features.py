"""Every feature of lowprof, in one list: adding a feature is writing its module and one line here.

Each module ends with ``FEATURE = Feature(...)`` (:mod:`lowprof.feature`). From this list come the probes
``--probes`` can name (features with ``probe``), the recording verbs' options and the hooks a recording
calls (in this order), the sections of ``lowprof report`` (in this order: launches, tlb, power,
microbench, allocator), the tables a run directory can hold (README's catalogue,
:mod:`lowprof.rundir.catalog`) and the metrics of ``compare``, ``export`` and ``plot`` (features with
``metrics``; :mod:`lowprof.metrics` lists them in its own fixed order, a feature it does not name last).
Every module named here is light to import (no pandas, pyarrow, numpy, rich or psutil:
tests/test_features.py).
"""

from __future__ import annotations

from lowprof import marks
from lowprof.analysis import launches_section, power_section
from lowprof.feature import Feature
from lowprof.microbench import report as microbench
from lowprof.native import allocator, tlb_report
from lowprof.probes import hwmon, nvml, rapl, system
from lowprof.tracers import live, pystack_timeline

__all__ = ["FEATURES"]

FEATURES: tuple[Feature, ...] = (
    system.FEATURE,             # probe: host CPU, memory, the workload's process tree
    nvml.FEATURE,               # probe: GPU power, clocks, utilisation, per-process memory
    rapl.FEATURE,               # probe: CPU energy (powercap)
    hwmon.FEATURE,              # probe: hwmon power and energy sensors
    launches_section.FEATURE,   # report: launch and queuing summary of the launches table
    live.FEATURE,               # --trace kernels: GPU launches and CPU ops of a Python workload
    marks.FEATURE,              # phase marks: lowprof.mark(), --marks FILE
    tlb_report.FEATURE,         # lowprof bench tlb: table and report
    power_section.FEATURE,      # report: power and energy per device
    microbench.FEATURE,         # lowprof bench gpu/host: table and report
    allocator.FEATURE,          # --allocator oob
    pystack_timeline.FEATURE,   # --stacks: Python stacks on the run clock
)


"""probes/: samplers that run beside a workload and append timestamped rows to the run directory.

Each probe is one module with one :class:`~lowprof.probes.base.Probe` subclass; ``PROBES``
maps the names users type (``--probes system,nvml``) to them, imported only when asked for.
"""

from __future__ import annotations

import importlib

from lowprof.probes.base import Probe, ProbeContext

__all__ = ["Probe", "ProbeContext", "PROBES", "get_probe", "DEFAULT_PROBES"]

PROBES: dict[str, str] = {
    "system": "lowprof.probes.system:SystemProbe",
    "nvml": "lowprof.probes.nvml:NvmlProbe", "rapl": "lowprof.probes.rapl:RaplProbe", "hwmon": "lowprof.probes.hwmon:HwmonProbe",
}

# Probes `lowprof run` uses when --probes is not given; unavailable ones are listed with the reason.
DEFAULT_PROBES: tuple[str, ...] = tuple(PROBES)


def get_probe(name: str) -> type[Probe]:
    """The probe class registered under ``name``."""
    if name not in PROBES:
        raise KeyError(f"unknown probe {name!r}; known: {', '.join(sorted(PROBES))}")
    module, _, cls = PROBES[name].partition(":")
    return getattr(importlib.import_module(module), cls)

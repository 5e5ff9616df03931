"""probes/: samplers that run beside a workload and append timestamped rows to the run directory.

Each probe is one module with one :class:`~lowprof.probes.base.Probe` subclass and a ``FEATURE`` whose
``probe`` gives it; the names users type (``--probes system,nvml``) are those features' names, in
:mod:`lowprof.features` order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lowprof.probes.base import Probe, ProbeContext

if TYPE_CHECKING:
    from lowprof.feature import Feature

__all__ = ["Probe", "ProbeContext", "PROBES", "get_probe", "DEFAULT_PROBES", "probe_features"]


def probe_features() -> "dict[str, Feature]":
    """Probe name -> its feature, for every feature of :data:`lowprof.features.FEATURES` with a probe."""
    from lowprof.features import FEATURES

    return {f.name: f for f in FEATURES if f.probe is not None}


def get_probe(name: str) -> type[Probe]:
    """The probe class of feature ``name``."""
    found = probe_features()
    if name not in found:
        raise KeyError(f"unknown probe {name!r}; known: {', '.join(sorted(found))}")
    return found[name].probe()


def __getattr__(name: str):
    # PROBES (name -> feature) and DEFAULT_PROBES (what `lowprof run` uses when --probes is not given: all;
    # unavailable ones are listed with the reason) are views of lowprof.features, made when asked for:
    # lowprof.features imports the probe modules, which import this package.
    if name == "PROBES":
        return probe_features()
    if name == "DEFAULT_PROBES":
        return tuple(probe_features())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

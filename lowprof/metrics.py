"""lowprof's comparable metrics, as ``compare``, ``export`` and ``plot`` list them: the ones each feature
declares (``Feature.metrics``, :mod:`lowprof.features`) and the core ones, which belong to no feature.

Every metric is defined once, in the area of :mod:`lowprof.analysis` that computes it (a
:class:`~lowprof.analysis.metric.Metric`); this module only puts the owners' lists together into one
:class:`~lowprof.analysis.metrics.Registry`. The core owners (:data:`CORE`):

- ``run``: the run and its workload process: duration, CPU time, cores, peak RSS (manifest and wait4);
- ``ipw``: intelligence per watt over ``DIR/results.jsonl``;
- ``sweep``: per sweep folder, the CPU- to GPU-bound transition.

Order: owner by owner as :data:`ORDER` names them, each owner's metrics in the order it lists them; a feature
that ORDER does not name comes after them, in the order of ``FEATURES``. So a new feature's metrics reach the
three verbs with its module and its one line in ``FEATURES``. The registry follows ``FEATURES`` (it is built
again when that list is another). Light: pandas is imported when a metric is computed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lowprof import features
from lowprof.analysis import bound_metrics, ipw_metrics, summary_metrics
from lowprof.analysis import metric as _declare
from lowprof.analysis.bench_metrics import bench_direction
from lowprof.analysis.metric import BANDWIDTH_UNIT, Metric, bandwidth_gb_per_s, better_of, params_key
from lowprof.analysis.metrics import Registry

if TYPE_CHECKING:
    import pandas as pd

    from lowprof.analysis.compare import Comparison
    from lowprof.rundir import Run

__all__ = ["CORE", "ORDER", "registry", "owners", "METRICS", "SWEEP_METRICS", "metric", "sweep_metric",
           "run_metrics", "sweep_metrics", "compare", "tidy_metrics", "Metric", "Registry", "BANDWIDTH_UNIT",
           "bandwidth_gb_per_s", "params_key", "better_of", "bench_direction"]

# The metrics that belong to no feature, by owner.
CORE: dict[str, Callable[[], tuple[Metric, ...]]] = {
    "run": lambda: summary_metrics.RUN_METRICS,
    "ipw": ipw_metrics.metrics,
    "sweep": bound_metrics.metrics,
}

# The owners in the order compare/export/plot list their metrics (a feature's name, or a CORE owner).
ORDER: tuple[str, ...] = ("run", "system", "launches", "marks", "power", "ipw", "microbench", "tlb", "sweep")

_extra: list[Metric] = []  # defined outside lowprof with metric() / sweep_metric()
_built: tuple[tuple, Registry] | None = None  # (the FEATURES it was built from, the registry)


def owners() -> list[tuple[str, tuple[Metric, ...]]]:
    """(owner, its metrics) for every CORE owner and every feature with metrics, in the order listed.
    ValueError when a feature has a CORE owner's name."""
    listed = dict(CORE)
    for f in features.FEATURES:
        if f.metrics is None:
            continue
        if f.name in listed:
            raise ValueError(f"feature {f.name!r} declares metrics under a name already listed")
        listed[f.name] = f.metrics
    order = [o for o in ORDER if o in listed] + [o for o in listed if o not in ORDER]
    return [(o, tuple(listed[o]())) for o in order]


def registry() -> Registry:
    """Every metric, by name, in the order listed (see the module doc); ValueError when two share a name."""
    global _built
    if _built is None or _built[0] is not features.FEATURES:
        _built = (features.FEATURES, Registry.of([*(m for _, ms in owners() for m in ms), *_extra]))
    return _built[1]


def __getattr__(name: str) -> dict[str, Metric]:
    """``METRICS`` (per run) and ``SWEEP_METRICS`` (per sweep folder): the registry's, by name, in order."""
    if name == "METRICS":
        return registry().run
    if name == "SWEEP_METRICS":
        return registry().sweep
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _defined(m: Metric) -> Metric:
    registry().add(m)  # ValueError when defined twice, before anything is added
    _extra.append(m)  # kept for a registry built again from another FEATURES
    return m


def metric(name: str, unit: str, better: str, doc: str, *, signal: bool = False,
           devices: bool = False) -> Callable[[Callable], Metric]:
    """Define a per-run metric outside lowprof's features and add it to the registry, after the others
    (decorator; see :func:`lowprof.analysis.metric.metric`). ValueError when the name is already defined."""
    declare = _declare.metric(name, unit, better, doc, signal=signal, devices=devices)
    return lambda fn: _defined(declare(fn))


def sweep_metric(name: str, unit: str, better: str, doc: str) -> Callable[[Callable], Metric]:
    """Define a per-sweep metric and add it to the registry (decorator); the function takes the sweep
    folder's path."""
    declare = _declare.sweep_metric(name, unit, better, doc)
    return lambda fn: _defined(declare(fn))


def run_metrics(run: Run, names: list[str] | None = None, signal: str = "auto",
                devices: str | None = None) -> pd.DataFrame:
    """Every metric the run has data for: columns metric, value, unit, better, params (dict); see
    :meth:`lowprof.analysis.metrics.Registry.run_metrics`."""
    return registry().run_metrics(run, names, signal, devices)


def sweep_metrics(path: str | os.PathLike, names: list[str] | None = None) -> pd.DataFrame:
    """The per-sweep metrics of a sweep folder (same columns as :func:`run_metrics`)."""
    return registry().sweep_metrics(path, names)


def compare(paths: list, **options: Any) -> Comparison:
    """:func:`lowprof.analysis.compare.compare` on these metrics (``force``, ``names``, ``signal``,
    ``min_change_pct``, ``devices`` as there)."""
    from lowprof.analysis.compare import compare as compare_on

    return compare_on(paths, metrics=registry(), **options)


def tidy_metrics(paths: list, signal: str = "auto") -> pd.DataFrame:
    """:func:`lowprof.analysis.export_csv.tidy_metrics` on these metrics (``metrics.csv`` of ``export``)."""
    from lowprof.analysis.export_csv import tidy_metrics as tidy_on

    return tidy_on(paths, signal, metrics=registry())

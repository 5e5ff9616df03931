"""The comparable metrics of lowprof, put together from the areas that define them, and their evaluation.

Each metric is defined once, beside the analysis it comes from, as a :class:`~lowprof.analysis.metric.Metric`
(the type and its decorators: :mod:`lowprof.analysis.metric`); each area lists its own in ``metrics()``:

=================================================  ====================================================
:mod:`lowprof.analysis.summary_metrics`            run and workload process: duration, CPU, RSS, host CPU
:mod:`lowprof.analysis.launch_metrics`             steps, passes (latency, TKLQT, idle), launches, copies
:mod:`lowprof.analysis.comm_metrics`               communication kernels' overlap with compute
:mod:`lowprof.analysis.phases`                     phases marked with ``lowprof.mark``
:mod:`lowprof.analysis.power_metrics`              power and energy per device, per pass, per phase
:mod:`lowprof.analysis.ipw_metrics`                intelligence per watt (``DIR/results.jsonl``)
:mod:`lowprof.analysis.bench_metrics`              ``lowprof bench gpu/host`` figures
:mod:`lowprof.analysis.tlb_metrics`                ``lowprof bench tlb`` reach and walk cost
:mod:`lowprof.analysis.bound_metrics`              per sweep folder: CPU- to GPU-bound transition
=================================================  ====================================================

:data:`METRICS` (per run) and :data:`SWEEP_METRICS` (per sweep folder) hold them by name, in the order
``compare``, ``export`` and ``plot`` list them. A metric that raises a LowprofError for a run (no data of
its kind, a results file outside the power trace) is left out for that run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from lowprof.analysis import (bench_metrics, bound_metrics, comm_metrics, ipw_metrics, launch_metrics, phases,
                              power_metrics, summary_metrics, tlb_metrics)
from lowprof.analysis import metric as _declare
from lowprof.analysis.bench_metrics import bench_direction
from lowprof.analysis.metric import BANDWIDTH_UNIT, Metric, bandwidth_gb_per_s, better_of, params_key
from lowprof.errors import LowprofError

if TYPE_CHECKING:
    import pandas as pd

    from lowprof.rundir import Run

__all__ = ["Metric", "METRICS", "SWEEP_METRICS", "BANDWIDTH_UNIT", "bandwidth_gb_per_s", "metric", "sweep_metric",
           "run_metrics", "sweep_metrics", "params_key", "better_of", "bench_direction"]


def _per_run() -> tuple[Metric, ...]:
    """Every area's per-run metrics, in the order compare/export/plot list them: the communication overlap
    sits between the per-pass and the per-launch figures of the launches."""
    return (*summary_metrics.metrics(), *launch_metrics.PASS_METRICS, *comm_metrics.metrics(),
            *launch_metrics.LAUNCH_METRICS, *phases.metrics(), *power_metrics.metrics(), *ipw_metrics.metrics(),
            *bench_metrics.metrics(), *tlb_metrics.metrics())


def _per_sweep() -> tuple[Metric, ...]:
    return bound_metrics.metrics()


METRICS: dict[str, Metric] = {}        # per run
SWEEP_METRICS: dict[str, Metric] = {}  # per sweep folder (fn takes the folder path)


def _add(m: Metric) -> Metric:
    """Add ``m`` to its registry; ValueError when a metric of its name is already defined."""
    old = METRICS.get(m.name) or SWEEP_METRICS.get(m.name)
    if old is not None:
        raise ValueError(f"metric {m.name!r} defined twice ({old.source} and {m.source})")
    (METRICS if m.of == "run" else SWEEP_METRICS)[m.name] = m
    return m


def _register(ms: Iterable[Metric]) -> None:
    for m in ms:
        _add(m)


_register((*_per_run(), *_per_sweep()))


def metric(name: str, unit: str, better: str, doc: str, *, signal: bool = False,
           devices: bool = False) -> Callable[[Callable], Metric]:
    """Define a per-run metric outside lowprof's areas and add it to :data:`METRICS` (decorator; see
    :func:`lowprof.analysis.metric.metric`). ValueError when the name is already defined."""
    declare = _declare.metric(name, unit, better, doc, signal=signal, devices=devices)
    return lambda fn: _add(declare(fn))


def sweep_metric(name: str, unit: str, better: str, doc: str) -> Callable[[Callable], Metric]:
    """Define a per-sweep metric and add it to :data:`SWEEP_METRICS` (decorator); the function takes the
    sweep folder's path."""
    declare = _declare.sweep_metric(name, unit, better, doc)
    return lambda fn: _add(declare(fn))


def _rows(registry: dict[str, Metric], arg, names: list[str] | None, signal: str,
          devices: str | None = None) -> list[dict]:
    from lowprof.errors import SignalUnavailable

    rows = []
    for m in registry.values():
        if names is not None and m.name not in names:
            continue
        try:
            v = (m.fn(arg, signal, devices) if m.devices else m.fn(arg, signal)) if m.signal else m.fn(arg)
        except SignalUnavailable:
            raise  # --instant on a GPU without it: an error for the whole verb, never a silently missing row
        except LowprofError:
            v = None
        if v is None:
            continue
        for item in (v if isinstance(v, list) else [(v, {})]):
            value, params, own = item if len(item) == 3 else (*item, {})
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            rows.append({"metric": m.name, "value": float(value), "unit": own.get("unit", m.unit),
                         "better": own.get("better", m.better), "params": dict(params)})
    return rows


def _frame(rows: list[dict]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows, columns=["metric", "value", "unit", "better", "params"])


def run_metrics(run: Run, names: list[str] | None = None, signal: str = "auto",
                devices: str | None = None) -> pd.DataFrame:
    """Every registered metric the run has data for: columns metric, value, unit, better, params (dict).
    ``signal``: the GPU power signal of the power metrics (``auto``, ``instant``, ``average``; the row's
    ``signal`` / ``from`` parameter names what was used). ``devices``: the power devices of the power and
    energy metrics (:mod:`lowprof.analysis.devices`; None: each figure's default), checked first: a
    selection the run's power devices do not allow raises LowprofError (never a silently missing row)."""
    if devices is not None:
        from lowprof.analysis.power_metrics import check_devices

        check_devices(run, signal, devices)
    return _frame(_rows(METRICS, run, names, signal, devices))


def sweep_metrics(path: str | os.PathLike, names: list[str] | None = None) -> pd.DataFrame:
    """The per-sweep metrics of a sweep folder (same columns as :func:`run_metrics`)."""
    return _frame(_rows(SWEEP_METRICS, Path(path), names, "auto"))

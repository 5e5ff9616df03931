"""A registry of comparable metrics and their evaluation over a run or a sweep folder.

Each metric is defined once, beside the analysis it comes from, as a :class:`~lowprof.analysis.metric.Metric`
(the type and its decorators: :mod:`lowprof.analysis.metric`), and each area lists its own in ``metrics()``.
Which metrics lowprof has, and in which order ``compare``, ``export`` and ``plot`` list them, is not decided
here: every feature declares its metrics (``Feature.metrics``), and :mod:`lowprof.metrics` puts the features'
lists and the core ones together into one :class:`Registry`, which the analyses that compare runs
(:mod:`lowprof.analysis.compare`, :func:`lowprof.analysis.export_csv.tidy_metrics`) are given. A metric that
raises a LowprofError for a run (no data of its kind, a results file outside the power trace) is left out
for that run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lowprof.analysis.metric import Metric
from lowprof.errors import LowprofError

if TYPE_CHECKING:
    import pandas as pd

    from lowprof.rundir import Run

__all__ = ["Registry"]


@dataclass
class Registry:
    """Metrics by name, in the order they are listed: ``run`` (per run), ``sweep`` (per sweep folder; the
    function takes the folder's path)."""

    run: dict[str, Metric] = field(default_factory=dict)
    sweep: dict[str, Metric] = field(default_factory=dict)

    @classmethod
    def of(cls, metrics: Iterable[Metric]) -> Registry:
        """A registry of ``metrics``, in their order; ValueError when two have the same name."""
        reg = cls()
        for m in metrics:
            reg.add(m)
        return reg

    def add(self, m: Metric) -> Metric:
        """Add ``m`` after the others of its kind; ValueError when a metric of its name is already defined."""
        old = self.run.get(m.name) or self.sweep.get(m.name)
        if old is not None:
            raise ValueError(f"metric {m.name!r} defined twice ({old.source} and {m.source})")
        (self.run if m.of == "run" else self.sweep)[m.name] = m
        return m

    def names(self) -> list[str]:
        """Every name, per-run ones first, in the order compare/export/plot list them."""
        return [*self.run, *self.sweep]

    def known(self, names: list[str] | None) -> None:
        """LowprofError naming the first of ``names`` that is not a metric here (and the known ones)."""
        unknown = [n for n in (names or []) if n not in self.run and n not in self.sweep]
        if unknown:
            raise LowprofError(f"unknown metric {unknown[0]!r}; known: {', '.join(self.names())}")

    def run_metrics(self, run: Run, names: list[str] | None = None, signal: str = "auto",
                    devices: str | None = None) -> pd.DataFrame:
        """Every per-run metric the run has data for (those in ``names`` only, when given): columns metric,
        value, unit, better, params (dict). ``signal``: the GPU power signal of the power metrics (``auto``,
        ``instant``, ``average``; the row's ``signal`` / ``from`` parameter names what was used). ``devices``:
        the power devices of the power and energy metrics (:mod:`lowprof.analysis.devices`; None: each
        figure's default), checked first: a selection the run's power devices do not allow raises
        LowprofError (never a silently missing row)."""
        if devices is not None:
            from lowprof.analysis.power_metrics import check_devices

            check_devices(run, signal, devices)
        return _frame(_rows(self.run, run, names, signal, devices))

    def sweep_metrics(self, path: str | os.PathLike, names: list[str] | None = None) -> pd.DataFrame:
        """The per-sweep metrics of a sweep folder (same columns as :meth:`run_metrics`)."""
        return _frame(_rows(self.sweep, Path(path), names, "auto"))


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

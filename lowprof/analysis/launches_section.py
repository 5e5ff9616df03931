"""The ``launches`` feature: the launch and queuing summary ``lowprof report`` shows for a run with a
``launches`` table (written by ``--trace kernels``, ``attach --trace kernels`` or ``lowprof import``), and
the metrics of its steps and launches.

A declaration, light to import; the analysis is :mod:`lowprof.analysis.launches` (pandas), imported when a
report is made, and the metrics :mod:`lowprof.analysis.launch_metrics` and
:mod:`lowprof.analysis.comm_metrics`, imported when listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lowprof.feature import Feature

if TYPE_CHECKING:
    from lowprof.analysis.metric import Metric

__all__ = ["FEATURE"]


def report(run) -> dict | None:
    """``lowprof report``'s launches block; None without a ``launches`` table."""
    from lowprof.analysis.launches import section_launches

    return section_launches(run)


def metrics() -> tuple[Metric, ...]:
    """The per-pass figures, the communication overlap, then the per-launch and copy figures."""
    from lowprof.analysis import comm_metrics, launch_metrics

    return (*launch_metrics.PASS_METRICS, *comm_metrics.metrics(), *launch_metrics.LAUNCH_METRICS)


FEATURE = Feature("launches", "GPU launch and queuing summary of a run's launches table", report=report,
                  metrics=metrics)

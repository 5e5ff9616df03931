"""The ``launches`` feature: the launch and queuing summary ``lowprof report`` shows for a run with a
``launches`` table (written by ``--trace kernels``, ``attach --trace kernels`` or ``lowprof import``).

A declaration, light to import; the analysis is :mod:`lowprof.analysis.launches` (pandas), imported when a
report is made.
"""

from __future__ import annotations

from lowprof.feature import Feature

__all__ = ["FEATURE"]


def report(run) -> dict | None:
    """``lowprof report``'s launches block; None without a ``launches`` table."""
    from lowprof.analysis.launches import section_launches

    return section_launches(run)


FEATURE = Feature("launches", "GPU launch and queuing summary of a run's launches table", report=report)

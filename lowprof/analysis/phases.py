"""Phases a workload marked with :func:`lowprof.mark`, as intervals, and their metric (``phase_time_s``).

A phase is a begin/end pair of marks of one name (per process; nesting allowed), or an instant mark up to
the next mark of any kind (:func:`lowprof.analysis.power.phase_intervals`); a begin never ended runs to the
end of the run. :func:`marked_phases` is computed once per loaded run. Light: pandas and the analysis are
imported when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lowprof.analysis.metric import Metric, metric

if TYPE_CHECKING:
    import pandas as pd

    from lowprof.rundir import Run

__all__ = ["marked_phases", "metrics"]


def marked_phases(run: Run) -> pd.DataFrame:
    """name, start_ns, end_ns of every marked phase (run clock, ns); no rows for a run without marks. Computed
    once per loaded run (``Run.derived``; shared: never modify it)."""
    import pandas as pd

    from lowprof.analysis.power import phase_intervals
    from lowprof.rundir.specs.marks import read_marks

    def compute() -> pd.DataFrame:
        marks = read_marks(run)
        if not len(marks):
            return pd.DataFrame(columns=["name", "start_ns", "end_ns"])
        end = run.manifest.get("end_t_ns") or int(marks["t_ns"].max())
        return phase_intervals(marks, end)
    return run.derived(("marked_phases",), compute)


@metric("phase_time_s", "s", "lower",
        "median duration of a phase marked with lowprof.mark (begin/end, or an instant to the next mark of any kind), per phase")
def phase_time_s(run: Run):
    ph = marked_phases(run)
    return [(float((g["end_ns"] - g["start_ns"]).median()) / 1e9, {"phase": n}) for n, g in ph.groupby("name")] or None


def metrics() -> tuple[Metric, ...]:
    return (phase_time_s,)

"""Metrics of a sweep folder (:func:`lowprof.analysis.bound.analyse_sweep`): where passes turn from CPU-bound
(launch-bound) to GPU-bound as the batch grows. A sweep metric's function takes the folder's path. Light:
the analysis is imported when a figure is computed."""

from __future__ import annotations

import functools
from pathlib import Path

from lowprof.analysis.metric import Metric, sweep_metric

__all__ = ["metrics", "sweep_analysis"]


@functools.lru_cache(maxsize=16)
def _analysed(folder: str, version_ns: int) -> dict:
    from lowprof.analysis.bound import analyse_sweep

    return analyse_sweep(Path(folder))


def sweep_analysis(path: Path) -> dict:
    """``bound.analyse_sweep(path)``, computed once per sweep folder and version of its ``sweep.json``
    (keyed by the resolved path and the file's modification time, ns). Read-only: shared between callers."""
    path = Path(path)
    return _analysed(str(path.resolve()), (path / "sweep.json").stat().st_mtime_ns)


@sweep_metric("transition_batch", "", "lower",
              "CPU-bound -> GPU-bound transition: first batch of the rising segment of the BIC-best hinge fit "
              "of log2 TKLQT vs log2 batch (lowprof.analysis.bound)")
def transition_batch(path: Path):
    return (sweep_analysis(path).get("knee") or {}).get("transition_batch")


@sweep_metric("first_gpu_bound_batch", "", "lower", "smallest batch whose passes are mostly GPU-bound")
def first_gpu_bound_batch(path: Path):
    return sweep_analysis(path).get("first_gpu_bound_batch")


def metrics() -> tuple[Metric, ...]:
    return (transition_batch, first_gpu_bound_batch)

"""Metrics of intelligence per watt (:mod:`lowprof.analysis.ipw`) over ``DIR/results.jsonl`` (the
``lowprof ipw`` default): IPW, energy per query and per token. Each depends on the GPU power signal
(second argument) and the devices summed (third: ``--devices``, default the GPUs, else the CPU packages).
Light: the analysis is imported when a figure is computed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lowprof.analysis.metric import Metric, metric
from lowprof.analysis.power_metrics import has_power

if TYPE_CHECKING:
    from lowprof.rundir import Run

__all__ = ["metrics"]


def _ipw(run: Run, signal: str, devices: str | None = None) -> dict:
    """lowprof.analysis.ipw over DIR/results.jsonl, computed once per signal and devices; {} without one or
    without power."""
    from lowprof.analysis.ipw import ipw, read_results

    f = Path(run.path) / "results.jsonl"
    if not f.is_file() or not has_power(run, signal):
        return {}
    origin = run.manifest.get("clock", {}).get("origin_realtime_ns", 0)
    return run.derived(("ipw", signal, devices),
                       lambda: ipw(run, read_results(f, origin), devices=devices, signal=signal))


@metric("ipw_per_w", "1/W", "higher",
        "intelligence per watt as the IPW harness defines it: accuracy / mean over queries of each query's energy / "
        "duration (energy from the counter at the query's edges; Saad-Falcon et al. 2025); DIR/results.jsonl",
        signal=True, devices=True)
def ipw_per_w(run: Run, signal: str, devices: str | None = None):
    return _ipw(run, signal, devices).get("ipw_per_w")


@metric("energy_per_query_j", "J", "lower",
        "mean over queries of each query's energy (the counter's difference at its window's edges; IPJ = accuracy / "
        "this) (DIR/results.jsonl)", signal=True, devices=True)
def energy_per_query_j(run: Run, signal: str, devices: str | None = None):
    return _ipw(run, signal, devices).get("energy_per_query_j")


@metric("energy_per_token_j", "J", "lower", "energy over the queries' time / tokens they produced (DIR/results.jsonl)",
        signal=True, devices=True)
def energy_per_token_j(run: Run, signal: str, devices: str | None = None):
    tpj = _ipw(run, signal, devices).get("tokens_per_j")
    return 1.0 / tpj if tpj else None


def metrics() -> tuple[Metric, ...]:
    return (ipw_per_w, energy_per_query_j, energy_per_token_j)

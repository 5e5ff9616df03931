"""Metrics of the run and its workload process: wall time, CPU time, cores, peak RSS, host CPU (from
:func:`lowprof.analysis.summary.summarize`). Light: the analysis is imported when a figure is computed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lowprof.analysis.metric import Metric, metric

if TYPE_CHECKING:
    from lowprof.rundir import Run

__all__ = ["metrics", "RUN_METRICS", "HOST_METRICS"]


def _cpu_memory(run: Run) -> dict:
    from lowprof.analysis.summary import summarize

    return run.derived(("summarize", "cpu_memory"), lambda: summarize(run)["cpu_memory"])


@metric("duration_s", "s", "lower", "wall time of the run: manifest duration_s (start of recording to end)")
def duration_s(run: Run):
    return run.manifest.get("duration_s")


@metric("workload_cpu_s", "s", "lower", "user + system CPU time of the workload's process tree over the recorded "
        "window: run: wait4 rusage of the whole workload; attach/profile: change of /proc/PID/stat counters "
        "from the first to the last sample")
def workload_cpu_s(run: Run):
    return _cpu_memory(run).get("workload_cpu_s")


@metric("workload_cpu_cores_mean", "cores", "", "workload_cpu_s / the same window (run: duration_s; "
        "attach/profile: first to last sample): mean cores kept busy")
def workload_cpu_cores_mean(run: Run):
    return _cpu_memory(run).get("workload_cpu_cores_mean")


@metric("workload_rss_peak_bytes", "B", "lower", "peak resident set of the workload's process tree: the larger "
        "of wait4's ru_maxrss (the workload forked from lowprof-spawn's small image, as /usr/bin/time -v) and "
        "the sampled sum of /proc/PID/stat RSS over the tree")
def workload_rss_peak_bytes(run: Run):
    return _cpu_memory(run).get("workload_rss_peak_bytes")


@metric("host_cpu_percent_mean", "%", "", "host CPU busy over the run, all cores: change of /proc/stat's "
        "cumulative cpu counters from start to stop (manifest probes.system.host_cpu); a run cut short: mean "
        "of the per-sample values")
def host_cpu_percent_mean(run: Run):
    return _cpu_memory(run).get("host_cpu_percent_mean")


# The run's and its workload's: the manifest and its workload section (wait4; the system probe's samples where
# there is no wait4); lowprof's core metrics. The host's: the system probe's (its feature declares them).
RUN_METRICS: tuple[Metric, ...] = (duration_s, workload_cpu_s, workload_cpu_cores_mean, workload_rss_peak_bytes)
HOST_METRICS: tuple[Metric, ...] = (host_cpu_percent_mean,)


def metrics() -> tuple[Metric, ...]:
    """The run's and its workload's metrics (:data:`RUN_METRICS`), then the host's (:data:`HOST_METRICS`)."""
    return (*RUN_METRICS, *HOST_METRICS)

"""Metrics of the steps and kernel launches (:mod:`lowprof.analysis.launches`): step time, per-pass latency,
TKLQT and its share, GPU idle share, kernels per pass, per-launch t_l / API / queue times, copy bandwidth.

Statistics over passes are medians over non-warm-up passes (``warmup#N`` excluded); a run whose launches
carry no pass annotation counts as one pass. Per-pass and per-launch figures read the run's derived
frames, computed once per loaded run (:func:`~lowprof.analysis.launches.pass_frame`,
:func:`~lowprof.analysis.launches.launch_frame`). Light: pandas and the analysis are imported when a figure
is computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lowprof.analysis.metric import BANDWIDTH_UNIT, Metric, bandwidth_gb_per_s, metric

if TYPE_CHECKING:
    import pandas as pd

    from lowprof.rundir import Run

__all__ = ["metrics", "measured_passes", "PASS_METRICS", "LAUNCH_METRICS"]

_NO_STEP = "(no step)"


def _has_launches(run: Run) -> bool:
    return "launches" in run.tables and len(run["launches"]) > 0


@metric("step_time_s", "s", "lower",
        "median over non-warm-up passes of the pass annotation's span on the CPU (end - start), per phase "
        "(the name before '#': pass, ProfilerStep, prefill, decode)")
def step_time_s(run: Run):
    from lowprof.rundir.specs.launches import is_warmup

    if "steps" not in run.tables or not len(run["steps"]):
        return None
    s = run["steps"]
    s = s[~s["name"].map(is_warmup)]
    phase = s["name"].astype(str).str.split("#").str[0]
    duration_ns = (s["end_ns"] - s["start_ns"]).astype("float64")
    return [(float(g.median()) / 1e9, {"phase": p}) for p, g in duration_ns.groupby(phase)] or None


def measured_passes(run: Run) -> pd.DataFrame | None:
    """``pass_frame(run)`` rows of the non-warm-up passes (the whole run as one pass when none is annotated);
    None without launches."""
    from lowprof.rundir.specs.launches import is_warmup

    if not _has_launches(run):
        return None

    def compute() -> pd.DataFrame:
        from lowprof.analysis.launches import pass_frame

        steps = pass_frame(run)
        named = steps[(steps["step"] != _NO_STEP) & ~steps["step"].map(is_warmup)]
        return named if len(named) else steps[steps["step"] == _NO_STEP]
    return run.derived(("measured_passes",), compute)


def _pass_median(run: Run, column: str, scale: float = 1.0):
    p = measured_passes(run)
    if p is None or not len(p):
        return None
    return float(p[column].median()) * scale


@metric("pass_latency_s", "s", "lower",
        "median pass latency: first ATen op (else launch call) start -> last GPU activity end")
def pass_latency_s(run: Run):
    return _pass_median(run, "latency_ns", 1e-9)


@metric("tklqt_s", "s", "lower",
        "median per pass of TKLQT = sum over kernels of (gpu_start - launch call cpu_start) "
        "(Vellaisamy et al., ISPASS 2025)")
def tklqt_s(run: Run):
    return _pass_median(run, "tklqt_ns", 1e-9)


@metric("tklqt_share", "", "lower", "median per pass of TKLQT / pass latency (can exceed 1 when launches queue)")
def tklqt_share(run: Run):
    p = measured_passes(run)
    if p is None or not len(p):
        return None
    lat = p["latency_ns"].where(p["latency_ns"] > 0)
    return float((p["tklqt_ns"] / lat).median())


@metric("gpu_idle_share", "", "lower",
        "median per pass of GPU idle / (devices x pass latency); busy = union of GPU activity intervals")
def gpu_idle_share(run: Run):
    return _pass_median(run, "idle_share")


@metric("kernels_per_pass", "", "", "median number of kernels per pass")
def kernels_per_pass(run: Run):
    return _pass_median(run, "kernels")


def _kernel_median(run: Run, column: str):
    """Median over the kernels linked to their launch call (``t_l_ns`` known) of a ``launch_frame(run)`` column, in s."""
    if not _has_launches(run):
        return None

    def compute() -> pd.DataFrame:
        from lowprof.analysis.launches import launch_frame

        pl = launch_frame(run)
        return pl[pl["kind"] == "kernel"].dropna(subset=["t_l_ns"])
    k = run.derived(("linked_kernels",), compute)
    return float(k[column].median()) / 1e9 if len(k) else None


@metric("launch_latency_s", "s", "lower",
        "median over launch calls of t_l = first GPU start - launch call cpu_start (a graph launch is one call)")
def launch_latency_s(run: Run):
    return _kernel_median(run, "t_l_ns")


@metric("launch_api_s", "s", "lower", "median over kernels of the launch call's CPU time (cpu_end - cpu_start)")
def launch_api_s(run: Run):
    return _kernel_median(run, "api_ns")


@metric("launch_queue_s", "s", "lower", "median over kernels of gpu_start - launch call cpu_end")
def launch_queue_s(run: Run):
    return _kernel_median(run, "queue_ns")


_COPY_PATTERN = {"HtoD": r"HtoD|host.?to.?device", "DtoH": r"DtoH|device.?to.?host"}


def _copy_bandwidth(run: Run, direction: str):
    """Bytes / busy time over the run's memcpy activities of one direction (HtoD or DtoH), in GB/s."""
    if not _has_launches(run):
        return None
    la = run["launches"]
    c = la[(la["kind"] == "memcpy") & la["name"].astype(str).str.contains(_COPY_PATTERN[direction], case=False, regex=True)]
    c = c.dropna(subset=["bytes", "gpu_start_ns", "gpu_end_ns"])
    busy_ns = float((c["gpu_end_ns"] - c["gpu_start_ns"]).sum())
    return bandwidth_gb_per_s(c["bytes"].sum(), busy_ns / 1e9) if busy_ns > 0 else None


@metric("h2d_bandwidth_gb_per_s", BANDWIDTH_UNIT, "higher",
        "host-to-device copy bandwidth: sum of bytes / sum of GPU durations of the HtoD memcpy activities / 1e9")
def h2d_bandwidth_gb_per_s(run: Run):
    return _copy_bandwidth(run, "HtoD")


@metric("d2h_bandwidth_gb_per_s", BANDWIDTH_UNIT, "higher",
        "device-to-host copy bandwidth: sum of bytes / sum of GPU durations of the DtoH memcpy activities / 1e9")
def d2h_bandwidth_gb_per_s(run: Run):
    return _copy_bandwidth(run, "DtoH")


PASS_METRICS: tuple[Metric, ...] = (step_time_s, pass_latency_s, tklqt_s, tklqt_share, gpu_idle_share)
LAUNCH_METRICS: tuple[Metric, ...] = (kernels_per_pass, launch_latency_s, launch_api_s, launch_queue_s,
                                      h2d_bandwidth_gb_per_s, d2h_bandwidth_gb_per_s)


def metrics() -> tuple[Metric, ...]:
    """The steps' and launches' metrics: the per-pass figures (:data:`PASS_METRICS`), then the per-launch and
    copy figures (:data:`LAUNCH_METRICS`); the launches feature lists the communication overlap
    (:mod:`lowprof.analysis.comm_metrics`) between the two (:mod:`lowprof.analysis.launches_section`)."""
    return (*PASS_METRICS, *LAUNCH_METRICS)

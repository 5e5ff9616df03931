"""One registry of comparable metrics: each metric is defined once, as a function of a Run (or a sweep folder).

A metric has a name (unit suffix as in tables), a unit, which way is better (``higher``, ``lower`` or
``""`` for neither) and a definition. Its function returns a number, ``None`` when the run has no data
for it, or a list of ``(value, params)`` for a metric measured per parameter (e.g. per page size).
A list item may carry a third element, ``{"unit": ..., "better": ...}``, for a metric whose rows
have their own units (microbenchmark figures). Extractors compute from the run's tables and manifest
by calling the owning area's public analysis functions (:mod:`lowprof.analysis.launches`,
:mod:`~lowprof.analysis.bound`, :mod:`~lowprof.analysis.summary`, :mod:`~lowprof.analysis.power`,
:mod:`~lowprof.analysis.ipw`). A metric that raises a LowprofError for a run (no data of its kind, a
results file outside the power trace) is left out for that run.

Statistics over passes are medians over non-warm-up passes (``warmup#N`` excluded); a run whose
launches carry no pass annotation counts as one pass.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lowprof.errors import LowprofError
from lowprof.rundir import Run

__all__ = ["Metric", "METRICS", "SWEEP_METRICS", "BANDWIDTH_UNIT", "bandwidth_gb_per_s", "metric", "sweep_metric",
           "run_metrics", "sweep_metrics", "params_key", "better_of", "bench_direction"]

# Units: SI throughout (s, J, W, B). Bandwidth, the one rate of bytes a person reads (tables, CSV, figures, and
# `lowprof bench` figures alike), is in decimal gigabytes per second: 1 GB/s = 10^9 bytes per second (never binary).
BANDWIDTH_UNIT = "GB/s"


def bandwidth_gb_per_s(nbytes: float, seconds: float) -> float:
    """Bandwidth in :data:`BANDWIDTH_UNIT`: ``nbytes / seconds / 1e9`` (decimal GB/s)."""
    return float(nbytes) / float(seconds) / 1e9


@dataclass(frozen=True)
class Metric:
    """A comparable figure: ``fn(run)`` -> value, None, or [(value, params), ...]."""

    name: str
    unit: str
    better: str  # "higher", "lower" or "" (neither: a description, not a goal)
    doc: str
    fn: Callable


METRICS: dict[str, Metric] = {}        # per run
SWEEP_METRICS: dict[str, Metric] = {}  # per sweep folder (fn takes the folder path)


def _register(registry: dict, name: str, unit: str, better: str, doc: str):
    if better not in ("higher", "lower", ""):
        raise ValueError(f"metric {name!r}: better must be 'higher', 'lower' or '', got {better!r}")

    def deco(fn: Callable) -> Callable:
        if name in METRICS or name in SWEEP_METRICS:
            raise ValueError(f"metric {name!r} defined twice")
        registry[name] = Metric(name, unit, better, doc, fn)
        return fn
    return deco


def metric(name: str, unit: str, better: str, doc: str):
    """Register a per-run metric (decorator)."""
    return _register(METRICS, name, unit, better, doc)


def sweep_metric(name: str, unit: str, better: str, doc: str):
    """Register a per-sweep metric (decorator); the function takes the sweep folder's path."""
    return _register(SWEEP_METRICS, name, unit, better, doc)


def _memo(run: Run, key: str, fn: Callable):
    """Compute ``fn()`` once per loaded run (several metrics share one analysis)."""
    cache = run.__dict__.setdefault("_lowprof_metric_cache", {})
    if key not in cache:
        cache[key] = fn()
    return cache[key]


def params_key(params: dict) -> str:
    """``{"page_size_bytes": 4096}`` -> ``"page_size_bytes=4096"`` (sorted; ``""`` when empty)."""
    return ",".join(f"{k}={params[k]}" for k in sorted(params))


def better_of(better: str, a: float | None, b: float | None) -> str:
    """``"A"``, ``"B"``, ``"="`` or ``""`` (no direction, or a value missing)."""
    if not better or a is None or b is None or pd.isna(a) or pd.isna(b):
        return ""
    if a == b:
        return "="
    return "B" if (b > a) == (better == "higher") else "A"


# The GPU power signal the power metrics use while run_metrics evaluates them (auto, instant, average).
_SIGNAL: contextvars.ContextVar[str] = contextvars.ContextVar("lowprof_power_signal", default="auto")


def _rows(registry: dict, arg, names: list[str] | None) -> list[dict]:
    from lowprof.analysis.power import SignalUnavailable

    rows = []
    for m in registry.values():
        if names is not None and m.name not in names:
            continue
        try:
            v = m.fn(arg)
        except SignalUnavailable:
            raise  # --instant on a GPU without it: an error for the whole verb, never a silently missing row
        except LowprofError:
            v = None
        if v is None:
            continue
        for item in (v if isinstance(v, list) else [(v, {})]):
            value, params, own = item if len(item) == 3 else (*item, {})
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            rows.append({"metric": m.name, "value": float(value), "unit": own.get("unit", m.unit),
                         "better": own.get("better", m.better), "params": dict(params)})
    return rows


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["metric", "value", "unit", "better", "params"])


def run_metrics(run: Run, names: list[str] | None = None, signal: str = "auto") -> pd.DataFrame:
    """Every registered metric the run has data for: columns metric, value, unit, better, params (dict).
    ``signal``: the GPU power signal of the power metrics (``auto``, ``instant``, ``average``; the row's
    ``signal`` / ``from`` parameter names what was used)."""
    token = _SIGNAL.set(signal)
    try:
        return _frame(_rows(METRICS, run, names))
    finally:
        _SIGNAL.reset(token)


def sweep_metrics(path: str | os.PathLike, names: list[str] | None = None) -> pd.DataFrame:
    """The per-sweep metrics of a sweep folder (same columns as :func:`run_metrics`)."""
    return _frame(_rows(SWEEP_METRICS, Path(path), names))


# --- run and workload process (lowprof.analysis.summary) ------------------------------------------

def _cpu_memory(run: Run) -> dict:
    from lowprof.analysis.summary import summarize

    return _memo(run, "cpu_memory", lambda: summarize(run)["cpu_memory"])


@metric("duration_s", "s", "lower", "wall time of the run: manifest duration_s (start of recording to end)")
def _duration(run: Run):
    return run.manifest.get("duration_s")


@metric("workload_cpu_s", "s", "lower", "user + system CPU time of the workload's process tree over the recorded "
        "window: run: wait4 rusage of the whole workload; attach/profile: change of /proc/PID/stat counters "
        "from the first to the last sample")
def _workload_cpu(run: Run):
    return _cpu_memory(run).get("workload_cpu_s")


@metric("workload_cpu_cores_mean", "cores", "", "workload_cpu_s / the same window (run: duration_s; "
        "attach/profile: first to last sample): mean cores kept busy")
def _workload_cores(run: Run):
    return _cpu_memory(run).get("workload_cpu_cores_mean")


@metric("workload_rss_peak_bytes", "B", "lower", "peak resident set of the workload's process tree: the larger "
        "of wait4's ru_maxrss (the workload forked from lowprof-spawn's small image, as /usr/bin/time -v) and "
        "the sampled sum of /proc/PID/stat RSS over the tree")
def _rss(run: Run):
    return _cpu_memory(run).get("workload_rss_peak_bytes")


@metric("host_cpu_percent_mean", "%", "", "host CPU busy over the run, all cores: change of /proc/stat's "
        "cumulative cpu counters from start to stop (manifest probes.system.host_cpu); a run cut short: mean "
        "of the per-sample values")
def _host_cpu(run: Run):
    return _cpu_memory(run).get("host_cpu_percent_mean")


# --- steps / passes (steps table: annotation spans on the CPU) -------------------------------------

def _step_spans(run: Run) -> pd.DataFrame:
    """Non-warm-up annotated steps: phase (name before '#') and duration_ns (end - start, CPU)."""
    from lowprof.rundir.specs.launches import is_warmup

    def compute() -> pd.DataFrame:
        if "steps" not in run.tables or not len(run["steps"]):
            return pd.DataFrame({"phase": [], "duration_ns": []})
        s = run["steps"]
        s = s[~s["name"].map(is_warmup)]
        return pd.DataFrame({"phase": s["name"].astype(str).str.split("#").str[0],
                             "duration_ns": (s["end_ns"] - s["start_ns"]).astype("float64")})
    return _memo(run, "step_spans", compute)


@metric("step_time_s", "s", "lower",
        "median over non-warm-up passes of the pass annotation's span on the CPU (end - start), per phase "
        "(the name before '#': pass, ProfilerStep, prefill, decode)")
def _step_time(run: Run):
    s = _step_spans(run)
    return [(float(g["duration_ns"].median()) / 1e9, {"phase": p}) for p, g in s.groupby("phase")] or None


# --- kernel launches (lowprof.analysis.launches) ---------------------------------------------------

def _passes(run: Run) -> pd.DataFrame | None:
    """per_step rows of the non-warm-up passes (the whole run as one pass when none is annotated)."""
    from lowprof.analysis.launches import per_step
    from lowprof.rundir.specs.launches import is_warmup

    def compute():
        if "launches" not in run.tables or not len(run["launches"]):
            return None
        ops = run["ops"] if "ops" in run.tables else None
        steps = per_step(run["launches"], ops)
        named = steps[(steps["step"] != "(no step)") & ~steps["step"].map(is_warmup)]
        return named if len(named) else steps[steps["step"] == "(no step)"]
    return _memo(run, "passes", compute)


def _pass_median(run: Run, column: str, scale: float = 1.0):
    p = _passes(run)
    if p is None or not len(p):
        return None
    return float(p[column].median()) * scale


@metric("pass_latency_s", "s", "lower",
        "median pass latency: first ATen op (else launch call) start -> last GPU activity end")
def _pass_latency(run: Run):
    return _pass_median(run, "latency_ns", 1e-9)


@metric("tklqt_s", "s", "lower",
        "median per pass of TKLQT = sum over kernels of (gpu_start - launch call cpu_start) "
        "(Vellaisamy et al., ISPASS 2025)")
def _tklqt(run: Run):
    return _pass_median(run, "tklqt_ns", 1e-9)


@metric("tklqt_share", "", "lower", "median per pass of TKLQT / pass latency (can exceed 1 when launches queue)")
def _tklqt_share(run: Run):
    p = _passes(run)
    if p is None or not len(p):
        return None
    lat = p["latency_ns"].where(p["latency_ns"] > 0)
    return float((p["tklqt_ns"] / lat).median())


@metric("gpu_idle_share", "", "lower",
        "median per pass of GPU idle / (devices x pass latency); busy = union of GPU activity intervals")
def _idle(run: Run):
    return _pass_median(run, "idle_share")


@metric("comm_overlap_share", "", "higher",
        "median per pass of the share of communication-kernel (NCCL/RCCL) time during which a compute kernel ran "
        "(HTA's get_comm_comp_overlap; lowprof.analysis.comm); none without communication kernels")
def _comm_overlap(run: Run):
    from lowprof.analysis.comm import comm_overlap
    from lowprof.rundir.specs.launches import is_warmup

    if "launches" not in run.tables or not len(run["launches"]):
        return None
    per = comm_overlap(run["launches"])
    per = per[per["overlap_pct"].notna() & ~per["step"].map(is_warmup)]
    named = per[per["step"] != "(no step)"]
    per = named if len(named) else per
    return float(per["overlap_pct"].astype(float).median()) / 100 if len(per) else None


@metric("kernels_per_pass", "", "", "median number of kernels per pass")
def _kernels(run: Run):
    return _pass_median(run, "kernels")


def _linked_kernels(run: Run) -> pd.DataFrame | None:
    from lowprof.analysis.launches import per_launch

    def compute():
        if "launches" not in run.tables or not len(run["launches"]):
            return None
        pl = per_launch(run["launches"])
        return pl[(pl["kind"] == "kernel")].dropna(subset=["t_l_ns"])
    return _memo(run, "linked", compute)


def _kernel_median(run: Run, column: str):
    k = _linked_kernels(run)
    if k is None or not len(k):
        return None
    return float(k[column].median()) / 1e9


@metric("launch_latency_s", "s", "lower", "median over launch calls of t_l = first GPU start - launch call cpu_start (a graph launch is one call)")
def _t_l(run: Run):
    return _kernel_median(run, "t_l_ns")


@metric("launch_api_s", "s", "lower", "median over kernels of the launch call's CPU time (cpu_end - cpu_start)")
def _api(run: Run):
    return _kernel_median(run, "api_ns")


@metric("launch_queue_s", "s", "lower", "median over kernels of gpu_start - launch call cpu_end")
def _queue(run: Run):
    return _kernel_median(run, "queue_ns")


def _copy_bandwidth(run: Run, direction: str):
    """Bytes / busy time over the run's memcpy activities of one direction (HtoD or DtoH), in GB/s."""
    if "launches" not in run.tables or not len(run["launches"]):
        return None
    l = run["launches"]
    pattern = {"HtoD": r"HtoD|host.?to.?device", "DtoH": r"DtoH|device.?to.?host"}[direction]
    c = l[(l["kind"] == "memcpy") & l["name"].astype(str).str.contains(pattern, case=False, regex=True)]
    c = c.dropna(subset=["bytes", "gpu_start_ns", "gpu_end_ns"])
    busy_ns = float((c["gpu_end_ns"] - c["gpu_start_ns"]).sum())
    return bandwidth_gb_per_s(c["bytes"].sum(), busy_ns / 1e9) if busy_ns > 0 else None


@metric("h2d_bandwidth_gb_per_s", BANDWIDTH_UNIT, "higher",
        "host-to-device copy bandwidth: sum of bytes / sum of GPU durations of the HtoD memcpy activities / 1e9")
def _h2d(run: Run):
    return _copy_bandwidth(run, "HtoD")


@metric("d2h_bandwidth_gb_per_s", BANDWIDTH_UNIT, "higher",
        "device-to-host copy bandwidth: sum of bytes / sum of GPU durations of the DtoH memcpy activities / 1e9")
def _d2h(run: Run):
    return _copy_bandwidth(run, "DtoH")


# --- phases marked with lowprof.mark (lowprof.marks, lowprof.analysis.power.phase_intervals) --------

def _phases(run: Run) -> pd.DataFrame:
    """name, start_ns, end_ns of every marked phase (begin/end pairs; an instant runs to the next mark of any kind)."""
    from lowprof.analysis.power import phase_intervals
    from lowprof.rundir.specs.marks import read_marks

    def compute() -> pd.DataFrame:
        marks = read_marks(run)
        if not len(marks):
            return pd.DataFrame(columns=["name", "start_ns", "end_ns"])
        end = run.manifest.get("end_t_ns") or int(marks["t_ns"].max())
        return phase_intervals(marks, end)
    return _memo(run, "phases", compute)


@metric("phase_time_s", "s", "lower",
        "median duration of a phase marked with lowprof.mark (begin/end, or an instant to the next mark of any kind), per phase")
def _phase_time(run: Run):
    ph = _phases(run)
    return [(float((g["end_ns"] - g["start_ns"]).median()) / 1e9, {"phase": n}) for n, g in ph.groupby("name")] or None


# --- power and energy (lowprof.analysis.power, lowprof.analysis.ipw) -------------------------------

_POWER_TABLES = ("gpu_power", "rapl", "hwmon_power")


def _power_summary(run: Run) -> dict:
    from lowprof.analysis.power import summarize_power

    if not any(t in run.tables and len(run[t]) for t in _POWER_TABLES):
        return {}
    signal = _SIGNAL.get()
    return _memo(run, f"power:{signal}", lambda: summarize_power(run, signal=signal))


def _per_device(run: Run, key: str, how: str):
    """Per device: (value, {device, and how it was measured}); ``how``: ``from`` (the energy method) or
    ``signal`` (the power signal), so a comparison never pairs figures measured two ways without saying so."""
    by = {"from": "energy_method", "signal": "signal"}[how]
    return [(s[key], {"device": dev, how: s[by]}) for dev, s in _power_summary(run).items()
            if s.get(key) is not None] or None


@metric("power_mean_w", "W", "lower",
        "mean power per device: its energy (the energy counter where it has one, else integrated power) / the span "
        "of its power readings")
def _power_mean(run: Run):
    return _per_device(run, "mean_w", "from")


@metric("power_p99_w", "W", "lower",
        "99th percentile per device of its power signal: instantaneous where recorded (NVML field 186), else the "
        "driver's reading (a 1 s average on Ampere and newer GPUs)")
def _power_p99(run: Run):
    return _per_device(run, "p99_w", "signal")


@metric("energy_j", "J", "lower",
        "energy per device over its power readings' span: the energy counter where it has one (NVML, RAPL, hwmon "
        "energy), else the trapezoid integral of its power")
def _energy(run: Run):
    return _per_device(run, "energy_j", "from")


def _energy_devices(run: Run):
    """(device traces, devices summed for per-pass/per-query energy, label) by the one device policy
    (lowprof.analysis.devices: the GPUs, else the CPU packages, else every device inside no other)."""
    from lowprof.analysis.devices import choose_devices
    from lowprof.analysis.power import device_traces, power_traces

    signal = _SIGNAL.get()

    def compute():
        df = power_traces(run, signal)
        sel = choose_devices(df)
        return device_traces(df, sel.devices), sel.devices, sel.label
    return _memo(run, f"energy_devices:{signal}", compute)


def _window_energies(run: Run, starts, ends) -> tuple[list[float], str]:
    """Summed energy (J) of the policy's devices over each window, and how it was measured."""
    from lowprof.analysis.power import window_energy

    traces, devices, _ = _energy_devices(run)
    e, method = window_energy(traces, devices, starts, ends)
    return e.tolist(), method


@metric("energy_per_pass_j", "J", "lower",
        "median over non-warm-up passes of the energy the GPUs (else the CPU packages, else every device inside no "
        "other) drew during the pass (pass = its annotation's span; each device's energy counter interpolated at the "
        "pass's edges, integrated power where it has none; a RAPL subzone is never added to its package)")
def _energy_per_pass(run: Run):
    from lowprof.rundir.specs.launches import is_warmup

    if not _power_summary(run) or "steps" not in run.tables or not len(run["steps"]):
        return None
    traces, devices, label = _energy_devices(run)
    lo = max(float((tr.te if tr.has_counter else tr.t)[0]) for tr in traces.values())
    hi = min(float((tr.te if tr.has_counter else tr.t)[-1]) for tr in traces.values())
    s = run["steps"]
    s = s[~s["name"].map(is_warmup) & (s["start_ns"] >= lo) & (s["end_ns"] <= hi)]
    if not len(s):
        return None
    e, method = _window_energies(run, s["start_ns"], s["end_ns"])
    return [(float(np.median(e)), {"devices": label, "from": method})]


@metric("phase_energy_j", "J", "lower",
        "median over a marked phase's occurrences of the energy the GPUs (else the CPU packages, else every device "
        "inside no other) drew in it (energy counters at the phase's edges, integrated power where there is none)")
def _phase_energy(run: Run):
    ph = _phases(run)
    if not _power_summary(run) or not len(ph):
        return None
    traces, devices, label = _energy_devices(run)
    out = []
    for name, g in ph.groupby("name"):
        a, b = g["start_ns"].to_numpy(float), g["end_ns"].to_numpy(float)
        measured = np.logical_and.reduce([traces[d].coverage(a, b)[1] for d in devices])
        if not measured.any():  # an occurrence outside the readings was not measured: it is not 0 J
            continue
        e, method = _window_energies(run, a[measured], b[measured])
        out.append((float(np.median(e)), {"phase": name, "devices": label, "from": method}))
    return out


def _ipw(run: Run) -> dict:
    """lowprof.analysis.ipw over DIR/results.jsonl (the `lowprof ipw` default), {} without one."""
    from lowprof.analysis.ipw import ipw, read_results

    f = Path(run.path) / "results.jsonl"
    if not f.is_file() or not _power_summary(run):
        return {}
    signal = _SIGNAL.get()
    return _memo(run, f"ipw:{signal}", lambda: ipw(run, read_results(f, run.manifest.get("clock", {}).get("origin_realtime_ns", 0)),
                                                   signal=signal))


@metric("ipw_per_w", "1/W", "higher",
        "intelligence per watt as the IPW harness defines it: accuracy / mean over queries of each query's energy / "
        "duration (energy from the counter at the query's edges; Saad-Falcon et al. 2025); DIR/results.jsonl")
def _ipw_per_w(run: Run):
    return _ipw(run).get("ipw_per_w")


@metric("energy_per_query_j", "J", "lower",
        "mean over queries of each query's energy (the counter's difference at its window's edges; IPJ = accuracy / "
        "this) (DIR/results.jsonl)")
def _energy_per_query(run: Run):
    return _ipw(run).get("energy_per_query_j")


@metric("energy_per_token_j", "J", "lower", "energy over the queries' time / tokens they produced (DIR/results.jsonl)")
def _energy_per_token(run: Run):
    tpj = _ipw(run).get("tokens_per_j")
    return 1.0 / tpj if tpj else None


# --- microbenchmarks (lowprof bench gpu / host: the bench_results table) ----------------------------

_TIME_UNITS = {"ns", "us", "µs", "ms", "s", "cycles", "cycle", "clk"}


def bench_direction(unit: str) -> str:
    """``lower`` for a time or cycle count, ``higher`` for a rate (``/s``, ``/cycle``), else ``""``."""
    u = str(unit).strip()
    if u in _TIME_UNITS or u.startswith("cycles"):
        return "lower"
    if "/s" in u or "/cycle" in u or u.endswith("ps"):
        return "higher"
    return ""


@metric("microbench", "", "",
        "each figure of `lowprof bench gpu/host` (bench_results: median over repeats), in its own unit, "
        "named by benchmark and figure; time-like units are better lower, rates higher")
def _microbench(run: Run):
    import json

    if "bench_results" not in run.tables or not len(run["bench_results"]):
        return None
    b = run["bench_results"]
    dup = b.duplicated(["benchmark", "metric"], keep=False)
    out = []
    for r, is_dup in zip(b.itertuples(index=False), dup):
        params = {"benchmark": r.benchmark, "figure": r.metric}
        if is_dup:  # the same figure at several points: name the point by its scalar parameters
            extra = json.loads(r.params_json or "{}")
            params |= {k: v for k, v in extra.items() if isinstance(v, (int, str)) and not isinstance(v, bool)}
        out.append((r.value, params, {"unit": r.unit, "better": bench_direction(r.unit)}))
    return out or None


# --- sweeps (lowprof.analysis.bound) ---------------------------------------------------------------

_SWEEP_CACHE: dict[tuple[str, int], dict] = {}


def _sweep(path: Path) -> dict:
    """bound.analyse_sweep, computed once per version of sweep.json."""
    from lowprof.analysis import bound

    key = (str(path.resolve()), (path / "sweep.json").stat().st_mtime_ns)
    if key not in _SWEEP_CACHE:
        _SWEEP_CACHE[key] = bound.analyse_sweep(path)
    return _SWEEP_CACHE[key]


@sweep_metric("transition_batch", "", "lower",
              "CPU-bound -> GPU-bound transition: first batch of the rising segment of the BIC-best hinge fit "
              "of log2 TKLQT vs log2 batch (lowprof.analysis.bound)")
def _transition(path: Path):
    return (_sweep(path).get("knee") or {}).get("transition_batch")


@sweep_metric("first_gpu_bound_batch", "", "lower", "smallest batch whose passes are mostly GPU-bound")
def _first_gpu_bound(path: Path):
    return _sweep(path).get("first_gpu_bound_batch")


# --- TLB (lowprof bench tlb: manifest tlb.sweeps, as lowprof.native.tlb.detect wrote them) ----------

def _tlb_levels(run: Run, key: str, field: str, scale: float = 1.0):
    sweeps = (run.manifest.get("tlb") or {}).get("sweeps") or {}
    out = []
    for page, d in sweeps.items():
        v = d.get(key) if key != "walk" else d
        if isinstance(v, dict) and v.get("status") == "uncertain":  # bench tlb could not confirm it: no figure
            continue
        v = v.get(field) if isinstance(v, dict) else None
        if v is not None:
            out.append((float(v) * scale, {"page_size_bytes": int(page)}))
    return out or None


@metric("tlb_l1_entries", "pages", "higher", "L1 dTLB reach: largest working set (pages) below the 50 %-miss crossing; "
        "none where bench tlb judged it uncertain")
def _tlb_l1(run: Run):
    return _tlb_levels(run, "l1_dtlb", "entries")


@metric("tlb_l2_entries", "pages", "higher", "L2 STLB reach: largest working set (pages) below the 50 %-miss crossing; "
        "none where bench tlb judged it uncertain")
def _tlb_l2(run: Run):
    return _tlb_levels(run, "l2_stlb", "entries")


@metric("tlb_walk_s", "s", "lower", "page-walk cost: extra time per access on the plateau above the STLB")
def _tlb_walk(run: Run):
    return _tlb_levels(run, "walk", "walk_extra_ns", 1e-9)

"""The run summary behind ``lowprof report``: duration, exit, CPU and memory figures, probes."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from lowprof.analysis.notices import notices
from lowprof.rundir import Run
from lowprof.rundir.sections import View

__all__ = ["summarize"]


def _workload(run: Run) -> dict:
    w = run.section("workload")
    out = {"command": " ".join(run.section("command") or []) or None, "pid": w.pid}
    if "exit_code" in w or "signal" in w:
        out["exit_code"] = w.exit_code
        out["signal"] = w.signal
    if "attach_ended_by" in w:
        out["ended_by"] = w.attach_ended_by
    return out


def _put_max(out: dict, key: str, column) -> None:
    """``out[key]`` = the column's maximum as an int, left out when every value is null."""
    peak = column.max()  # pandas skips nulls; all null gives NaN
    if peak == peak:
        out[key] = int(peak)


def _cpu_memory(run: Run, duration_s: float | None) -> dict:
    """Workload CPU time (s) and utilisation (cores), RSS peak (B), host CPU mean/p95 (%), all over the
    recorded window (an ``attach`` counts only the CPU spent while recorded)."""
    out: dict = {}
    w = run.section("workload")
    if "system" in run.tables:
        s = run["system"]
        if len(s):
            alive = s[s.proc_count > 0]  # a null count is not alive (NaN > 0 is False)
            cpu = (alive.proc_cpu_user_s + alive.proc_cpu_system_s).dropna()
            if len(cpu):  # the tree's counters are cumulative since it started: the window is their change
                out["workload_cpu_s"] = float(cpu.iloc[-1] - cpu.iloc[0])
                t = alive.t_ns.loc[cpu.index]
                span = (t.iloc[-1] - t.iloc[0]) / 1e9
                if span > 0:
                    out["workload_cpu_cores_mean"] = out["workload_cpu_s"] / span
            _put_max(out, "workload_rss_peak_bytes", s.proc_rss_bytes)
            _put_max(out, "workload_threads_max", s.proc_threads)
            host = run.section("probes").entry("system").host_cpu
            per_sample = s.cpu_percent.dropna()
            if host.percent is not None:  # cumulative counters over the run: no interval dependence
                out["host_cpu_percent_mean"] = float(host.percent)
            elif len(per_sample):  # a run cut short: the mean of the per-sample (quantised) values
                out["host_cpu_percent_mean"] = float(per_sample.mean())
            if len(per_sample):
                out["host_cpu_percent_p95"] = float(np.percentile(per_sample, 95))
            _put_max(out, "host_mem_used_peak_bytes", s.mem_used_bytes)
    if "user_s" in w:  # rusage from wait4: exact, the workload's whole life (= the run's window)
        out["workload_cpu_s"] = w.user_s + w.system_s
        if w.maxrss_source == "wait4 via lowprof-spawn":  # else it counts lowprof's own image: not used
            out["workload_rss_peak_bytes"] = max(out.get("workload_rss_peak_bytes", 0), w.maxrss_bytes)
        if duration_s:
            out["workload_cpu_cores_mean"] = out["workload_cpu_s"] / duration_s
    return out


def _sampling(run: Run) -> dict | None:
    """How the sampler kept its schedule: ticks taken, deadlines skipped because a tick overran, ticks late."""
    smp = run.section("sampler")
    if "sampler" not in run.sections:
        return None
    return {k: getattr(smp, k) for k in ("interval_s", "ticks", "missed_ticks", "late_ticks") if k in smp}


def _probes(run: Run) -> list[dict]:
    rows = []
    tables = run.section("tables")
    for name, p in run.section("probes").items():
        tnames = p.tables or []
        n_rows = None
        if tnames:
            n_rows = 0
            for t in tnames:
                r = tables.entry(t).rows
                n_rows += r if r is not None else (len(run[t]) if t in run.tables else 0)
        rows.append({"probe": name, "status": p.status, "samples": p.samples,
                     "rows": n_rows, "reason": p.reason or p.error})
    return rows


def _host_text(host: View, kind: str | None) -> str:
    """``hostname (CPU model, N CPUs)``, leaving out what is not known (never a Python None)."""
    parts = [str(host.cpu_model)] if host.cpu_model else []
    if host.cpu_logical:
        parts.append(f"{host.cpu_logical} CPUs")
    name = str(host.hostname or ("not named in the trace" if kind == "import" else "unknown"))
    if kind == "import" and not parts:
        parts.append("CPU model and count: not in the trace")
    return f"{name} ({', '.join(parts)})" if parts else name


def _gpu_names(gpus: View) -> list[str] | str:
    """GPU names (``device N`` where unnamed), else why there are none."""
    devs = gpus.devices or []
    names = [str(d.name or (f"device {d.index}" if d.index is not None else "unnamed GPU")) for d in devs]
    if names and all(not d.name for d in devs) and gpus.reason:
        return str(gpus.reason)
    return names or (gpus.reason or "none")


def summarize(run: Run, signal: str = "auto", features: Iterable = (), devices: str | None = None) -> dict:
    """Everything ``lowprof report`` shows, as plain data (seconds, bytes, percent): the run's own figures, then
    each of ``features``' report section (:class:`lowprof.feature.Feature` values; ``lowprof report`` passes
    :data:`lowprof.features.FEATURES`).
    ``signal``: the GPU power signal of the power section (``auto``, ``instant``, ``average``; see
    lowprof.analysis.power); ``devices``: its power devices (``--devices``, lowprof.analysis.devices; None: the
    section's default), checked first: a selection the run's devices do not allow raises LowprofError."""
    import inspect

    from lowprof.analysis.power_metrics import check_devices
    from lowprof.errors import SignalUnavailable

    check_devices(run, signal, devices)

    m = run.sections
    duration = m.duration_s
    if duration is None and "system" in run.tables and run["system"].t_ns.notna().any():
        duration = float(run["system"].t_ns.max()) / 1e9  # cut short: up to the last flushed sample
    out = {
        "path": str(run.path),
        "kind": m.kind,
        "state": run.state,
        "started_utc": m.started_utc,
        "duration_s": duration,
        "duration_is_lower_bound": m.duration_s is None,
        "host": _host_text(m.host, m.kind),
        "gpus": _gpu_names(m.gpus),
        "workload": _workload(run),
        "cpu_memory": _cpu_memory(run, duration),
        "probes": _probes(run),
        "sampling": _sampling(run),
        "tables": {n: t.rows for n, t in m.tables.items()},
        "unreadable_tables": run.unreadable,  # name -> why; the rest of the summary is made without them
        "notices": notices(run.manifest),  # failures that change what the run holds, one line each
    }
    # Each feature's report section (Feature.report), in their order: a dict, shown as a titled key/value
    # block and under the feature's name in --json, or None when the run has nothing of it.
    for f in features:
        if f.report is None:
            continue
        try:
            takes = inspect.signature(f.report).parameters
            section = f.report(run, **{k: v for k, v in (("signal", signal), ("devices", devices)) if k in takes})
        except SignalUnavailable:
            raise  # the user asked for a signal the run lacks: said as an error, like `lowprof power`
        except Exception as e:  # noqa: BLE001 - one broken section must not hide the rest
            section = {"error": f"{type(e).__name__}: {e}"}
        if section is not None:
            out[f.name] = section
    return out

"""Kernel launch and queuing metrics from a run's ``launches`` table (pure functions of a Run).

Per GPU activity k launched by CPU call l (all ns, run clock):
  api_ns   = cpu_end(l) - cpu_start(l)        launch API time on the CPU (Nsight Systems' "API" part)
  queue_ns = gpu_start(k) - cpu_end(l)        API end -> GPU start (Nsight Systems' "queue" part)
  t_l_ns   = gpu_start(k) - cpu_start(l) = api_ns + queue_ns   (Vellaisamy et al., ISPASS 2025)
  launch_delay_ns = max(queue_ns, 0)          (HTA's launch_delay, clipped at 0)
Negative queue times are kept as measured (the GPU may start before the launch call returns, or the
CPU and GPU clocks are skewed); they are counted and flagged (``queue_negative``), never clipped in
TKLQT. ``t_l_ns < 0`` (GPU start before the call began) is impossible without clock skew and is
flagged ``clock_skew``.

Per step/pass (the ``step`` column; warm-up passes are kept here and excluded by ``bound``):
  TKLQT = sum of t_l over the pass's kernels, and its api and queue parts (sum to TKLQT exactly);
  latency = first ATen op start (else first launch call start) -> last GPU activity end;
  busy = union of GPU activity intervals per device (any pass's work, clipped to the pass's
         [start, end] window, so work queued by an earlier pass counts as busy), summed over the devices
         the pass used; idle = devices x latency - busy;
  idle split host-wait / kernel-wait / other as HTA's idle-time breakdown defines it, per stream.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lowprof.errors import RunDirError
from lowprof.rundir import Run

__all__ = ["per_launch", "per_step", "idle_breakdown", "queue_depth", "top_kernels", "launch_summary",
           "section_launches", "launches_of", "CONSECUTIVE_KERNEL_DELAY_NS"]

CONSECUTIVE_KERNEL_DELAY_NS = 30_000  # HTA's default threshold (30 in HTA's µs time base)
_NO_STEP = "(no step)"


def launches_of(run: Run) -> pd.DataFrame:
    """The run's launches table; RunDirError if it has none."""
    if "launches" not in run.tables:
        raise RunDirError(f"{run.path}: no launches table (import a trace with `lowprof import`, or record "
                          f"with `lowprof run --trace kernels`)")
    return run["launches"]


def _i64(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").astype("Int64")


def per_launch(launches: pd.DataFrame) -> pd.DataFrame:
    """The launches with api_ns, queue_ns, t_l_ns, launch_delay_ns, dispatch_ns and the two flags.

    A frame that already has them (this function's output) is returned as it is.
    """
    if "t_l_ns" in launches.columns and "clock_skew" in launches.columns:
        return launches
    df = launches.copy()
    for c in ("cpu_start_ns", "cpu_end_ns", "gpu_start_ns", "gpu_end_ns", "op_start_ns"):
        df[c] = _i64(df[c])
    df["api_ns"] = df["cpu_end_ns"] - df["cpu_start_ns"]
    df["queue_ns"] = df["gpu_start_ns"] - df["cpu_end_ns"]
    df["t_l_ns"] = df["gpu_start_ns"] - df["cpu_start_ns"]
    df["launch_delay_ns"] = df["queue_ns"].clip(lower=0)
    df["gpu_ns"] = df["gpu_end_ns"] - df["gpu_start_ns"]
    df["dispatch_ns"] = df["cpu_start_ns"] - df["op_start_ns"]
    df["queue_negative"] = (df["queue_ns"] < 0).fillna(False).astype(bool)
    df["clock_skew"] = (df["t_l_ns"] < 0).fillna(False).astype(bool)
    df["step"] = df["step"].astype("string").fillna(_NO_STEP)
    return df


def _merged(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals [start, end) as disjoint sorted segments."""
    if len(starts) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    o = np.argsort(starts, kind="stable")
    s, e = starts[o], ends[o]
    run_end = np.maximum.accumulate(e)
    new = np.empty(len(s), bool)
    new[0] = True
    new[1:] = s[1:] > run_end[:-1]
    seg = np.cumsum(new) - 1
    seg_end = np.full(seg[-1] + 1, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(seg_end, seg, e)
    return s[new], seg_end


def _covered_ns(seg_s: np.ndarray, seg_e: np.ndarray, a: int, b: int) -> int:
    """Length of [a, b] covered by the segments (ns)."""
    return int((np.clip(seg_e, a, b) - np.clip(seg_s, a, b)).sum())


def idle_breakdown(launches: pd.DataFrame, consecutive_kernel_delay_ns: int = CONSECUTIVE_KERNEL_DELAY_NS) -> pd.DataFrame:
    """Per-gap idle classification, HTA's definition (per stream, activities sorted by GPU start).

    gap = gpu_start(k) - gpu_end(k-1) on the same stream;
    host_wait if cpu_start(launch of k) > gpu_end(k-1) (the CPU had not yet issued k);
    else kernel_wait if gap < consecutive_kernel_delay_ns; else other.
    Returns one row per gap: stream, step (of k), gap_ns, category.
    """
    df = launches[["stream", "gpu_start_ns", "gpu_end_ns", "cpu_start_ns", "step"]].copy()
    df = df.dropna(subset=["gpu_start_ns"]).sort_values(["stream", "gpu_start_ns"], kind="stable")
    prev_end = df.groupby("stream", sort=False)["gpu_end_ns"].shift(1)
    gap = df["gpu_start_ns"] - prev_end
    host = (df["cpu_start_ns"] > prev_end).fillna(False).astype(bool)
    kern = ~host & (gap < consecutive_kernel_delay_ns).fillna(False).astype(bool)
    cat = np.where(host, "host_wait", np.where(kern, "kernel_wait", "other"))
    out = pd.DataFrame({"stream": df["stream"], "step": df["step"], "gap_ns": gap, "category": cat})
    return out[prev_end.notna()].reset_index(drop=True)


def queue_depth(launches: pd.DataFrame, by_stream: bool = True) -> pd.DataFrame:
    """Activities in flight over time: launched (cpu_start) and not yet finished on the GPU (gpu_end).

    Returns a step function: rows (stream, t_ns, depth), depth valid from t_ns to the next row.
    """
    df = launches.dropna(subset=["gpu_end_ns"])
    t0 = df["cpu_start_ns"].fillna(df["gpu_start_ns"]).to_numpy(np.int64)
    t1 = df["gpu_end_ns"].to_numpy(np.int64)
    stream = df["stream"].to_numpy() if by_stream else np.zeros(len(df), np.int64)
    ev = pd.DataFrame({"stream": np.concatenate([stream, stream]), "t_ns": np.concatenate([t0, t1]),
                       "delta": np.concatenate([np.ones(len(t0), np.int64), -np.ones(len(t1), np.int64)])})
    ev = ev.sort_values(["stream", "t_ns", "delta"], kind="stable")  # ends before starts at equal t
    ev["depth"] = ev.groupby("stream", sort=False)["delta"].cumsum()
    out = ev.groupby(["stream", "t_ns"], sort=False, as_index=False)["depth"].last()
    return out.reset_index(drop=True)


def per_step(launches: pd.DataFrame, ops: pd.DataFrame | None = None,
             consecutive_kernel_delay_ns: int = CONSECUTIVE_KERNEL_DELAY_NS) -> pd.DataFrame:
    """One row per step/pass with TKLQT and its parts, kernel stats, latency, busy/idle and idle split (ns)."""
    pl = per_launch(launches)
    rows = []
    gaps = idle_breakdown(pl, consecutive_kernel_delay_ns)
    gap_sum = gaps.groupby(["step", "category"])["gap_ns"].sum().unstack(fill_value=0) if len(gaps) else None
    aten_first = {}
    if ops is not None and len(ops):
        o = ops[ops["name"].astype(str).str.startswith("aten::")]
        aten_first = o.assign(step=o["step"].astype("string").fillna(_NO_STEP)).groupby("step")["start_ns"].min().to_dict()
    segments = {d: _merged(gd["gpu_start_ns"].to_numpy(np.int64), gd["gpu_end_ns"].to_numpy(np.int64))
                for d, gd in pl.dropna(subset=["gpu_start_ns", "gpu_end_ns"]).groupby("device")}
    for step, g in pl.groupby("step", sort=False):
        k = g[g["kind"] == "kernel"]
        starts = [v for v in (aten_first.get(step), g["op_start_ns"].min(), g["cpu_start_ns"].min(), g["gpu_start_ns"].min())
                  if v is not None and not pd.isna(v)]
        t_begin = int(min(starts))
        t_end = int(g["gpu_end_ns"].max())
        latency = t_end - t_begin
        devices = g["device"].dropna().unique()
        busy = sum(_covered_ns(*segments[d], t_begin, t_end) for d in devices if d in segments)
        n_dev = max(1, len(devices))
        linked = k.dropna(subset=["t_l_ns"])
        in_flight = (g["gpu_end_ns"] - g["cpu_start_ns"].fillna(g["gpu_start_ns"])).sum()
        row = {
            "step": step,
            "kernels": int(len(k)),
            "activities": int(len(g)),
            "tklqt_ns": int(linked["t_l_ns"].sum()),
            "tklqt_api_ns": int(linked["api_ns"].sum()),
            "tklqt_queue_ns": int(linked["queue_ns"].sum()),
            "negative_queue_count": int(linked["queue_negative"].sum()),
            "negative_queue_ns": int(linked.loc[linked["queue_negative"], "queue_ns"].sum()),
            "clock_skew_count": int(linked["clock_skew"].sum()),
            "unlinked_kernels": int(len(k) - len(linked)),
            "kernel_time_ns": int(k["gpu_ns"].sum()),
            "avg_kernel_ns": float(k["gpu_ns"].mean()) if len(k) else float("nan"),
            "start_ns": t_begin,
            "end_ns": t_end,
            "latency_ns": latency,
            "devices": n_dev,
            "gpu_busy_ns": busy,
            "gpu_idle_ns": n_dev * latency - busy,
            "idle_share": (n_dev * latency - busy) / (n_dev * latency) if latency > 0 else float("nan"),
            "mean_queue_depth": float(in_flight / latency) if latency > 0 else float("nan"),
            "dispatch_median_ns": float(g["dispatch_ns"].median()) if g["dispatch_ns"].notna().any() else float("nan"),
        }
        for cat in ("host_wait", "kernel_wait", "other"):
            v = 0
            if gap_sum is not None and step in gap_sum.index and cat in gap_sum.columns:
                v = int(gap_sum.loc[step, cat])
            row[f"idle_{cat}_ns"] = v
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        depth = queue_depth(pl, by_stream=False)
        if len(depth):
            t = depth["t_ns"].to_numpy(np.int64)
            d = depth["depth"].to_numpy()
            out["max_queue_depth"] = [int(d[(t >= a) & (t <= b)].max(initial=0)) for a, b in zip(out.start_ns, out.end_ns)]
        out = out.sort_values("start_ns", kind="stable").reset_index(drop=True)
    return out


def top_kernels(launches: pd.DataFrame, k: int = 10) -> dict[str, pd.DataFrame]:
    """Top-k kernel names by launch count and by total GPU time (ns)."""
    pl = per_launch(launches)
    kern = pl[pl["kind"] == "kernel"]
    agg = kern.groupby("name", sort=False).agg(count=("gpu_ns", "size"), total_ns=("gpu_ns", "sum"),
                                               mean_ns=("gpu_ns", "mean"), mean_t_l_ns=("t_l_ns", "mean"),
                                               mean_queue_ns=("queue_ns", "mean")).reset_index()
    return {"by_count": agg.sort_values(["count", "total_ns"], ascending=False).head(k).reset_index(drop=True),
            "by_time": agg.sort_values("total_ns", ascending=False).head(k).reset_index(drop=True)}


def launch_summary(run: Run, top: int = 10) -> dict:
    """Everything ``lowprof launches`` shows, as plain data (ns)."""
    pl = per_launch(launches_of(run))
    ops = run["ops"] if "ops" in run.tables else None
    steps = per_step(pl, ops)
    tops = top_kernels(pl, top)
    linked = pl.dropna(subset=["t_l_ns"])
    idle = idle_breakdown(pl)
    return {
        "activities": int(len(pl)),
        "kernels": int((pl["kind"] == "kernel").sum()),
        "linked_to_launch_call": int(len(linked)),
        "launch_apis": {str(k): int(v) for k, v in pl["launch_api"].value_counts().items()},
        "negative_queue_count": int(linked["queue_negative"].sum()),
        "clock_skew_count": int(linked["clock_skew"].sum()),
        "negative_queue_rule": "queue_ns < 0 kept as measured in TKLQT and its queue part; counted, flagged; "
                               "launch_delay_ns clips it at 0 as HTA does",
        "median_api_ns": float(linked["api_ns"].median()) if len(linked) else None,
        "median_queue_ns": float(linked["queue_ns"].median()) if len(linked) else None,
        "median_t_l_ns": float(linked["t_l_ns"].median()) if len(linked) else None,
        "idle_by_stream_ns": {f"{s}:{c}": int(v) for (s, c), v in idle.groupby(["stream", "category"])["gap_ns"].sum().items()},
        "steps": steps.to_dict(orient="records"),
        "top_by_count": tops["by_count"].to_dict(orient="records"),
        "top_by_time": tops["by_time"].to_dict(orient="records"),
    }


def section_launches(run: Run) -> dict | None:
    """Report section: launch summary when the run has a launches table (seconds for durations)."""
    if "launches" not in run.tables:
        return None
    pl = per_launch(run["launches"])
    linked = pl.dropna(subset=["t_l_ns"])
    k = pl[pl["kind"] == "kernel"]
    kl = linked[linked["kind"] == "kernel"]
    return {
        "gpu_activities": int(len(pl)),
        "kernels": int(len(k)),
        "steps": int(pl["step"].nunique()),
        "tklqt_s": float(kl["t_l_ns"].sum()) / 1e9,
        "tklqt_api_s": float(kl["api_ns"].sum()) / 1e9,
        "tklqt_queue_s": float(kl["queue_ns"].sum()) / 1e9,
        "kernel_time_s": float(k["gpu_ns"].sum()) / 1e9,
        "avg_kernel_s": float(k["gpu_ns"].mean()) / 1e9 if len(k) else None,
        "negative_queue_count": int(linked["queue_negative"].sum()),
    }

"""CPU-bound or GPU-bound: a verdict per pass, and the transition batch size over a sweep.

Per pass (from :func:`lowprof.analysis.launches.per_step`), with these stated thresholds:
  idle_share  = GPU idle / (devices x latency)
  queue_share = TKLQT queue part / TKLQT (share of launch-to-start time spent queued behind other work)
  mean_queue_depth = sum over activities of (gpu_end - cpu_start) / latency (Little's law: mean in flight)
  GPU-bound  if idle_share <  IDLE_SHARE_MAX_GPU_BOUND and (queue_share >= QUEUE_SHARE_MIN_GPU_BOUND
             or mean_queue_depth >= QUEUE_DEPTH_MIN_GPU_BOUND)
  CPU-bound  if idle_share >= IDLE_SHARE_MAX_GPU_BOUND and queue_share < QUEUE_SHARE_MIN_GPU_BOUND
  mixed      otherwise.

Over a sweep folder (``sweep.json`` + one run directory per value) the per-batch medians over
non-warm-up passes give TKLQT(batch) and pass time(batch). The transition batch is the knee of
log2 TKLQT vs log2 batch found by a two-segment changepoint fit: for each split, a constant on the
first points (the flat, launch-bound regime) and a least-squares line on the rest (at least two
points); the models "flat" (no transition: launch-bound throughout), "line" (rising from the
smallest batch) and each split are weighed by BIC weights w ∝ exp(-BIC/2),
BIC = n ln(SSE/n) + p ln n (p = 1, 2 and 4: constant, line, split point). The transition batch is the
first batch of the rising segment of the best split; its confidence is that split's weight (0..1).
A split whose rising segment has no positive slope is not a transition.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from lowprof.analysis.launches import launches_of, per_step
from lowprof.errors import LowprofError
from lowprof.rundir import Run, load
from lowprof.tracers.launches import is_warmup

__all__ = ["verdicts", "pass_stacks", "sweep_curve", "transition", "analyse_sweep", "is_sweep",
           "IDLE_SHARE_MAX_GPU_BOUND", "QUEUE_SHARE_MIN_GPU_BOUND", "QUEUE_DEPTH_MIN_GPU_BOUND"]

IDLE_SHARE_MAX_GPU_BOUND = 0.30
QUEUE_SHARE_MIN_GPU_BOUND = 0.50
QUEUE_DEPTH_MIN_GPU_BOUND = 2.0


def _verdict(idle_share: float, queue_share: float, depth: float) -> str:
    gpu_side = queue_share >= QUEUE_SHARE_MIN_GPU_BOUND or depth >= QUEUE_DEPTH_MIN_GPU_BOUND
    if idle_share < IDLE_SHARE_MAX_GPU_BOUND and gpu_side:
        return "GPU-bound"
    if idle_share >= IDLE_SHARE_MAX_GPU_BOUND and queue_share < QUEUE_SHARE_MIN_GPU_BOUND:
        return "CPU-bound"
    return "mixed"


def verdicts(run: Run) -> pd.DataFrame:
    """One row per pass: verdict and its evidence (idle share, queue share, queue depth, TKLQT parts)."""
    ops = run["ops"] if "ops" in run.tables else None
    steps = per_step(launches_of(run), ops)
    if steps.empty:
        return steps
    queue_share = (steps["tklqt_queue_ns"] / steps["tklqt_ns"].where(steps["tklqt_ns"] != 0)).fillna(0.0)
    out = steps[["step", "kernels", "latency_ns", "tklqt_ns", "tklqt_api_ns", "tklqt_queue_ns", "idle_share",
                 "idle_host_wait_ns", "mean_queue_depth", "start_ns", "end_ns"]].copy()
    out["queue_share"] = queue_share
    out["warmup"] = out["step"].map(is_warmup)
    out["verdict"] = [_verdict(i, q, d) for i, q, d in zip(out["idle_share"].fillna(0), queue_share,
                                                          out["mean_queue_depth"].fillna(0))]
    return out


def pass_stacks(run: Run, passes: pd.DataFrame | None = None, verdict: str | None = "CPU-bound", top: int = 5,
                by: str = "leaf") -> pd.DataFrame | None:
    """Top Python ``leaf`` frames (or whole ``stack``s) by py-spy samples inside each pass with ``verdict``.

    Needs the ``pystack_samples`` table (``lowprof run --stacks``); None when the run has none.
    ``verdict=None`` takes every pass. Samples in a pass = overlap of each run of identical samples
    with the pass window [start_ns, end_ns] x the sampling rate; share = of all samples in the pass.
    """
    if "pystack_samples" not in run.tables:
        return None
    from lowprof.tracers.pystack_timeline import stacks_in_windows

    v = verdicts(run) if passes is None else passes
    if verdict is not None and len(v):
        v = v[v["verdict"] == verdict]
    rate = float((run.manifest.get("pystacks_timeline") or {}).get("rate_hz") or 100)
    return stacks_in_windows(run["pystack_samples"], v[["step", "start_ns", "end_ns"]] if len(v) else
                             pd.DataFrame(columns=["step", "start_ns", "end_ns"]), rate, top=top, by=by)


def is_sweep(path: str | os.PathLike) -> bool:
    return (Path(path) / "sweep.json").is_file()


def _read_sweep(path: Path) -> dict:
    from lowprof.rundir.many import read_sweep

    return read_sweep(path)  # schema-checked, every run's dir inside the folder


def sweep_curve(path: str | os.PathLike, param: str = "batch") -> pd.DataFrame:
    """Per value of ``param``: median TKLQT (and parts), pass time and kernel count over the
    non-warm-up passes, and the majority verdict; skipped runs keep a row with a reason."""
    path = Path(path)
    doc = _read_sweep(path)
    rows = []
    for r in doc.get("runs", []):
        value = r.get("params", {}).get(param)
        row = {param: value, "dir": r.get("dir"), "exit_code": r.get("exit_code"), "passes": 0, "note": None}
        try:
            v = verdicts(load(path / r["dir"]))
        except (LowprofError, KeyError) as e:
            row["note"] = str(e)
            rows.append(row)
            continue
        v = v[~v["warmup"] & (v["step"] != "(no step)")] if len(v) else v
        if v.empty:
            row["note"] = "no non-warm-up pass in its launches table"
            rows.append(row)
            continue
        row.update(passes=int(len(v)), tklqt_ns=float(v["tklqt_ns"].median()),
                   tklqt_api_ns=float(v["tklqt_api_ns"].median()), tklqt_queue_ns=float(v["tklqt_queue_ns"].median()),
                   pass_ns=float(v["latency_ns"].median()), kernels=float(v["kernels"].median()),
                   idle_share=float(v["idle_share"].median()), verdict=v["verdict"].mode().iloc[0])
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        out[param] = pd.to_numeric(out[param], errors="coerce")
        out = out.sort_values(param, kind="stable").reset_index(drop=True)
    return out


def transition(batch: np.ndarray, tklqt_ns: np.ndarray) -> dict:
    """Knee of log2 TKLQT vs log2 batch by BIC-weighted hinge fits (see module docstring)."""
    ok = (np.asarray(batch, float) > 0) & (np.asarray(tklqt_ns, float) > 0)
    x = np.log2(np.asarray(batch, float)[ok])
    y = np.log2(np.asarray(tklqt_ns, float)[ok])
    n = len(x)
    if n < 4:
        return {"transition_batch": None, "model": "insufficient", "confidence": 0.0,
                "note": f"need >= 4 batch sizes with TKLQT > 0, have {n}"}
    eps = 1e-12 * n

    def bic(sse: float, p: int) -> float:
        return n * math.log(max(sse, eps) / n) + p * math.log(n)

    flat_sse = float(((y - y.mean()) ** 2).sum())
    line = np.polyfit(x, y, 1)
    models = {"flat": (bic(flat_sse, 1), None, 0.0),
              "line": (bic(float(((np.polyval(line, x) - y) ** 2).sum()), 2), x[0], float(line[0]))}
    for k in range(0, n - 2):  # flat on x[0..k], a line on x[k+1..] (at least two points)
        head, tail = y[: k + 1], y[k + 1:]
        fit = np.polyfit(x[k + 1:], tail, 1)
        sse = float(((head - head.mean()) ** 2).sum() + ((np.polyval(fit, x[k + 1:]) - tail) ** 2).sum())
        models[f"knee@{2 ** x[k + 1]:g}"] = (bic(sse, 4), x[k + 1], float(fit[0]))
    best_bic = min(b for b, _, _ in models.values())
    weights = {k: math.exp(-(b - best_bic) / 2) for k, (b, _, _) in models.items()}
    total = sum(weights.values())
    weights = {k: w / total for k, w in weights.items()}
    # On a tie (the boundary point fits both segments) the later split wins: the point is still flat.
    best = max(weights, key=lambda k: (round(weights[k], 9), models[k][1] if models[k][1] is not None else -1))
    _, xk, slope = models[best]
    hinge_weight = sum(w for k, w in weights.items() if k.startswith("knee") and models[k][2] > 0)
    result = {"model": best, "confidence": round(weights[best], 3), "slope_after": round(slope, 3),
              "weights": {k: round(w, 3) for k, w in weights.items()}, "transition_batch": None,
              "any_transition_weight": round(hinge_weight, 3)}
    if best.startswith("knee") and slope > 0:
        result["transition_batch"] = float(2 ** xk)
    elif best == "flat":
        result["note"] = "TKLQT flat over the sweep: no transition (launch-bound throughout)"
    elif best == "line":
        result["note"] = "TKLQT rises from the smallest batch: no flat launch-bound region"
    return result


def analyse_sweep(path: str | os.PathLike, param: str = "batch") -> dict:
    """Curve, knee-based transition, and the first batch whose passes are GPU-bound (cross-check)."""
    curve = sweep_curve(path, param)
    good = curve.dropna(subset=["tklqt_ns"]) if "tklqt_ns" in curve else curve.iloc[0:0]
    knee = transition(good[param].to_numpy(), good["tklqt_ns"].to_numpy()) if len(good) else \
        {"transition_batch": None, "model": "insufficient", "confidence": 0.0, "note": "no usable run"}
    first_gpu = good.loc[good["verdict"] == "GPU-bound", param] if "verdict" in good else good[param].iloc[0:0]
    return {"param": param, "curve": curve.to_dict(orient="records"), "knee": knee,
            "first_gpu_bound_batch": float(first_gpu.iloc[0]) if len(first_gpu) else None}

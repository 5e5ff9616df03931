"""CPU-bound or GPU-bound: a verdict per pass, and the transition batch size over a sweep.

Per pass (from :func:`lowprof.analysis.launches.per_step`), with these stated thresholds:
  idle_share  = GPU idle / (devices x latency)
  queue_share = TKLQT queue part / TKLQT (share of launch-to-start time spent queued behind other work)
  mean_queue_depth = time-integral over the pass of the launch calls in flight (call start to its last
                     activity's end, clipped to the pass) / latency (Little's law; a graph launch is one call)
  GPU-bound  if idle_share <  IDLE_SHARE_MAX_GPU_BOUND and (queue_share >= QUEUE_SHARE_MIN_GPU_BOUND
             or mean_queue_depth >= QUEUE_DEPTH_MIN_GPU_BOUND)
  CPU-bound  if idle_share >= IDLE_SHARE_MAX_GPU_BOUND and queue_share < QUEUE_SHARE_MIN_GPU_BOUND
  mixed      otherwise.

Over a sweep folder (``sweep.json`` + one run directory per value) the per-batch medians over
non-warm-up passes give TKLQT(batch) and pass time(batch); ``lowprof bound --curve FILE.csv`` takes
such a curve from a file (e.g. read off a paper's figure).

Transition batch. Convention: the LAST batch of the sweep that is still CPU-bound, as Vellaisamy
et al. (ISPASS 2025, arXiv:2504.11750) put it: TKLQT stays flat while the host's launch calls pace
the GPU and rises once kernels queue; "GH200 remains CPU-bound up to 4x larger batch sizes than LC
systems" (abstract), i.e. the paper's ~8 on PCIe hosts and ~32 on GH200 are last CPU-bound batches.
Method, on x = log2 batch, y = log2 TKLQT:
  hinge   y = a + b max(0, x - c), c continuous in [second-smallest, second-largest batch), so at
          least two batches lie on each side (one flat point is no flat region); for each c on a grid
          of 1/64 octave, a and b by least squares.
  posterior of c: flat priors on a, b, c and log sigma, a and b integrated exactly:
          p(c | y) ~ (n S_hh(c))^(-1/2) SSE(c)^(-(n-2)/2),  S_hh = sum (h - mean h)^2, h = max(0, x - c).
  each c names one batch: the largest B with b (log2 B - c) <= log2(1 + CPU_BOUND_RISE_MAX), i.e.
          whose fitted TKLQT is within 20 % of the flat (launch-bound) level. A batch at the hinge
          (flat through B, rising from the next batch) is therefore B, even when noise puts c a little
          below it; b <= 0 names "no rise".
  step    for a sudden rise no hinge fits (TKLQT jumping several-fold within one octave as kernels
          start to queue): a constant on the batches <= u_k and a free least-squares line on the rest
          (>= 2 batches each); split k weighted ~ SSE_k^(-n/2); it names the largest batch whose
          fitted TKLQT is within the same 20 % of the constant.
  A knee naming the largest batch of the sweep (TKLQT never 20 % above flat) means no transition.
  models  flat (p = 2: a, sigma), line from the smallest batch (p = 3), hinge (p = 4) and step
          (p = 5) get BIC weights w ~ exp(-BIC/2), BIC = n ln(SSE/n) + p ln n.
  P(B) = w_hinge x posterior mass of the c that name B + w_step x weight of the splits that name B;
  P(no transition) = w_flat (+ mass with a slope <= 0); P(rising from the smallest batch) = w_line. The reported batch is the most probable
  outcome and its confidence is that probability: two batches about equally likely give ~0.5 each.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from lowprof.analysis.launches import pass_frame
from lowprof.errors import LowprofError
from lowprof.rundir import Run, load
from lowprof.rundir.specs.launches import is_warmup

__all__ = ["verdicts", "pass_stacks", "sweep_curve", "transition", "transition_batches", "analyse_sweep", "is_sweep",
           "IDLE_SHARE_MAX_GPU_BOUND", "QUEUE_SHARE_MIN_GPU_BOUND", "QUEUE_DEPTH_MIN_GPU_BOUND",
           "CPU_BOUND_RISE_MAX", "RULE_TRANSITION", "read_curve"]

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
    """One row per pass: verdict and its evidence (idle share, queue share, queue depth, TKLQT parts), and the
    graph-launched activity apart (graph launch calls, their activities, their share of the pass's GPU time),
    since a graph launch is one launch call in TKLQT and the queue depth however many nodes it runs."""
    steps = pass_frame(run)
    if steps.empty:
        return steps.copy()
    queue_share = (steps["tklqt_queue_ns"] / steps["tklqt_ns"].where(steps["tklqt_ns"] != 0)).fillna(0.0)
    out = steps[["step", "kernels", "latency_ns", "tklqt_ns", "tklqt_api_ns", "tklqt_queue_ns", "idle_share",
                 "idle_host_wait_ns", "mean_queue_depth", "start_ns", "end_ns",
                 "graph_launches", "graph_activities", "graph_gpu_share"]].copy()
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
    from lowprof.rundir.specs.stacks import stacks_in_windows

    v = verdicts(run) if passes is None else passes
    if verdict is not None and len(v):
        v = v[v["verdict"] == verdict]
    rate = float(run.section("pystacks_timeline").rate_hz or 100)
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


CPU_BOUND_RISE_MAX = 0.20  # a batch is still CPU-bound while its fitted TKLQT is within 20 % of the flat level
KNEE_STEPS_PER_OCTAVE = 64
RULE_TRANSITION = (f"transition batch = last batch still CPU-bound: hinge log2 TKLQT = a + b max(0, log2 batch - c) "
                   f"fitted by least squares (or flat-then-line for a sudden rise); a batch is CPU-bound while its fitted TKLQT is within "
                   f"{CPU_BOUND_RISE_MAX:.0%} of the flat level; confidence = its posterior probability "
                   f"(Vellaisamy et al., ISPASS 2025: ~8 on PCIe hosts, ~32 on GH200)")
_SSE_FLOOR = 1e-10  # per point, (log2 units)^2: an exact curve still has a finite likelihood
NO_RISE, FROM_SMALLEST = "none: TKLQT flat over the sweep", "rising from the smallest batch"


def transition_batches(batch, times) -> dict:
    """Vectorised core of :func:`transition`: ``times`` is (n,) or (curves, n), all > 0, ``batch`` (n,) > 0.

    Returns arrays over curves: ``candidates`` (m distinct batches, then the labels NO_RISE and
    FROM_SMALLEST), ``prob`` (curves, m + 2), ``reported`` (curves,; NaN where no CPU-bound batch is
    reported), ``confidence``, ``knee_log2`` (the posterior-median knee c), ``knee_lo``/``knee_hi``
    (5 %/95 % posterior quantiles of c), ``slope`` (b at the most likely c), ``model`` (curves,).
    """
    x = np.log2(np.asarray(batch, float))
    Y = np.atleast_2d(np.log2(np.asarray(times, float)))
    S, n = Y.shape
    u = np.unique(x)
    m = len(u)
    if m < 4:
        raise ValueError(f"need >= 4 distinct batch sizes, have {m}")
    tau = math.log2(1 + CPU_BOUND_RISE_MAX)
    c = np.arange(u[1], u[m - 2], 1 / KNEE_STEPS_PER_OCTAVE)  # knee grid: >= 2 batches before and after it
    h = np.maximum(0.0, x[None, :] - c[:, None])                     # (C, n) hinge regressor
    hm = h - h.mean(axis=1, keepdims=True)
    shh = (hm ** 2).sum(axis=1)                                      # (C,) > 0: >= 2 batches past c
    ym = Y - Y.mean(axis=1, keepdims=True)
    sst = (ym ** 2).sum(axis=1)                                      # (S,)
    sxy = ym @ hm.T                                                  # (S, C)
    b = sxy / shh
    floor = _SSE_FLOOR * n
    sse = np.maximum(sst[:, None] - b * sxy, floor)
    # Posterior of c, flat priors on a, b (integrated exactly), c (on the grid) and log sigma.
    logp = -0.5 * np.log(n * shh)[None, :] - 0.5 * (n - 2) * np.log(sse)
    post = np.exp(logp - logp.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    # Each c names the last batch still CPU-bound: b (log2 B - c) <= log2(1 + CPU_BOUND_RISE_MAX).
    with np.errstate(divide="ignore", invalid="ignore"):
        edge = np.where(b > 0, c[None, :] + tau / b, -np.inf)
    idx = np.searchsorted(u, edge, side="right") - 1                 # -1: b <= 0, no rise
    idx = np.where((idx < 0) | (idx == m - 1), m, idx)               # no rise, or none of 20 % in the sweep
    prob_hinge = (post[:, :, None] * (idx[:, :, None] == np.arange(m + 1))).sum(axis=1)  # (S, m + 1)
    # Step: flat on the batches <= u_k, a free line on the rest (>= 2 batches): a sudden rise
    # (TKLQT jumping several-fold in one octave as kernels start to queue) that no hinge fits.
    k_idx = np.arange(1, m - 2)                                      # >= 2 batches flat, >= 2 on the line
    tail = x[None, :] > u[k_idx, None]                               # (K, n)
    head = ~tail
    nh, nt = head.sum(axis=1), tail.sum(axis=1)
    sy_h, syy_h = Y @ head.T, (Y ** 2) @ head.T                      # (S, K)
    sy_t, syy_t = Y @ tail.T, (Y ** 2) @ tail.T
    sx_t, sxx_t = (tail * x).sum(axis=1), (tail * x ** 2).sum(axis=1)
    sxy_t = (Y * x) @ tail.T
    vx = sxx_t - sx_t ** 2 / nt
    cov = sxy_t - sx_t * sy_t / nt
    slope_t = cov / vx
    sse_step = np.maximum((syy_h - sy_h ** 2 / nh) + (syy_t - sy_t ** 2 / nt) - slope_t * cov, floor)
    flat_t = sy_h / nh
    icpt_t = (sy_t - slope_t * sx_t) / nt
    # named batch: the largest u_i whose fitted value is within the CPU-bound rise of the flat level
    fitted = np.where(u[None, None, :] <= u[k_idx, None][None], flat_t[..., None],
                      icpt_t[..., None] + slope_t[..., None] * u[None, None, :])   # (S, K, m)
    within = fitted - flat_t[..., None] <= tau
    name_step = m - 1 - np.argmax(within[..., ::-1], axis=2)
    name_step = np.where((slope_t > 0) & (name_step < m - 1), name_step, m)
    lw = -0.5 * n * np.log(sse_step)
    pk = np.exp(lw - lw.max(axis=1, keepdims=True))
    pk /= pk.sum(axis=1, keepdims=True)
    prob_step = (pk[:, :, None] * (name_step[:, :, None] == np.arange(m + 1))).sum(axis=1)  # (S, m + 1)
    # Which model: flat, line from the smallest batch, hinge or step, by BIC weights.
    xm = x - x.mean()
    sse_line = np.maximum(sst - (ym @ xm) ** 2 / (xm ** 2).sum(), floor)
    bic = np.stack([n * np.log(np.maximum(sst, floor) / n) + 2 * math.log(n),
                    n * np.log(sse_line / n) + 3 * math.log(n),
                    n * np.log(sse.min(axis=1) / n) + 4 * math.log(n),
                    n * np.log(sse_step.min(axis=1) / n) + 5 * math.log(n)], axis=1)
    w = np.exp(-(bic - bic.min(axis=1, keepdims=True)) / 2)
    w /= w.sum(axis=1, keepdims=True)
    named = w[:, 2:3] * prob_hinge + w[:, 3:4] * prob_step           # (S, m + 1)
    prob = np.concatenate([named[:, :m], (w[:, 0] + named[:, m])[:, None], w[:, 1:2]], axis=1)
    best = prob.argmax(axis=1)
    cdf = post.cumsum(axis=1)
    q = lambda p: c[np.minimum((cdf < p).sum(axis=1), len(c) - 1)]  # noqa: E731
    top = post.argmax(axis=1)
    return {"candidates": [float(2 ** v) for v in u] + [NO_RISE, FROM_SMALLEST],
            "prob": prob, "reported": np.where(best < m, 2 ** u[np.minimum(best, m - 1)], np.nan),
            "confidence": prob[np.arange(S), best], "model": np.array(["hinge", "flat", "line"])[
                np.where(best < m, 0, np.where(best == m, 1, 2))],
            "knee_log2": q(0.5), "knee_lo": q(0.05), "knee_hi": q(0.95), "slope": b[np.arange(S), top],
            "model_weights": w}

def transition(batch, tklqt_ns) -> dict:
    """Last batch still CPU-bound, from a hinge fit of log2 TKLQT vs log2 batch (module docstring).

    ``batch`` and ``tklqt_ns`` are 1-D, any time unit (the fit is on log2 axes); points with a
    batch or time <= 0 or not finite are left out. Repeated batches are allowed (several runs each).
    """
    b = np.asarray(batch, float)
    t = np.asarray(tklqt_ns, float)
    ok = np.isfinite(b) & np.isfinite(t) & (b > 0) & (t > 0)
    m = len(np.unique(b[ok]))
    if m < 4:
        return {"transition_batch": None, "model": "insufficient", "confidence": 0.0, "rule": RULE_TRANSITION,
                "note": f"need >= 4 distinct batch sizes with TKLQT > 0, have {m}"}
    r = transition_batches(b[ok], t[ok])
    cand, prob = r["candidates"], r["prob"][0]
    out = {"transition_batch": None if np.isnan(r["reported"][0]) else float(r["reported"][0]),
           "model": str(r["model"][0]), "confidence": round(float(r["confidence"][0]), 3),
           "probabilities": {(f"{k:g}" if isinstance(k, float) else k): round(float(p), 3)
                             for k, p in zip(cand, prob) if p >= 0.0005},
           "knee_batch": round(float(2 ** r["knee_log2"][0]), 3),
           "knee_interval_90": [round(float(2 ** r["knee_lo"][0]), 3), round(float(2 ** r["knee_hi"][0]), 3)],
           "slope_after": round(float(r["slope"][0]), 3),
           "model_weights": {k: round(float(v), 3) for k, v in zip(("flat", "line", "hinge", "step"), r["model_weights"][0])},
           "rule": RULE_TRANSITION}
    if out["model"] == "flat":
        out["note"] = "TKLQT flat over the sweep: no transition (CPU-bound throughout)"
    elif out["model"] == "line":
        out["note"] = "TKLQT rises from the smallest batch: no flat CPU-bound region in the sweep"
    return out


def analyse_sweep(path: str | os.PathLike, param: str = "batch") -> dict:
    """Curve, knee-based transition, and the first batch whose passes are GPU-bound (cross-check)."""
    curve = sweep_curve(path, param)
    good = curve.dropna(subset=["tklqt_ns"]) if "tklqt_ns" in curve else curve.iloc[0:0]
    knee = transition(good[param].to_numpy(), good["tklqt_ns"].to_numpy()) if len(good) else \
        {"transition_batch": None, "model": "insufficient", "confidence": 0.0, "note": "no usable run"}
    first_gpu = good.loc[good["verdict"] == "GPU-bound", param] if "verdict" in good else good[param].iloc[0:0]
    return {"param": param, "curve": curve.to_dict(orient="records"), "knee": knee,
            "first_gpu_bound_batch": float(first_gpu.iloc[0]) if len(first_gpu) else None}


_TIME_PREFERENCE = ("tklqt_ns", "tklqt_us", "tklqt_ms", "tklqt_s", "tklqt")


def read_curve(path: str | os.PathLike, time_column: str | None = None) -> tuple[pd.DataFrame, str]:
    """A curve from a CSV file: column ``batch`` and one time column (any unit: the fit is on log2 axes).

    The time column is ``time_column`` if given, else the only other column, else the one named
    ``tklqt*``. Returns (frame with columns batch and that column, its name). Raises LowprofError
    with one line for a missing file, a missing or ambiguous column, a non-number or a value <= 0.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, skipinitialspace=True, comment="#", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise LowprofError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise LowprofError(f"{path}: is a folder; --curve takes a CSV file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise LowprofError(f"{path}: not a readable CSV file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    df.columns = [str(c).strip() for c in df.columns]
    names = {c.lower(): c for c in df.columns}
    if "batch" not in names:
        raise LowprofError(f"{path}: no 'batch' column (columns: {', '.join(df.columns) or 'none'})")
    others = [c for c in df.columns if c != names["batch"]]
    if time_column is not None:
        if time_column not in df.columns:
            raise LowprofError(f"{path}: no column {time_column!r} (columns: {', '.join(df.columns)})")
        tcol = time_column
    elif len(others) == 1:
        tcol = others[0]
    else:
        pref = [names[p] for p in _TIME_PREFERENCE if p in names]
        if not pref:
            raise LowprofError(f"{path}: which column is the time? columns {', '.join(others) or 'none'} besides "
                               f"batch; name one with --time-column")
        tcol = pref[0]
    out = pd.DataFrame({"batch": df[names["batch"]], tcol: df[tcol]})
    for col in out.columns:
        num = pd.to_numeric(out[col].str.strip(), errors="coerce")
        bad = ~np.isfinite(num.to_numpy(float)) | (num.to_numpy(float) <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LowprofError(f"{path}: data row {i + 1}: {col} = {out[col].iloc[i]!r} is not a number > 0")
        out[col] = num
    if out.empty:
        raise LowprofError(f"{path}: no data rows")
    return out, tcol

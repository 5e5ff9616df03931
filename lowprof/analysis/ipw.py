"""Intelligence per watt and per joule as the Intelligence-per-Watt harness defines them (Saad-Falcon et
al., "Intelligence per Watt: Measuring Intelligence Efficiency of Local AI", arXiv:2511.07885, 2025;
HazyResearch/intelligence-per-watt, ``ipw.analysis.accuracy``), from a results file joined against a
run's power and energy readings.

Per query q (window [start_q, end_q], duration d_q):

- energy ``E_q``: the energy counter's difference at the window's edges (``e(end) - e(start)``, the
  counter interpolated at each edge), summed over the chosen devices; a device without a counter
  integrates its power instead (labelled ``integrated``). The harness takes the counter's first and
  last reading inside the window.
- power ``P_q = E_q / d_q`` (a query of zero duration has no energy or power measured: it counts in the
  accuracy and is left out of both means, as the harness leaves out non-positive energies and latencies)

and over the N queries, with scores s_q in [0, 1] (``correct`` counts as 1/0):

- accuracy ``A = mean(s_q)``
- ``IPW = A / mean(P_q)`` (1/W);  ``IPJ = A / mean(E_q)`` (1/J)  (the harness's own unit test: a correct
  query of 10 J over 2 s and a wrong one of 20 J over 4 s give A = 0.5, IPJ = 1/30, IPW = 0.1)

Where every chosen device has both a counter and a power signal, the same figures from the integrated power
signal stand beside them (``energy_per_query_integrated_j``, ``ipw_integrated_per_w``,
``ipj_integrated_per_j``) with ``energy_disagreement_percent`` = (integrated - counter) / counter of the
mean per-query energy.

Concurrent queries each count the device energy of their whole window, as in the harness; the run's
energy actually drawn is reported beside it: ``energy_j`` over the union of the windows, queries per joule
``N / energy_j`` and tokens per joule ``sum(tokens) / energy_j``. Latency percentiles are of ``d_q``.

Results file: JSON lines, one per query: ``id``; ``correct`` (true/false or 0/1) or ``score`` (a number
in [0, 1]); optionally ``start_ns``/``end_ns`` (run clock, ns), ``start_s``/``end_s`` (run clock, s) or
``start_unix_s``/``end_unix_s`` (wall clock); ``tokens``; ``model``. Without times, the whole power trace
is shared equally by the queries (E_q = E / N, d_q = T / N), and the output says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lowprof.analysis.devices import choose_devices
from lowprof.analysis.power import COUNTER_SIGNAL, device_traces, power_traces, window_energy
from lowprof.errors import LowprofError
from lowprof.rundir import Run

__all__ = ["read_results", "ipw", "merge_windows"]


def read_results(path: str | Path, origin_realtime_ns: int = 0) -> pd.DataFrame:
    """Results file -> id, score, start_ns, end_ns (run clock, may be null), tokens, model."""
    path = Path(path)
    if not path.is_file():
        raise LowprofError(f"results file {path}: not found")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            raise LowprofError(f"{path}:{n}: not JSON: {line[:60]!r}") from None
        score = _score(r, f"{path}:{n}", line)
        start = end = None
        if "start_ns" in r:
            start, end = int(r["start_ns"]), int(r["end_ns"])
        elif "start_s" in r:
            start, end = round(r["start_s"] * 1e9), round(r["end_s"] * 1e9)
        elif "start_unix_s" in r:
            if not origin_realtime_ns:
                raise LowprofError(f"{path}:{n}: start_unix_s needs the run's realtime origin")
            start = round(r["start_unix_s"] * 1e9) - origin_realtime_ns
            end = round(r["end_unix_s"] * 1e9) - origin_realtime_ns
        if start is not None and end < start:
            raise LowprofError(f"{path}:{n}: end before start ({start} > {end})")
        rows.append({"id": str(r.get("id", n)), "score": score, "start_ns": start, "end_ns": end,
                     "tokens": r.get("tokens"), "model": r.get("model")})
    if not rows:
        raise LowprofError(f"results file {path}: no queries")
    return pd.DataFrame(rows)


def _score(r: dict, where: str, line: str) -> float:
    """A query's score from ``correct`` (true/false or 0/1) or ``score`` (a number in [0, 1], or a boolean)."""
    if "score" in r:
        key, v = "score", r["score"]
        ok = isinstance(v, (bool, int, float)) and 0 <= v <= 1
        want = "a number in [0, 1] (or true/false)"
    elif "correct" in r:
        key, v = "correct", r["correct"]
        ok = isinstance(v, bool) or (isinstance(v, (int, float)) and v in (0, 1))
        want = "true/false or 0/1"
    else:
        raise LowprofError(f"{where}: needs 'correct' or 'score': {line[:80]!r}")
    if not ok:
        raise LowprofError(f"{where}: '{key}' must be {want}, got {json.dumps(v)}")
    return float(v)


def merge_windows(starts, ends) -> list[tuple[float, float]]:
    """Union of [start, end] intervals as sorted, disjoint intervals."""
    out: list[list[float]] = []
    for s, e in sorted(zip(starts, ends)):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(a, b) for a, b in out]


def ipw(run: Run, results: pd.DataFrame, devices: str | None = None, signal: str = "auto") -> dict:
    """IPW, IPJ and friends for one run and its results (see the module docstring for every formula).
    ``devices``: as :func:`~lowprof.analysis.devices.choose_devices` (default: the GPUs, else the CPU);
    ``signal``: the power signal integrated where a device has no energy counter."""
    df = power_traces(run, signal)
    sel = choose_devices(df, devices)
    traces = device_traces(df, sel.devices)
    spans = [(tr.te if tr.has_counter else tr.t) for tr in traces.values()]
    if any(len(t) < 2 for t in spans):
        raise LowprofError(f"{run.path}: fewer than 2 power or energy readings for {sel.devices}")
    lo, hi = max(t[0] for t in spans), min(t[-1] for t in spans)
    n = len(results)
    timed = results.start_ns.notna()
    if timed.any() and not timed.all():
        raise LowprofError("some queries have times and some do not")
    if timed.all():
        a, b = results.start_ns.to_numpy(dtype=float), results.end_ns.to_numpy(dtype=float)
        windows = merge_windows(a, b)
    else:
        windows = [(lo, hi)]
    busy_ns = sum(y - x for x, y in windows)
    if busy_ns <= 0:
        raise LowprofError("the queries' windows have zero length")
    inside = sum(max(0.0, min(y, hi) - max(x, lo)) for x, y in windows)
    if inside < 0.99 * busy_ns:
        raise LowprofError(f"only {100 * inside / busy_ns:.0f}% of the queries' time lies inside the power trace "
                           f"[{lo / 1e9:.3f}, {hi / 1e9:.3f}] s: are the times on this run's clock?")
    union_e, method = window_energy(traces, sel.devices, [x for x, _ in windows], [y for _, y in windows])
    energy = float(np.sum(union_e))
    if timed.all():
        e_q, _ = window_energy(traces, sel.devices, a, b)
        d_q = (b - a) / 1e9
    else:
        e_q, d_q = np.full(n, energy / n), np.full(n, busy_ns / 1e9 / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_q = np.where(d_q > 0, e_q / d_q, np.nan)
    acc = float(results.score.mean())
    mean_w = float(np.nanmean(p_q)) if np.isfinite(p_q).any() else float("nan")
    measured = d_q > 0  # the harness: a query without a positive duration and energy is in A, not in the means
    mean_e = float(np.mean(e_q[measured])) if measured.any() else float("nan")
    overlapping = int(timed.all() and busy_ns < float(np.sum(b - a)) - 1)
    out = {
        "queries": n, "accuracy": acc, "devices": sel.devices, "energy_method": method,
        "windows": "per query" if timed.all() else "whole trace shared by the queries (no times)",
        "busy_s": busy_ns / 1e9, "energy_j": energy, "mean_power_w": mean_w,
        "ipw_per_w": acc / mean_w if mean_w > 0 else float("nan"),
        "energy_per_query_j": mean_e,
        "ipj_per_j": acc / mean_e if mean_e > 0 else float("nan"),
        "queries_per_j": n / energy if energy > 0 else float("nan"),
        "queries_without_duration": int(np.sum(d_q <= 0)),
        "concurrent_queries": bool(overlapping),
    }
    both = [tr for tr in traces.values() if tr.has_counter and len(tr.t) >= 2 and tr.signal != COUNTER_SIGNAL]
    if method == "counter" and len(both) == len(traces):  # the power signal integrated, beside the counter
        if timed.all():
            e_int = sum(tr.integrated_j(a, b) for tr in traces.values())
        else:
            e_int = np.full(n, sum(float(np.sum(tr.integrated_j([x for x, _ in windows], [y for _, y in windows])))
                                   for tr in traces.values()) / n)
        with np.errstate(divide="ignore", invalid="ignore"):
            p_int = np.where(d_q > 0, e_int / d_q, np.nan)
        mean_ei = float(np.mean(e_int[measured])) if measured.any() else float("nan")
        mean_wi = float(np.nanmean(p_int)) if np.isfinite(p_int).any() else float("nan")
        out.update(energy_integrated_signal=", ".join(sorted({tr.signal for tr in traces.values()})),
                   energy_per_query_integrated_j=mean_ei, mean_power_integrated_w=mean_wi,
                   ipj_integrated_per_j=acc / mean_ei if mean_ei > 0 else float("nan"),
                   ipw_integrated_per_w=acc / mean_wi if mean_wi > 0 else float("nan"),
                   energy_disagreement_percent=100 * (mean_ei - mean_e) / mean_e if mean_e > 0 else float("nan"))
    if timed.all():
        out.update(latency_p50_s=float(np.percentile(d_q, 50)), latency_p90_s=float(np.percentile(d_q, 90)),
                   latency_p99_s=float(np.percentile(d_q, 99)))
    tok = pd.to_numeric(results.tokens, errors="coerce")
    if tok.notna().any():
        out["tokens"] = int(tok.sum())
        out["tokens_per_j"] = float(tok.sum()) / energy if energy > 0 else float("nan")
    return out

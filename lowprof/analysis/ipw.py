"""Intelligence per watt (Saad-Falcon et al., "Intelligence per Watt: Measuring Intelligence Efficiency
of Local AI", arXiv:2511.07885, 2025): task accuracy per unit of power, from a results file joined
against a run's power trace.

The paper defines IPW as mean accuracy over the queries divided by the mean power drawn while
serving them, and intelligence per joule as accuracy divided by the energy per query. Here:

- accuracy ``A`` = mean of ``score`` (``correct`` counts as 1/0) over the queries
- the queries' time = the union of their [start, end] windows (overlapping queries count once)
- energy ``E`` = integrated power (trapezoid, devices summed) over that union, J
- mean power ``P = E / T`` with T the union's length (s);  ``IPW = A / P`` (1/W)
- energy per query ``E / N``; intelligence per joule ``IPJ = A / (E / N)``; queries per joule ``N / E``
- latency percentiles of ``end - start``; tokens per joule ``sum(tokens) / E`` where tokens are given

Results file: JSON lines, one per query: ``id``; ``correct`` (bool) or ``score`` (0-1); optionally
``start_ns``/``end_ns`` (run clock, ns), ``start_s``/``end_s`` (run clock, s) or
``start_unix_s``/``end_unix_s`` (wall clock); ``tokens``; ``model``. Without times the whole run is
one window.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lowprof.analysis.power import energy_between, power_traces, total_power
from lowprof.errors import LowprofError
from lowprof.rundir import Run

__all__ = ["read_results", "ipw", "merge_windows", "choose_devices"]


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


def choose_devices(df: pd.DataFrame, devices: str | None) -> list[str]:
    """Default: the GPUs if recorded, else RAPL packages, else every hwmon sensor; or a comma list / ``all``."""
    names = sorted(df.device.unique())
    if devices == "all":
        return names
    if devices:
        chosen = [d.strip() for d in devices.split(",")]
        missing = [d for d in chosen if d not in names]
        if missing:
            raise LowprofError(f"no power readings for {missing}; the run has {names}")
        return chosen
    for pick in (lambda d: d.startswith("gpu"), lambda d: d.startswith("rapl:") and "package" in d,
                 lambda d: d.startswith("hwmon:")):
        chosen = [d for d in names if pick(d)]
        if chosen:
            return chosen
    raise LowprofError("the run has no power readings (nvml, rapl or hwmon probe)")


def ipw(run: Run, results: pd.DataFrame, devices: str | None = None) -> dict:
    """IPW and friends for one run and its results (see the module docstring for every formula)."""
    df = power_traces(run)
    chosen = choose_devices(df, devices)
    t, p = total_power(df, chosen)
    if len(t) < 2:
        raise LowprofError(f"{run.path}: fewer than 2 power readings for {chosen}")
    if results.start_ns.isna().any():
        if results.start_ns.notna().any():
            raise LowprofError("some queries have times and some do not")
        windows = [(t[0], t[-1])]
    else:
        windows = merge_windows(results.start_ns.astype(float), results.end_ns.astype(float))
    outside = sum(max(0.0, min(b, t[-1]) - max(a, t[0])) for a, b in windows)
    busy_ns = sum(b - a for a, b in windows)
    if busy_ns <= 0:
        raise LowprofError("the queries' windows have zero length")
    if outside < 0.99 * busy_ns:
        raise LowprofError(f"only {100 * outside / busy_ns:.0f}% of the queries' time lies inside the power trace "
                           f"[{t[0] / 1e9:.3f}, {t[-1] / 1e9:.3f}] s: are the times on this run's clock?")
    energy = sum(energy_between(t, p, a, b) for a, b in windows)
    n = len(results)
    acc = float(results.score.mean())
    mean_w = energy / (busy_ns / 1e9)
    out = {
        "queries": n, "accuracy": acc, "devices": chosen, "busy_s": busy_ns / 1e9,
        "energy_j": energy, "mean_power_w": mean_w,
        "ipw_per_w": acc / mean_w if mean_w > 0 else float("nan"),
        "energy_per_query_j": energy / n,
        "ipj_per_j": acc / (energy / n) if energy > 0 else float("nan"),
        "queries_per_j": n / energy if energy > 0 else float("nan"),
    }
    if results.start_ns.notna().all():
        lat = (results.end_ns - results.start_ns).astype(float) / 1e9
        out.update(latency_p50_s=float(np.percentile(lat, 50)), latency_p90_s=float(np.percentile(lat, 90)),
                   latency_p99_s=float(np.percentile(lat, 99)))
    tok = pd.to_numeric(results.tokens, errors="coerce")
    if tok.notna().any():
        out["tokens"] = int(tok.sum())
        out["tokens_per_j"] = float(tok.sum()) / energy if energy > 0 else float("nan")
    return out

"""Per-name summaries of kernels, API calls and memory operations, as ``nsys stats`` reports them.

Three reports, each one row per name (definitions: docs/kernels.md):

* :func:`kernel_summary`: GPU kernels (``launches`` rows of kind ``kernel``), by kernel name;
  Nsight Systems' ``cuda_gpu_kern_sum``.
* :func:`api_summary`: every CUDA/HIP runtime and driver call (the ``api_calls`` table), by the call's name
  as the source wrote it, shown without nsys's 4-digit version suffix; ``cuda_api_sum``.
* :func:`memop_summary`: memcpy by kind and memset (``launches`` rows of kind ``memcpy``/``memset``), with
  bytes and bandwidth; ``cuda_gpu_mem_time_sum`` and ``cuda_gpu_mem_size_sum``.

For each name, over the durations d = end - start (ns) of its n rows:
  total = Σd; instances = n; mean = total / n; median = the middle value of the sorted d (n odd) or the
  mean of the two middle values (n even); min, max; stddev = the sample standard deviation
  sqrt(Σ(d - mean)² / (n - 1)), 0 when n = 1; time_pct = 100 · total / Σ total over the report's rows.
Rows are sorted by total (descending), then instances (ascending), then name, as nsys sorts them.
Memory operations add bytes = Σ bytes, its size statistics (same definitions) and
bandwidth_gbps = Σ bytes / Σ d (bytes per ns = GB/s, decimal: 1 GB = 10⁹ B).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lowprof.errors import RunDirError

if TYPE_CHECKING:
    import pandas as pd

    from lowprof.rundir import Run

__all__ = ["kernel_summary", "api_summary", "memop_summary", "nsys_display_name", "STAT_COLUMNS", "BYTE_COLUMNS"]

STAT_COLUMNS = ("name", "time_pct", "total_ns", "instances", "mean_ns", "median_ns", "min_ns", "max_ns", "stddev_ns")
BYTE_COLUMNS = ("bytes", "bandwidth_gbps", "bytes_mean", "bytes_median", "bytes_min", "bytes_max", "bytes_stddev")


def nsys_display_name(raw: object) -> object:
    """A call's name as ``cuda_api_sum`` shows it: a trailing ``_vNNNN`` (``_v`` and 4 more characters) removed
    (``cudaLaunchKernel_v7000`` -> ``cudaLaunchKernel``; ``cuGetProcAddress_v2`` and ``..._v11070`` kept)."""
    if isinstance(raw, str) and len(raw) >= 6 and raw[-6:-4] == "_v":
        return raw[:-6]
    return raw


def _stats(values: np.ndarray) -> tuple[int, int, float, float, int, int, float]:
    """(total, n, mean, median, min, max, stddev) of int64 ``values`` (n ≥ 1); stddev is the sample one (n - 1),
    0 for one value."""
    n = len(values)
    total = int(values.sum(dtype=np.int64))  # exact: int64 ns overflow after 292 years
    mean = total / n
    s = np.sort(values)
    median = float(s[n // 2]) if n % 2 else (int(s[n // 2 - 1]) + int(s[n // 2])) / 2
    if n > 1:
        d = values.astype(np.float64) - mean
        stddev = float(np.sqrt(np.dot(d, d) / (n - 1)))
    else:
        stddev = 0.0
    return total, n, mean, median, int(s[0]), int(s[-1]), stddev


def _summarise(names: pd.Series, durations: np.ndarray, extra: dict[str, np.ndarray] | None = None,
               label=None) -> list[dict]:
    """One dict per distinct name (None included), sorted as nsys sorts; ``extra``: bytes arrays (float, NaN = unknown)."""
    import pandas as pd

    codes, uniques = pd.factorize(names, use_na_sentinel=False)
    rows = []
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for idx in np.split(order, bounds) if len(order) else []:
        raw = uniques[codes[idx[0]]]
        raw = None if raw is pd.NA or (isinstance(raw, float) and raw != raw) else raw
        total, n, mean, median, lo, hi, sd = _stats(durations[idx])
        row = {"name": label(raw) if label else raw, "time_pct": None, "total_ns": total, "instances": n,
               "mean_ns": mean, "median_ns": median, "min_ns": lo, "max_ns": hi, "stddev_ns": sd}
        if label:
            row["name_raw"] = raw
        if extra is not None:
            b = extra["bytes"][idx]
            known = b[~np.isnan(b)].astype(np.int64)
            if len(known) == len(b):
                bt, _, bmean, bmed, bmin, bmax, bsd = _stats(known)
                row |= {"bytes": bt, "bandwidth_gbps": bt / total if total > 0 else None, "bytes_mean": bmean,
                        "bytes_median": bmed, "bytes_min": bmin, "bytes_max": bmax, "bytes_stddev": bsd}
            else:  # a size not recorded: no byte figure rather than a partial one
                row |= dict.fromkeys(BYTE_COLUMNS)
        rows.append(row)
    grand = sum(r["total_ns"] for r in rows)
    for r in rows:
        r["time_pct"] = 100.0 * r["total_ns"] / grand if grand > 0 else None
    rows.sort(key=lambda r: (-r["total_ns"], r["instances"], "" if r["name"] is None else str(r["name"])))
    return rows


def _gpu_rows(run: Run, kinds: tuple[str, ...]) -> pd.DataFrame:
    from lowprof.analysis.launches import launches_of

    if "launches" in run.unreadable:  # there, but damaged: say so (not "no launches table")
        raise RunDirError(f"{run.path}: unreadable launches table ({run.unreadable['launches']})")
    df = launches_of(run)
    df = df[df["kind"].isin(kinds).to_numpy(bool, na_value=False)]
    ok = (df["gpu_start_ns"].notna() & df["gpu_end_ns"].notna()).to_numpy(bool)
    return df[ok]


def _durations(start: pd.Series, end: pd.Series) -> np.ndarray:
    return end.to_numpy(np.int64) - start.to_numpy(np.int64)


def kernel_summary(run: Run) -> list[dict]:
    """Per kernel name: time_pct, total_ns, instances, mean/median/min/max/stddev_ns (see the module docstring).
    RunDirError if the run has no launches table."""
    k = _gpu_rows(run, ("kernel",))
    return _summarise(k["name"], _durations(k["gpu_start_ns"], k["gpu_end_ns"]))


def memop_summary(run: Run) -> list[dict]:
    """Per memory operation (memcpy by kind, memset): the kernel statistics plus bytes and bandwidth."""
    m = _gpu_rows(run, ("memcpy", "memset"))
    b = m["bytes"].astype("Float64").to_numpy(np.float64, na_value=np.nan)
    return _summarise(m["name"], _durations(m["gpu_start_ns"], m["gpu_end_ns"]), {"bytes": b})


def api_summary(run: Run) -> list[dict]:
    """Per API call name (as written, shown as nsys shows it, ``name_raw`` beside): the same statistics of
    the calls' CPU durations. RunDirError if the run has no ``api_calls`` table."""
    if "api_calls" not in run.tables:
        why = run.unreadable.get("api_calls")
        raise RunDirError(f"{run.path}: " + (f"unreadable api_calls table ({why})" if why else
                          ("no api_calls table (imported before `lowprof import` wrote one: re-import the trace "
                           "to summarise its API calls)" if run.section("kind") == "import" else
                           "no api_calls table: this run's tracer recorded no API calls beyond the launch calls "
                           "(`lowprof launches` has those)")))
    a = run["api_calls"]
    a = a[(a["start_ns"].notna() & a["end_ns"].notna()).to_numpy(bool)]
    return _summarise(a["name_raw"], _durations(a["start_ns"], a["end_ns"]), label=nsys_display_name)

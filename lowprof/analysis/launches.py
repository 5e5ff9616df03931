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

Everything is computed over whole columns with numpy (the step factorized once, exact int64 segment
sums over one stable sort); the results equal the plain per-step loop that the tests keep as reference.
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
_TIME_COLS = ("cpu_start_ns", "cpu_end_ns", "gpu_start_ns", "gpu_end_ns", "op_start_ns")
_I64_MAX = np.iinfo(np.int64).max
_IDLE_CATEGORIES = np.array(["host_wait", "kernel_wait", "other"])  # codes 0, 1, 2 (the order groupby sorts them)


def launches_of(run: Run) -> pd.DataFrame:
    """The run's launches table; RunDirError if it has none."""
    if "launches" not in run.tables:
        raise RunDirError(f"{run.path}: no launches table (import a trace with `lowprof import`, or record "
                          f"with `lowprof run --trace kernels`)")
    return run["launches"]


def _i64(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").astype("Int64")


def _ns(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A nullable integer column (ns) as int64 values (0 where null) and its valid mask."""
    return s.array.to_numpy(np.int64, na_value=0), ~s.array.isna()


def _flag(s: pd.Series) -> np.ndarray:
    """A boolean column as a numpy bool array, null as False."""
    return s.to_numpy(bool, na_value=False)


def _sub(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """a - b of two (values, valid) columns; valid where both are."""
    return a[0] - b[0], a[1] & b[1]


def _int64(v: tuple[np.ndarray, np.ndarray]) -> pd.arrays.IntegerArray:
    """A (values, valid) column as a nullable Int64 array."""
    return pd.arrays.IntegerArray(v[0], ~v[1])


def per_launch(launches: pd.DataFrame) -> pd.DataFrame:
    """The launches with api_ns, queue_ns, t_l_ns, launch_delay_ns, dispatch_ns and the two flags.

    Time columns become Int64 (ns, null where not traced); a null step becomes ``(no step)``. A frame
    that already has the derived columns (this function's output) is returned as it is.
    """
    if "t_l_ns" in launches.columns and "clock_skew" in launches.columns:
        return launches
    times = {c: _i64(launches[c]) for c in _TIME_COLS}
    cpu_start, cpu_end, gpu_start, gpu_end, op_start = (_ns(times[c]) for c in _TIME_COLS)
    queue, t_l = _sub(gpu_start, cpu_end), _sub(gpu_start, cpu_start)
    cols = {c: launches[c] for c in launches.columns} | times | {
        "step": launches["step"].astype("string").fillna(_NO_STEP),
        "api_ns": _int64(_sub(cpu_end, cpu_start)),
        "queue_ns": _int64(queue),
        "t_l_ns": _int64(t_l),
        "launch_delay_ns": _int64((np.maximum(queue[0], 0), queue[1])),
        "gpu_ns": _int64(_sub(gpu_end, gpu_start)),
        "dispatch_ns": _int64(_sub(cpu_start, op_start)),
        "queue_negative": (queue[0] < 0) & queue[1],
        "clock_skew": (t_l[0] < 0) & t_l[1],
    }
    return pd.DataFrame(cols, copy=False)  # unchanged columns shared copy-on-write with ``launches``


class _Launches:
    """A :func:`per_launch` frame whose columns are converted to numpy once, on first use."""

    def __init__(self, pl: pd.DataFrame) -> None:
        self.frame = pl
        self.kernel = _flag(pl["kind"] == "kernel")
        self._ns: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def ns(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """A nullable ns column as int64 values (0 where null) and its valid mask."""
        if column not in self._ns:
            self._ns[column] = _ns(self.frame[column])
        return self._ns[column]


class _Groups:
    """Rows grouped by a code 0..n-1, every code used (``pd.factorize``): one stable sort, then exact
    segment reductions (int64 stays int64)."""

    def __init__(self, codes: np.ndarray, n: int) -> None:
        self.codes = codes
        self.order = np.argsort(codes, kind="stable")
        self.starts = np.searchsorted(codes[self.order], np.arange(n))
        self.size = np.diff(np.append(self.starts, len(codes)))

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Per-group sum as int64 (bool counts)."""
        return np.add.reduceat(x[self.order], self.starts, dtype=np.int64)

    def min(self, x: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-group minimum of the valid values, and whether the group has any."""
        return (np.minimum.reduceat(np.where(valid, x, _I64_MAX)[self.order], self.starts),
                np.logical_or.reduceat(valid[self.order], self.starts))

    def max(self, x: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-group maximum of the valid values, and whether the group has any."""
        return (np.maximum.reduceat(np.where(valid, x, -_I64_MAX)[self.order], self.starts),
                np.logical_or.reduceat(valid[self.order], self.starts))

    def median(self, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Per-group median of the valid values as float64 (mean of the two middle values taken as float64,
        as ``np.median``); NaN for a group with none."""
        codes, v = self.codes[valid], x[valid]
        v = v[np.lexsort((v, codes))].astype(np.float64)
        count = np.bincount(codes, minlength=len(self.starts))
        first = np.cumsum(count) - count
        has = count > 0
        lo, hi = first + (count - 1) // 2, first + count // 2
        out = np.full(len(count), np.nan)
        out[has] = (v[lo[has]] + v[hi[has]]) / 2
        return out


def _merged(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals [start, end) as disjoint segments sorted by start (ns)."""
    o = np.argsort(starts, kind="stable")
    s, e = starts[o], ends[o]
    new = np.empty(len(s), bool)
    new[0] = True
    new[1:] = s[1:] > np.maximum.accumulate(e)[:-1]
    first = np.flatnonzero(new)
    return s[first], np.maximum.reduceat(e, first)


def _clip_sum(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each window [a, b] (a <= b): sum over i of clip(x_i, a, b) - a, with ``x`` sorted (int64, exact).

    Values at or below ``a`` add 0, values inside add x - a, values at or above ``b`` add b - a. Prefix
    sums are taken relative to x[0] so that they stay far from int64 overflow on absolute clocks.
    """
    ref = x[0]
    csum = np.concatenate([[0], np.cumsum(x - ref)])
    lo = np.searchsorted(x, a, "right")
    hi = np.maximum(lo, np.searchsorted(x, b, "left"))
    return (csum[hi] - csum[lo]) - (hi - lo) * (a - ref) + (len(x) - hi) * (b - a)


def _covered(seg_s: np.ndarray, seg_e: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Length of each window [a, b] covered by the segments (ns): sum of clip(e, a, b) - clip(s, a, b).

    A window with a > b covers nothing (``np.clip`` takes every value to b).
    """
    cov = _clip_sum(np.sort(seg_e), a, b) - _clip_sum(seg_s, a, b)
    return np.where(a <= b, cov, 0)


def _gaps(launches: pd.DataFrame, consecutive_kernel_delay_ns: int) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    """HTA's idle gaps, per stream in GPU start order (see :func:`idle_breakdown`).

    Returns, one entry per gap in (stream, gpu_start) order: the position in ``launches`` of the activity
    after the gap, the gap (ns, a Series of the dtype the input's columns give) and its category code
    (index into ``_IDLE_CATEGORIES``). Activities with no GPU start or no stream take no part.
    """
    start, stream = launches["gpu_start_ns"], launches["stream"].to_numpy()
    rows = np.flatnonzero(start.notna().to_numpy())
    rows = rows[np.lexsort((start.to_numpy(np.int64, na_value=0)[rows], stream[rows]))]
    prev_end = launches["gpu_end_ns"].iloc[rows].groupby(stream[rows], sort=False).shift(1)
    gap = start.iloc[rows] - prev_end
    host = _flag(launches["cpu_start_ns"].iloc[rows] > prev_end)
    kernel = ~host & _flag(gap < consecutive_kernel_delay_ns)
    cat = np.where(host, 0, np.where(kernel, 1, 2))
    keep = prev_end.notna().to_numpy()
    return rows[keep], gap[keep], cat[keep]


def idle_breakdown(launches: pd.DataFrame, consecutive_kernel_delay_ns: int = CONSECUTIVE_KERNEL_DELAY_NS) -> pd.DataFrame:
    """Per-gap idle classification, HTA's definition (per stream, activities sorted by GPU start).

    gap = gpu_start(k) - gpu_end(k-1) on the same stream;
    host_wait if cpu_start(launch of k) > gpu_end(k-1) (the CPU had not yet issued k);
    else kernel_wait if gap < consecutive_kernel_delay_ns; else other.
    Returns one row per gap: stream, step (of k), gap_ns, category.
    """
    rows, gap, cat = _gaps(launches, consecutive_kernel_delay_ns)
    return pd.DataFrame({"stream": launches["stream"].iloc[rows].reset_index(drop=True),
                         "step": launches["step"].iloc[rows].reset_index(drop=True),
                         "gap_ns": gap.reset_index(drop=True), "category": _IDLE_CATEGORIES[cat]})


def _depth(launches: pd.DataFrame, by_stream: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Activities in flight as (stream, t_ns, depth) at each distinct (stream, time), sorted by both.

    An activity is in flight from its launch call's start (its GPU start when the call was not traced)
    to its GPU end, ns; activities with no GPU end take no part. Without ``by_stream`` the stream is 0.
    The depth at t counts every start and end at t. Activities on a null stream are left out, and then
    depth comes back as float64 (as groupby gave it).
    """
    done = launches["gpu_end_ns"].notna().to_numpy()
    t0 = launches["cpu_start_ns"].fillna(launches["gpu_start_ns"])[done].to_numpy(np.int64)
    t1 = launches["gpu_end_ns"][done].to_numpy(np.int64)
    stream = launches["stream"].to_numpy()[done] if by_stream else np.zeros(len(t0), np.int64)
    st, t = np.concatenate([stream, stream]), np.concatenate([t0, t1])
    delta = np.repeat(np.array([1, -1], np.int64), len(t0))
    o = np.lexsort((t, st))
    st, t, delta = st[o], t[o], delta[o]
    level = np.cumsum(delta)
    first = np.ones(len(st), bool)  # each stream's first event
    first[1:] = st[1:] != st[:-1]
    starts = np.flatnonzero(first)
    depth = level - np.repeat((level - delta)[starts], np.diff(np.append(starts, len(st))))
    last = np.ones(len(st), bool)  # each (stream, time)'s last event
    last[:-1] = first[1:] | (t[1:] != t[:-1])
    null = pd.isna(st)
    if null.any():
        last &= ~null
        depth = depth.astype(np.float64)
    return st[last], t[last], depth[last]


def queue_depth(launches: pd.DataFrame, by_stream: bool = True) -> pd.DataFrame:
    """Activities in flight over time: launched (cpu_start) and not yet finished on the GPU (gpu_end).

    Returns a step function: rows (stream, t_ns, depth), depth valid from t_ns to the next row.
    """
    stream, t, depth = _depth(launches, by_stream)
    return pd.DataFrame({"stream": stream, "t_ns": t, "depth": depth})


def _range_max(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """max(x[lo:hi], initial=0) for each range (ranges may overlap or be empty)."""
    if not len(lo):
        return np.zeros(0, x.dtype)
    ext = np.append(x, 0)  # so that hi == len(x) is a valid reduceat index
    m = np.maximum.reduceat(ext, np.column_stack([lo, hi]).ravel())[::2]
    return np.maximum(np.where(lo < hi, m, 0), 0)


def _aten_first(ops: pd.DataFrame | None, steps: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Per step (in ``steps``' order): the earliest ATen op start (ns, run clock), and whether it has one."""
    if ops is None or not len(ops):
        return np.zeros(len(steps), np.int64), np.zeros(len(steps), bool)
    codes, names = pd.factorize(ops["step"].fillna(_NO_STEP))
    start, ok = _ns(ops["start_ns"])
    ok &= _flag(ops["name"].astype(str).str.startswith("aten::"))
    first = np.full(len(names), _I64_MAX)
    np.minimum.at(first, codes[ok], start[ok])
    found = np.bincount(codes[ok], minlength=len(names)) > 0
    pos = names.get_indexer(steps)
    return first[pos], (pos >= 0) & found[pos]


def _window(la: _Launches, g: _Groups, ops: pd.DataFrame | None, steps: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Per step: start (first ATen op, else first op, launch call or GPU start) and end (last GPU end), ns.

    ValueError for a step with no start or no GPU end at all.
    """
    cands = [_aten_first(ops, steps)] + [g.min(*la.ns(c)) for c in ("op_start_ns", "cpu_start_ns", "gpu_start_ns")]
    begin = np.min([np.where(ok, v, _I64_MAX) for v, ok in cands], axis=0)
    end, has_end = g.max(*la.ns("gpu_end_ns"))
    timed = has_end & np.any([ok for _, ok in cands], axis=0)
    if not timed.all():
        raise ValueError(f"step {steps[np.argmin(timed)]!r}: no start time or no GPU end time in its launches")
    return begin, end


def _busy(la: _Launches, g: _Groups, begin: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per step: GPU busy time inside [begin, end] (ns) summed over the devices the step used, and how many
    devices it used (at least 1). Busy counts any step's activities on those devices."""
    dev, devices = pd.factorize(la.frame["device"])
    n_dev = max(1, len(devices))
    pairs = np.flatnonzero(np.bincount(g.codes[dev >= 0] * n_dev + dev[dev >= 0], minlength=len(g.starts) * n_dev))
    pair_step, pair_dev = np.divmod(pairs, n_dev)
    (s, s_ok), (e, e_ok) = la.ns("gpu_start_ns"), la.ns("gpu_end_ns")
    busy = np.zeros(len(g.starts), np.int64)
    for d in np.unique(pair_dev):
        rows = (dev == d) & s_ok & e_ok
        if rows.any():
            p = pair_step[pair_dev == d]
            np.add.at(busy, p, _covered(*_merged(s[rows], e[rows]), begin[p], end[p]))
    return busy, np.maximum(1, np.bincount(pair_step, minlength=len(g.starts)))


def _idle_split(g: _Groups, rows: np.ndarray, gap: pd.Series, cat: np.ndarray) -> np.ndarray:
    """Per step, idle gap time (ns) by category (:func:`_gaps`): an (n_steps, 3) array in ``_IDLE_CATEGORIES`` order."""
    acc = np.zeros(len(g.starts) * 3, np.int64)
    np.add.at(acc, g.codes[rows] * 3 + cat, gap.to_numpy(np.int64))
    return acc.reshape(-1, 3)


def _kernel_sums(la: _Launches, g: _Groups) -> dict[str, np.ndarray]:
    """Per step: kernel and activity counts, TKLQT and its parts over linked kernels, kernel time (ns)."""
    kernel = la.kernel
    t_l, has_t_l = la.ns("t_l_ns")
    linked = kernel & has_t_l
    (api, _), (queue, _), (gpu, has_gpu) = la.ns("api_ns"), la.ns("queue_ns"), la.ns("gpu_ns")
    negative = linked & _flag(la.frame["queue_negative"])
    kernels, n_linked = g.sum(kernel), g.sum(linked)
    kernel_time = g.sum(np.where(kernel, gpu, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(kernels > 0, kernel_time / g.sum(kernel & has_gpu), np.nan)
    return {
        "kernels": kernels,
        "activities": g.size,
        "tklqt_ns": g.sum(np.where(linked, t_l, 0)),
        "tklqt_api_ns": g.sum(np.where(linked, api, 0)),
        "tklqt_queue_ns": g.sum(np.where(linked, queue, 0)),
        "negative_queue_count": g.sum(negative),
        "negative_queue_ns": g.sum(np.where(negative, queue, 0)),
        "clock_skew_count": g.sum(linked & _flag(la.frame["clock_skew"])),
        "unlinked_kernels": kernels - n_linked,
        "kernel_time_ns": kernel_time,
        "avg_kernel_ns": avg,
    }


def _in_flight(la: _Launches, g: _Groups) -> np.ndarray:
    """Per step: sum over activities of gpu_end - cpu_start (GPU start when the call was not traced), ns."""
    (c, c_ok), (s, s_ok), (e, e_ok) = la.ns("cpu_start_ns"), la.ns("gpu_start_ns"), la.ns("gpu_end_ns")
    ok = e_ok & (c_ok | s_ok)
    return g.sum(np.where(ok, e - np.where(c_ok, c, s), 0))


def _step_columns(la: _Launches, ops: pd.DataFrame | None, gaps: tuple) -> dict[str, np.ndarray]:
    """:func:`per_step`'s columns (numpy, rows in order of start) from the launches and their :func:`_gaps`."""
    if not len(la.frame):
        return {}
    codes, steps = pd.factorize(la.frame["step"])  # order of first appearance, as groupby(sort=False)
    g = _Groups(codes, len(steps))
    begin, end = _window(la, g, ops, steps)
    latency = end - begin
    busy, n_dev = _busy(la, g, begin, end)
    capacity = n_dev * latency
    positive = latency > 0
    # idle share by Python int division: correctly rounded even past 2**53 ns, where float64 division is not
    idle_share = np.array([(c - b) / c if c > 0 else np.nan for c, b in zip(capacity.tolist(), busy.tolist())])
    with np.errstate(invalid="ignore", divide="ignore"):
        depth_mean = np.where(positive, _in_flight(la, g) / latency, np.nan)
    cols = {"step": np.asarray(steps, dtype=object)} | _kernel_sums(la, g) | {
        "start_ns": begin, "end_ns": end, "latency_ns": latency, "devices": n_dev,
        "gpu_busy_ns": busy, "gpu_idle_ns": capacity - busy, "idle_share": idle_share,
        "mean_queue_depth": depth_mean,
        "dispatch_median_ns": g.median(*la.ns("dispatch_ns")),
    }
    idle = _idle_split(g, *gaps)
    for i, cat in enumerate(_IDLE_CATEGORIES):
        cols[f"idle_{cat}_ns"] = idle[:, i]
    _, t, depth = _depth(la.frame, by_stream=False)
    if len(t):
        cols["max_queue_depth"] = _range_max(depth, np.searchsorted(t, begin, "left"), np.searchsorted(t, end, "right"))
    order = np.argsort(begin, kind="stable")
    return {k: v[order] for k, v in cols.items()}


def per_step(launches: pd.DataFrame, ops: pd.DataFrame | None = None,
             consecutive_kernel_delay_ns: int = CONSECUTIVE_KERNEL_DELAY_NS) -> pd.DataFrame:
    """One row per step/pass with TKLQT and its parts, kernel stats, latency, busy/idle and idle split (ns).

    Rows are in order of start (steps starting together in order of first appearance in ``launches``).
    """
    pl = per_launch(launches)
    return pd.DataFrame(_step_columns(_Launches(pl), ops, _gaps(pl, consecutive_kernel_delay_ns)))


def _mean(total: np.ndarray, n: np.ndarray) -> pd.arrays.FloatingArray:
    """total / n as Float64, null where n is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.arrays.FloatingArray(total / n, n == 0)


def _top(la: _Launches, k: int) -> dict[str, pd.DataFrame]:
    """:func:`top_kernels` of prepared launches."""
    codes, names = pd.factorize(la.frame["name"][la.kernel])  # order of first appearance, as groupby(sort=False)
    named = codes >= 0
    g = _Groups(codes[named], len(names))
    sums = {}
    for col in ("gpu_ns", "t_l_ns", "queue_ns"):
        v, ok = (a[la.kernel][named] for a in la.ns(col))
        sums[col] = g.sum(np.where(ok, v, 0)), g.sum(ok)
    total = pd.array(sums["gpu_ns"][0], dtype="Int64")
    agg = {"name": names, "count": pd.array(g.size, dtype="Int64"), "total_ns": total, "mean_ns": _mean(*sums["gpu_ns"]),
           "mean_t_l_ns": _mean(*sums["t_l_ns"]), "mean_queue_ns": _mean(*sums["queue_ns"])}
    by_count = np.lexsort((-sums["gpu_ns"][0], -g.size))  # stable, as sort_values on two columns
    by_time = total.argsort(ascending=False)  # pandas' own (quicksort) order, as sort_values on one column
    return {"by_count": pd.DataFrame({c: v[by_count[:k]] for c, v in agg.items()}),
            "by_time": pd.DataFrame({c: v[by_time[:k]] for c, v in agg.items()})}


def top_kernels(launches: pd.DataFrame, k: int = 10) -> dict[str, pd.DataFrame]:
    """Top-k kernel names by launch count and by total GPU time (ns)."""
    return _top(_Launches(per_launch(launches)), k)


def _idle_by_stream(stream: np.ndarray, gap: np.ndarray, cat: np.ndarray) -> dict[str, int]:
    """Idle gap time (ns) per "stream:category", streams ascending (gaps come sorted by stream)."""
    new = np.ones(len(stream), bool)
    new[1:] = stream[1:] != stream[:-1]
    keys, inv = np.unique((np.cumsum(new) - 1) * 3 + cat, return_inverse=True)
    total = np.zeros(len(keys), np.int64)
    np.add.at(total, inv, gap)
    first = stream[new]
    return {f"{first[key // 3]}:{_IDLE_CATEGORIES[key % 3]}": int(v) for key, v in zip(keys, total)}


def _median(values: tuple[np.ndarray, np.ndarray], rows: np.ndarray) -> float:
    """Median (float) of a (values, valid) ns column over the selected rows, nulls skipped."""
    v, ok = values
    return float(np.median(v[rows & ok].astype(np.float64)))


def _records(cols: dict[str, np.ndarray]) -> list[dict]:
    """Columns as a list of row dicts of Python scalars (``to_dict(orient="records")`` without the frame)."""
    return [dict(zip(cols, row)) for row in zip(*(v.tolist() for v in cols.values()))]


def launch_summary(run: Run, top: int = 10) -> dict:
    """Everything ``lowprof launches`` shows, as plain data (ns)."""
    pl = per_launch(launches_of(run))
    la = _Launches(pl)
    ops = run["ops"] if "ops" in run.tables else None
    rows, gap, cat = gaps = _gaps(pl, CONSECUTIVE_KERNEL_DELAY_NS)
    steps = _step_columns(la, ops, gaps)
    tops = _top(la, top)
    linked = la.ns("t_l_ns")[1]
    return {
        "activities": int(len(pl)),
        "kernels": int(la.kernel.sum()),
        "linked_to_launch_call": int(linked.sum()),
        "launch_apis": {str(k): int(v) for k, v in pl["launch_api"].value_counts().items()},
        "negative_queue_count": int((linked & _flag(pl["queue_negative"])).sum()),
        "clock_skew_count": int((linked & _flag(pl["clock_skew"])).sum()),
        "negative_queue_rule": "queue_ns < 0 kept as measured in TKLQT and its queue part; counted, flagged; "
                               "launch_delay_ns clips it at 0 as HTA does",
        "median_api_ns": _median(la.ns("api_ns"), linked) if linked.any() else None,
        "median_queue_ns": _median(la.ns("queue_ns"), linked) if linked.any() else None,
        "median_t_l_ns": _median(la.ns("t_l_ns"), linked) if linked.any() else None,
        "idle_by_stream_ns": _idle_by_stream(pl["stream"].to_numpy()[rows], gap.to_numpy(np.int64), cat),
        "steps": _records(steps),
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

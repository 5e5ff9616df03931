"""Kernel launch and queuing metrics from a run's ``launches`` table (pure functions of a Run).

Per GPU activity k launched by CPU call l (all ns, run clock):
  api_ns   = cpu_end(l) - cpu_start(l)        launch API time on the CPU (Nsight Systems' "API" part)
  queue_ns = gpu_start(k) - cpu_end(l)        API end -> GPU start (Nsight Systems' "queue" part)
  t_l_ns   = gpu_start(k) - cpu_start(l) = api_ns + queue_ns   (Vellaisamy et al., ISPASS 2025)
  launch_delay_ns = max(queue_ns, 0)          (HTA's launch_delay, clipped at 0)
A call that launched several activities (a graph launch: every node carries the call's correlation
id) is ONE launch, as CUPTI's graph-level trace (Nsight Systems' default ``--cuda-graph-trace=graph``)
records a graph launch as one activity: its api/queue/t_l are those of its first activity on the GPU
(``counts_launch``) and null on the other nodes, so sums count each call once; ``graph_node`` marks
the nodes, reported apart. Negative queue times are kept as measured (the GPU may start before the
launch call returns, or the clocks are skewed); they are counted and flagged (``queue_negative``),
never clipped in TKLQT. ``t_l_ns < 0`` is flagged ``clock_skew``.

Per step/pass (the ``step`` column; warm-up passes are kept here and excluded by ``bound``):
  window = [first ATen op of the pass (else its first launch call, else its first GPU start),
            last GPU activity end]; latency = its length;
  TKLQT = sum of t_l over the pass's launch calls that launched a kernel, and its api and queue
         parts (sum to TKLQT exactly);
  busy = union of GPU activity intervals per device (any pass's work, clipped to the window), summed
         over the devices the pass used; idle = devices x latency - busy;
  idle split per device (and per stream, :func:`idle_split`): before the first busy segment, after
         the last, and each gap between segments as host wait (the call of the activity after it
         began after the gap began) / kernel wait (< 30 µs) / other (HTA's categories); the five parts
         sum to idle exactly. HTA's own breakdown under HTA's rules: :func:`hta_idle_breakdown`;
  queue depth = launch calls made and not finished (a graph launch one item until its last node
         ends); per pass its max over the window and its mean (time integral / latency), one step function.

Everything is computed over whole columns with numpy (the step factorized once, exact int64 segment
sums over one stable sort); the results equal the plain per-step loop that the tests keep as reference.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from lowprof.errors import InputError, RunDirError
from lowprof.intervals import segment_firsts, union
from lowprof.rundir import Run
from lowprof.rundir.specs.launches import LAUNCH_TIME_COLUMNS

__all__ = ["per_launch", "per_step", "idle_breakdown", "idle_split", "hta_idle_breakdown", "gpu_timeline",
           "queue_depth", "top_kernels", "launch_summary", "hta_activities", "section_launches", "launches_of", "per_step_of",
           "launch_frame", "pass_frame",
           "CONSECUTIVE_KERNEL_DELAY_NS", "IDLE_PARTS", "GRAPH_LAUNCH_API"]

CONSECUTIVE_KERNEL_DELAY_NS = 30_000  # HTA's default threshold (30 in HTA's µs time base)
_NO_STEP = "(no step)"
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


GRAPH_LAUNCH_API = re.compile(r"GraphLaunch")  # cudaGraphLaunch, hipGraphLaunch, cuGraphLaunch (and _vNNNN forms)


def _launch_units(corr: tuple[np.ndarray, np.ndarray], cpu_start: tuple[np.ndarray, np.ndarray],
                  gpu_start: tuple[np.ndarray, np.ndarray], gpu_end: tuple[np.ndarray, np.ndarray],
                  kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group the activities by launch call (same correlation id and call start).

    Returns per row: whether it carries its call's launch (the call's first activity on the GPU: smallest
    GPU start, nulls last, ties by position; True for rows with no traced call), the number of activities
    and of kernels the call launched (0 where no call), and the end of the call's last activity (ns) with
    its valid mask (the row's own GPU end where no call). ``kernel`` marks the rows that run kernels
    (kernels, and graph-level records: one row per CUDA graph execution).
    """
    n = len(kernel)
    first = np.ones(n, bool)
    count, kernels = np.zeros(n, np.int64), np.zeros(n, np.int64)
    end, end_ok = gpu_end[0].copy(), gpu_end[1].copy()
    rows = np.flatnonzero(corr[1] & cpu_start[1])
    if len(rows):
        gs = np.where(gpu_start[1][rows], gpu_start[0][rows], _I64_MAX)
        o = rows[np.lexsort((rows, gs, cpu_start[0][rows], corr[0][rows]))]
        new = np.ones(len(o), bool)
        new[1:] = (corr[0][o][1:] != corr[0][o][:-1]) | (cpu_start[0][o][1:] != cpu_start[0][o][:-1])
        starts = np.flatnonzero(new)
        size = np.diff(np.append(starts, len(o)))
        first[o] = new
        count[o] = np.repeat(size, size)
        kernels[o] = np.repeat(np.add.reduceat(kernel[o].astype(np.int64), starts), size)
        e_ok = gpu_end[1][o]
        e = np.maximum.reduceat(np.where(e_ok, gpu_end[0][o], -_I64_MAX), starts)
        ok = np.logical_or.reduceat(e_ok, starts)
        end[o], end_ok[o] = np.repeat(e, size), np.repeat(ok, size)
    return first, count, kernels, end, end_ok


def per_launch(launches: pd.DataFrame) -> pd.DataFrame:
    """The launches with api_ns, queue_ns, t_l_ns, launch_delay_ns, dispatch_ns, the two flags and the
    launch-unit columns (``counts_launch``, ``launch_activities``, ``launch_kernels``, ``launch_end_ns``,
    ``graph_node``).

    A launch call that launched several GPU activities (a graph launch: every node carries the call's
    correlation id) is one launch: its api, queue, t_l, launch delay and dispatch times are carried by
    its first activity on the GPU (``counts_launch``) and null on the others, so that every sum counts
    each call once (see the module docstring). Time columns become Int64 (ns, null where not traced); a
    null step becomes ``(no step)``. A run's frame, computed once: :func:`launch_frame`; the per-step
    figures of it without deriving it again: :func:`per_step_of`.
    """
    times = {c: _i64(launches[c]) for c in LAUNCH_TIME_COLUMNS}
    cpu_start, cpu_end, gpu_start, gpu_end, op_start = (_ns(times[c]) for c in LAUNCH_TIME_COLUMNS)
    kind = launches["kind"]
    kernel = _flag(kind.isin(["kernel", "graph"]))  # a graph-level record (nsys GRAPH_TRACE) runs kernels
    c = launches["correlation"]
    corr = (c.to_numpy(np.int64), np.ones(len(c), bool)) if c.dtype.kind in "iu" else _ns(_i64(c))
    first, count, kernels, end, end_ok = _launch_units(corr, cpu_start, gpu_start, gpu_end, kernel)
    api_codes, apis = pd.factorize(launches["launch_api"])
    graph = np.append(np.array([bool(GRAPH_LAUNCH_API.search(str(a))) for a in apis], bool), False)[api_codes]

    def own(v: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return v[0], v[1] & first

    queue, t_l = own(_sub(gpu_start, cpu_end)), own(_sub(gpu_start, cpu_start))
    linked = cpu_start[1]
    cols = {c: launches[c] for c in launches.columns} | times | {
        "step": launches["step"].astype("string").fillna(_NO_STEP),
        "api_ns": _int64(own(_sub(cpu_end, cpu_start))),
        "queue_ns": _int64(queue),
        "t_l_ns": _int64(t_l),
        "launch_delay_ns": _int64((np.maximum(queue[0], 0), queue[1])),
        "gpu_ns": _int64(_sub(gpu_end, gpu_start)),
        "dispatch_ns": _int64(own(_sub(cpu_start, op_start))),
        "queue_negative": (queue[0] < 0) & queue[1],
        "clock_skew": (t_l[0] < 0) & t_l[1],
        "counts_launch": first,
        "launch_activities": pd.arrays.IntegerArray(count, ~linked),
        "launch_kernels": pd.arrays.IntegerArray(kernels, ~linked),
        "launch_end_ns": _int64((end, end_ok)),
        "graph_node": graph | _flag(kind == "graph"),
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
    """Launches in flight as (stream, t_ns, depth) at each distinct (stream, time), sorted by both.

    ``launches`` is a :func:`per_launch` frame. One item per launch call (``counts_launch``; a graph
    launch is one item), in flight from the call's start (its first activity's GPU start when the call
    was not traced) to the end of its last GPU activity (``launch_end_ns``), ns; items with no end take
    no part. Without ``by_stream`` the stream is 0. The depth at t counts every start and end at t.
    Items on a null stream are left out, and then depth comes back as float64 (as groupby gave it).
    """
    done = launches["launch_end_ns"].notna().to_numpy() & launches["counts_launch"].to_numpy(bool)
    t0 = launches["cpu_start_ns"].fillna(launches["gpu_start_ns"])[done].to_numpy(np.int64)
    t1 = launches["launch_end_ns"][done].to_numpy(np.int64)
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
    """Launch calls in flight over time: called (cpu_start) and not yet finished on the GPU (the end of
    the call's last activity; a graph launch is one item until its last node ends).

    Returns a step function: rows (stream, t_ns, depth), depth valid from t_ns to the next row.
    """
    stream, t, depth = _depth(per_launch(launches), by_stream)
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
    codes, names = pd.factorize(ops["step"])  # nulls -> -1: the (no step) group
    if (codes < 0).any():
        at = names.get_indexer([_NO_STEP])[0] if _NO_STEP in names else len(names)
        codes = np.where(codes < 0, at, codes)
        names = names if at < len(names) else names.append(pd.Index([_NO_STEP], dtype=names.dtype))
    start, ok = _ns(_i64(ops["start_ns"]))
    name = ops["name"]
    ok &= _flag((name if isinstance(name.dtype, pd.StringDtype) else name.astype(str)).str.startswith("aten::"))
    first = np.full(len(names), _I64_MAX)
    np.minimum.at(first, codes[ok], start[ok])
    found = np.bincount(codes[ok], minlength=len(names)) > 0
    pos = names.get_indexer(steps)
    return first[pos], (pos >= 0) & found[pos]


def _window(la: _Launches, g: _Groups, ops: pd.DataFrame | None, steps: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Per step: start and end (last GPU end), ns. The start is the first ATen op of the pass, else its
    first launch call, else (no call traced) its first GPU start.

    InputError (a ValueError) for a step with no start or no GPU end at all.
    """
    begin, found = _aten_first(ops, steps)
    for c in ("cpu_start_ns", "gpu_start_ns"):
        v, ok = g.min(*la.ns(c))
        begin, found = np.where(found, begin, v), found | ok
    end, has_end = g.max(*la.ns("gpu_end_ns"))
    timed = has_end & found
    if not timed.all():
        raise InputError(f"step {steps[np.argmin(timed)]!r}: no start time or no GPU end time in its launches")
    return begin, end


IDLE_PARTS = ("before_first", "host_wait", "kernel_wait", "other", "after_last")


def _segments(s: np.ndarray, e: np.ndarray, cpu: np.ndarray, cpu_ok: np.ndarray,
              delay_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Busy segments (union of [start, max(end, start)) of the activities, ns) in time order, and the
    prefix sums of the gaps before them by category (rows host wait, kernel wait, other; column i+1 =
    gaps before segments 0..i). The gap before a segment is host wait when the launch call of the
    activity that opens it (earliest start, then earliest call) began after the previous segment ended,
    else kernel wait when shorter than ``delay_ns``, else other."""
    e = np.maximum(e, s)
    o = np.lexsort((np.where(cpu_ok, cpu, _I64_MAX), s))
    s, e, cpu, cpu_ok = s[o], e[o], cpu[o], cpu_ok[o]
    first = segment_firsts(s, e)
    seg_s, seg_e = s[first], np.maximum.reduceat(e, first)
    gap = np.zeros(len(first), np.int64)
    gap[1:] = seg_s[1:] - seg_e[:-1]
    host = np.zeros(len(first), bool)
    host[1:] = cpu_ok[first][1:] & (cpu[first][1:] > seg_e[:-1])
    cat = np.where(host, 0, np.where(gap < delay_ns, 1, 2))
    cum = np.zeros((3, len(first) + 1), np.int64)
    for k in range(3):
        cum[k, 1:] = np.cumsum(np.where(cat == k, gap, 0))
    return np.column_stack([seg_s, seg_e]), cum, gap


def _split_windows(seg: np.ndarray, cum: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each window [a, b] (ns): busy time and the idle parts (``IDLE_PARTS`` order) of the segments
    from :func:`_segments`, an (n, 6) int64 array whose idle parts sum to (b - a) - busy exactly. A
    window with a > b is empty: no busy time, all of b - a before the first activity."""
    seg_s, seg_e = seg[:, 0], seg[:, 1]
    length = np.concatenate([[0], np.cumsum(seg_e - seg_s)])
    lo = np.searchsorted(seg_e, a, "right")  # first segment ending after a
    hi = np.searchsorted(seg_s, b, "left")   # first segment starting at or after b
    some = (lo < hi) & (a <= b)
    lo_c, last = np.minimum(lo, len(seg_s) - 1), np.maximum(hi - 1, 0)
    out = np.zeros((len(a), 6), np.int64)
    if len(seg_s):
        s_lo, e_hi = np.maximum(seg_s[lo_c], a), np.minimum(seg_e[last], b)
        busy = length[np.maximum(hi, lo)] - length[lo] - (s_lo - seg_s[lo_c]) - (seg_e[last] - e_hi)
        out[:, 0] = np.where(some, busy, 0)
        out[:, 1] = np.where(some, s_lo - a, b - a)
        for k in range(3):
            out[:, 2 + k] = np.where(some, cum[k, np.maximum(hi, lo_c + 1)] - cum[k, lo_c + 1], 0)
        out[:, 5] = np.where(some, b - e_hi, 0)
    else:
        out[:, 1] = b - a
    return out


def _idle_split(la: _Launches, g: _Groups, begin: np.ndarray, end: np.ndarray, by_stream: bool,
                delay_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (step, device) pair (or (step, device, stream) with ``by_stream``) the step used: the pair's
    step code, group code, and an (n, 6) array [busy, idle parts...] of :func:`_split_windows` over the
    step's window, counting any step's activities of the group. Returns also the group labels."""
    f = la.frame
    if by_stream:
        dc, dev = pd.factorize(f["device"])
        sc, strm = pd.factorize(f["stream"])
        both = (dc >= 0) & (sc >= 0)
        keys, inv = np.unique(dc[both].astype(np.int64) * max(1, len(strm)) + sc[both], return_inverse=True)
        grp = np.full(len(f), -1, np.int64)
        grp[both] = inv
        labels = [(dev[k // max(1, len(strm))], strm[k % max(1, len(strm))]) for k in keys.tolist()]
    else:
        grp, labels = pd.factorize(f["device"])
    n_grp = max(1, len(labels))
    used = grp >= 0
    pairs = np.flatnonzero(np.bincount(g.codes[used] * n_grp + grp[used], minlength=len(g.starts) * n_grp))
    pair_step, pair_grp = np.divmod(pairs, n_grp)
    (s, s_ok), (e, e_ok) = la.ns("gpu_start_ns"), la.ns("gpu_end_ns")
    cpu, cpu_ok = la.ns("cpu_start_ns")
    parts = np.zeros((len(pairs), 6), np.int64)
    for d in np.unique(pair_grp):
        rows = (grp == d) & s_ok & e_ok
        sel = np.flatnonzero(pair_grp == d)
        seg, cum, _ = _segments(s[rows], e[rows], cpu[rows], cpu_ok[rows], delay_ns)
        parts[sel] = _split_windows(seg, cum, begin[pair_step[sel]], end[pair_step[sel]])
    return pair_step, pair_grp, parts, labels


def _tklqt_units(la: _Launches) -> np.ndarray:
    """The rows TKLQT sums over: one per launch call that launched a kernel (its first activity, with a t_l)."""
    f = la.frame
    return _flag(f["counts_launch"]) & la.ns("t_l_ns")[1] & (f["launch_kernels"].to_numpy(np.int64, na_value=0) > 0)


def _tklqt_parts(la: _Launches, units: np.ndarray) -> dict[str, np.ndarray]:
    """Per row: its share of TKLQT and of TKLQT's api and queue parts (ns; 0 outside ``units``), to be
    summed per step or over the run (the parts sum to TKLQT exactly)."""
    return {k: np.where(units, la.ns(c)[0], 0)
            for k, c in (("tklqt_ns", "t_l_ns"), ("tklqt_api_ns", "api_ns"), ("tklqt_queue_ns", "queue_ns"))}


def _kernel_sums(la: _Launches, g: _Groups) -> dict[str, np.ndarray]:
    """Per step: kernel and activity counts, TKLQT and its parts over launch calls (a graph launch once),
    kernel time (ns), and the graph-launched activity apart."""
    f, kernel = la.frame, la.kernel
    first = _flag(f["counts_launch"])
    called = la.ns("cpu_start_ns")[1]
    units = _tklqt_units(la)
    (queue, _), (gpu, has_gpu) = la.ns("queue_ns"), la.ns("gpu_ns")
    negative = units & _flag(f["queue_negative"])
    graph = _flag(f["graph_node"])
    kernels = g.sum(kernel)
    kernel_time = g.sum(np.where(kernel, gpu, 0))
    graph_gpu, all_gpu = g.sum(np.where(graph & has_gpu, gpu, 0)), g.sum(np.where(has_gpu, gpu, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(kernels > 0, kernel_time / g.sum(kernel & has_gpu), np.nan)
        graph_share = np.where(all_gpu != 0, graph_gpu / all_gpu, np.nan)
    return {
        "kernels": kernels,
        "activities": g.size,
        "launch_calls": g.sum(first & called),
        **{k: g.sum(v) for k, v in _tklqt_parts(la, units).items()},
        "negative_queue_count": g.sum(negative),
        "negative_queue_ns": g.sum(np.where(negative, queue, 0)),
        "clock_skew_count": g.sum(units & _flag(f["clock_skew"])),
        "unlinked_kernels": g.sum(kernel & ~called),
        "kernel_time_ns": kernel_time,
        "avg_kernel_ns": avg,
        "graph_launches": g.sum(graph & first & called),
        "graph_activities": g.sum(graph),
        "graph_gpu_ns": graph_gpu,
        "graph_gpu_share": graph_share,
    }


def _in_flight(la: _Launches, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per window [begin, end]: time-integral of the queue depth (:func:`_depth`, all streams) over it,
    ns: the sum over launch calls of the overlap of [call start, last activity end] with the window."""
    f = la.frame
    (t1, done), (c, c_ok), (s, _) = la.ns("launch_end_ns"), la.ns("cpu_start_ns"), la.ns("gpu_start_ns")
    done = done & f["counts_launch"].to_numpy(bool)
    t0 = np.where(c_ok, c, s)[done]
    t1 = t1[done]
    if not len(t0):
        return np.zeros(len(begin), np.int64)
    return _clip_sum(np.sort(t1), begin, end) - _clip_sum(np.sort(t0), begin, end)


def _windows(la: _Launches, ops: pd.DataFrame | None) -> tuple[_Groups, pd.Index, np.ndarray, np.ndarray]:
    """The rows grouped by step (order of first appearance, as groupby(sort=False)) and each step's window."""
    codes, steps = pd.factorize(la.frame["step"])
    g = _Groups(codes, len(steps))
    return (g, steps, *_window(la, g, ops, steps))


def _step_columns(la: _Launches, ops: pd.DataFrame | None, delay_ns: int, windows: tuple | None = None) -> dict[str, np.ndarray]:
    """:func:`per_step`'s columns (numpy, rows in order of start)."""
    if not len(la.frame):
        return {}
    g, steps, begin, end = windows or _windows(la, ops)
    latency = end - begin
    pair_step, _, parts, _ = _idle_split(la, g, begin, end, False, delay_ns)
    per = np.zeros((len(steps), 6), np.int64)
    np.add.at(per, pair_step, parts)
    n_dev = np.bincount(pair_step, minlength=len(steps))
    per[n_dev == 0, 1] = latency[n_dev == 0]  # no activity on a known device: all idle
    n_dev = np.maximum(1, n_dev)
    busy = per[:, 0]
    capacity = n_dev * latency
    positive = latency > 0
    # idle share by Python int division: correctly rounded even past 2**53 ns, where float64 division is not
    idle_share = np.array([(c - b) / c if c > 0 else np.nan for c, b in zip(capacity.tolist(), busy.tolist())])
    with np.errstate(invalid="ignore", divide="ignore"):
        depth_mean = np.where(positive, _in_flight(la, begin, end) / latency, np.nan)
    cols = {"step": np.asarray(steps, dtype=object)} | _kernel_sums(la, g) | {
        "start_ns": begin, "end_ns": end, "latency_ns": latency, "devices": n_dev,
        "gpu_busy_ns": busy, "gpu_idle_ns": capacity - busy, "idle_share": idle_share,
        "mean_queue_depth": depth_mean,
        "dispatch_median_ns": g.median(*la.ns("dispatch_ns")),
    }
    for i, part in enumerate(IDLE_PARTS):
        cols[f"idle_{part}_ns"] = per[:, 1 + i]
    _, t, depth = _depth(la.frame, by_stream=False)
    if len(t):  # the depth in effect at the start, and every value taken inside [start, end)
        lo = np.maximum(np.searchsorted(t, begin, "right") - 1, 0)
        cols["max_queue_depth"] = _range_max(depth, lo, np.maximum(lo, np.searchsorted(t, end, "left")))
    order = np.argsort(begin, kind="stable")
    return {k: v[order] for k, v in cols.items()}


def per_step(launches: pd.DataFrame, ops: pd.DataFrame | None = None,
             consecutive_kernel_delay_ns: int = CONSECUTIVE_KERNEL_DELAY_NS) -> pd.DataFrame:
    """One row per step/pass with TKLQT and its parts, kernel stats, graph-launched activity, latency,
    busy/idle and the idle split (ns; the ``idle_*_ns`` parts sum to ``gpu_idle_ns`` exactly).

    Rows are in order of start (steps starting together in order of first appearance in ``launches``).
    """
    return pd.DataFrame(_step_columns(_Launches(per_launch(launches)), ops, consecutive_kernel_delay_ns))


def idle_split(launches: pd.DataFrame, ops: pd.DataFrame | None = None, by: str = "stream",
               consecutive_kernel_delay_ns: int = CONSECUTIVE_KERNEL_DELAY_NS) -> pd.DataFrame:
    """lowprof's idle split per step and ``by`` = "stream" (device, stream) or "device": one row per
    pair the step used, with its window (the step's [start, end], ns), busy time inside it (any step's
    activities on that stream/device) and the idle time (window - busy) split into before_first,
    host_wait, kernel_wait, other and after_last, which sum to it exactly (see the module docstring)."""
    if by not in ("stream", "device"):
        raise ValueError(f"idle_split: by must be 'stream' or 'device', not {by!r}")
    la = _Launches(per_launch(launches))
    if not len(la.frame):
        return pd.DataFrame(columns=["step", "device", "stream", "window_ns", "busy_ns", "idle_ns",
                                     *[f"{p}_ns" for p in IDLE_PARTS]])
    g, steps, begin, end = _windows(la, ops)
    pair_step, pair_grp, parts, labels = _idle_split(la, g, begin, end, by == "stream", consecutive_kernel_delay_ns)
    window = end[pair_step] - begin[pair_step]
    out = {"step": np.asarray(steps, dtype=object)[pair_step]}
    if by == "stream":
        out["device"] = np.array([labels[i][0] for i in pair_grp.tolist()])
        out["stream"] = np.array([labels[i][1] for i in pair_grp.tolist()])
    else:
        out["device"] = np.asarray(labels)[pair_grp]
    out |= {"window_ns": window, "busy_ns": parts[:, 0], "idle_ns": window - parts[:, 0]}
    out |= {f"{p}_ns": parts[:, 1 + i] for i, p in enumerate(IDLE_PARTS)}
    return pd.DataFrame(out).sort_values(["step", "device"] + (["stream"] if by == "stream" else []),
                                         kind="stable").reset_index(drop=True)


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


def gpu_timeline(launches: pd.DataFrame) -> dict:
    """GPU busy, idle and total time over the whole trace (ns), as TraceLens's ``gpu_timeline`` counts
    them: total = last activity end - first activity start, busy = length of the union of every
    activity's [start, end) (all devices and streams together), idle = total - busy."""
    s, s_ok = _ns(_i64(launches["gpu_start_ns"]))
    e, e_ok = _ns(_i64(launches["gpu_end_ns"]))
    ok = s_ok & e_ok
    if not ok.any():
        return {"busy_ns": 0, "idle_ns": 0, "total_ns": 0, "activities": 0}
    seg_s, seg_e = union(s[ok], e[ok])
    total = int(seg_e.max() - seg_s.min())
    busy = int((seg_e - seg_s).sum())
    return {"busy_ns": busy, "idle_ns": total - busy, "total_ns": total, "activities": int(ok.sum())}


def _hta_us(run: Run, ns: tuple[np.ndarray, np.ndarray], dur_ns: np.ndarray | None, float_ts: bool) -> np.ndarray:
    """Times as HTA holds them (µs on the trace clock, float64, NaN where null): a float-ts trace read by a
    float parser and rounded (start ceil, end floor of ts + dur in float64), an integer-µs trace as it is."""
    origin = int(run.section("clock").origin_trace_ns or 0)
    v, ok = ns
    out = np.full(len(v), np.nan)
    if float_ts:
        from fractions import Fraction
        ts = np.array([float(Fraction(int(x) + origin, 1000)) for x in v[ok]])
        if dur_ns is None:
            out[ok] = np.ceil(ts)
        else:
            dur = np.array([float(Fraction(int(x), 1000)) for x in dur_ns[ok]])
            out[ok] = np.floor(ts + dur)
    else:
        out[ok] = (v[ok] + (0 if dur_ns is None else dur_ns[ok]) + origin) // 1000
    return out


def _hta_kept(run: Run) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """The GPU activities HTA analyses, and their start, end and launch-call start in µs as HTA holds them.

    HTA's rules: times in µs as HTA parses them (a trace with fractional µs is rounded: starts up, ends
    down); activities with a stream and a start; with two or more ``ProfilerStep`` annotations, only those
    whose launch call starts before the last ``ProfilerStep`` starts (an activity with no launch call in
    the trace is dropped).
    """
    pl = launch_frame(run)
    pl = pl[pl["stream"].notna().to_numpy() & pl["gpu_start_ns"].notna().to_numpy()]
    float_ts = int(run.section("clock").trace_clock.precision_ns or 1000) < 1000
    gs = _ns(pl["gpu_start_ns"])
    start = _hta_us(run, gs, None, float_ts)
    end = _hta_us(run, gs, _sub(_ns(pl["gpu_end_ns"]), gs)[0], float_ts)
    runtime = _hta_us(run, _ns(pl["cpu_start_ns"]), None, float_ts)
    keep = np.ones(len(pl), bool)
    steps = run["steps"] if "steps" in run.tables else None
    if steps is not None and len(steps):
        ps = steps[steps["name"].astype(str).str.contains("ProfilerStep")]
        if ps["name"].nunique() >= 2:
            last = np.nanmax(_hta_us(run, _ns(_i64(ps["start_ns"])), None, float_ts))
            keep = runtime < last  # NaN (no launch call) compares False: dropped, as HTA's inner join drops it
    return pl[keep].reset_index(drop=True), start[keep], end[keep], runtime[keep]


def hta_activities(run: Run) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The GPU activities HTA's analyzers see (see :func:`_hta_kept`) with their start and end in µs as HTA
    holds them (float64)."""
    pl, start, end, _ = _hta_kept(run)
    return pl, start, end


def hta_idle_breakdown(run: Run, consecutive_kernel_delay_us: int = 30) -> pd.DataFrame:
    """HTA's ``get_idle_time_breakdown`` under HTA's own rules, as HTA reports it: one row per (stream,
    idle_category) with idle_time in µs.

    HTA's rules: times in µs as HTA parses them (a trace with fractional µs is rounded: starts up, ends
    down); with two or more ``ProfilerStep`` annotations, only GPU activities whose launch call starts
    before the last ``ProfilerStep`` starts (an activity with no launch call in the trace is dropped);
    per stream, activities sorted by start, gap = start - previous end, host wait if the launch call
    started after the previous end, else kernel wait if gap < ``consecutive_kernel_delay_us``, else
    other. lowprof's own split (:func:`idle_split`) keeps exact ns and every activity.
    """
    pl, start, end, runtime = _hta_kept(run)
    df = pd.DataFrame({"stream": pl["stream"].to_numpy(), "ts": start, "end": end, "ts_runtime": runtime})
    rows = []
    for stream, g in df.groupby("stream", sort=False):
        g = g.sort_values("ts")
        prev_end = g["end"].shift(1)
        gap = g["ts"] - prev_end
        host = g["ts_runtime"] > prev_end
        kernel = ~host & (gap < consecutive_kernel_delay_us)
        cat = np.where(host, "host_wait", np.where(kernel, "kernel_wait", "other"))
        for c, v in gap.groupby(cat).sum().items():
            rows.append({"stream": int(stream), "idle_category": c, "idle_time": float(v)})
    return pd.DataFrame(rows, columns=["stream", "idle_category", "idle_time"])


def _median(values: tuple[np.ndarray, np.ndarray], rows: np.ndarray) -> float:
    """Median (float) of a (values, valid) ns column over the selected rows, nulls skipped."""
    v, ok = values
    return float(np.median(v[rows & ok].astype(np.float64)))


def _records(cols: dict[str, np.ndarray]) -> list[dict]:
    """Columns as a list of row dicts of Python scalars (``to_dict(orient="records")`` without the frame)."""
    return [dict(zip(cols, row)) for row in zip(*(v.tolist() for v in cols.values()))]


ACTIVITY_RULES = {
    False: "every GPU activity of the trace counts, whether or not its launch call is in the trace (an "
           "activity launched before the profiler started still ran during the trace)",
    True: "only GPU activities whose launch call is in the trace (TraceLens's rule: it drops activities "
          "launched before the profiler started)",
}
GRAPH_RULE = ("a launch call that launched several GPU activities (a graph launch) is one launch: its t_l = "
              "first activity's GPU start - call start, api = the call's duration once, queue = t_l - api; "
              "queue depth counts it as one item until its last activity ends (as CUPTI's graph-level trace "
              "records a graph launch as one activity)")


def _graph_totals(la: _Launches) -> dict:
    f = la.frame
    graph = _flag(f["graph_node"])
    gpu, ok = la.ns("gpu_ns")
    all_gpu, graph_gpu = int(np.where(ok, gpu, 0).sum()), int(np.where(ok & graph, gpu, 0).sum())
    return {"launch_calls": int((graph & _flag(f["counts_launch"]) & la.ns("cpu_start_ns")[1]).sum()),
            "activities": int(graph.sum()), "kernels": int((graph & la.kernel).sum()), "gpu_ns": graph_gpu,
            "share_of_gpu_time": graph_gpu / all_gpu if all_gpu else None}


def _stream_split(la: _Launches, windows: tuple) -> dict[str, dict[str, int]]:
    """:func:`idle_split` per stream, summed over the steps: "device:stream" -> window, busy, idle, parts."""
    g, _, begin, end = windows
    pair_step, pair_grp, parts, labels = _idle_split(la, g, begin, end, True, CONSECUTIVE_KERNEL_DELAY_NS)
    n = len(labels)
    sums = np.zeros((n, 7), np.int64)
    np.add.at(sums, pair_grp, np.column_stack([end[pair_step] - begin[pair_step], parts]))
    used = np.bincount(pair_grp, minlength=n) > 0
    out = {}
    for i in sorted(np.flatnonzero(used), key=lambda i: (labels[i][0], labels[i][1])):
        w, busy, *rest = (int(v) for v in sums[i])
        out[f"{labels[i][0]}:{labels[i][1]}"] = {"window_ns": w, "busy_ns": busy, "idle_ns": w - busy} | {
            f"{p}_ns": v for p, v in zip(IDLE_PARTS, rest)}
    return out


def launch_summary(run: Run, top: int = 10, launched_in_trace_only: bool = False, hta_idle: bool = False) -> dict:
    """Everything ``lowprof launches`` shows, as plain data (ns).

    ``launched_in_trace_only``: drop the GPU activities whose launch call is not in the trace first
    (TraceLens's rule; lowprof's default keeps them, see ``ACTIVITY_RULES``). ``hta_idle``: add HTA's
    idle-time breakdown under HTA's rules (:func:`hta_idle_breakdown`, µs) as ``idle_by_stream_hta_us``.
    """
    launches = launches_of(run)
    dropped = 0
    if launched_in_trace_only:
        keep = launches["cpu_start_ns"].notna().to_numpy()
        dropped = int((~keep).sum())
        launches = launches[keep].reset_index(drop=True)
    pl = per_launch(launches)
    la = _Launches(pl)
    ops = run["ops"] if "ops" in run.tables else None
    windows = _windows(la, ops) if len(pl) else None
    steps = _step_columns(la, ops, CONSECUTIVE_KERNEL_DELAY_NS, windows)
    tops = _top(la, top)
    linked = la.ns("t_l_ns")[1]
    called = la.ns("cpu_start_ns")[1]
    out = {
        "activities": int(len(pl)),
        "kernels": int(la.kernel.sum()),
        "activity_rule": ACTIVITY_RULES[launched_in_trace_only],
        "dropped_not_launched_in_trace": dropped,
        "linked_to_launch_call": int(called.sum()),
        "launch_calls": int((called & _flag(pl["counts_launch"])).sum()),
        "launch_apis": {str(k): int(v) for k, v in pl["launch_api"][_flag(pl["counts_launch"])].value_counts().items()},
        "graph": _graph_totals(la),
        "graph_rule": GRAPH_RULE,
        "negative_queue_count": int((linked & _flag(pl["queue_negative"])).sum()),
        "clock_skew_count": int((linked & _flag(pl["clock_skew"])).sum()),
        "negative_queue_rule": "queue_ns < 0 kept as measured in TKLQT and its queue part; counted, flagged; "
                               "launch_delay_ns clips it at 0 as HTA does",
        "median_api_ns": _median(la.ns("api_ns"), linked) if linked.any() else None,
        "median_queue_ns": _median(la.ns("queue_ns"), linked) if linked.any() else None,
        "median_t_l_ns": _median(la.ns("t_l_ns"), linked) if linked.any() else None,
        "gpu_timeline": gpu_timeline(pl),
        "idle_by_stream_ns": _stream_split(la, windows) if len(pl) else {},
        "steps": _records(steps),
        "top_by_count": tops["by_count"].to_dict(orient="records"),
        "top_by_time": tops["by_time"].to_dict(orient="records"),
    }
    if hta_idle:
        out["idle_by_stream_hta_us"] = hta_idle_breakdown(run).to_dict(orient="records")
    from lowprof.analysis.comm import comm_summary

    out["communication"] = comm_summary(run, launches)
    return out


def section_launches(run: Run) -> dict | None:
    """Report section: launch summary when the run has a launches table (seconds for durations)."""
    if "launches" not in run.tables:
        return None
    pl = launch_frame(run)
    la = _Launches(pl)
    units = _tklqt_units(la)
    k = pl[la.kernel]
    g = _graph_totals(la)
    return {
        "gpu_activities": int(len(pl)),
        "kernels": int(len(k)),
        "steps": int(pl["step"].nunique()),
        **{name.removesuffix("_ns") + "_s": float(v.sum(dtype=np.int64)) / 1e9
           for name, v in _tklqt_parts(la, units).items()},
        "kernel_time_s": float(k["gpu_ns"].sum()) / 1e9,
        "avg_kernel_s": float(k["gpu_ns"].mean()) / 1e9 if len(k) else None,
        "negative_queue_count": int((units & _flag(pl["queue_negative"])).sum()),
        "graph_launch_calls": g["launch_calls"],
        "graph_activities": g["activities"],
        "graph_gpu_time_s": g["gpu_ns"] / 1e9,
        "graph_share_of_gpu_time": g["share_of_gpu_time"],
    }


def per_step_of(pl: pd.DataFrame, ops: pd.DataFrame | None = None,
                consecutive_kernel_delay_ns: int = CONSECUTIVE_KERNEL_DELAY_NS) -> pd.DataFrame:
    """:func:`per_step` of a :func:`per_launch` frame (e.g. :func:`launch_frame`), which is not derived again."""
    return pd.DataFrame(_step_columns(_Launches(pl), ops, consecutive_kernel_delay_ns))


def launch_frame(run: Run) -> pd.DataFrame:
    """The run's :func:`per_launch` frame, computed once per loaded run (``Run.derived``; shared: never modify
    it). RunDirError when the run has no launches table."""
    return run.derived(("per_launch",), lambda: per_launch(launches_of(run)))


def pass_frame(run: Run) -> pd.DataFrame:
    """The run's :func:`per_step` frame (one row per step/pass, warm-ups and ``(no step)`` included) over
    :func:`launch_frame` and the ``ops`` table, computed once per loaded run (shared: never modify it).
    RunDirError when the run has no launches table."""
    return run.derived(("per_pass",), lambda: per_step_of(launch_frame(run), run["ops"] if "ops" in run.tables else None))

"""Read a Kineto / PyTorch-profiler Chrome trace (JSON, plain or .gz) into the ``launches`` table.

Every GPU activity (``kernel``, ``gpu_memcpy``, ``gpu_memset``) is joined to the CPU call that
launched it: any runtime or driver API event (``cudaLaunchKernel``, ``cudaLaunchKernelExC``,
``cuLaunchKernel``, ``cuLaunchKernelEx``, ``cudaGraphLaunch``, ``cudaMemcpyAsync``, ``hipLaunchKernel``,
``hipExtModuleLaunchKernel``...) with the same ``args.correlation``; events without that arg are
linked through their ``ac2g`` flow events (old and new styles: a flow start/finish at the event's
pid, tid and ts carries the correlation as its ``id``). The enclosing framework op is the ``cpu_op``
whose ``External id`` the launch call carries (else the innermost op on the thread that contains
it); the step is the innermost ``NAME#N`` annotation (``ProfilerStep#3``, ``pass#3``) containing it.

Clock: timestamps come back as absolute integer ns on the trace's own clock, converted exactly from
the decimal text of ``ts`` (Kineto writes µs, as integers or as floats with ns decimals such as
``1712195495519689.047``, which a float parser would round to 0.25 µs). ``baseTimeNanoseconds``,
when present, is the Unix time of ts = 0. The file is read by lowprof's C scanner
(:mod:`lowprof.tracers.kineto_scan`), streamed and columnar; the linking runs on its numpy columns and
the tables come out as :class:`Columns` (Arrow arrays for the run directory, pandas frames from
:func:`load_launches`), so ``lowprof import`` never imports pandas.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lowprof.intervals import innermost_containing
from lowprof.tracers import kineto_scan
from lowprof.tracers.kineto_scan import CLASSES, NULL, Scanned
from lowprof.rundir.specs.launches import LAUNCHES, STEP_PATTERN

if TYPE_CHECKING:  # pandas only where frames are asked for (load_launches): `lowprof import` never needs it
    import pandas as pd

__all__ = ["load_launches", "read_columns", "load_trace", "KinetoTrace", "Columns"]

_GPU_ARGS = ("device", "stream", "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z",
             "registers_per_thread", "shared_memory_bytes", "bytes")
_GPU_KINDS_BY_CLASS = ["kernel", "memcpy", "memset"]  # CLASSES 1, 2, 3


class Columns(dict):
    """A table as columns: name -> numpy int64 (:data:`NULL` where missing) or a pyarrow string array.

    ``len()`` is the row count; ``cols[name]`` is an Arrow array (nulls where NULL), so the run directory's
    writer takes it as it takes a DataFrame. :meth:`to_pandas` gives the frame the readers return.
    """

    def __init__(self, data: dict, rows: int, plain: tuple[str, ...] = (), int32: tuple[str, ...] = ()) -> None:
        super().__init__(data)
        self.rows = rows
        self.plain = plain  # int64 columns that are never missing (times): numpy int64 in the frame
        self.int32 = int32  # int columns the table declares int32: their Arrow arrays are int32 where they fit

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, name: str):
        v = super().__getitem__(name)
        if isinstance(v, np.ndarray):
            missing = None if name in self.plain else v == NULL
            if name in self.int32:  # narrowed here, not by an Arrow cast (which imports pyarrow.compute);
                narrow = v.astype(np.int32)  # a value beyond int32 leaves the column int64, for the cast to refuse
                fits = narrow == v
                if missing is not None:
                    fits |= missing
                if fits.all():
                    return kineto_scan.arrow_ints(narrow, missing)
            return kineto_scan.arrow_ints(v, missing)
        return v

    def raw(self, name: str):
        return super().__getitem__(name)

    def shift(self, names: tuple[str, ...], by: int) -> None:
        """Subtract ``by`` from the int columns ``names`` that it has (missing values stay missing)."""
        for c in names:
            if c in self:
                v = self.raw(c)
                dict.__setitem__(self, c, np.where(v == NULL, NULL, v - by) if c not in self.plain else v - by)

    def max(self, name: str) -> int | None:
        """The largest value of an int column, missing ones aside; None when none is there."""
        v = self.raw(name)
        v = v if name in self.plain else v[v != NULL]
        return int(v.max()) if len(v) else None

    def present(self, name: str) -> np.ndarray:
        """The present values of an int column."""
        v = self.raw(name)
        return v if name in self.plain else v[v != NULL]

    def to_pandas(self) -> pd.DataFrame:
        """The frame: strings as pandas ``string``, ``plain`` columns int64, other ints nullable Int64."""
        import pandas as pd

        out = {}
        for c in dict.keys(self):
            v = self.raw(c)
            if not isinstance(v, np.ndarray):
                out[c] = pd.array(v, dtype="string")
            elif c in self.plain:
                out[c] = v
            else:
                out[c] = pd.arrays.IntegerArray(v, v == NULL)
        return pd.DataFrame(out)


class KinetoTrace:
    """The parts of a Kineto trace lowprof uses, as columns (ns on the trace clock; ints with NULL,
    names as ids into ``strings``, -1 for none).

    ``gpu`` (GPU activities), ``runtime`` (runtime/driver calls), ``ops`` (framework ops) and
    ``annotations`` (step annotations ``NAME#N``), cut from the scanner's kept events; missing
    correlations are filled from ac2g flow events.
    """

    def __init__(self, sc: Scanned, path: Path) -> None:
        self.path = path
        self.meta = sc.meta
        self.n_events = sc.n_events
        self.max_ts_decimals = sc.max_ts_decimals
        self.inexact_numbers = sc.inexact_numbers
        self.parser = dict(sc.info)
        self.strings = sc.strings          # object: str, None last (id -1)
        self.strings_arrow = sc.strings_arrow
        x, cls, c = sc.ph == ord("X"), sc.cls, CLASSES
        gpu = np.flatnonzero(x & (cls >= c["kernel"]) & (cls <= c["memset"]))
        self.gpu = _rows(sc, gpu, ("pid", "tid", "start_ns", "end_ns", "correlation") + _GPU_ARGS)
        kind_code = cls[gpu].astype(np.int32) - 1
        # MTIA device events (cat mtia_ccp_events): dma_* are copies, the rest device work (HTA's
        # MTIAMemoryKernelGroupingPattern "^dma").
        mtia_ids = np.flatnonzero(sc.strings[:-1] == "mtia_ccp_events")
        if len(mtia_ids):
            is_dma = np.array([isinstance(v, str) and v.startswith("dma") for v in sc.strings], bool)
            kind_code[_isin(sc.cat[gpu], mtia_ids) & is_dma[sc.name[gpu]]] = c["memcpy"] - 1
        self.gpu_kind = kind_code
        basic = ("pid", "tid", "start_ns", "end_ns")
        self.runtime = _rows(sc, np.flatnonzero(x & (cls == c["runtime"])), basic + ("correlation", "external_id"))
        self.ops = _rows(sc, np.flatnonzero(x & (cls == c["op"])), basic + ("external_id",))
        is_step = np.array([isinstance(v, str) and STEP_PATTERN.match(v) is not None for v in sc.strings], bool)
        ann = np.flatnonzero(x & ((cls == c["op"]) | (cls == c["annotation"])) & is_step[sc.name])
        self.annotations = _rows(sc, ann, basic)
        self.all_ts_ns = [int(f["start_ns"].min()) for f in (self.gpu, self.runtime, self.ops, self.annotations)
                          if len(f["start_ns"])]
        # categories of every event are interned, kept or not
        self.has_profiler_ranges = bool((sc.strings[:-1] == "cuda_profiler_range").any())
        self.time_range = sc.time_range  # every event's span, kept or not (None: no event with a ts)
        self._link_flows(_rows(sc, np.flatnonzero(~x), ("pid", "tid", "start_ns", "flow_id")))

    def _link_flows(self, flows: dict) -> None:
        """Fill missing correlations from ac2g flow events bound to (pid, tid, ts) of their slice (the
        first flow at a place counts; a missing pid or tid matches a missing one)."""
        if not len(flows["start_ns"]):
            return
        keys = _keys(flows["pid"], flows["tid"], flows["start_ns"])
        for frame in (self.gpu, self.runtime):
            miss = np.flatnonzero(frame["correlation"] == NULL)
            if not len(miss):
                continue
            hit = _first_match(_keys(frame["pid"][miss], frame["tid"][miss], frame["start_ns"][miss]), keys)
            frame["correlation"][miss] = _take(flows["flow_id"], hit)

    def names(self, ids: np.ndarray):
        """Name ids as a pyarrow string array (-1: null)."""
        return _take_strings(self.strings_arrow, ids)


def _rows(sc: Scanned, rows: np.ndarray, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The scanned events ``rows``: their name ids and the int columns asked for (NULL where missing)."""
    out = {"name": sc.name[rows]}
    for c in columns:
        out[c] = sc.columns[c][rows]
    return out


def _keys(*cols: np.ndarray) -> np.ndarray:
    """Rows of int64 columns as one structured array (compared field by field)."""
    out = np.empty(len(cols[0]), dtype=[(f"k{i}", np.int64) for i in range(len(cols))])
    for i, c in enumerate(cols):
        out[f"k{i}"] = c
    return out


def _first_match(keys: np.ndarray, table: np.ndarray) -> np.ndarray:
    """For each key, the index of its first occurrence in ``table``, or -1 (NULL matches NULL); keys are
    int64 or rows of :func:`_keys`."""
    if not len(table) or not len(keys):
        return np.full(len(keys), -1, np.int64)
    u, first = np.unique(table, return_index=True)
    pos = np.minimum(np.searchsorted(u, keys), len(u) - 1)
    return np.where(u[pos] == keys, first[pos], -1)


def _isin(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``np.isin(values, table)`` for int arrays, by sorting and searching (np.isin's sorting path calls
    np.unique, which imports numpy.ma: ~10 ms)."""
    if not len(table):
        return np.zeros(len(values), bool)
    s = np.sort(table)
    return s[np.minimum(np.searchsorted(s, values), len(s) - 1)] == values


def _take(col: np.ndarray, idx: np.ndarray, missing=NULL) -> np.ndarray:
    """``col[idx]``, ``missing`` where idx is -1."""
    if not len(col):
        return np.full(len(idx), missing, col.dtype)
    return np.where(idx >= 0, col[np.maximum(idx, 0)], missing).astype(col.dtype, copy=False)


def _take_strings(values, codes: np.ndarray):
    """``values[codes]`` as a pyarrow string array (code -1 -> null), without a Python object per row."""
    import pyarrow as pa

    uniq = values if isinstance(values, pa.Array) else kineto_scan.arrow_strings(values)
    return kineto_scan.arrow_call("take", uniq, kineto_scan.arrow_ints(codes, codes < 0))


def load_trace(path: str | os.PathLike, *, block_bytes: int | None = None, scanned: Scanned | None = None) -> KinetoTrace:
    """Parse a Kineto trace with the C scanner, fed blocks of ``block_bytes`` decompressed bytes
    (``scanned``: that scan, already made; :func:`lowprof.tracers.importer.read_any` makes it before this
    module, and numpy, are imported).

    Every problem with the file is one TraceError naming it (and the byte offset, for bad JSON).
    """
    path = Path(path)
    if scanned is None:
        # pyarrow (~0.1 s of imports) loads in a thread while the scanner and the inflating thread, which
        # release the GIL, read the file.
        with kineto_scan.importing_meanwhile(*kineto_scan.FRAME_MODULES):
            scanned = kineto_scan.scan(path, block_bytes or kineto_scan.BLOCK_BYTES)
    return KinetoTrace(scanned, path)


def _step_ids(t_ns: np.ndarray, tr: KinetoTrace) -> np.ndarray:
    """Step name id (-1 outside every step) for each CPU time, by innermost containment."""
    ann = tr.annotations
    if len(ann["start_ns"]) == 0 or len(t_ns) == 0:
        return np.full(len(t_ns), -1, np.int32)
    order = np.argsort(ann["start_ns"], kind="quicksort")
    idx = innermost_containing(t_ns, ann["start_ns"][order], ann["end_ns"][order])
    idx[t_ns == np.iinfo(np.int64).min] = -1
    return _take(ann["name"][order], idx, -1)


def _op_of_launches(ops: dict, pid: np.ndarray, tid: np.ndarray, ext: np.ndarray,
                    cpu_start: np.ndarray) -> np.ndarray:
    """Index into ``ops`` (sorted by start) of each launch call's enclosing framework op, or -1.

    By External id (same pid; a missing pid matches a missing one), else the innermost op on the thread
    that contains the call.
    """
    n = len(cpu_start)
    best = np.full(n, -1, np.int64)
    if not len(ops["start_ns"]):
        return best
    # External ids restart between profiling windows, so an id alone can name an op from another
    # window: keep only a candidate op whose span contains the launch call (latest start wins).
    cand = np.flatnonzero(ops["external_id"] != NULL)
    # (pid, External id) as one int64: their ranks among the values on either side
    _, pid_rank = np.unique(np.concatenate([ops["pid"][cand], pid]), return_inverse=True)
    exts, ext_rank = np.unique(np.concatenate([ops["external_id"][cand], ext]), return_inverse=True)
    key = pid_rank.astype(np.int64).ravel() * len(exts) + ext_rank.ravel()
    order = np.argsort(key[:len(cand)], kind="stable")  # candidates of one key stay by start
    table, c_idx, want = key[:len(cand)][order], cand[order], key[len(cand):]
    lo, hi = np.searchsorted(table, want, "left"), np.searchsorted(table, want, "right")
    count = np.where(ext != NULL, hi - lo, 0)
    if count.sum():
        row = np.repeat(np.arange(n), count)
        within = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
        op = c_idx[np.repeat(lo, count) + within]
        t = cpu_start[row]
        ok = (t != NULL) & (ops["start_ns"][op] <= t) & (t <= ops["end_ns"][op])
        np.maximum.at(best, row[ok], op[ok])  # ops are by start: the highest index is the latest start
    found = _take(ops["name"], best, -1) != -1  # an op without a name is looked for on its thread
    need = ~found & (cpu_start != NULL) & (tid != NULL)
    if need.any():
        for t_id in sorted(set(tid[need].tolist())):  # (np.unique would import numpy.ma)
            rows = np.flatnonzero(need & (tid == t_id))
            on = np.flatnonzero(ops["tid"] == t_id)
            if not len(on):
                continue
            idx = innermost_containing(cpu_start[rows], ops["start_ns"][on], ops["end_ns"][on])
            ok = idx >= 0
            best[rows[ok]] = on[idx[ok]]
    return best


def _launches_frame(tr: KinetoTrace) -> tuple[Columns, Columns, Columns]:
    """The ``launches``, ``ops`` and ``steps`` tables (trace-clock ns)."""
    g, rt = tr.gpu, tr.runtime
    device = np.where(g["device"] == NULL, g["pid"], g["device"])  # older traces: the GPU is the pid
    # The launch call: a runtime/driver event with the same correlation (first one if duplicated).
    with_corr = np.flatnonzero(rt["correlation"] != NULL)
    call = _first_match(g["correlation"], rt["correlation"][with_corr])
    call = np.where(call >= 0, with_corr[np.maximum(call, 0)] if len(with_corr) else -1, -1)
    call[g["correlation"] == NULL] = -1
    pid, tid = _take(rt["pid"], call), _take(rt["tid"], call)
    cpu_start, cpu_end = _take(rt["start_ns"], call), _take(rt["end_ns"], call)
    ext = _take(rt["external_id"], call)
    api = _take(rt["name"], call, -1)
    by_start = np.argsort(tr.ops["start_ns"], kind="stable")
    ops = {c: v[by_start] for c, v in tr.ops.items()}
    op = _op_of_launches(ops, pid, tid, ext, cpu_start)
    op_name, op_start = _take(ops["name"], op, -1), _take(ops["start_ns"], op)
    step = _step_ids(np.where(cpu_start != NULL, cpu_start, g["start_ns"]), tr)
    order = np.lexsort((g["correlation"], g["correlation"] == NULL, g["start_ns"]))
    api_names = tr.names(api[order])
    cols = {"kind": _take_strings(_GPU_KINDS_BY_CLASS, tr.gpu_kind[order]), "name": tr.names(g["name"][order]),
            "device": device[order], "stream": g["stream"][order], "correlation": g["correlation"][order],
            "launch_api": api_names, "cpu_start_ns": cpu_start[order], "cpu_end_ns": cpu_end[order],
            "gpu_start_ns": g["start_ns"][order], "gpu_end_ns": g["end_ns"][order], "pid": pid[order],
            "tid": tid[order], "op": tr.names(op_name[order]), "op_start_ns": op_start[order],
            "step": tr.names(step[order])}
    for c in _GPU_ARGS[2:]:
        cols[c] = g[c][order]
    cols["launch_api_raw"] = api_names  # Kineto writes the call's name as it is
    n = len(order)
    launches = Columns({c.name: cols[c.name] for c in LAUNCHES.columns}, n, ("gpu_start_ns", "gpu_end_ns"),
                       tuple(c.name for c in LAUNCHES.columns if c.type == "int32"))
    plain = ("start_ns", "end_ns")
    ops_out = Columns({"name": tr.names(ops["name"]), "pid": ops["pid"], "tid": ops["tid"], "start_ns": ops["start_ns"],
                       "end_ns": ops["end_ns"], "external_id": ops["external_id"],
                       "step": tr.names(_step_ids(ops["start_ns"], tr))}, len(by_start), plain)
    ann = tr.annotations
    s = np.argsort(ann["start_ns"], kind="quicksort")
    steps = Columns({"name": tr.names(ann["name"][s]), "pid": ann["pid"][s], "tid": ann["tid"][s],
                     "start_ns": ann["start_ns"][s], "end_ns": ann["end_ns"][s]}, len(s), plain)
    return launches, ops_out, steps


def _clock_meta(tr: KinetoTrace) -> dict:
    base = tr.meta.get("baseTimeNanoseconds")
    # The trace spans from its earliest to its latest event of any kind (python functions, the profiler's
    # own span, instants), not only the kinds lowprof keeps: a trace without GPU activity still has a length.
    firsts = tr.all_ts_ns + ([tr.time_range[0]] if tr.time_range else [])
    first = min(firsts) if firsts else 0
    last = tr.time_range[1] if tr.time_range else first
    # Exact from the decimals written: 3 decimals of µs are whole ns. A ts with an exponent went
    # through a double: half its ulp at the first timestamp.
    precision = 10 ** max(0, 3 - tr.max_ts_decimals)
    if tr.inexact_numbers:
        ulp_us = float(np.spacing(np.float64(abs(first) / 1000))) if first else 0.0
        precision = max(precision, 1, int(np.ceil(ulp_us * 1000 / 2)))
    return {
        "name": "kineto",
        "unit": "ns",
        "doc": "Kineto trace clock: t_ns = ts(µs) x 1000, exact from the decimals written; Unix time ns = "
               "base_time_unix_ns + t_ns when the trace gives baseTimeNanoseconds",
        "base_time_unix_ns": int(base) if isinstance(base, (int, float)) else None,
        "first_event_ns": first,
        "last_event_ns": last,
        "precision_ns": precision,
        "display_time_unit": tr.meta.get("displayTimeUnit"),
    }


def no_launches_note(n_gpu: int, n_linked: int, n_launch_calls: int, n_ops: int, profiler_ranges: bool = False) -> str | None:
    """One line saying why a trace yields no launches (no GPU activity, or none linked to a call); None otherwise."""
    if n_gpu == 0 and n_launch_calls:
        why = ("it holds cuda_profiler_range events: recorded in CUPTI range-profiler mode, which keeps counters per "
               "range, not kernel timings" if profiler_ranges else
               "CUDA activity records were off or lost (torch.profiler without ProfilerActivity.CUDA, or buffers dropped)")
        return f"no GPU activity in the trace: {n_launch_calls:,} kernel launch calls but no GPU records of them ({why})"
    if n_gpu == 0:
        return (f"no GPU activity in the trace: only CPU events ({n_ops:,} ops); it was recorded without GPU activities "
                f"(e.g. torch.profiler activities=[ProfilerActivity.CPU], or a host with no GPU)")
    if n_linked == 0:
        return (f"no launch call found for any of the {n_gpu:,} GPU activities: the trace has no CPU runtime events "
                f"carrying their correlation ids (CUDA runtime tracing off?); launch and queue times are unknown")
    return None


def _matching(tr: KinetoTrace, pattern: str) -> np.ndarray:
    """Which runtime calls' names match ``pattern``, searched as pandas' str.contains searches a string
    column (Arrow's RE2: ``\\w`` is ASCII); a call without a name does not."""
    import re

    rx = re.compile(pattern, re.ASCII)
    ids = tr.runtime["name"]
    hit = np.zeros(len(tr.strings), bool)  # id -1 indexes the trailing None: False
    for i in set(ids.tolist()) - {-1}:  # the few API names, not every kernel name
        hit[i] = rx.search(tr.strings[i]) is not None
    return hit[ids]


def _launch_calls_without_gpu_activity(tr: KinetoTrace, launches: Columns) -> int:
    """Kernel/graph launch calls whose correlation no GPU activity carries (records lost or cut off)."""
    if not len(tr.runtime["start_ns"]):
        return 0
    corr = tr.runtime["correlation"]
    lost = _matching(tr, r"Launch\w*Kernel|GraphLaunch") & (corr != NULL) & ~_isin(corr, launches.present("correlation"))
    return int(lost.sum())


def _api_calls(tr: KinetoTrace) -> Columns:
    """Every runtime/driver call (``cuda_runtime``, ``cuda_driver``, ``*_runtime``...) as ``api_calls``; Kineto
    writes the names as they are (no version suffix), so ``name_raw`` equals ``name``."""
    rt = tr.runtime
    order = np.argsort(rt["start_ns"], kind="stable")
    name = tr.names(rt["name"][order])
    return Columns({"name": name, "name_raw": name, "pid": rt["pid"][order], "tid": rt["tid"][order],
                    "start_ns": rt["start_ns"][order], "end_ns": rt["end_ns"][order],
                    "correlation": rt["correlation"][order]}, len(order))


def read_columns(path: str | os.PathLike, *, block_bytes: int | None = None,
                 scanned: Scanned | None = None) -> tuple[Columns, dict, dict[str, Columns]]:
    """Read a Kineto trace into ``(launches, meta, {"ops", "steps", "api_calls"})`` as :class:`Columns`
    (what ``lowprof import`` writes: pandas is never imported); :func:`load_launches` gives them as frames.
    ``scanned``: see :func:`load_trace`."""
    tr = load_trace(path, block_bytes=block_bytes, scanned=scanned)
    launches, ops, steps = _launches_frame(tr)
    meta = {
        "source": "kineto",
        "trace": str(Path(path)),
        "events": tr.n_events,
        "clock": _clock_meta(tr),
        "gpu_activities": int(len(launches)),
        "launch_calls_unmatched": int((launches.raw("cpu_start_ns") == NULL).sum()),
        "launch_calls_without_gpu_activity": _launch_calls_without_gpu_activity(tr, launches),
        "distributed": tr.meta.get("distributedInfo"),
        "device_properties": tr.meta.get("deviceProperties"),
        "host_name": tr.meta.get("host_name") if isinstance(tr.meta.get("host_name"), str) else None,
        "parser": tr.parser,
    }
    launch_calls = int(_matching(tr, r"Launch\w*Kernel|GraphLaunch|runFunction").sum()) if len(tr.runtime["start_ns"]) else 0
    meta["no_launches_note"] = no_launches_note(len(launches), int((launches.raw("cpu_start_ns") != NULL).sum()),
                                                launch_calls, len(ops), tr.has_profiler_ranges)
    return launches, meta, {"ops": ops, "steps": steps, "api_calls": _api_calls(tr)}


def load_launches(path: str | os.PathLike, *, with_tables: bool = False, block_bytes: int | None = None):
    """Read a Kineto trace into the ``launches`` frame.

    Returns ``(launches, meta)``: a DataFrame with exactly the LAUNCHES columns (timestamps absolute
    int ns on the trace's own clock, see ``meta['clock']``) and a dict of facts about the trace.
    With ``with_tables=True`` returns ``(launches, meta, {"ops": ..., "steps": ..., "api_calls": ...})``
    (``api_calls``: every runtime/driver call, launching or not).
    ``block_bytes``: see :func:`load_trace`; ``meta['parser']`` says how the file was read.
    """
    launches, meta, extra = read_columns(path, block_bytes=block_bytes)
    if with_tables:
        return launches.to_pandas(), meta, {k: v.to_pandas() for k, v in extra.items()}
    return launches.to_pandas(), meta

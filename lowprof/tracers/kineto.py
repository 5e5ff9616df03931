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
(:mod:`lowprof.tracers.kineto_scan`), streamed and columnar.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from lowprof.tracers import kineto_scan
from lowprof.tracers.kineto_scan import CLASSES, NULL, Scanned
from lowprof.rundir.specs.launches import LAUNCHES, STEP_PATTERN

__all__ = ["load_launches", "load_trace", "KinetoTrace"]

_GPU_ARGS = ("device", "stream", "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z",
             "registers_per_thread", "shared_memory_bytes", "bytes")
_GPU_KINDS_BY_CLASS = ["kernel", "memcpy", "memset"]  # CLASSES 1, 2, 3


class KinetoTrace:
    """The parts of a Kineto trace lowprof uses, as pandas frames (ns on the trace clock).

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
        x, cls, c = sc.ph == ord("X"), sc.cls, CLASSES
        gpu = np.flatnonzero(x & (cls >= c["kernel"]) & (cls <= c["memset"]))
        self.gpu = _frame(sc, gpu, ("name", "pid", "tid", "start_ns", "end_ns", "correlation") + _GPU_ARGS)
        kind_code = cls[gpu].astype(np.int32) - 1
        # MTIA device events (cat mtia_ccp_events): dma_* are copies, the rest device work (HTA's
        # MTIAMemoryKernelGroupingPattern "^dma").
        mtia_ids = np.flatnonzero(sc.strings[:-1] == "mtia_ccp_events")
        if len(mtia_ids):
            is_dma = np.array([isinstance(v, str) and v.startswith("dma") for v in sc.strings], bool)
            kind_code[np.isin(sc.cat[gpu], mtia_ids) & is_dma[sc.name[gpu]]] = c["memcpy"] - 1
        self.gpu.insert(0, "kind", _take_strings(_GPU_KINDS_BY_CLASS, kind_code))
        basic = ("name", "pid", "tid", "start_ns", "end_ns")
        self.runtime = _frame(sc, np.flatnonzero(x & (cls == c["runtime"])), basic + ("correlation", "external_id"))
        self.ops = _frame(sc, np.flatnonzero(x & (cls == c["op"])), basic + ("external_id",))
        is_step = np.array([isinstance(v, str) and STEP_PATTERN.match(v) is not None for v in sc.strings], bool)
        ann = np.flatnonzero(x & ((cls == c["op"]) | (cls == c["annotation"])) & is_step[sc.name])
        self.annotations = _frame(sc, ann, basic)
        self.all_ts_ns = [int(f["start_ns"].min()) for f in (self.gpu, self.runtime, self.ops, self.annotations) if len(f)]
        # categories of every event are interned, kept or not
        self.has_profiler_ranges = bool((sc.strings[:-1] == "cuda_profiler_range").any())
        self.time_range = sc.time_range  # every event's span, kept or not (None: no event with a ts)
        self._link_flows(_frame(sc, np.flatnonzero(~x), ("pid", "tid", "start_ns", "flow_id")))

    def _link_flows(self, flows: pd.DataFrame) -> None:
        """Fill missing correlations from ac2g flow events bound to (pid, tid, ts) of their slice."""
        if not len(flows):
            return
        fl = flows.drop_duplicates(["pid", "tid", "start_ns"])
        for frame in (self.gpu, self.runtime):
            miss = frame["correlation"].isna()
            if not miss.any():
                continue
            hit = frame.loc[miss, ["pid", "tid", "start_ns"]].merge(fl, how="left", on=["pid", "tid", "start_ns"])
            frame.loc[miss, "correlation"] = hit["flow_id"].to_numpy()


def _take_strings(values, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``values[codes]`` as a pandas string array (code -1 -> NA), without a Python object per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    uniq = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    return pd.array(pc.take(uniq, pa.array(codes, mask=codes < 0)), dtype="string")


def _frame(sc: Scanned, rows: np.ndarray, columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows of the scanned events as a frame: name as string, times as int64 ns, other ints as Int64."""
    out = {}
    for c in columns:
        if c == "name":
            out[c] = _take_strings(sc.strings_arrow, sc.name[rows])
        elif c in ("start_ns", "end_ns"):
            out[c] = sc.columns[c][rows]
        else:
            v = sc.columns[c][rows]
            out[c] = pd.arrays.IntegerArray(v, v == NULL)
    return pd.DataFrame(out)


def load_trace(path: str | os.PathLike, *, block_bytes: int | None = None) -> KinetoTrace:
    """Parse a Kineto trace with the C scanner, fed blocks of ``block_bytes`` decompressed bytes.

    Every problem with the file is one TraceError naming it (and the byte offset, for bad JSON).
    """
    path = Path(path)
    return KinetoTrace(kineto_scan.scan(path, block_bytes or kineto_scan.BLOCK_BYTES), path)


def _innermost_containing(t: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the last-started interval (sorted by start) containing each t, or -1.

    For properly nested intervals the last-started one that contains t is the innermost.
    """
    if len(starts) == 0:
        return np.full(len(t), -1)
    i = np.searchsorted(starts, t, side="right") - 1
    ok = (i >= 0) & (ends[np.clip(i, 0, None)] >= t)
    return np.where(ok, i, -1)


def _assign_steps(t_ns: np.ndarray, steps: pd.DataFrame) -> pd.api.extensions.ExtensionArray:
    """Step name (string array, NA outside every step) for each CPU time, by innermost containment."""
    if len(steps) == 0 or len(t_ns) == 0:
        return pd.array([None] * len(t_ns), dtype="string")
    s = steps.sort_values("start_ns")
    idx = _innermost_containing(t_ns, s["start_ns"].to_numpy(np.int64), s["end_ns"].to_numpy(np.int64))
    idx[t_ns == np.iinfo(np.int64).min] = -1
    return _take_strings(list(s["name"]), idx.astype(np.int32))


def _launches_frame(tr: KinetoTrace) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    gpu, rt, ops, ann = tr.gpu, tr.runtime, tr.ops, tr.annotations
    g = pd.DataFrame({"kind": gpu["kind"], "name": gpu["name"]})
    g["device"] = gpu["device"]
    g["stream"] = gpu["stream"]
    g["correlation"] = gpu["correlation"]
    g["gpu_start_ns"] = gpu["start_ns"]
    g["gpu_end_ns"] = gpu["end_ns"]
    for c in _GPU_ARGS[2:]:
        g[c] = gpu[c]
    g["device"] = g["device"].fillna(gpu["pid"])  # older traces: the GPU is the pid
    # The launch call: a runtime/driver event with the same correlation (first one if duplicated).
    r = rt.loc[rt["correlation"].notna(), ["name", "pid", "tid", "start_ns", "end_ns", "correlation", "external_id"]]
    r = r.drop_duplicates("correlation").rename(columns={"name": "launch_api", "start_ns": "cpu_start_ns",
                                                         "end_ns": "cpu_end_ns"})
    # Nullable ints before the left join: a GPU activity without a launch call must not turn the CPU
    # times into float64 (Unix-epoch ns are above 2^53 and would round).
    r = r.astype({"cpu_start_ns": "Int64", "cpu_end_ns": "Int64"})
    df = g.merge(r, how="left", on="correlation")
    # Enclosing framework op: by External id (same pid), else innermost containing op on the thread.
    ops_sorted = ops.sort_values("start_ns", kind="stable").reset_index(drop=True)
    op_name = pd.Series(pd.NA, index=df.index, dtype="string")
    op_start = pd.Series(pd.NA, index=df.index, dtype="Int64")
    if len(ops_sorted):
        # External ids restart between profiling windows, so an id alone can name an op from another
        # window: keep only a candidate op whose span contains the launch call (latest start wins).
        cand = ops_sorted.dropna(subset=["external_id"])[["pid", "external_id", "name", "start_ns", "end_ns"]]
        left = df[["pid", "external_id", "cpu_start_ns"]].reset_index(names="_row")
        hit = left.merge(cand, how="inner", on=["pid", "external_id"])
        hit = hit[(hit["start_ns"] <= hit["cpu_start_ns"]) & (hit["cpu_start_ns"] <= hit["end_ns"])]
        hit = hit.sort_values("start_ns", kind="stable").drop_duplicates("_row", keep="last")
        op_name[hit["_row"].to_numpy()] = hit["name"].to_numpy()
        op_start[hit["_row"].to_numpy()] = hit["start_ns"].to_numpy(np.int64)
        need = op_name.isna() & df["cpu_start_ns"].notna()
        if need.any():
            for tid, rows in df[need].groupby("tid"):
                o = ops_sorted[ops_sorted["tid"] == tid]
                if not len(o):
                    continue
                idx = _innermost_containing(rows["cpu_start_ns"].to_numpy(np.int64), o["start_ns"].to_numpy(np.int64),
                                            o["end_ns"].to_numpy(np.int64))
                ok = idx >= 0
                op_name[rows.index[ok]] = o["name"].to_numpy()[idx[ok]]
                op_start[rows.index[ok]] = o["start_ns"].to_numpy()[idx[ok]]
    df["op"] = op_name
    df["op_start_ns"] = op_start
    t_cpu = df["cpu_start_ns"].fillna(df["gpu_start_ns"]).to_numpy(np.int64)
    df["step"] = _assign_steps(t_cpu, ann)
    df["launch_api"] = df["launch_api"].astype("string")
    df["launch_api_raw"] = df["launch_api"]  # Kineto writes the call's name as it is
    df = df.sort_values(["gpu_start_ns", "correlation"], kind="stable").reset_index(drop=True)
    ops_out = ops_sorted[["name", "pid", "tid", "start_ns", "end_ns", "external_id"]].copy()
    ops_out["step"] = _assign_steps(ops_out["start_ns"].to_numpy(np.int64), ann)
    steps = ann[["name", "pid", "tid", "start_ns", "end_ns"]].sort_values("start_ns").reset_index(drop=True)
    return df[[c.name for c in LAUNCHES.columns]], ops_out, steps


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


def _launch_calls_without_gpu_activity(runtime: pd.DataFrame, launches: pd.DataFrame) -> int:
    """Kernel/graph launch calls whose correlation no GPU activity carries (records lost or cut off)."""
    if not len(runtime):
        return 0
    is_launch = runtime["name"].str.contains(r"Launch\w*Kernel|GraphLaunch", regex=True).fillna(False).to_numpy(bool)
    corr = runtime["correlation"]
    lost = is_launch & corr.notna().to_numpy(bool) & ~corr.isin(launches["correlation"].dropna()).to_numpy(bool)
    return int(lost.sum())


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


def _api_calls(runtime: pd.DataFrame) -> pd.DataFrame:
    """Every runtime/driver call (``cuda_runtime``, ``cuda_driver``, ``*_runtime``...) as ``api_calls``; Kineto
    writes the names as they are (no version suffix), so ``name_raw`` equals ``name``."""
    name = runtime["name"].astype("string")
    out = pd.DataFrame({"name": name, "name_raw": name, "pid": runtime["pid"].astype("Int64"),
                        "tid": runtime["tid"].astype("Int64"), "start_ns": runtime["start_ns"].astype("Int64"),
                        "end_ns": runtime["end_ns"].astype("Int64"), "correlation": runtime["correlation"].astype("Int64")})
    return out.sort_values("start_ns", kind="stable").reset_index(drop=True)


def load_launches(path: str | os.PathLike, *, with_tables: bool = False, block_bytes: int | None = None):
    """Read a Kineto trace into the ``launches`` frame.

    Returns ``(launches, meta)``: a DataFrame with exactly the LAUNCHES columns (timestamps absolute
    int ns on the trace's own clock, see ``meta['clock']``) and a dict of facts about the trace.
    With ``with_tables=True`` returns ``(launches, meta, {"ops": ..., "steps": ..., "api_calls": ...})``
    (``api_calls``: every runtime/driver call, launching or not).
    ``block_bytes``: see :func:`load_trace`; ``meta['parser']`` says how the file was read.
    """
    tr = load_trace(path, block_bytes=block_bytes)
    launches, ops, steps = _launches_frame(tr)
    meta = {
        "source": "kineto",
        "trace": str(Path(path)),
        "events": tr.n_events,
        "clock": _clock_meta(tr),
        "gpu_activities": int(len(launches)),
        "launch_calls_unmatched": int(launches["cpu_start_ns"].isna().sum()),
        "launch_calls_without_gpu_activity": _launch_calls_without_gpu_activity(tr.runtime, launches),
        "distributed": tr.meta.get("distributedInfo"),
        "device_properties": tr.meta.get("deviceProperties"),
        "host_name": tr.meta.get("host_name") if isinstance(tr.meta.get("host_name"), str) else None,
        "parser": tr.parser,
    }
    launch_calls = int(tr.runtime["name"].str.contains(r"Launch\w*Kernel|GraphLaunch|runFunction", regex=True)
                       .fillna(False).sum()) if len(tr.runtime) else 0
    meta["no_launches_note"] = no_launches_note(len(launches), int(launches["cpu_start_ns"].notna().sum()),
                                                launch_calls, len(ops), tr.has_profiler_ranges)
    if with_tables:
        return launches, meta, {"ops": ops, "steps": steps, "api_calls": _api_calls(tr.runtime)}
    return launches, meta

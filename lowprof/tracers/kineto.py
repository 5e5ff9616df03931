"""Read a Kineto / PyTorch-profiler Chrome trace (JSON, plain or .gz) into the ``launches`` table.

Every GPU activity (``kernel``, ``gpu_memcpy``, ``gpu_memset``) is joined to the CPU call that
launched it: any runtime or driver API event (``cudaLaunchKernel``, ``cudaLaunchKernelExC``,
``cuLaunchKernel``, ``cuLaunchKernelEx``, ``cudaGraphLaunch``, ``cudaMemcpyAsync``, ``hipLaunchKernel``,
``hipExtModuleLaunchKernel``...) with the same ``args.correlation``; events without that arg are
linked through their ``ac2g`` flow events (old and new styles: a flow start/finish at the event's
pid, tid and ts carries the correlation as its ``id``). The enclosing framework op is the ``cpu_op``
whose ``External id`` the launch call carries (else the innermost op on the thread that contains
it); the step is the innermost ``NAME#N`` annotation (``ProfilerStep#3``, ``pass#3``) containing it.

Clock: timestamps come back as absolute integer ns on the trace's own clock (``ts`` x 1000; Kineto
writes µs, as integers or as floats with ns decimals). ``baseTimeNanoseconds``, when present, is the
Unix time of ts = 0. Float ``ts`` beyond 2**53 ns lose sub-µs digits in any float parser; ``meta``
states the resulting precision.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from lowprof.errors import TraceError
from lowprof.tracers.launches import LAUNCHES, STEP_PATTERN

__all__ = ["load_launches", "load_trace", "KinetoTrace", "read_json"]

GPU_KINDS = {"kernel": "kernel", "Kernel": "kernel", "gpu_memcpy": "memcpy", "Memcpy": "memcpy",
             "gpu_memset": "memset", "Memset": "memset"}
OP_CATS = {"cpu_op", "Operator", "operator"}
ANNOTATION_CATS = {"user_annotation", "cpu_op", "Operator", "operator"}
FLOW_CATS = {"ac2g", "async", "flow"}


def _is_runtime_cat(cat: object) -> bool:
    return isinstance(cat, str) and (cat.endswith("_runtime") or cat.endswith("_driver") or cat in ("runtime", "driver"))


def read_json(path: str | os.PathLike):
    """Parse a JSON file (gzip by magic number), with orjson when installed; errors -> TraceError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TraceError(f"{path}: no such trace file") from None
    except OSError as e:
        raise TraceError(f"{path}: cannot read ({e.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise TraceError(f"{path}: truncated or corrupt gzip ({e})") from None
    if not raw.strip():
        raise TraceError(f"{path}: empty file")
    try:
        import orjson

        return orjson.loads(raw)
    except ImportError:
        pass
    except ValueError as e:  # orjson.JSONDecodeError subclasses ValueError
        raise TraceError(f"{path}: not valid JSON, truncated or corrupt ({e})") from None
    import json

    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise TraceError(f"{path}: not valid JSON, truncated or corrupt ({e})") from None


def _us_to_ns(values: list) -> tuple[np.ndarray, bool]:
    """Kineto µs timestamps (int or float) -> int64 ns; returns (ns, had_floats). None -> INT64 min."""
    arr = np.asarray([np.nan if v is None else v for v in values]) if values else np.zeros(0, np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64) * 1000, False
    if arr.dtype.kind != "f":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            bad = next(v for v in values if not isinstance(v, (int, float)))
            raise TraceError(f"timestamp {bad!r} is not a number") from None
    whole = np.floor(arr)
    # Split to keep ns exact: whole µs are exact doubles, and (arr - whole) is computed exactly.
    ns = whole.astype(np.int64) * 1000 + np.rint((arr - whole) * 1000).astype(np.int64)
    ns[np.isnan(arr)] = np.iinfo(np.int64).min
    return ns, True


_GPU_ARGS = ("device", "stream", "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z",
             "registers_per_thread", "shared_memory_bytes", "bytes")


class KinetoTrace:
    """The parts of a Kineto trace lowprof uses, as pandas frames (ns on the trace clock).

    Built from ``events``: one row per kept event (``X`` slices and flow events) with columns ph, cat,
    name, pid, tid, start_ns, end_ns, flow_id, correlation, external_id and the GPU args of
    ``_GPU_ARGS``; either from pyarrow's columnar reader or from parsed JSON objects.
    """

    def __init__(self, events: pd.DataFrame, meta: dict, n_events: int, had_float_ts: bool, path: Path) -> None:
        self.path = path
        self.meta = meta
        self.n_events = n_events
        self.had_float_ts = had_float_ts
        self.parser: dict = {}
        ph, cat = events["ph"], events["cat"]
        is_x = (ph == "X").fillna(False).to_numpy(bool)
        mask = lambda m: is_x & m.fillna(False).to_numpy(bool)  # noqa: E731  (no copy of all X rows)
        runtime_cat = (cat.str.endswith("_runtime") | cat.str.endswith("_driver") | cat.isin(["runtime", "driver"]))
        self.gpu = events[mask(cat.isin(list(GPU_KINDS)))].reset_index(drop=True)
        self.runtime = events[mask(runtime_cat)].reset_index(drop=True)
        self.ops = events[mask(cat.isin(list(OP_CATS)))].reset_index(drop=True)
        ann = events[mask(cat.isin(list(ANNOTATION_CATS)))]
        ann = ann[ann["name"].str.match(STEP_PATTERN).fillna(False).to_numpy(bool)]
        self.annotations = ann.reset_index(drop=True)
        self.all_ts_ns = [int(f["start_ns"].min()) for f in (self.gpu, self.runtime, self.ops, self.annotations) if len(f)]
        flows = events[(ph.isin(["s", "f", "t"]) & cat.isin(list(FLOW_CATS))).fillna(False).to_numpy(bool)]
        self._link_flows(flows)

    def _link_flows(self, flows: pd.DataFrame) -> None:
        """Fill missing correlations from ac2g flow events bound to (pid, tid, ts) of their slice."""
        if not len(flows):
            return
        fl = flows[["pid", "tid", "start_ns", "flow_id"]].drop_duplicates(["pid", "tid", "start_ns"])
        for frame in (self.gpu, self.runtime):
            miss = frame["correlation"].isna()
            if not miss.any():
                continue
            hit = frame.loc[miss, ["pid", "tid", "start_ns"]].merge(fl, how="left", on=["pid", "tid", "start_ns"])
            frame.loc[miss, "correlation"] = hit["flow_id"].to_numpy()


def _events_from_objects(events: list) -> tuple[pd.DataFrame, bool]:
    """The exact per-event path: parsed JSON objects -> the events frame (and whether ts had floats)."""
    evs = [e for e in events if isinstance(e, dict) and e.get("ph") in ("X", "s", "f", "t")]
    args = [e.get("args") if isinstance(e.get("args"), dict) else {} for e in evs]
    start, had_float = _us_to_ns([e.get("ts") for e in evs])
    dur, _ = _us_to_ns([e.get("dur", 0) for e in evs])
    df = pd.DataFrame({
        "ph": pd.array([e.get("ph") for e in evs], dtype="string"),
        "cat": pd.array([c if isinstance(c := e.get("cat"), str) else None for e in evs], dtype="string"),
        "name": pd.array([v if isinstance(v := e.get("name"), str) else None for e in evs], dtype="string"),
        "pid": _ints([e.get("pid") for e in evs]),
        "tid": _ints([e.get("tid") for e in evs]),
        "start_ns": start,
        "end_ns": start + dur,
        "flow_id": _ints([e.get("id") for e in evs]),
        "correlation": _ints([a.get("correlation", a.get("correlationId")) for a in args]),
        "external_id": _ints([a.get("External id", a.get("external id")) for a in args]),
        "device": _arg_ints(args, "device"), "stream": _arg_ints(args, "stream"),
        "grid_x": _arg_ints(args, "grid", 0), "grid_y": _arg_ints(args, "grid", 1), "grid_z": _arg_ints(args, "grid", 2),
        "block_x": _arg_ints(args, "block", 0), "block_y": _arg_ints(args, "block", 1),
        "block_z": _arg_ints(args, "block", 2),
        "registers_per_thread": _arg_ints(args, "registers per thread"),
        "shared_memory_bytes": _arg_ints(args, "shared memory"),
        "bytes": _arg_ints(args, "bytes"),
    })
    return df, had_float


def _keep_rows(t):
    """Arrow mask of the events KinetoTrace uses (X slices of known categories, flow events)."""
    import pyarrow.compute as pc

    cat = t["cat"]
    known = pc.is_in(cat, value_set=pa_strings(set(GPU_KINDS) | OP_CATS | ANNOTATION_CATS | {"runtime", "driver"}))
    rt = pc.or_(pc.ends_with(cat, "_runtime"), pc.ends_with(cat, "_driver"))
    x = pc.and_(pc.equal(t["ph"], "X"), pc.or_(known, rt))
    flow = pc.and_(pc.is_in(t["ph"], value_set=pa_strings({"s", "f", "t"})), pc.is_in(cat, value_set=pa_strings(FLOW_CATS)))
    return pc.fill_null(pc.or_(x, flow), False)


def pa_strings(values) -> "pa.Array":
    import pyarrow as pa

    return pa.array(sorted(values), pa.string())


def _arrow_ints(col, text=None) -> pd.arrays.IntegerArray:
    """Arrow int64 column (+ optional string column of the same field) -> nullable Int64."""
    import pyarrow.compute as pc

    vals = pc.fill_null(col, 0).to_numpy()
    mask = col.is_null().to_numpy(zero_copy_only=False)
    out = pd.arrays.IntegerArray(vals.astype(np.int64, copy=True), mask.copy())
    if text is not None and text.null_count < len(text):
        s = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
        for i in np.flatnonzero(mask & ~text.is_null().to_numpy(zero_copy_only=False)):
            try:
                out[i] = int(s[i], 0)
            except ValueError:
                pass
    return out


def _us_float_to_ns(col) -> np.ndarray:
    """Arrow float64 µs -> int64 ns, exact for the double (null -> INT64 min)."""
    arr = col.to_numpy(zero_copy_only=False).astype(np.float64)
    whole = np.floor(arr)
    with np.errstate(invalid="ignore"):
        ns = np.nan_to_num(whole).astype(np.int64) * 1000 + np.rint(np.nan_to_num(arr - whole) * 1000).astype(np.int64)
    ns[np.isnan(arr)] = np.iinfo(np.int64).min
    return ns


def _events_from_arrow(t) -> tuple[pd.DataFrame, bool]:
    """The columnar path: kept events as an arrow table (kineto_arrow.SCHEMA) -> the events frame."""
    import pyarrow.compute as pc

    from lowprof.tracers.kineto_arrow import list_items

    args = t["args"]
    field = lambda k: pc.struct_field(args, k)  # noqa: E731
    arg = lambda k: _arrow_ints(field(k), field(k.swapcase()))  # noqa: E731
    ts = t["ts"].to_numpy(zero_copy_only=False)
    finite = ts[~np.isnan(ts)]
    had_float = bool(len(finite) and (finite != np.floor(finite)).any())
    start = _us_float_to_ns(t["ts"])
    dur = _us_float_to_ns(pc.fill_null(t["dur"], 0.0))
    strings = lambda c: pd.array(t[c], dtype="string")  # noqa: E731
    grid, block = list_items(field("grid"), 3), list_items(field("block"), 3)
    masked = lambda vm: pd.arrays.IntegerArray(*vm)  # noqa: E731
    df = pd.DataFrame({
        "ph": strings("ph"), "cat": strings("cat"), "name": strings("name"),
        "pid": _arrow_ints(t["pid"], t["PID"]),
        "tid": _arrow_ints(t["tid"], t["TID"]),
        "start_ns": start,
        "end_ns": start + dur,
        "flow_id": _arrow_ints(t["id"], t["ID"]),
        "correlation": _first(arg("correlation"), arg("correlationId")),
        "external_id": _first(arg("External id"), arg("external id")),
        "device": arg("device"), "stream": arg("stream"),
        "grid_x": masked(grid[0]), "grid_y": masked(grid[1]), "grid_z": masked(grid[2]),
        "block_x": masked(block[0]), "block_y": masked(block[1]), "block_z": masked(block[2]),
        "registers_per_thread": arg("registers per thread"),
        "shared_memory_bytes": arg("shared memory"),
        "bytes": arg("bytes"),
    })
    return df, had_float


def _first(a: pd.arrays.IntegerArray, b: pd.arrays.IntegerArray) -> pd.arrays.IntegerArray:
    """``a`` where present, else ``b`` (dict.get(k1, dict.get(k2)) for present-but-unparseable keys aside)."""
    return pd.arrays.IntegerArray(np.where(a.isna(), b.fillna(0).to_numpy(np.int64), a.fillna(0).to_numpy(np.int64)),
                                  np.asarray(a.isna() & b.isna()))


def _ints(values: list) -> pd.array:
    """Python ints/None (or hex strings like '0x0', or names) -> nullable Int64; non-numbers -> NA."""
    try:
        return pd.array(values, dtype="Int64")
    except (TypeError, ValueError):
        out = []
        for v in values:
            if isinstance(v, bool) or v is None:
                out.append(None)
            elif isinstance(v, (int, float)):
                out.append(int(v))
            elif isinstance(v, str):
                try:
                    out.append(int(v, 0))
                except ValueError:
                    out.append(None)
            else:
                out.append(None)
        return pd.array(out, dtype="Int64")


def _loads(raw: bytes):
    try:
        import orjson

        return orjson.loads(raw)
    except ImportError:
        import json

        return json.loads(raw)


def _split_doc(doc, path: Path) -> tuple[list, dict]:
    if isinstance(doc, list):  # Chrome "JSON Array Format"
        doc = {"traceEvents": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        raise TraceError(f"{path}: no 'traceEvents' list; not a Chrome/Kineto trace")
    return doc["traceEvents"], {k: v for k, v in doc.items() if k != "traceEvents"}


def load_trace(path: str | os.PathLike, *, columnar: bool | None = None, block_bytes: int | None = None) -> KinetoTrace:
    """Parse a Kineto trace file; every problem with the file is one TraceError naming it.

    ``columnar`` (default: when pyarrow is installed) reads with :mod:`lowprof.tracers.kineto_arrow`
    in blocks of ``block_bytes`` without a Python object per event; whenever that reader meets a shape
    it does not handle it falls back to the exact per-event parser, which words every error.
    """
    path = Path(path)
    if columnar is not False:
        try:
            from lowprof.tracers import kineto_arrow
        except ImportError:
            kineto_arrow = None
        if kineto_arrow is not None:
            try:
                table, rest, n, info = kineto_arrow.read_events(path, _keep_rows,
                                                                block_bytes or kineto_arrow.BLOCK_BYTES)
                events, meta = _split_doc(_loads(rest), path)
            except (kineto_arrow.Unsupported, ValueError, ImportError, TraceError, OSError):
                pass
            else:
                frame, had_float = _events_from_arrow(table)
                del table  # the columns now live in the frame; free arrow's copy before splitting it
                tr = KinetoTrace(frame, meta, n, had_float, path)
                tr.parser = {"reader": "pyarrow", **info}
                return tr
    events, meta = _split_doc(read_json(path), path)
    frame, had_float = _events_from_objects(events)
    tr = KinetoTrace(frame, meta, len(events), had_float, path)
    tr.parser = {"reader": "objects"}
    return tr


def _arg_ints(args: list[dict], key: str, idx: int | None = None) -> pd.array:
    vals = []
    for a in args:
        v = a.get(key)
        if idx is not None:
            v = v[idx] if isinstance(v, (list, tuple)) and len(v) > idx else None
        vals.append(v)
    return _ints(vals)


def _innermost_containing(t: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the last-started interval (sorted by start) containing each t, or -1.

    For properly nested intervals the last-started one that contains t is the innermost.
    """
    if len(starts) == 0:
        return np.full(len(t), -1)
    i = np.searchsorted(starts, t, side="right") - 1
    ok = (i >= 0) & (ends[np.clip(i, 0, None)] >= t)
    return np.where(ok, i, -1)


def _assign_steps(t_ns: np.ndarray, steps: pd.DataFrame) -> np.ndarray:
    """Step name (object array, None outside every step) for each CPU time, by innermost containment."""
    out = np.full(len(t_ns), None, dtype=object)
    if len(steps) == 0 or len(t_ns) == 0:
        return out
    s = steps.sort_values("start_ns")
    starts = s["start_ns"].to_numpy(np.int64)
    ends = s["end_ns"].to_numpy(np.int64)
    names = s["name"].to_numpy(object)
    valid = t_ns != np.iinfo(np.int64).min
    idx = _innermost_containing(t_ns, starts, ends)
    hit = valid & (idx >= 0)
    out[hit] = names[idx[hit]]
    return out


def _launches_frame(tr: KinetoTrace) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    gpu, rt, ops, ann = tr.gpu, tr.runtime, tr.ops, tr.annotations
    g = pd.DataFrame({"kind": gpu["cat"].map(GPU_KINDS).astype("string"), "name": gpu["name"]})
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
    df["step"] = pd.array(_assign_steps(t_cpu, ann), dtype="string")
    df["launch_api"] = df["launch_api"].astype("string")
    df = df.sort_values(["gpu_start_ns", "correlation"], kind="stable").reset_index(drop=True)
    ops_out = ops_sorted[["name", "pid", "tid", "start_ns", "end_ns", "external_id"]].copy()
    ops_out["step"] = pd.array(_assign_steps(ops_out["start_ns"].to_numpy(np.int64), ann), dtype="string")
    steps = ann[["name", "pid", "tid", "start_ns", "end_ns"]].sort_values("start_ns").reset_index(drop=True)
    return df[[c.name for c in LAUNCHES.columns]], ops_out, steps


def _clock_meta(tr: KinetoTrace) -> dict:
    base = tr.meta.get("baseTimeNanoseconds")
    first = min(tr.all_ts_ns) if tr.all_ts_ns else 0
    precision = 1000
    if tr.had_float_ts:
        # ns digits survive a float parse only while ts (µs) < 2**53 / 1000 in magnitude.
        ulp_us = float(np.spacing(np.float64(abs(first) / 1000))) if first else 0.0
        precision = max(1, int(np.ceil(ulp_us * 1000 / 2)))
    return {
        "name": "kineto",
        "unit": "ns",
        "doc": "Kineto trace clock: t_ns = ts(µs) x 1000 as written in the trace; Unix time ns = "
               "base_time_unix_ns + t_ns when the trace gives baseTimeNanoseconds",
        "base_time_unix_ns": int(base) if isinstance(base, (int, float)) else None,
        "first_event_ns": first,
        "precision_ns": precision,
        "display_time_unit": tr.meta.get("displayTimeUnit"),
    }


def load_launches(path: str | os.PathLike, *, with_tables: bool = False, columnar: bool | None = None,
                  block_bytes: int | None = None):
    """Read a Kineto trace into the ``launches`` frame.

    Returns ``(launches, meta)``: a DataFrame with exactly the LAUNCHES columns (timestamps absolute
    int ns on the trace's own clock, see ``meta['clock']``) and a dict of facts about the trace.
    With ``with_tables=True`` returns ``(launches, meta, {"ops": ..., "steps": ...})``.
    ``columnar``/``block_bytes``: see :func:`load_trace`; ``meta['parser']`` says which reader ran.
    """
    tr = load_trace(path, columnar=columnar, block_bytes=block_bytes)
    launches, ops, steps = _launches_frame(tr)
    meta = {
        "source": "kineto",
        "trace": str(Path(path)),
        "events": tr.n_events,
        "clock": _clock_meta(tr),
        "gpu_activities": int(len(launches)),
        "launch_calls_unmatched": int(launches["cpu_start_ns"].isna().sum()),
        "distributed": tr.meta.get("distributedInfo"),
        "device_properties": tr.meta.get("deviceProperties"),
        "parser": tr.parser,
    }
    if with_tables:
        return launches, meta, {"ops": ops, "steps": steps}
    return launches, meta

"""One Chrome/Perfetto trace (JSON) of a run: launch calls, GPU activity, counters and marks on the run clock.

Open the file in ui.perfetto.dev or chrome://tracing. ``ts``/``dur`` are µs since the run's clock
origin (the run clock's ns / 1000, three decimals keep ns). Tracks:

* the workload's threads (pid/tid as recorded): launch calls (``cat: cuda_runtime``, name = the API),
  framework ops (``cpu_op``), pass/step annotations (``user_annotation``), phase marks (``marks``:
  instants ``ph: i``, begin/end ``ph: B/E``);
* one process per GPU (pid = device index, as Kineto writes it), one thread per stream: kernels,
  memcpy and memset (``cat: kernel / gpu_memcpy / gpu_memset``, args device, stream, correlation);
  ``ac2g`` flow arrows link each launch call to its GPU activity;
* counters (``ph: C``): host CPU busy (%) and workload RSS (B) from the ``system`` table, each
  core's busy % from ``system_cores``, and every
  numeric ``*_w`` column (power, power limit) of any table with a ``t_ns`` column: per GPU on that
  GPU's process (``gpu``/``device`` column), per sensor (``zone``, ``domain``, ``label``, ``sensor``)
  on the host counters process;
* Python stacks sampled by py-spy (``pystack_samples``, ``lowprof run --stacks``): per sampled thread one
  track ``Python stacks (py-spy) THREAD`` in the workload's process, nested slices (``cat: pystack``) one
  per frame, root outermost, as long as consecutive samples keep that frame.

The categories and args follow the Kineto trace format, so lowprof's own Kineto importer reads the
launches back unchanged (tests check this).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from lowprof.errors import LowprofError
from lowprof.rundir import Run

__all__ = ["chrome_trace", "write_chrome_trace", "validate_chrome_trace", "HOST_PID", "STACKS_TID", "CHROME_TRACE_SCHEMA"]

HOST_PID = 2**31 - 2  # the synthetic process holding host-wide counters
STACKS_TID = 2**31 - 3  # the first synthetic thread holding a sampled thread's Python stacks (then one below)
_GPU_CAT = {"kernel": "kernel", "memcpy": "gpu_memcpy", "memset": "gpu_memset"}
_SENSOR_KEYS = ("zone", "domain", "label", "sensor")  # columns naming a host power sensor (rapl, hwmon)
_PH = {"X", "B", "E", "i", "I", "C", "M", "s", "f", "t"}

# A strict subset of the Trace Event Format (the phases this exporter writes).
CHROME_TRACE_SCHEMA = {
    "type": "object",
    "required": ["traceEvents"],
    "properties": {
        "traceEvents": {"type": "array", "items": {"$ref": "#/$defs/event"}},
        "displayTimeUnit": {"enum": ["ms", "ns"]},
        "otherData": {"type": "object"},
    },
    "$defs": {
        "event": {
            "type": "object",
            "required": ["ph", "pid", "name"],
            "properties": {
                "ph": {"enum": sorted(_PH)},
                "name": {"type": "string"},
                "cat": {"type": "string"},
                "pid": {"type": "integer"},
                "tid": {"type": "integer"},
                "ts": {"type": "number"},
                "dur": {"type": "number", "minimum": 0},
                "s": {"enum": ["g", "p", "t"]},
                "id": {"type": ["integer", "string"]},
                "bp": {"enum": ["e"]},
                "args": {"type": "object"},
            },
            "allOf": [
                {"if": {"properties": {"ph": {"const": "X"}}}, "then": {"required": ["ts", "dur", "tid"]}},
                {"if": {"properties": {"ph": {"enum": ["B", "E", "i", "s", "f"]}}}, "then": {"required": ["ts", "tid"]}},
                {"if": {"properties": {"ph": {"const": "C"}}},
                 "then": {"required": ["ts", "args"],
                          "properties": {"args": {"additionalProperties": {"type": "number"}, "minProperties": 1}}}},
                {"if": {"properties": {"ph": {"const": "M"}}},
                 "then": {"required": ["args"], "properties": {
                     "name": {"enum": ["process_name", "thread_name", "process_sort_index", "thread_sort_index"]}}}},
                {"if": {"properties": {"ph": {"enum": ["s", "f"]}}}, "then": {"required": ["id", "cat"]}},
            ],
        }
    },
}


def _us(ns) -> float:
    return round(int(ns) / 1000.0, 3)


def _int(v, default: int = 0) -> int:
    return default if v is None or pd.isna(v) else int(v)


def _meta(pid: int, name: str, tid: int | None = None, label: str | None = None) -> dict:
    ev = {"ph": "M", "pid": pid, "name": name, "args": {"name": label}}
    if tid is not None:
        ev["tid"] = tid
    return ev


def _launch_events(run: Run, out: list, threads: set, gpus: set) -> None:
    if "launches" not in run.tables:
        return
    df = run["launches"]
    ext_of = {}  # (pid, op name, op start) -> the op's Kineto External id, which links a launch call to its op
    if "ops" in run.tables and "external_id" in run["ops"]:
        o = run["ops"].dropna(subset=["external_id"])
        ext_of = {(int(p), str(n), int(t)): int(e) for p, n, t, e in
                  zip(o["pid"], o["name"], o["start_ns"], o["external_id"])}
    calls = df.dropna(subset=["cpu_start_ns", "cpu_end_ns"]).drop_duplicates("correlation")
    for r in calls.itertuples(index=False):
        pid, tid = _int(r.pid), _int(r.tid)
        threads.add((pid, tid))
        ts = _us(r.cpu_start_ns)
        args = {"correlation": _int(r.correlation)}
        if r.op_start_ns is not None and not pd.isna(r.op_start_ns):
            ext = ext_of.get((pid, str(r.op), int(r.op_start_ns)))
            if ext is not None:
                args["External id"] = ext
        out.append({"ph": "X", "cat": "cuda_runtime", "name": str(r.launch_api or "launch"), "pid": pid, "tid": tid,
                    "ts": ts, "dur": max(0.0, round(_us(r.cpu_end_ns) - ts, 3)), "args": args})
        out.append({"ph": "s", "cat": "ac2g", "name": "launch", "id": _int(r.correlation), "pid": pid, "tid": tid,
                    "ts": ts})
    gpu = df.dropna(subset=["gpu_start_ns", "gpu_end_ns"])
    for r in gpu.itertuples(index=False):
        dev, stream = _int(r.device), _int(r.stream)
        gpus.add((dev, stream))
        ts = _us(r.gpu_start_ns)
        args = {"device": dev, "stream": stream, "correlation": _int(r.correlation)}
        if r.bytes is not None and not pd.isna(r.bytes):
            args["bytes"] = int(r.bytes)
        if r.grid_x is not None and not pd.isna(r.grid_x):
            args["grid"] = [_int(r.grid_x), _int(r.grid_y), _int(r.grid_z)]
            args["block"] = [_int(r.block_x), _int(r.block_y), _int(r.block_z)]
        for col, key in (("registers_per_thread", "registers per thread"), ("shared_memory_bytes", "shared memory")):
            v = getattr(r, col)
            if v is not None and not pd.isna(v):
                args[key] = int(v)
        out.append({"ph": "X", "cat": _GPU_CAT.get(str(r.kind), "kernel"), "name": str(r.name), "pid": dev,
                    "tid": stream, "ts": ts, "dur": max(0.0, round(_us(r.gpu_end_ns) - ts, 3)), "args": args})
        if r.cpu_start_ns is not None and not pd.isna(r.cpu_start_ns):
            out.append({"ph": "f", "bp": "e", "cat": "ac2g", "name": "launch", "id": _int(r.correlation),
                        "pid": dev, "tid": stream, "ts": ts})


def _span_events(run: Run, table: str, cat: str, out: list, threads: set) -> None:
    if table not in run.tables:
        return
    for r in run[table].itertuples(index=False):
        pid, tid = _int(r.pid), _int(r.tid)
        threads.add((pid, tid))
        ts = _us(r.start_ns)
        ev = {"ph": "X", "cat": cat, "name": str(r.name), "pid": pid, "tid": tid, "ts": ts,
              "dur": max(0.0, round(_us(r.end_ns) - ts, 3))}
        ext = getattr(r, "external_id", None)
        if ext is not None and not pd.isna(ext):
            ev["args"] = {"External id": int(ext)}
        out.append(ev)


def _mark_events(run: Run, out: list, threads: set) -> None:
    if "marks" not in run.tables:
        return
    ph = {"instant": "i", "begin": "B", "end": "E"}
    for r in run["marks"].itertuples(index=False):
        pid = _int(getattr(r, "pid", None), HOST_PID)
        tid = _int(getattr(r, "tid", None), pid)
        threads.add((pid, tid))
        ev = {"ph": ph.get(str(r.kind), "i"), "cat": "marks", "name": str(r.name), "pid": pid, "tid": tid,
              "ts": _us(r.t_ns)}
        if ev["ph"] == "i":
            ev["s"] = "p"
        out.append(ev)


def _stack_pid(thread: str, default: int) -> int:
    """The process of a py-spy thread name (``'PID/TID: name'``, as ``pystack_samples`` writes it)."""
    head = thread.partition("/")[0]
    return int(head) if head.isdigit() and int(head) < 2**31 else default


def _stack_events(run: Run, out: list, tracks: dict) -> None:
    """py-spy's timed samples (``pystack_samples``) as a flame chart: per sampled thread one track (a
    synthetic tid from STACKS_TID down, so its slices never interleave with the thread's launch calls)
    of nested slices, one per frame, lasting while consecutive samples keep that frame at that depth."""
    if "pystack_samples" not in run.tables or not len(run["pystack_samples"]):
        return
    df = run["pystack_samples"].sort_values(["thread", "t_ns"], kind="stable")
    default = _int(run.section("workload").pid, HOST_PID)
    for k, (thread, g) in enumerate(df.groupby("thread", sort=True)):
        pid, tid = _stack_pid(str(thread), default), STACKS_TID - k
        tracks[(pid, tid)] = f"Python stacks (py-spy) {thread}"
        open_: list[dict] = []  # the open frames' slices from the root, written on opening (a parent precedes its
        last_end = None          # children in the file, so frames of equal start and length nest root first)

        def close(depth: int, at: int) -> None:
            while len(open_) > depth:
                ev = open_.pop()
                ev["dur"] = max(0.0, round(_us(at) - ev["ts"], 3))

        for t, dur, stack in zip(g["t_ns"].to_numpy(np.int64), g["dur_ns"].to_numpy(np.int64), g["stack"]):
            frames = str(stack).split(";") if stack else []
            if last_end is not None and t > last_end:  # a gap in the samples: every frame ends where they stopped
                close(0, last_end)
            keep = 0
            while keep < min(len(open_), len(frames)) and open_[keep]["name"] == frames[keep]:
                keep += 1
            close(keep, int(t))
            for f in frames[keep:]:
                ev = {"ph": "X", "cat": "pystack", "name": f, "pid": pid, "tid": tid, "ts": _us(t), "dur": 0.0}
                out.append(ev)
                open_.append(ev)
            last_end = int(t + dur)
        if last_end is not None:
            close(0, last_end)


def _counter_events(run: Run, out: list, pids: dict) -> None:
    if "system" in run.tables and len(run["system"]):
        s = run["system"]
        pids[HOST_PID] = "host"
        for t, cpu, rss in zip(s["t_ns"].to_numpy(np.int64), s["cpu_percent"], s["proc_rss_bytes"]):
            if not pd.isna(cpu):
                out.append({"ph": "C", "name": "host CPU busy (%)", "pid": HOST_PID, "ts": _us(t),
                            "args": {"cpu_percent": float(cpu)}})
            if not pd.isna(rss):
                out.append({"ph": "C", "name": "workload RSS (B)", "pid": HOST_PID, "ts": _us(t),
                            "args": {"rss_bytes": float(rss)}})
    if "system_cores" in run.tables and len(run["system_cores"]):
        pids[HOST_PID] = "host"
        c = run["system_cores"]
        for core, t, u in zip(c["core"].to_numpy(), c["t_ns"].to_numpy(np.int64), c["util_percent"].to_numpy(float)):
            if np.isfinite(u):
                out.append({"ph": "C", "name": f"CPU {core} busy (%)", "pid": HOST_PID, "ts": _us(t),
                            "args": {"util_percent": float(u)}})
    for name in run.tables:
        if name in ("system", "system_cores") or "t_ns" not in run[name].columns:
            continue
        df = run[name]
        watts = [c for c in df.columns if c.endswith("_w") and pd.api.types.is_numeric_dtype(df[c])]
        if not watts:
            continue
        gpu_col = next((c for c in ("gpu", "device") if c in df.columns), None)
        labels = [c for c in _SENSOR_KEYS if c in df.columns]
        keys = ([gpu_col] if gpu_col else []) + labels
        for key, g in (df.groupby(keys, sort=True, dropna=False) if keys else [((), df)]):
            key = key if isinstance(key, tuple) else (key,)
            on_gpu = gpu_col is not None and not pd.isna(key[0])
            pid = int(key[0]) if on_gpu else HOST_PID
            pids.setdefault(pid, f"GPU {pid}" if on_gpu else "host")
            suffix = " ".join(str(k) for k in key[1 if gpu_col else 0:] if not pd.isna(k))
            for c in watts:
                track = f"{name}.{c}" + (f" {suffix}" if suffix else "")
                for t, v in zip(g["t_ns"].to_numpy(np.int64), g[c].to_numpy(float)):
                    if np.isfinite(v):
                        out.append({"ph": "C", "name": track, "pid": pid, "ts": _us(t), "args": {c: float(v)}})


def chrome_trace(run: Run) -> dict:
    """The run as a Chrome trace document (``traceEvents`` plus ``otherData`` naming the run and clock)."""
    events: list[dict] = []
    threads: set[tuple[int, int]] = set()
    gpus: set[tuple[int, int]] = set()
    pids: dict[int, str] = {}
    _launch_events(run, events, threads, gpus)
    _span_events(run, "ops", "cpu_op", events, threads)
    _span_events(run, "steps", "user_annotation", events, threads)
    _mark_events(run, events, threads)
    stack_tracks: dict[tuple[int, int], str] = {}
    _stack_events(run, events, stack_tracks)
    _counter_events(run, events, pids)
    meta = []
    cmd = " ".join(run.section("command") or []) or run.section("kind") or "run"
    workload_pid = run.section("workload").pid
    for pid in sorted({p for p, _ in threads} | {p for p, _ in stack_tracks}):
        meta.append(_meta(pid, "process_name", label="lowprof marks" if pid == HOST_PID else
                          (f"workload {pid}: {cmd[:80]}" if pid == workload_pid else f"CPU process {pid}")))
    for pid, tid in sorted(threads):
        meta.append(_meta(pid, "thread_name", tid, f"thread {tid}"))
    for (pid, tid), label in sorted(stack_tracks.items()):
        meta.append(_meta(pid, "thread_name", tid, label))
    for dev in sorted({d for d, _ in gpus} | {p for p in pids if p != HOST_PID}):
        meta.append(_meta(dev, "process_name", label=f"GPU {dev}"))
        meta.append({"ph": "M", "pid": dev, "name": "process_sort_index", "args": {"sort_index": 1000 + dev}})
    for dev, stream in sorted(gpus):
        meta.append(_meta(dev, "thread_name", stream, f"stream {stream}"))
    if HOST_PID in pids:
        meta.append(_meta(HOST_PID, "process_name", label="host counters"))
    events.sort(key=lambda e: e.get("ts", 0.0))
    return {"traceEvents": meta + events, "displayTimeUnit": "ns",
            "otherData": {"lowprof_run": str(run.path), "clock": "µs since the run clock's origin "
                          "(manifest clock); ts_us = t_ns / 1000", "command": cmd}}


_META_NAMES = {"process_name", "thread_name", "process_sort_index", "thread_sort_index"}
_NEEDS = {"X": ("ts", "dur", "tid"), "B": ("ts", "tid"), "E": ("ts", "tid"), "i": ("ts", "tid"), "I": ("ts", "tid"),
          "s": ("ts", "tid", "id", "cat"), "f": ("ts", "tid", "id", "cat"), "t": ("ts", "tid", "id", "cat"),
          "C": ("ts", "args"), "M": ("args",)}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def _event_problem(e) -> str | None:
    if not isinstance(e, dict):
        return f"not an object: {e!r}"
    ph = e.get("ph")
    if ph not in _PH:
        return f"phase {ph!r} unknown"
    if not isinstance(e.get("name"), str) or not _is_int(e.get("pid")):
        return f"name {e.get('name')!r} / pid {e.get('pid')!r}: need a string and an integer"
    missing = [k for k in _NEEDS[ph] if k not in e]
    if missing:
        return f"{ph!r} event {e['name']!r} lacks {missing}"
    if "ts" in e and not _is_num(e["ts"]):
        return f"ts {e['ts']!r} is not a number"
    if "tid" in e and not _is_int(e["tid"]):
        return f"tid {e['tid']!r} is not an integer"
    if ph == "X" and not (_is_num(e["dur"]) and e["dur"] >= 0):
        return f"dur {e['dur']!r} is not a number >= 0"
    if ph == "C" and not (isinstance(e["args"], dict) and e["args"] and all(_is_num(v) for v in e["args"].values())):
        return f"counter {e['name']!r} args {e['args']!r}: need numbers"
    if ph == "M" and (e["name"] not in _META_NAMES or not isinstance(e["args"], dict)):
        return f"metadata {e['name']!r} unknown or without args"
    if ph in ("i", "I") and e.get("s", "t") not in ("g", "p", "t"):
        return f"instant scope {e.get('s')!r} not g, p or t"
    return None


def validate_chrome_trace(doc: dict) -> None:
    """Check ``doc`` against the Trace Event Format rules this exporter relies on (the same rules as
    :data:`CHROME_TRACE_SCHEMA`); LowprofError names the first bad event by its index."""
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        raise LowprofError("invalid Chrome trace at top level: no traceEvents list")
    if doc.get("displayTimeUnit", "ms") not in ("ms", "ns"):
        raise LowprofError(f"invalid Chrome trace at displayTimeUnit: {doc['displayTimeUnit']!r}")
    for i, e in enumerate(doc["traceEvents"]):
        problem = _event_problem(e)
        if problem:
            raise LowprofError(f"invalid Chrome trace at traceEvents/{i}: {problem}")


def write_chrome_trace(run: Run, path: str | os.PathLike) -> dict:
    """Write the run's trace to ``path`` (JSON; ``.gz`` compresses); returns counts per category."""
    doc = chrome_trace(run)
    validate_chrome_trace(doc)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(doc, separators=(",", ":")).encode()
    if path.suffix == ".gz":
        import gzip

        data = gzip.compress(data)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    counts: dict[str, int] = {}
    for e in doc["traceEvents"]:
        key = e.get("cat") or ("counter" if e["ph"] == "C" else "metadata")
        counts[key] = counts.get(key, 0) + 1
    return counts

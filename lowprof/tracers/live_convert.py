"""Turn the agent's Kineto segments into the run's ``launches`` and ``ops`` tables, on the run clock.

Clock alignment. Kineto stamps events on CLOCK_REALTIME: an event's absolute time is
``baseTimeNanoseconds + ts * 1000`` (ts in µs; traces without ``baseTimeNanoseconds`` carry
absolute µs since the Unix epoch). The run clock is CLOCK_MONOTONIC since ``origin_monotonic_ns``.
The agent reads ``realtime_minus_monotonic_ns`` (REALTIME - MONOTONIC, tightest of three
back-to-back reads) in the workload process when each segment starts, so::

    t_run_ns = realtime_ns - realtime_minus_monotonic_ns - origin_monotonic_ns

Using the offset of the segment's own start (rather than the run's ``origin_realtime_ns``, read
earlier in another process) keeps a wall-clock step (NTP, settimeofday) between run start and the
segment out of the result; what is left is REALTIME's slew within one segment (NTP slews at most
500 ppm: ≤ 1 ms over a 2 s segment, typically µs). Both offsets (start and end of segment) are kept
in ``segments.jsonl`` so the drift can be checked.

Records that cannot be true are dropped and counted (:func:`corrupt_gpu_records`): rolling segments start a
new profiler session each time, and each re-registers CUPTI's timestamp callback, after which the first
kernel records of a session come back ~1e14 ns off (pytorch/pytorch#192021); a forced mid-run CUPTI flush
hands over records it could not complete with start = end = 0 (CUPTI Activity API). Launch calls left
without a GPU record are counted per segment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lowprof.clock import RunClock
from lowprof.errors import TraceError
from lowprof.rundir import TableSpec
from lowprof.rundir.specs.launches import TIME_COLUMNS
from lowprof.tracers.segment_log import read_log

__all__ = ["Converted", "convert_trace", "convert_cupti", "convert_cupti_segments", "convert_dir", "to_run_clock",
           "empty_frame", "scanner_problem", "corrupt_gpu_records"]

# Physically impossible by far more than any clock alignment error: a GPU record starting over 1 s before
# its own launch call, or over 1 s outside the segment it was exported in.
IMPOSSIBLE_NS = 1_000_000_000


def corrupt_gpu_records(launches: pd.DataFrame, window_ns: tuple[int, int] | None = None) -> np.ndarray:
    """Mask of GPU records whose timestamps cannot be true (run clock ns): ending before they start, starting
    more than :data:`IMPOSSIBLE_NS` before their launch call began, or outside ``window_ns`` (the segment's
    start and end) by more than that."""
    gs, ge, cs = (launches[c].astype("Int64") for c in ("gpu_start_ns", "gpu_end_ns", "cpu_start_ns"))
    bad = (ge < gs).fillna(False) | (gs < cs - IMPOSSIBLE_NS).fillna(False)
    if window_ns is not None:
        a, b = window_ns
        bad |= ((gs < a - IMPOSSIBLE_NS) | (gs > b + IMPOSSIBLE_NS) | (ge > b + IMPOSSIBLE_NS)).fillna(False)
    return bad.to_numpy(bool)


def to_run_clock(df: pd.DataFrame, realtime_minus_monotonic_ns: int, origin_monotonic_ns: int,
                 base_realtime_ns: int = 0) -> pd.DataFrame:
    """Shift the ``*_ns`` timestamp columns of a Kineto-clock frame onto the run clock.

    ``base_realtime_ns``: Unix time of the trace's t = 0 (``baseTimeNanoseconds``; 0 for traces
    that write absolute Unix µs).
    """
    shift = int(base_realtime_ns) - int(realtime_minus_monotonic_ns) - int(origin_monotonic_ns)
    out = df.copy()
    for c in TIME_COLUMNS:
        if c in out:
            out[c] = out[c].astype("Int64") + shift
    return out


def empty_frame(spec: TableSpec) -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series([], dtype="object") for c in spec.columns})


def convert_trace(path: str | Path, *, realtime_minus_monotonic_ns: int,
                  origin_monotonic_ns: int) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], dict]:
    """One Kineto trace file -> (launches, {"ops": ..., "steps": ...}, meta), on the run clock (int ns).

    Parsing and linking is the Kineto importer's (:func:`lowprof.tracers.kineto.load_launches`);
    this only moves its timestamps from the trace's clock onto the run clock.
    """
    from lowprof.tracers.kineto import load_launches

    launches, meta, tables = load_launches(path, with_tables=True)
    base = meta["clock"].get("base_time_unix_ns") or 0
    args = (realtime_minus_monotonic_ns, origin_monotonic_ns, base)
    return to_run_clock(launches, *args), {k: to_run_clock(v, *args) for k, v in tables.items()}, meta


def _read_jsonl(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def convert_cupti_segments(segments: list[tuple[str | Path, int]], origin_monotonic_ns: int) -> tuple[list[pd.DataFrame], list[dict]]:
    """CUPTI segments (``cupti-<pid>-<n>.jsonl``, CuPy agent), each with its ``cupti_minus_monotonic_ns``, ->
    one launches frame per segment on the run clock, and per segment ``{"incomplete_gpu_records_dropped",
    "launch_calls_without_gpu_record"}``.

    ``t_run_ns = cupti_ns - cupti_minus_monotonic_ns - origin_monotonic_ns``, with the offset read in the
    workload at the start of the segment that delivered the record. A forced flush mid-run delivers a kernel
    record in one segment and its API record in another: they are joined across every segment. Records with
    start = end = 0 (CUPTI: no timing could be collected, e.g. flushed unfinished) are dropped and counted.
    """
    from lowprof.rundir.specs.launches import LAUNCHES

    loaded = [(_read_jsonl(path), int(offset) + int(origin_monotonic_ns)) for path, offset in segments]
    api = {}  # correlation -> (API record, shift of the segment that delivered it)
    for rows, shift in loaded:
        for r in rows:
            if r["k"] == "api" and (r["start"] or r["end"]):
                api.setdefault(r["corr"], (r, shift))
    gpu_corr = {r["corr"] for rows, _ in loaded for r in rows if r["k"] != "api" and (r["start"] or r["end"])}
    frames, stats = [], []
    for rows, shift in loaded:
        out, zero = [], 0
        for r in rows:
            if r["k"] == "api":
                continue
            if not (r["start"] or r["end"]):
                zero += 1
                continue
            a, ashift = api.get(r["corr"], ({}, 0))
            g, b = r.get("grid") or [None] * 3, r.get("block") or [None] * 3
            out.append({
                "kind": r["k"], "name": r["name"], "device": r.get("device"), "stream": r.get("stream"),
                "correlation": r["corr"], "launch_api": a.get("name"),
                "cpu_start_ns": a["start"] - ashift if a else None, "cpu_end_ns": a["end"] - ashift if a else None,
                "gpu_start_ns": r["start"] - shift, "gpu_end_ns": r["end"] - shift,
                "pid": a.get("pid"), "tid": a.get("tid"),
                "grid_x": g[0], "grid_y": g[1], "grid_z": g[2], "block_x": b[0], "block_y": b[1], "block_z": b[2],
                "registers_per_thread": r.get("regs"), "shared_memory_bytes": r.get("smem"), "bytes": r.get("bytes"),
            })
        df = pd.DataFrame(out, columns=[c.name for c in LAUNCHES.columns])
        for c in LAUNCHES.columns:
            if c.type.startswith("int"):
                df[c.name] = df[c.name].astype("Int64")
        frames.append(df.sort_values("gpu_start_ns", kind="stable").reset_index(drop=True))
        lost = sum(1 for r in rows if r["k"] == "api" and "Launch" in r["name"] and r["corr"] not in gpu_corr)
        stats.append({"incomplete_gpu_records_dropped": zero, "launch_calls_without_gpu_record": lost})
    return frames, stats


def convert_cupti(path: str | Path, *, cupti_minus_monotonic_ns: int, origin_monotonic_ns: int) -> pd.DataFrame:
    """One CUPTI segment alone -> launches on the run clock (see :func:`convert_cupti_segments`)."""
    frames, _ = convert_cupti_segments([(path, cupti_minus_monotonic_ns)], origin_monotonic_ns)
    return frames[0]


def scanner_problem() -> str | None:
    """Why lowprof's compiled Kineto scanner (``lowprof.native._kscan``, CFFI) cannot load here; None when it can."""
    try:
        import lowprof.native._kscan  # noqa: F401
    except ImportError as e:
        if getattr(e, "name", None) == "_cffi_backend" or "_cffi_backend" in str(e):
            return ("cffi is not installed: lowprof's compiled Kineto trace scanner needs its _cffi_backend module "
                    "at run time (pip install cffi)")
        return f"lowprof's compiled Kineto trace scanner is not built ({e}); reinstall with `pip install -e .`"
    return None


@dataclass
class Converted:
    """What a traced run's ``kineto/`` folder held, converted: launches, ops, steps (run clock)."""

    launches: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    segments: list[dict] = field(default_factory=list)
    starts: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fatal: str | None = None  # why no Kineto segment could be read at all (the scanner cannot load)

    @property
    def no_gpu_reason(self) -> str | None:
        for s in self.starts:
            if s.get("no_gpu_reason"):
                return s["no_gpu_reason"]
        return None


def _window(seg: dict, clock: RunClock) -> tuple[int, int] | None:
    """The segment's [start, end] on the run clock, where the log has it."""
    if seg.get("start_monotonic_ns") is None or seg.get("end_monotonic_ns") is None:
        return None
    return seg["start_monotonic_ns"] - clock.origin_monotonic_ns, seg["end_monotonic_ns"] - clock.origin_monotonic_ns


def convert_dir(kineto_dir: str | Path, clock: RunClock, log: list[dict] | None = None) -> Converted:
    """Every complete segment listed in ``kineto_dir/segments.jsonl``, converted and concatenated (``log``: that
    log's entries where the caller read it already, see :func:`lowprof.tracers.segment_log.read_log`).

    Each converted segment in ``segments`` gains ``launches``, ``corrupt_gpu_records_dropped`` (see
    :func:`corrupt_gpu_records`), ``incomplete_gpu_records_dropped`` (CUPTI) and
    ``launch_calls_without_gpu_record``.
    """
    kineto_dir = Path(kineto_dir)
    log = read_log(kineto_dir) if log is None else log
    res = Converted()
    res.starts = [e for e in log if e.get("event") == "start"]
    res.errors = [f"{e.get('where')}: {e.get('error')}" for e in log if e.get("event") == "error"]
    launches, tables = [], {}
    segments = []
    for seg in (e for e in log if e.get("event") == "segment"):
        if (kineto_dir / seg["file"]).exists():
            segments.append(seg)
        else:
            res.errors.append(f"{seg['file']}: listed but missing")
    kineto = [e for e in segments if e.get("tracer") != "cupti"]
    problem = scanner_problem() if kineto else None
    if problem:
        res.fatal = f"cannot read the {len(kineto)} Kineto trace segment(s) kept in {kineto_dir}: {problem}"
        kineto = []
    cupti = [e for e in segments if e.get("tracer") == "cupti"]
    converted: list[tuple[dict, pd.DataFrame, dict, dict]] = []  # (segment, launches, tables, counts)
    for seg in kineto:
        try:
            la, tabs, meta = convert_trace(kineto_dir / seg["file"], origin_monotonic_ns=clock.origin_monotonic_ns,
                                           realtime_minus_monotonic_ns=seg["realtime_minus_monotonic_ns"])
        except (TraceError, ValueError, KeyError) as e:
            res.errors.append(str(e))
            continue
        converted.append((seg, la, tabs, {"incomplete_gpu_records_dropped": 0,
                                          "launch_calls_without_gpu_record": meta.get("launch_calls_without_gpu_activity", 0)}))
    if cupti:
        try:
            frames, counts = convert_cupti_segments([(kineto_dir / s["file"], s["cupti_minus_monotonic_ns"]) for s in cupti],
                                                    clock.origin_monotonic_ns)
            converted += [(seg, la, {}, c) for seg, la, c in zip(cupti, frames, counts)]
        except (ValueError, KeyError) as e:
            res.errors.append(f"CUPTI segments: {type(e).__name__}: {e}")
    for seg, la, tabs, counts in converted:
        bad = corrupt_gpu_records(la, _window(seg, clock))
        if bad.any():
            la = la[~bad].reset_index(drop=True)
        launches.append(la)
        for k, v in tabs.items():
            tables.setdefault(k, []).append(v)
        res.segments.append(seg | counts | {"launches": len(la), "corrupt_gpu_records_dropped": int(bad.sum())})
    res.launches = pd.concat(launches, ignore_index=True) if launches else None
    res.tables = {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}
    return res

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
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lowprof.clock import RunClock
from lowprof.errors import TraceError
from lowprof.rundir import TableSpec

__all__ = ["Converted", "convert_trace", "convert_cupti", "convert_dir", "to_run_clock", "empty_frame"]

_TIME_COLS = ("cpu_start_ns", "cpu_end_ns", "gpu_start_ns", "gpu_end_ns", "op_start_ns", "start_ns", "end_ns")


def to_run_clock(df: pd.DataFrame, realtime_minus_monotonic_ns: int, origin_monotonic_ns: int,
                 base_realtime_ns: int = 0) -> pd.DataFrame:
    """Shift the ``*_ns`` timestamp columns of a Kineto-clock frame onto the run clock.

    ``base_realtime_ns``: Unix time of the trace's t = 0 (``baseTimeNanoseconds``; 0 for traces
    that write absolute Unix µs).
    """
    shift = int(base_realtime_ns) - int(realtime_minus_monotonic_ns) - int(origin_monotonic_ns)
    out = df.copy()
    for c in _TIME_COLS:
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


def convert_cupti(path: str | Path, *, cupti_minus_monotonic_ns: int, origin_monotonic_ns: int) -> pd.DataFrame:
    """One CUPTI segment (``cupti-<pid>-<n>.jsonl``, CuPy agent) -> launches on the run clock.

    CUPTI timestamps are ns on CUPTI's clock; ``t_run_ns = cupti_ns - cupti_minus_monotonic_ns -
    origin_monotonic_ns`` with the offset read in the workload at the segment's start.
    """
    from lowprof.tracers.launches import LAUNCHES

    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    api = {r["corr"]: r for r in rows if r["k"] == "api"}
    shift = int(cupti_minus_monotonic_ns) + int(origin_monotonic_ns)
    out = []
    for r in rows:
        if r["k"] == "api":
            continue
        a = api.get(r["corr"], {})
        g, b = r.get("grid") or [None] * 3, r.get("block") or [None] * 3
        out.append({
            "kind": r["k"], "name": r["name"], "device": r.get("device"), "stream": r.get("stream"),
            "correlation": r["corr"], "launch_api": a.get("name"),
            "cpu_start_ns": a["start"] - shift if a else None, "cpu_end_ns": a["end"] - shift if a else None,
            "gpu_start_ns": r["start"] - shift, "gpu_end_ns": r["end"] - shift,
            "pid": a.get("pid"), "tid": a.get("tid"),
            "grid_x": g[0], "grid_y": g[1], "grid_z": g[2], "block_x": b[0], "block_y": b[1], "block_z": b[2],
            "registers_per_thread": r.get("regs"), "shared_memory_bytes": r.get("smem"), "bytes": r.get("bytes"),
        })
    df = pd.DataFrame(out, columns=[c.name for c in LAUNCHES.columns])
    for c in LAUNCHES.columns:
        if c.type.startswith("int"):
            df[c.name] = df[c.name].astype("Int64")
    return df.sort_values("gpu_start_ns", kind="stable").reset_index(drop=True)


@dataclass
class Converted:
    """What a traced run's ``kineto/`` folder held, converted: launches, ops, steps (run clock)."""

    launches: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    segments: list[dict] = field(default_factory=list)
    starts: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def no_gpu_reason(self) -> str | None:
        for s in self.starts:
            if s.get("no_gpu_reason"):
                return s["no_gpu_reason"]
        return None


def _read_log(path: Path) -> list[dict]:
    out = []
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a kill
    return out


def convert_dir(kineto_dir: str | Path, clock: RunClock) -> Converted:
    """Every complete segment listed in ``kineto_dir/segments.jsonl``, converted and concatenated."""
    kineto_dir = Path(kineto_dir)
    log = _read_log(kineto_dir / "segments.jsonl")
    res = Converted()
    res.starts = [e for e in log if e.get("event") == "start"]
    res.errors = [f"{e.get('where')}: {e.get('error')}" for e in log if e.get("event") == "error"]
    launches, tables = [], {}
    for seg in (e for e in log if e.get("event") == "segment"):
        path = kineto_dir / seg["file"]
        if not path.exists():
            res.errors.append(f"{seg['file']}: listed but missing")
            continue
        try:
            if seg.get("tracer") == "cupti":
                la, tabs = convert_cupti(path, cupti_minus_monotonic_ns=seg["cupti_minus_monotonic_ns"],
                                         origin_monotonic_ns=clock.origin_monotonic_ns), {}
            else:
                la, tabs, _ = convert_trace(path, realtime_minus_monotonic_ns=seg["realtime_minus_monotonic_ns"],
                                            origin_monotonic_ns=clock.origin_monotonic_ns)
        except (TraceError, ValueError, KeyError) as e:
            res.errors.append(str(e))
            continue
        launches.append(la)
        for k, v in tabs.items():
            tables.setdefault(k, []).append(v)
        res.segments.append(seg)
    res.launches = pd.concat(launches, ignore_index=True) if launches else None
    res.tables = {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}
    return res

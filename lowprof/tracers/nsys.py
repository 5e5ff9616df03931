"""Read an Nsight Systems SQLite export (``nsys export --type sqlite``) into the ``launches`` table.

Tables used (Nsight Systems export schema): ``CUPTI_ACTIVITY_KIND_KERNEL`` / ``_MEMCPY`` / ``_MEMSET``
(GPU activities: start, end, deviceId, streamId, correlationId, globalPid; kernels also name ids,
grid/block, registersPerThread, static/dynamicSharedMemory), ``CUPTI_ACTIVITY_KIND_RUNTIME`` (CUDA
runtime and driver API calls: start, end, globalTid, correlationId, nameId), ``StringIds`` (id -> text)
and, when present, ``NVTX_EVENTS`` (ranges named NAME#N become steps). ``globalTid`` packs the pid in
bits 24-47 and the tid in bits 0-23.

Clock: nsys timestamps are integer ns on the session's clock (ns since the session start); they are
returned unchanged.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from lowprof.errors import TraceError
from lowprof.tracers.launches import LAUNCHES, STEP_PATTERN

__all__ = ["load_launches", "is_sqlite"]

_MEMCPY_KINDS = {0: "Unknown", 1: "HtoD", 2: "DtoH", 3: "HtoA", 4: "AtoH", 5: "AtoA", 6: "AtoD", 7: "DtoA",
                 8: "DtoD", 9: "HtoH", 10: "PtoP"}


def is_sqlite(path: str | os.PathLike) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in con.execute(f"PRAGMA table_info({table})")}


def _gpu(con: sqlite3.Connection, tables: set[str]) -> pd.DataFrame:
    frames = []
    if "CUPTI_ACTIVITY_KIND_KERNEL" in tables:
        cols = _columns(con, "CUPTI_ACTIVITY_KIND_KERNEL")
        name_col = next((c for c in ("demangledName", "shortName", "mangledName") if c in cols), None)
        dyn = "dynamicSharedMemory" if "dynamicSharedMemory" in cols else "0"
        frames.append(pd.read_sql_query(
            f"""SELECT 'kernel' AS kind, s.value AS name, k.deviceId AS device, k.streamId AS stream,
                k.correlationId AS correlation, k.start AS gpu_start_ns, k.end AS gpu_end_ns,
                (k.globalPid >> 24) & 16777215 AS gpu_pid,
                k.gridX AS grid_x, k.gridY AS grid_y, k.gridZ AS grid_z,
                k.blockX AS block_x, k.blockY AS block_y, k.blockZ AS block_z,
                k.registersPerThread AS registers_per_thread,
                k.staticSharedMemory + {dyn} AS shared_memory_bytes, NULL AS bytes
            FROM CUPTI_ACTIVITY_KIND_KERNEL k LEFT JOIN StringIds s ON s.id = k.{name_col}""", con))
    if "CUPTI_ACTIVITY_KIND_MEMCPY" in tables:
        m = pd.read_sql_query(
            """SELECT 'memcpy' AS kind, copyKind, deviceId AS device, streamId AS stream, correlationId AS correlation,
                start AS gpu_start_ns, end AS gpu_end_ns, (globalPid >> 24) & 16777215 AS gpu_pid, bytes
            FROM CUPTI_ACTIVITY_KIND_MEMCPY""", con)
        m["name"] = "Memcpy " + m.pop("copyKind").map(_MEMCPY_KINDS).fillna("Unknown")
        frames.append(m)
    if "CUPTI_ACTIVITY_KIND_MEMSET" in tables:
        frames.append(pd.read_sql_query(
            """SELECT 'memset' AS kind, 'Memset' AS name, deviceId AS device, streamId AS stream,
                correlationId AS correlation, start AS gpu_start_ns, end AS gpu_end_ns,
                (globalPid >> 24) & 16777215 AS gpu_pid, bytes
            FROM CUPTI_ACTIVITY_KIND_MEMSET""", con))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["kind", "name", "device", "stream", "correlation", "gpu_start_ns", "gpu_end_ns"])
    return pd.concat(frames, ignore_index=True)


def load_launches(path: str | os.PathLike):
    """Read an nsys SQLite export. Returns ``(launches, meta)``; timestamps are nsys session-clock ns."""
    path = Path(path)
    if not path.exists():
        raise TraceError(f"{path}: no such trace file")
    if not is_sqlite(path):
        raise TraceError(f"{path}: not an SQLite database (export one with `nsys export --type sqlite`)")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        with con:
            tables = _tables(con)
            if "StringIds" not in tables:
                raise TraceError(f"{path}: no StringIds table; not an Nsight Systems export")
            gpu = _gpu(con, tables)
            rt = pd.DataFrame(columns=["correlation", "launch_api", "cpu_start_ns", "cpu_end_ns", "gtid"])
            if "CUPTI_ACTIVITY_KIND_RUNTIME" in tables:
                rt = pd.read_sql_query(
                    """SELECT r.correlationId AS correlation, s.value AS launch_api, r.start AS cpu_start_ns,
                        r.end AS cpu_end_ns, r.globalTid AS gtid
                    FROM CUPTI_ACTIVITY_KIND_RUNTIME r LEFT JOIN StringIds s ON s.id = r.nameId""", con)
            nvtx = pd.DataFrame(columns=["name", "start_ns", "end_ns", "gtid"])
            if "NVTX_EVENTS" in tables:
                nvtx = pd.read_sql_query(
                    """SELECT coalesce(e.text, s.value) AS name, e.start AS start_ns, e.end AS end_ns, e.globalTid AS gtid
                    FROM NVTX_EVENTS e LEFT JOIN StringIds s ON s.id = e.textId WHERE e.end IS NOT NULL""", con)
    except sqlite3.DatabaseError as e:
        raise TraceError(f"{path}: unreadable SQLite export ({e})") from None
    finally:
        try:
            con.close()
        except UnboundLocalError:
            pass
    rt = rt.drop_duplicates("correlation")
    gtid = rt["gtid"].to_numpy(np.int64)
    rt["pid"] = (gtid >> 24) & 0xFFFFFF
    rt["tid"] = gtid & 0xFFFFFF
    df = gpu.merge(rt.drop(columns="gtid"), how="left", on="correlation")
    df["pid"] = df["pid"].fillna(df.get("gpu_pid"))
    steps = nvtx[nvtx["name"].fillna("").str.match(STEP_PATTERN.pattern)].sort_values("start_ns")
    df["step"] = None
    if len(steps) and len(df):
        t = df["cpu_start_ns"].fillna(df["gpu_start_ns"]).to_numpy(np.int64)
        starts, ends = steps["start_ns"].to_numpy(np.int64), steps["end_ns"].to_numpy(np.int64)
        i = np.searchsorted(starts, t, side="right") - 1
        ok = (i >= 0) & (ends[np.clip(i, 0, None)] >= t)
        df["step"] = np.where(ok, steps["name"].to_numpy(object)[np.clip(i, 0, None)], None)
    for c in LAUNCHES.columns:
        if c.name not in df:
            df[c.name] = None
    df = df.sort_values(["gpu_start_ns", "correlation"], kind="stable").reset_index(drop=True)
    ts = [int(df[c].min()) for c in ("gpu_start_ns", "cpu_start_ns") if len(df) and df[c].notna().any()]
    meta = {
        "source": "nsys-sqlite",
        "trace": str(path),
        "events": int(len(gpu) + len(rt)),
        "gpu_activities": int(len(df)),
        "launch_calls_unmatched": int(df["cpu_start_ns"].isna().sum()),
        "clock": {"name": "nsys", "unit": "ns", "precision_ns": 1, "first_event_ns": min(ts) if ts else 0,
                  "base_time_unix_ns": None,
                  "doc": "Nsight Systems session clock: integer ns as exported (start/end columns)"},
    }
    sg = steps["gtid"].to_numpy(np.int64)
    steps_out = steps.assign(pid=(sg >> 24) & 0xFFFFFF, tid=sg & 0xFFFFFF)[["name", "pid", "tid", "start_ns", "end_ns"]]
    return df[[c.name for c in LAUNCHES.columns]], meta, {"steps": steps_out.reset_index(drop=True)}

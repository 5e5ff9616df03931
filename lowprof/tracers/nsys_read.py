"""The reading half of :mod:`lowprof.tracers.nsys`: an Nsight Systems SQLite export into ``launches``, ``steps``
and ``api_calls`` frames (tables, sanitising, linking and clock: that module's docstring). Imports pandas and
numpy; reached through :func:`lowprof.tracers.nsys.load_launches`, which keeps the sniffing side light."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from lowprof.errors import TraceError
from lowprof.intervals import innermost_containing
from lowprof.rundir.specs.launches import LAUNCHES, STEP_PATTERN
from lowprof.tracers.nsys import CUDA_TABLES, normalise_api_name
from lowprof.tracers.sniff import is_sqlite

__all__ = ["read_export"]

_MEMCPY_KINDS = {0: "Unknown", 1: "HtoD", 2: "DtoH", 3: "HtoA", 4: "AtoH", 5: "AtoA", 6: "AtoD", 7: "DtoA",
                 8: "DtoD", 9: "HtoH", 10: "PtoP"}
_I32 = (-(2**31), 2**31 - 1)
_I64 = (-(2**63), 2**63 - 1)
_TIME = (-(2**62), 2**62)  # as the Kineto scanner: differences of such times cannot overflow int64


def _tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')}


def _int(expr: str, rng: tuple[int, int]) -> str:
    """SQL: ``expr`` where it is an integer in ``rng``, else NULL."""
    return f"(CASE WHEN typeof({expr}) = 'integer' AND {expr} BETWEEN {rng[0]} AND {rng[1]} THEN {expr} END)"


def _bad(expr: str, rng: tuple[int, int]) -> str:
    """SQL: 1 where ``expr`` holds a value that is not an integer in ``rng`` (NULL is not bad)."""
    return f"(CASE WHEN {expr} IS NOT NULL AND NOT (typeof({expr}) = 'integer' AND {expr} BETWEEN {rng[0]} AND {rng[1]}) THEN 1 ELSE 0 END)"


class _Reader:
    """Reads tables of one export with every integer sanitised (see the module docstring), counting what it drops."""

    def __init__(self, con: sqlite3.Connection, path: Path) -> None:
        self.con, self.path = con, path
        self.tables = _tables(con)
        self.nulled: dict[str, int] = {}   # "TABLE.column" -> values stored as null
        self.skipped: dict[str, int] = {}  # TABLE -> rows without a usable start/end

    def read(self, table: str, ints: dict[str, tuple[str, tuple[int, int]]], texts: dict[str, str],
             required: tuple[str, ...] = ("start", "end"), extra_from: str = "", time_cols=("start", "end")) -> pd.DataFrame:
        """``SELECT`` from ``table`` (alias t): ``ints`` out-name -> (column, range), ``texts`` out-name -> SQL
        expression; a column the table lacks reads as NULL, a missing required one is one TraceError."""
        cols = _columns(self.con, table)
        lacking = [c for c in required if c not in cols]
        if lacking:
            raise TraceError(f"{self.path}: table {table} has no column {lacking[0]!r}; not an Nsight Systems "
                             f"export lowprof can read")
        ok = " AND ".join(f"typeof(t.{c}) = 'integer' AND t.{c} BETWEEN {_TIME[0]} AND {_TIME[1]}" for c in time_cols)
        if len(time_cols) == 2:
            ok += f" AND t.{time_cols[1]} >= t.{time_cols[0]}"
        sel, bad = [], []
        for out, (col, rng, *src) in ints.items():
            if col.startswith("(") or col in cols:
                e = col if col.startswith("(") else f"t.{col}"
                sel.append(f"{_int(e, rng)} AS {out}")
                if not col.startswith("("):
                    bad.append((f"{table}.{col}", f"SUM({_bad(e, rng)})"))
                elif src and src[0] in cols:  # an expression of one column: count that column's bad values
                    bad.append((f"{table}.{src[0]}", f"SUM({_bad('t.' + src[0], _I64)})"))
            else:
                sel.append(f"NULL AS {out}")
        for out, e in texts.items():
            sel.append(f"{e} AS {out}")
        q = f'SELECT {", ".join(sel)} FROM "{table}" t {extra_from} WHERE {ok}'
        rows = self.con.execute(q).fetchall()
        counts = self.con.execute(
            f'SELECT SUM(CASE WHEN {ok} THEN 0 ELSE 1 END){"".join(", " + b for _, b in bad)} FROM "{table}" t').fetchone()
        if counts[0]:
            self.skipped[table] = self.skipped.get(table, 0) + int(counts[0])
        for (name, _), n in zip(bad, counts[1:]):
            if n:
                self.nulled[name] = self.nulled.get(name, 0) + int(n)
        names = list(ints) + list(texts)
        data = list(zip(*rows)) if rows else [()] * len(names)
        out = {}
        for i, name in enumerate(names):
            if name in ints:
                out[name] = pd.array(list(data[i]), dtype="Int64")
            else:
                out[name] = pd.array([v if isinstance(v, str) or v is None else str(v) for v in data[i]], dtype="string")
        return pd.DataFrame(out)


def _name_join(r: _Reader, alias: str, col: str, cols: set[str]) -> tuple[str, str]:
    """(text expression, LEFT JOIN clause) naming ``t.col`` through StringIds; NULL when the column is absent."""
    if col not in cols:
        return "NULL", ""
    return (f"CAST({alias}.value AS TEXT)",
            f"LEFT JOIN StringIds {alias} ON typeof(t.{col}) = 'integer' AND {alias}.id = t.{col}")


def _pid(col: str) -> str:
    e = _int(f"t.{col}", _I64)
    return f"(({e} >> 24) & 16777215)"


def _gpu_columns(cols: set[str]) -> dict:
    """The columns every GPU activity table gives (the pid from globalPid, null where the export lacks it)."""
    return {"device": ("deviceId", _I32), "stream": ("streamId", _I64), "correlation": ("correlationId", _I64),
            "gpu_start_ns": ("start", _TIME), "gpu_end_ns": ("end", _TIME),
            "gpu_pid": (_pid("globalPid") if "globalPid" in cols else "(NULL)", _I64, "globalPid")}


def _activity(r: _Reader, table: str, kind: str, columns: dict, consts: dict | None = None) -> pd.DataFrame:
    """One GPU activity table's rows: the common columns and ``columns``, with ``kind`` first."""
    df = r.read(table, _gpu_columns(_columns(r.con, table)) | columns, consts or {})
    df.insert(0, "kind", kind)
    return df


def _gpu(r: _Reader) -> pd.DataFrame:
    frames = []
    if "CUPTI_ACTIVITY_KIND_KERNEL" in r.tables:
        t = "CUPTI_ACTIVITY_KIND_KERNEL"
        cols = _columns(r.con, t)
        name_col = next((c for c in ("demangledName", "shortName", "mangledName") if c in cols), "demangledName")
        name, join = _name_join(r, "s", name_col, cols)
        smem = [c for c in ("staticSharedMemory", "dynamicSharedMemory") if c in cols]
        smem_e = (" + ".join(f"coalesce({_int('t.' + c, _I32)}, 0)" for c in smem)) if smem else "NULL"
        k = r.read(t, _gpu_columns(cols) | {
            "grid_x": ("gridX", _I32), "grid_y": ("gridY", _I32), "grid_z": ("gridZ", _I32),
            "block_x": ("blockX", _I32), "block_y": ("blockY", _I32), "block_z": ("blockZ", _I32),
            "registers_per_thread": ("registersPerThread", _I32), "shared_memory_bytes": (f"({smem_e})", _I64)},
                   {"name": name}, extra_from=join)
        k.insert(0, "kind", "kernel")
        frames.append(k)
    if "CUPTI_ACTIVITY_KIND_MEMCPY" in r.tables:
        m = _activity(r, "CUPTI_ACTIVITY_KIND_MEMCPY", "memcpy", {"bytes": ("bytes", _I64), "copy_kind": ("copyKind", _I32)})
        m["name"] = pd.array(["Memcpy " + _MEMCPY_KINDS.get(v, "Unknown") if v is not pd.NA else "Memcpy Unknown"
                              for v in m.pop("copy_kind")], dtype="string")
        frames.append(m)
    if "CUPTI_ACTIVITY_KIND_MEMSET" in r.tables:
        frames.append(_activity(r, "CUPTI_ACTIVITY_KIND_MEMSET", "memset", {"bytes": ("bytes", _I64)}, {"name": "'Memset'"}))
    if "CUPTI_ACTIVITY_KIND_GRAPH_TRACE" in r.tables:
        g = _activity(r, "CUPTI_ACTIVITY_KIND_GRAPH_TRACE", "graph",
                      {"graph_id": ("graphId", _I64), "graph_exec_id": ("graphExecId", _I64)})
        g["name"] = pd.array([f"CUDA graph {gi if gi is not pd.NA else '?'} (exec {ge if ge is not pd.NA else '?'})"
                              for gi, ge in zip(g.pop("graph_id"), g.pop("graph_exec_id"))], dtype="string")
        frames.append(g)
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.array([], dtype="Int64") for c in
                             ("device", "stream", "correlation", "gpu_start_ns", "gpu_end_ns", "gpu_pid")}
                            | {"kind": pd.array([], dtype="string"), "name": pd.array([], dtype="string")})
    return pd.concat(frames, ignore_index=True)


def _runtime(r: _Reader) -> pd.DataFrame:
    if "CUPTI_ACTIVITY_KIND_RUNTIME" not in r.tables:
        return pd.DataFrame({c: pd.array([], dtype="Int64") for c in ("correlation", "cpu_start_ns", "cpu_end_ns", "gtid")}
                            | {"launch_api_raw": pd.array([], dtype="string")})
    t = "CUPTI_ACTIVITY_KIND_RUNTIME"
    name, join = _name_join(r, "s", "nameId", _columns(r.con, t))
    return r.read(t, {"correlation": ("correlationId", _I64), "cpu_start_ns": ("start", _TIME),
                      "cpu_end_ns": ("end", _TIME), "gtid": ("globalTid", _I64)}, {"launch_api_raw": name}, extra_from=join)


def _nvtx(r: _Reader) -> pd.DataFrame:
    if "NVTX_EVENTS" not in r.tables:
        return pd.DataFrame({"name": pd.array([], dtype="string")} |
                            {c: pd.array([], dtype="Int64") for c in ("start_ns", "end_ns", "gtid")})
    cols = _columns(r.con, "NVTX_EVENTS")
    name, join = _name_join(r, "s", "textId", cols)
    text = "CAST(t.text AS TEXT)" if "text" in cols else "NULL"
    return r.read("NVTX_EVENTS", {"start_ns": ("start", _TIME), "end_ns": ("end", _TIME), "gtid": ("globalTid", _I64)},
                  {"name": f"coalesce({text}, {name})"}, extra_from=join, required=("start",),
                  time_cols=("start",))  # marks (instants) have no end: kept here, never a step


def _scalar(r: _Reader, q: str):
    try:
        row = r.con.execute(q).fetchone()
    except sqlite3.DatabaseError:  # a table or column of another schema version: the fact is unknown
        return None
    return row[0] if row else None


def _facts(r: _Reader) -> dict:
    """Unix time of the session start, the GPUs and the host, as the export gives them (None where not)."""
    out: dict = {"base_time_unix_ns": None, "device_properties": None, "host_name": None,
                 "host_cpu_model": None, "host_cpu_logical": None}
    if "TARGET_INFO_SESSION_START_TIME" in r.tables:
        v = _scalar(r, "SELECT utcEpochNs FROM TARGET_INFO_SESSION_START_TIME LIMIT 1")
        if isinstance(v, int) and 0 <= v <= 2**62:
            out["base_time_unix_ns"] = v
    if "TARGET_INFO_GPU" in r.tables:
        cols = _columns(r.con, "TARGET_INFO_GPU")
        want = [c for c in ("id", "name", "totalMemory", "computeMajor", "computeMinor") if c in cols]
        if "name" in want:
            try:
                rows = r.con.execute(f"SELECT {', '.join(want)} FROM TARGET_INFO_GPU").fetchall()
            except sqlite3.DatabaseError:
                rows = []
            props = []
            for row in rows:
                d = dict(zip(want, row))
                props.append({"id": d.get("id"), "name": d.get("name") if isinstance(d.get("name"), str) else None,
                              "totalGlobalMem": d.get("totalMemory"), "computeMajor": d.get("computeMajor"),
                              "computeMinor": d.get("computeMinor")})
            out["device_properties"] = props or None
    if "TARGET_INFO_SYSTEM_ENV" in r.tables:
        env = {}
        try:
            for name, value in r.con.execute("SELECT name, value FROM TARGET_INFO_SYSTEM_ENV WHERE name IN "
                                             "('Hostname', 'CpuDescription', 'CpuCores')"):
                env.setdefault(name, value)
        except sqlite3.DatabaseError:
            pass
        if isinstance(env.get("Hostname"), str) and env["Hostname"]:
            out["host_name"] = env["Hostname"]
        if isinstance(env.get("CpuDescription"), str) and env["CpuDescription"]:
            out["host_cpu_model"] = env["CpuDescription"]
        cores = env.get("CpuCores")
        if isinstance(cores, (int, str)) and str(cores).isdigit() and 0 < int(cores) < 2**31:
            out["host_cpu_logical"] = int(cores)
    return out


def _read(path: Path):
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise TraceError(f"{path}: cannot open the SQLite export ({e})") from None
    try:
        r = _Reader(con, path)
        if "StringIds" not in r.tables:
            raise TraceError(f"{path}: no StringIds table; not an Nsight Systems export")
        if not {"id", "value"} <= _columns(con, "StringIds"):
            raise TraceError(f"{path}: table StringIds has no id/value columns; not an Nsight Systems export")
        gpu, rt, nvtx = _gpu(r), _runtime(r), _nvtx(r)
        facts = _facts(r)
        has_cuda = any(t in r.tables for t in CUDA_TABLES)
        return gpu, rt, nvtx, facts, has_cuda, r
    except (sqlite3.Error, OverflowError, MemoryError) as e:
        raise TraceError(f"{path}: unreadable SQLite export ({e})") from None
    finally:
        con.close()


def read_export(path: str | os.PathLike):
    """Read an nsys SQLite export. Returns ``(launches, meta, {"steps": ..., "api_calls": ...})``; timestamps are nsys session-clock ns."""
    path = Path(path)
    if not path.exists():
        raise TraceError(f"{path}: no such trace file")
    if not is_sqlite(path):
        raise TraceError(f"{path}: not an SQLite database (export one with `nsys export --type sqlite`)")
    gpu, rt, nvtx, facts, has_cuda, reader = _read(path)
    n_runtime = len(rt)
    rt["pid"] = (rt["gtid"] // 2**24) % 2**24  # bits 24-47 (floor division: a negative id stays in range)
    rt["tid"] = rt["gtid"] % 2**24
    api_calls = _api_calls(rt)
    rt = rt[rt["correlation"].notna()].drop_duplicates(["pid", "correlation"])
    rt["launch_api"] = pd.array([normalise_api_name(v) if v is not pd.NA else None for v in rt["launch_api_raw"]],
                                dtype="string")
    gpu = gpu.rename(columns={"gpu_pid": "pid"})
    # Correlation ids are per process: the call of the same process with the same id.
    df = gpu.merge(rt.drop(columns="gtid"), how="left", on=["pid", "correlation"])
    steps = nvtx[nvtx["name"].fillna("").str.match(STEP_PATTERN.pattern) & nvtx["end_ns"].notna()]
    steps = steps.sort_values("start_ns", kind="stable")
    df["step"] = pd.array([None] * len(df), dtype="string")
    if len(steps) and len(df):
        t = df["cpu_start_ns"].fillna(df["gpu_start_ns"]).to_numpy(np.int64)
        starts, ends = steps["start_ns"].to_numpy(np.int64), steps["end_ns"].to_numpy(np.int64)
        i = innermost_containing(t, starts, ends)
        df["step"] = pd.array(np.where(i >= 0, steps["name"].to_numpy(object)[np.clip(i, 0, None)], None), dtype="string")
    for c in LAUNCHES.columns:
        if c.name not in df:
            df[c.name] = pd.array([None] * len(df), dtype="string" if c.type == "string" else "Int64")
    df = df.sort_values(["gpu_start_ns", "correlation"], kind="stable").reset_index(drop=True)
    ts = [int(df[c].min()) for c in ("gpu_start_ns", "cpu_start_ns") if len(df) and df[c].notna().any()]
    ends = [int(f[c].max()) for f, c in ((df, "gpu_end_ns"), (df, "cpu_end_ns"), (rt, "cpu_end_ns"), (nvtx, "end_ns"))
            if len(f) and f[c].notna().any()]
    firsts = ts or [int(f[c].min()) for f, c in ((rt, "cpu_start_ns"), (nvtx, "start_ns")) if len(f) and f[c].notna().any()]
    first = min(firsts) if firsts else 0
    launch_calls = int(rt["launch_api"].str.contains(r"Launch\w*Kernel|GraphLaunch", regex=True).fillna(False).sum())
    meta = {
        "source": "nsys-sqlite",
        "trace": str(path),
        "events": int(len(gpu) + n_runtime),
        "gpu_activities": int(len(df)),
        "launch_calls_unmatched": int(df["cpu_start_ns"].isna().sum()),
        "clock": {"name": "nsys", "unit": "ns", "precision_ns": 1, "first_event_ns": first,
                  "last_event_ns": max(ends + [first]),
                  "base_time_unix_ns": facts["base_time_unix_ns"],
                  "doc": "Nsight Systems session clock: integer ns as exported (start/end columns); Unix time ns = "
                         "base_time_unix_ns (TARGET_INFO_SESSION_START_TIME.utcEpochNs) + t_ns"},
        "device_properties": facts["device_properties"],
        "host_name": facts["host_name"], "host_cpu_model": facts["host_cpu_model"],
        "host_cpu_logical": facts["host_cpu_logical"],
        "parser": {"reader": "sqlite3"} | ({"values_out_of_range": reader.nulled} if reader.nulled else {})
                  | ({"skipped_rows": reader.skipped} if reader.skipped else {}),
    }
    if not has_cuda:
        meta["no_launches_note"] = ("no CUDA tables in the export (no CUPTI_ACTIVITY_KIND_* tables): it was captured "
                                    "without CUDA tracing (nsys profile --trace=cuda)")
    elif len(df) == 0:
        meta["no_launches_note"] = (f"no GPU activity in the export: {launch_calls:,} kernel launch calls but no "
                                    f"kernel, memcpy, memset or graph records" if launch_calls else
                                    "no GPU activity in the export: its CUDA tables hold no kernel, memcpy, memset or "
                                    "graph records")
    elif df["cpu_start_ns"].isna().all():
        meta["no_launches_note"] = (f"no launch call found for any of the {len(df):,} GPU activities: the export has no "
                                    f"CUDA API rows with their (process, correlation id)")
    sg = steps["gtid"].to_numpy(np.int64, na_value=0)
    steps_out = pd.DataFrame({"name": steps["name"].to_numpy(object), "pid": pd.array((sg >> 24) & 0xFFFFFF, dtype="Int64"),
                              "tid": pd.array(sg & 0xFFFFFF, dtype="Int64"),
                              "start_ns": steps["start_ns"].to_numpy(np.int64), "end_ns": steps["end_ns"].to_numpy(np.int64)})
    steps_out.loc[steps["gtid"].isna().to_numpy(), ["pid", "tid"]] = pd.NA
    return df[[c.name for c in LAUNCHES.columns]], meta, {"steps": steps_out.reset_index(drop=True), "api_calls": api_calls}


def _api_calls(rt: pd.DataFrame) -> pd.DataFrame:
    """Every row of CUPTI_ACTIVITY_KIND_RUNTIME (runtime and driver calls, nested ones too) as ``api_calls``."""
    out = pd.DataFrame({
        "name": pd.array([normalise_api_name(v) if v is not pd.NA else None for v in rt["launch_api_raw"]], dtype="string"),
        "name_raw": rt["launch_api_raw"].astype("string"),
        "pid": rt["pid"].astype("Int64"), "tid": rt["tid"].astype("Int64"),
        "start_ns": rt["cpu_start_ns"].astype("Int64"), "end_ns": rt["cpu_end_ns"].astype("Int64"),
        "correlation": rt["correlation"].astype("Int64"),
    })
    return out.sort_values("start_ns", kind="stable").reset_index(drop=True)

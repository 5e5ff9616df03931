"""Nsight Systems SQLite import, on a small export built here from the documented nsys schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import lowprof
from lowprof.analysis.launches import per_step
from lowprof.errors import TraceError
from lowprof.tracers.importer import import_trace
from lowprof.tracers.nsys import load_launches

SCHEMA = """
CREATE TABLE StringIds (id INTEGER NOT NULL PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME (start INTEGER NOT NULL, end INTEGER NOT NULL, eventClass INTEGER NOT NULL,
  globalTid INTEGER, correlationId INTEGER, nameId INTEGER NOT NULL REFERENCES StringIds(id), returnValue INTEGER NOT NULL,
  callchainId INTEGER);
CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INTEGER NOT NULL, end INTEGER NOT NULL, deviceId INTEGER NOT NULL,
  contextId INTEGER NOT NULL, greenContextId INTEGER, streamId INTEGER NOT NULL, correlationId INTEGER,
  globalPid INTEGER, demangledName INTEGER NOT NULL REFERENCES StringIds(id), shortName INTEGER NOT NULL REFERENCES StringIds(id),
  mangledName INTEGER REFERENCES StringIds(id), launchType INTEGER NOT NULL, cacheConfig INTEGER NOT NULL,
  registersPerThread INTEGER NOT NULL, gridX INTEGER NOT NULL, gridY INTEGER NOT NULL, gridZ INTEGER NOT NULL,
  blockX INTEGER NOT NULL, blockY INTEGER NOT NULL, blockZ INTEGER NOT NULL, staticSharedMemory INTEGER NOT NULL,
  dynamicSharedMemory INTEGER NOT NULL, localMemoryPerThread INTEGER NOT NULL, localMemoryTotal INTEGER NOT NULL,
  gridId INTEGER NOT NULL, sharedMemoryExecuted INTEGER, graphNodeId INTEGER, sharedMemoryLimitConfig INTEGER);
CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER NOT NULL, end INTEGER NOT NULL, deviceId INTEGER NOT NULL,
  contextId INTEGER NOT NULL, greenContextId INTEGER, streamId INTEGER NOT NULL, correlationId INTEGER, globalPid INTEGER,
  bytes INTEGER NOT NULL, copyKind INTEGER NOT NULL, deprecatedSrcId INTEGER, srcKind INTEGER, dstKind INTEGER,
  srcDeviceId INTEGER, srcContextId INTEGER, dstDeviceId INTEGER, dstContextId INTEGER, migrationCause INTEGER, graphNodeId INTEGER);
CREATE TABLE CUPTI_ACTIVITY_KIND_MEMSET (start INTEGER NOT NULL, end INTEGER NOT NULL, deviceId INTEGER NOT NULL,
  contextId INTEGER NOT NULL, greenContextId INTEGER, streamId INTEGER NOT NULL, correlationId INTEGER, globalPid INTEGER,
  value INTEGER NOT NULL, bytes INTEGER NOT NULL, graphNodeId INTEGER, memKind INTEGER);
CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT NULL, rangeId INTEGER,
  category INTEGER, color INTEGER, text TEXT, globalTid INTEGER, endGlobalTid INTEGER, textId INTEGER REFERENCES StringIds(id),
  domainId INTEGER, uint64Value INTEGER, int64Value INTEGER, doubleValue REAL, uint32Value INTEGER, int32Value INTEGER,
  floatValue REAL, jsonTextId INTEGER, jsonText TEXT);
"""
PID, TID = 4242, 4243
GTID = (PID << 24) | TID
GPID = PID << 24


@pytest.fixture
def export(tmp_path: Path) -> Path:
    db = tmp_path / "report.sqlite"
    con = sqlite3.connect(db)
    con.executescript(SCHEMA)
    strings = {1: "cudaLaunchKernel_v7000", 2: "cuLaunchKernelEx", 3: "cudaMemcpyAsync_v3020", 4: "cudaMemsetAsync_v3020",
               5: "void gemm<float>(float*)", 6: "gemm", 7: "triton_red_fused_0", 8: "pass#1", 9: "cudaGraphLaunch_v10000"}
    con.executemany("INSERT INTO StringIds VALUES (?, ?)", strings.items())
    rt = [(1000, 5000, 1, GTID, 11, 1, 0, None), (6000, 8000, 1, GTID, 12, 2, 0, None),
          (9000, 12000, 1, GTID, 13, 3, 0, None), (13000, 14000, 1, GTID, 14, 4, 0, None),
          (15000, 16000, 1, GTID, 15, 9, 0, None)]
    con.executemany("INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (?,?,?,?,?,?,?,?)", rt)
    k = "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (" + ",".join("?" * 28) + ")"
    con.execute(k, (7000, 17000, 0, 1, None, 7, 11, GPID, 5, 6, None, 0, 0, 64, 8, 4, 1, 256, 1, 1, 4096, 512, 0, 0, 1, None, None, None))
    con.execute(k, (17500, 18500, 0, 1, None, 7, 12, GPID, 7, 7, None, 0, 0, 32, 1, 1, 1, 128, 1, 1, 0, 0, 0, 0, 2, None, None, None))
    con.execute(k, (20000, 21000, 0, 1, None, 9, 15, GPID, 6, 6, None, 0, 0, 64, 2, 1, 1, 64, 1, 1, 0, 0, 0, 0, 3, None, 5, None))
    con.execute("INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (19000, 19500, 0, 1, NULL, 7, 13, ?, 4096, 1, NULL, 0, 1, 0, 1, 0, 1, 0, NULL)", (GPID,))
    con.execute("INSERT INTO CUPTI_ACTIVITY_KIND_MEMSET VALUES (19600, 19700, 0, 1, NULL, 7, 14, ?, 0, 1024, NULL, 1)", (GPID,))
    con.execute("INSERT INTO NVTX_EVENTS (start, end, eventType, globalTid, textId) VALUES (500, 30000, 59, ?, 8)", (GTID,))
    con.commit()
    con.close()
    return db


def test_nsys_export_to_launches(export: Path):
    df, meta, extra = load_launches(export)
    assert meta["source"] == "nsys-sqlite" and len(df) == 5 and meta["launch_calls_unmatched"] == 0
    by = df.set_index("correlation")
    assert by.loc[11, "name"] == "void gemm<float>(float*)" and by.loc[11, "launch_api"] == "cudaLaunchKernel"
    assert by.loc[11, "launch_api_raw"] == "cudaLaunchKernel_v7000"
    assert by.loc[12, "launch_api"] == "cuLaunchKernelEx" and by.loc[15, "launch_api"] == "cudaGraphLaunch"
    assert by.loc[13, "kind"] == "memcpy" and by.loc[13, "name"] == "Memcpy HtoD" and by.loc[13, "bytes"] == 4096
    assert by.loc[14, "kind"] == "memset" and by.loc[14, "bytes"] == 1024
    assert (by.loc[11, "pid"], by.loc[11, "tid"]) == (PID, TID)
    assert (by.loc[11, "grid_x"], by.loc[11, "block_x"], by.loc[11, "shared_memory_bytes"]) == (8, 256, 4608)
    assert (df["step"] == "pass#1").all() and list(extra["steps"]["name"]) == ["pass#1"]


def test_nsys_import_and_tklqt_by_hand(export: Path, tmp_path: Path):
    run = lowprof.load(import_trace(export, tmp_path / "run"))
    assert run.manifest["clock"]["origin_trace_ns"] == 1000  # first launch call
    st = per_step(run["launches"]).iloc[0]
    # kernels: t_l = 7000-1000, 17500-6000, 20000-15000; API = 4000 + 2000 + 1000
    assert st.kernels == 3 and st.tklqt_ns == 6000 + 11500 + 5000 and st.tklqt_api_ns == 7000
    assert st.tklqt_queue_ns == 2000 + 9500 + 4000


def test_not_an_nsys_export(tmp_path: Path):
    bad = tmp_path / "x.sqlite"
    sqlite3.connect(bad).execute("CREATE TABLE t (a)").connection.commit()
    with pytest.raises(TraceError, match="StringIds"):
        load_launches(bad)
    (tmp_path / "y.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)
    with pytest.raises(TraceError, match="y.sqlite"):
        load_launches(tmp_path / "y.sqlite")


# ---- the real exports (tests/data/traces/nsys) ------------------------------------------------------------

import csv  # noqa: E402
import shutil  # noqa: E402

from tests.conftest import TRACES, run_cli  # noqa: E402

NSYS = TRACES / "nsys"
CLOVERLEAF = NSYS / "pipit" / "perlmutter-cloverleaf-cuda.sqlite"


def _real(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} not in the repo")
    return path


def _pipit_intervals(csv_path: Path, *keys: str) -> list[tuple]:
    """pipit's per-event CSV (an Enter and a Leave row per event; pipit pairs them: _matching_timestamp of the
    Enter row is its Leave's time) as (keys..., enter_ns, leave_ns), one per event."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    enters = [r for r in rows if r["Event Type"] == "Enter"]
    leaves = {(tuple(r[k] for k in keys), int(r["Timestamp (ns)"])) for r in rows if r["Event Type"] == "Leave"}
    assert len(enters) * 2 == len(rows)
    out = [tuple(r[k] for k in keys) + (int(r["Timestamp (ns)"]), int(r["_matching_timestamp"])) for r in enters]
    assert all((t[:-2], t[-1]) in leaves for t in out)
    return out


def test_cloverleaf_agrees_with_pipit_row_by_row():
    """GPU start/end per activity and the launch call's times, against pipit's own CSVs of the same capture."""
    df, meta, _ = load_launches(_real(CLOVERLEAF))
    gpu = sorted(_pipit_intervals(CLOVERLEAF.with_name("cloverleaf_gpu_trace.csv"), "Name", "streamId", "type"),
                 key=lambda t: (t[3], t[4]))
    ours = df.sort_values(["gpu_start_ns", "gpu_end_ns"], kind="stable")
    assert len(gpu) == len(ours) == 1312 + 279
    for (name, stream, kind, s, e), r in zip(gpu, ours.itertuples()):
        assert (s, e, int(stream)) == (r.gpu_start_ns, r.gpu_end_ns, r.stream)
        if kind == "kernel":
            assert r.kind == "kernel" and name in r.name
        else:  # CUDA_MEMCPY_KIND_HTOD ~ Memcpy HtoD
            assert r.kind == "memcpy" and r.name.lower() == "memcpy " + kind.removeprefix("CUDA_MEMCPY_KIND_").lower()
    api = _pipit_intervals(CLOVERLEAF.with_name("cloverleaf-cuda_api_trace.csv"), "Name", "Process", "Thread")
    launches = sorted((n, int(p), int(t), s, e) for n, p, t, s, e in api if n in ("cudaLaunchKernel_v7000", "cudaMemcpy_v3020"))
    mine = sorted(zip(ours["launch_api_raw"], ours["pid"].astype(int), ours["tid"].astype(int),
                      ours["cpu_start_ns"].astype(int), ours["cpu_end_ns"].astype(int)))
    assert mine == launches
    assert set(ours["launch_api"]) == {"cudaLaunchKernel", "cudaMemcpy"}  # the _vNNNN suffix normalised away


def _two_process_export(tmp_path: Path) -> tuple[Path, int]:
    """The cloverleaf export with a second process: every kernel, memcpy and API row copied with another pid,
    the same correlation ids (CUPTI numbers them per process) and times 1 ms later."""
    db = tmp_path / "two.sqlite"
    shutil.copy(_real(CLOVERLEAF), db)
    con = sqlite3.connect(db)
    pid2 = 4242
    shift = 1_000_000
    for t, g in (("CUPTI_ACTIVITY_KIND_KERNEL", "globalPid"), ("CUPTI_ACTIVITY_KIND_MEMCPY", "globalPid"),
                 ("CUPTI_ACTIVITY_KIND_RUNTIME", "globalTid")):
        cols = [r[1] for r in con.execute(f"PRAGMA table_info({t})")]
        sel = ", ".join(f"start + {shift}" if c == "start" else f"end + {shift}" if c == "end" else
                        f"({g} & ~(16777215 << 24)) | ({pid2} << 24)" if c == g else c for c in cols)
        con.execute(f"INSERT INTO {t} ({', '.join(cols)}) SELECT {sel} FROM {t}")
    con.commit()
    con.close()
    return db, pid2


def test_two_processes_join_on_process_and_correlation(tmp_path: Path):
    db, pid2 = _two_process_export(tmp_path)
    df, meta, _ = load_launches(db)
    con = sqlite3.connect(db)
    ref = sorted(con.execute(  # plain SQL: the call of the same process with the same correlation id
        """SELECT g.pid, g.correlationId, g.start, g."end", r.start, r."end" FROM (
             SELECT (globalPid >> 24) & 16777215 AS pid, correlationId, start, "end" FROM CUPTI_ACTIVITY_KIND_KERNEL
             UNION ALL SELECT (globalPid >> 24) & 16777215, correlationId, start, "end" FROM CUPTI_ACTIVITY_KIND_MEMCPY) g
           JOIN CUPTI_ACTIVITY_KIND_RUNTIME r
             ON r.correlationId = g.correlationId AND ((r.globalTid >> 24) & 16777215) = g.pid""").fetchall())
    con.close()
    assert len(ref) == 2 * (1312 + 279) and {p for p, *_ in ref} == {1701896, pid2}
    mine = sorted(zip(*(df[c].astype(int) for c in ("pid", "correlation", "gpu_start_ns", "gpu_end_ns",
                                                    "cpu_start_ns", "cpu_end_ns"))))
    assert mine == ref and meta["launch_calls_unmatched"] == 0


GRAPH_TRACE = """CREATE TABLE CUPTI_ACTIVITY_KIND_GRAPH_TRACE (start INTEGER NOT NULL, end INTEGER NOT NULL,
  deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, greenContextId INTEGER, streamId INTEGER NOT NULL,
  correlationId INTEGER, globalPid INTEGER, graphId INTEGER NOT NULL, graphExecId INTEGER NOT NULL)"""


def test_graph_trace_rows_are_graph_activities(export: Path):
    """nsys's default --cuda-graph-trace=graph records one GRAPH_TRACE row per graph launch, not its kernels."""
    con = sqlite3.connect(export)
    con.execute(GRAPH_TRACE)
    con.execute("INSERT INTO StringIds VALUES (20, 'cudaGraphLaunch_v10000')")
    con.execute("INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (22000, 23000, 1, ?, 16, 20, 0, NULL)", (GTID,))
    con.execute("INSERT INTO CUPTI_ACTIVITY_KIND_GRAPH_TRACE VALUES (24000, 29000, 0, 1, NULL, 7, 16, ?, 3, 5)", (GPID,))
    con.commit()
    con.close()
    df, _, _ = load_launches(export)
    g = df[df["kind"] == "graph"]
    assert len(g) == 1 and len(df) == 6
    r = g.iloc[0]
    assert (r.gpu_start_ns, r.gpu_end_ns, r.cpu_start_ns, r.cpu_end_ns) == (24000, 29000, 22000, 23000)
    assert r.launch_api == "cudaGraphLaunch" and "graph 3" in r["name"] and "exec 5" in r["name"]


def test_session_start_gives_unix_time(tmp_path: Path):
    run = lowprof.load(import_trace(_real(CLOVERLEAF), tmp_path / "run"))
    con = sqlite3.connect(CLOVERLEAF)
    utc = con.execute("SELECT utcEpochNs FROM TARGET_INFO_SESSION_START_TIME").fetchone()[0]
    con.close()
    c = run.manifest["clock"]
    assert c["origin_realtime_ns"] == utc + c["origin_trace_ns"] and utc > 1.6e18


def test_report_names_the_exports_gpus_and_host(tmp_path: Path):
    path = _real(NSYS / "nvfuser" / "8fa9ec2_report1.sqlite")
    con = sqlite3.connect(path)
    names = [r[0] for r in con.execute("SELECT name FROM TARGET_INFO_GPU ORDER BY id")]
    host = con.execute("SELECT value FROM TARGET_INFO_SYSTEM_ENV WHERE name = 'Hostname'").fetchone()[0]
    con.close()
    assert run_cli("import", path, "--out", tmp_path / "run", "-q").returncode == 0
    rep = run_cli("report", tmp_path / "run")
    assert rep.returncode == 0 and "None" not in rep.stdout, rep.stdout + rep.stderr
    assert f"{len(names)}x {names[0]}" in rep.stdout and host in rep.stdout


def test_export_without_cuda_tables_says_so_once(tmp_path: Path):
    path = _real(NSYS / "dynamicvit" / "nsys_profile.sqlite")
    p = run_cli("import", path, "--out", tmp_path / "run")
    assert p.returncode == 0, p.stderr
    assert sum("no CUDA tables" in ln for ln in (p.stdout + p.stderr).splitlines()) == 1, p.stdout + p.stderr


def test_nsys_rep_gets_the_export_hint(tmp_path: Path):
    rep = tmp_path / "report1.nsys-rep"
    rep.write_bytes(b"\x00\x01NSYS-REP binary" + bytes(range(256)))
    p = run_cli("import", rep, "--out", tmp_path / "run")
    assert p.returncode != 0 and "Traceback" not in p.stderr
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and "nsys export --type sqlite" in err[0] and "not a valid JSON" not in err[0], p.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("column, value", [("correlationId", "x"), ("correlationId", None), ("globalPid", "x12"),
                                           ("gridX", 2**31), ("registersPerThread", -2**31 - 1), ("deviceId", 1.5),
                                           ("streamId", 1e300), ("demangledName", "text id"),
                                           ("start", "soon"), ("end", None), ("start", 2**63 - 1)])
def test_hostile_kernel_values_import_with_nulls_or_skips(export: Path, tmp_path: Path, column: str, value):
    """Text, NULL, reals, beyond-int32 values in an export: imported with the value as null (or the row skipped
    when it is a time), counted and said in one line; never a traceback or a half-written directory."""
    con = sqlite3.connect(export)
    cols = [r[1] for r in con.execute("PRAGMA table_info(CUPTI_ACTIVITY_KIND_KERNEL)")]
    con.execute("CREATE TABLE k2 AS SELECT * FROM CUPTI_ACTIVITY_KIND_KERNEL")  # without NOT NULL
    con.execute("DROP TABLE CUPTI_ACTIVITY_KIND_KERNEL")
    con.execute("ALTER TABLE k2 RENAME TO CUPTI_ACTIVITY_KIND_KERNEL")
    con.execute(f'UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET "{column}" = ? WHERE correlationId = 11', (value,))
    con.commit()
    con.close()
    assert column in cols
    p = run_cli("import", export, "--out", tmp_path / "run")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    run = lowprof.load(tmp_path / "run")
    df = run["launches"]
    said = (p.stdout + p.stderr).replace("\n", " ")
    if column in ("start", "end"):
        assert len(df) == 4 and "skipped rows" in said and "1 in CUPTI_ACTIVITY_KIND_KERNEL" in said
    elif value is None:
        assert len(df) == 5 and df["correlation"].isna().sum() == 1
    elif column == "demangledName":  # a name id that names nothing: the kernel has no name
        assert len(df) == 5 and df["name"].isna().sum() == 1
    else:
        assert len(df) == 5 and f"1 CUPTI_ACTIVITY_KIND_KERNEL.{column}" in said, said

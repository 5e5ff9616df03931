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
    assert by.loc[11, "name"] == "void gemm<float>(float*)" and by.loc[11, "launch_api"] == "cudaLaunchKernel_v7000"
    assert by.loc[12, "launch_api"] == "cuLaunchKernelEx" and by.loc[15, "launch_api"] == "cudaGraphLaunch_v10000"
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

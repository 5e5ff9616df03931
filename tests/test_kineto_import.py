"""Kineto importer vs Holistic Trace Analysis on every shared real trace, plus the edge cases they hold."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lowprof.errors import TraceError
from lowprof.tracers.kineto import load_launches
from tests.conftest import TRACES

KINETO = TRACES / "kineto"
ALL = sorted(KINETO.glob("*.json.gz")) if KINETO.is_dir() else []
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore:.*inplace.*", "ignore:.*suffix.*")
# HTA's get_cuda_kernel_launch_stats: these calls, and MTIA's runFunction (hta/analyzers/cuda_kernel_analysis.py)
HTA_LAUNCH_APIS = {"cudaLaunchKernel", "cudaLaunchKernelExC", "cudaMemcpyAsync", "cudaMemsetAsync",
                   "runFunction - job_prep_and_submit_for_execution"}


def _trace(prefix: str) -> Path:
    hits = [p for p in ALL if p.name.startswith(prefix)]
    if not hits:
        pytest.skip(f"shared trace {prefix}* not found under {KINETO}")
    return hits[0]


def _hta_launch_stats(path: Path, tmp_path: Path) -> pd.DataFrame:
    """HTA's get_cuda_kernel_launch_stats for the trace, run live (µs, as HTA reports)."""
    pytest.importorskip("hta")
    logging.disable(logging.CRITICAL)
    from hta.trace_analysis import TraceAnalysis

    d = tmp_path / "hta"
    d.mkdir()
    shutil.copy(path, d / path.name)
    ta = TraceAnalysis(trace_dir=str(d), include_last_profiler_step=True)
    rank = ta.t.get_ranks()[0]
    return ta.get_cuda_kernel_launch_stats(ranks=[rank], visualize=False)[rank]


def _hta_rounds(path: Path) -> bool:
    """HTA's round_down_time_stamps applies when its events frame's ts column is float64: some event of
    the trace (any kind, metadata too) has a float ts or none (hta/common/trace_parser.py)."""
    doc = json.loads(gzip.decompress(path.read_bytes()))
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    return pd.Series([e.get("ts") for e in events]).dtype == np.float64


def _as_hta(df: pd.DataFrame, rounds: bool) -> pd.DataFrame:
    """lowprof's exact ns, reduced the way HTA reduces them: µs read as a double (what a float JSON
    parser makes of the decimal text: the nearest double); when HTA rounds (``rounds``, see
    :func:`_hta_rounds`) ceil start, floor end, with HTA's own float64 arithmetic."""
    def us(ns: pd.Series) -> np.ndarray:
        return np.array([float(Fraction(int(v), 1000)) for v in ns.to_numpy(np.int64)])

    out = pd.DataFrame({"correlation": df["correlation"].to_numpy(np.int64)})
    cs, ce = us(df["cpu_start_ns"]), us(df["cpu_end_ns"])
    gs, ge = us(df["gpu_start_ns"]), us(df["gpu_end_ns"])
    cd = (df["cpu_end_ns"] - df["cpu_start_ns"]).to_numpy(np.int64) / 1000.0
    gd = (df["gpu_end_ns"] - df["gpu_start_ns"]).to_numpy(np.int64) / 1000.0
    if rounds:  # HTA round_down_time_stamps
        cs, gs = np.ceil(cs), np.ceil(gs)
        ce, ge = np.floor(us(df["cpu_start_ns"]) + cd), np.floor(us(df["gpu_start_ns"]) + gd)
    out["cpu_duration"] = ce - cs
    out["gpu_duration"] = ge - gs
    out["launch_delay"] = np.clip(gs - ce, 0, None)
    return out


GPU_TRACES = [p for p in ALL if not p.name.startswith("cpu_only")]


@pytest.mark.parametrize("path", GPU_TRACES, ids=lambda p: p.name.split("__")[0])
def test_per_launch_durations_equal_hta(path: Path, tmp_path: Path):
    ours, meta = load_launches(path)
    hta = _hta_launch_stats(path, tmp_path)
    covered = ours[ours["launch_api"].isin(HTA_LAUNCH_APIS) & ours["cpu_start_ns"].notna()]
    mine = _as_hta(covered, _hta_rounds(path)).set_index("correlation")
    theirs = hta.set_index("correlation")
    # Every launch HTA reports, lowprof reports, with equal cpu_duration, gpu_duration and launch_delay.
    missing = theirs.index.difference(mine.index)
    assert missing.empty, f"lowprof lacks {len(missing)} launches HTA has, e.g. {list(missing[:5])}"
    joined = theirs.join(mine.add_suffix("_lp"))
    for col in ("cpu_duration", "gpu_duration", "launch_delay"):
        np.testing.assert_allclose(joined[col].astype(float), joined[col + "_lp"], rtol=0, atol=1e-6,
                                   err_msg=f"{path.name}: {col}")
    # What lowprof has beyond HTA: launch calls HTA does not know, or launches after HTA's last step cut.
    extra = ours[~ours["correlation"].isin(theirs.index)]
    other_api = ~extra["launch_api"].isin(HTA_LAUNCH_APIS)
    assert meta["gpu_activities"] == len(ours)
    if len(theirs):
        last_hta_cpu = covered[covered["correlation"].isin(theirs.index)]["cpu_start_ns"].max()
        late = extra["cpu_start_ns"] > last_hta_cpu
        assert (other_api | late).all(), extra[~(other_api | late)].head()


def test_lowprof_covers_driver_and_hip_launches_hta_misses(tmp_path: Path):
    triton = _trace("triton_example")
    ours, _ = load_launches(triton)
    assert list(ours["launch_api"]) == ["cuLaunchKernel"]
    assert _hta_launch_stats(triton, tmp_path).empty  # HTA does not see a driver-API launch
    k = ours.iloc[0]
    assert k["name"] == "triton_poi_fused_add_cos_sin_0" and k["step"] == "ProfilerStep#1"
    assert (k.grid_x, k.block_x, k.registers_per_thread) == (1, 128, 16)
    assert k.cpu_start_ns < k.gpu_start_ns < k.gpu_end_ns

    amd, meta = load_launches(_trace("amd_trace"))
    assert set(amd["launch_api"]) == {"hipLaunchKernel", "hipExtModuleLaunchKernel", "hipMemcpyWithStream"}
    assert amd["cpu_start_ns"].notna().all() and (amd["kind"] == "kernel").sum() == 14
    assert meta["clock"]["base_time_unix_ns"] == 1735632360000000000


def test_cpu_only_trace_has_no_launches_but_keeps_ops():
    df, meta, tables = load_launches(_trace("cpu_only"), with_tables=True)
    assert df.empty and list(df.columns)[:3] == ["kind", "name", "device"]
    assert len(tables["ops"]) == 4 and meta["events"] == 30


def test_cupti_profiler_trace_runtime_events_without_kernels():
    df, meta, tables = load_launches(_trace("cupti_profiler"), with_tables=True)
    assert df.empty and meta["events"] == 4222 and len(tables["ops"]) == 375


def test_ns_float_timestamps_keep_their_digits():
    df, meta = load_launches(_trace("ns_resolution"))
    assert (df["gpu_start_ns"] % 1000 != 0).any()  # sub-µs digits survive
    # ts ~1.7e15 µs with 3 decimals: a double would keep only 0.25 µs; the decimal text is read exactly.
    assert meta["clock"]["precision_ns"] == 1
    assert (df["gpu_end_ns"] >= df["gpu_start_ns"]).all()
    # The launch quoted in the trace: cudaLaunchKernel ts 1712195495505543.140 dur 41.768, its kernel
    # ts 1712195495505582.988 dur 4.928 (µs).
    row = df[df["correlation"] == 135071].iloc[0]
    assert (row.cpu_start_ns, row.cpu_end_ns) == (1712195495505543140, 1712195495505543140 + 41768)
    assert (row.gpu_start_ns, row.gpu_end_ns) == (1712195495505582988, 1712195495505582988 + 4928)


def test_multi_stream_event_sync_trace_links_every_activity():
    df, _ = load_launches(_trace("critical_path__cuda_event_sync"))
    assert len(df) == 6 and df["cpu_start_ns"].notna().all()
    assert df["stream"].nunique() >= 2
    assert set(df.loc[df.kind == "kernel", "op"].dropna()) <= {"aten::matmul", "aten::mm", "aten::add", "aten::mul"}
    assert df["op"].notna().all()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "gzip_cut", "not_trace"])
def test_damaged_trace_is_one_trace_error(damage: str, tmp_path: Path):
    src = gzip.decompress(_trace("triton_example").read_bytes())
    bad = tmp_path / ("t.json.gz" if damage == "gzip_cut" else "t.json")
    if damage == "truncate":
        bad.write_bytes(src[: len(src) // 2])
    elif damage == "garbage":
        bad.write_bytes(b"\x00\x01not json")
    elif damage == "gzip_cut":
        bad.write_bytes(gzip.compress(src)[:-40])
    else:
        bad.write_text('{"hello": 1}')
    with pytest.raises(TraceError, match=str(bad.name)):
        load_launches(bad)
    with pytest.raises(TraceError, match="no such"):
        load_launches(tmp_path / "absent.json")


def _exact_reference(path: Path) -> dict[str, list[tuple]]:
    """Every timestamp lowprof should report, from Python's json with parse_float=Decimal (the trace's
    decimal text, exactly): ns = µs x 1000. GPU activities keyed by (correlation, start); launch calls
    by correlation (first one); ops and annotations as multisets of (name, start, end)."""
    doc = json.loads(gzip.decompress(path.read_bytes()), parse_float=Decimal)
    ns = lambda us: int(Decimal(us) * 1000)  # noqa: E731
    gpu, calls, ops, steps = [], {}, [], []
    for e in doc["traceEvents"]:
        if e.get("ph") != "X" or "ts" not in e:
            continue
        cat, a = e.get("cat"), e.get("args") or {}
        t0 = ns(e["ts"])
        t1 = t0 + ns(e.get("dur", 0))
        if cat in ("kernel", "gpu_memcpy", "gpu_memset"):
            gpu.append((a.get("correlation"), t0, t1))
        elif cat in ("cuda_runtime", "cuda_driver") and "correlation" in a:
            calls.setdefault(a["correlation"], (t0, t1))
        elif cat == "cpu_op":
            ops.append((e["name"], t0, t1))
        if cat in ("cpu_op", "user_annotation") and e["name"].startswith("ProfilerStep#"):
            steps.append((e["name"], t0, t1))
    return {"gpu": gpu, "calls": calls, "ops": ops, "steps": steps}


def test_every_timestamp_equals_the_decimal_text(tmp_path: Path):
    """Unix-epoch µs (above 2^53 ns) with GPU activities that have no launch call: no column may pass
    through a float (today 542 of 9972 API times were 1 µs off)."""
    from lowprof.rundir import load
    from lowprof.tracers.importer import import_trace

    path = _trace("trace_diff")
    ref = _exact_reference(path)
    df, meta, tables = load_launches(path, with_tables=True)
    assert df["cpu_start_ns"].isna().any() and df["cpu_start_ns"].notna().any()  # the case in question
    run = load(import_trace(path, tmp_path / "run"))
    origin = run.manifest["clock"]["origin_trace_ns"]
    shifted = {name: run[name] for name in ("launches", "ops", "steps")}
    for c in ("cpu_start_ns", "cpu_end_ns", "gpu_start_ns", "gpu_end_ns", "op_start_ns"):
        shifted["launches"][c] = shifted["launches"][c].astype("Int64") + origin
    for name in ("ops", "steps"):
        for c in ("start_ns", "end_ns"):
            shifted[name][c] = shifted[name][c].astype("Int64") + origin
    for c in ("cpu_start_ns", "cpu_end_ns", "gpu_start_ns", "gpu_end_ns", "op_start_ns"):
        assert str(df[c].dtype) in ("int64", "Int64"), c  # trace-clock ns (above 2^53): never a float
    # The run directory holds ns since the origin; read back, origin + t_ns must give the same integers.
    for lp, ops, steps in ((df, tables["ops"], tables["steps"]),
                           (shifted["launches"], shifted["ops"], shifted["steps"])):
        assert sorted(zip(lp["correlation"].astype(object), lp["gpu_start_ns"].astype(int),
                          lp["gpu_end_ns"].astype(int))) == sorted(ref["gpu"])
        linked = lp[lp["cpu_start_ns"].notna()]
        assert len(linked) == sum(1 for c, _, _ in ref["gpu"] if c in ref["calls"])
        got = {int(c): (int(a), int(b)) for c, a, b in zip(linked["correlation"], linked["cpu_start_ns"],
                                                           linked["cpu_end_ns"])}
        assert got == {c: ref["calls"][c] for c in got}
        op_starts = {t0 for _, t0, _ in ref["ops"]}
        assert set(lp["op_start_ns"].dropna().astype(int)) <= op_starts
        assert sorted(zip(ops["name"], ops["start_ns"].astype(int), ops["end_ns"].astype(int))) == sorted(ref["ops"])
        assert sorted(zip(steps["name"], steps["start_ns"].astype(int), steps["end_ns"].astype(int))) == \
            sorted(ref["steps"])

"""Launch analysis on a tiny hand-written trace (numbers checked by hand), HTA's idle breakdown on real
traces, the CLI verbs, and the transition batch over a synthetic sweep folder."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lowprof
from lowprof.analysis import bound
from lowprof.analysis.launches import idle_breakdown, per_launch, per_step, queue_depth, top_kernels
from lowprof.rundir import RunWriter
from lowprof.tracers.importer import import_trace
from lowprof.tracers.kineto import load_launches
from lowprof.rundir.specs.launches import LAUNCHES
from tests.conftest import TRACES

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore:.*inplace.*")


def _x(cat, name, ts, dur, pid=1, tid=1, **args):
    return {"ph": "X", "cat": cat, "name": name, "pid": pid, "tid": tid, "ts": ts, "dur": dur, "args": args}


def _k(name, ts, dur, corr, stream=7, cat="kernel"):
    return _x(cat, name, ts, dur, pid=0, tid=stream, device=0, stream=stream, correlation=corr,
              grid=[4, 1, 1], block=[128, 1, 1], **{"registers per thread": 32, "shared memory": 1024})


# Times in µs. Step [100, 200]; five kernels and one memcpy; K3 is a driver-API launch whose kernel starts
# 1 µs before its launch call returns (negative queue time); K4's launch comes after the stream went idle
# (host wait); K5 starts 45 µs after K4 ends although launched earlier (other).
TINY = {"traceEvents": [
    _x("user_annotation", "ProfilerStep#1", 100, 100),
    _x("cpu_op", "aten::mm", 105, 20, **{"External id": 10}),
    _x("cuda_runtime", "cudaLaunchKernel", 110, 5, correlation=1, **{"External id": 10}),
    _k("K1", 120, 30, 1),
    _x("cpu_op", "aten::add", 130, 15, **{"External id": 11}),
    _x("cuda_runtime", "cudaLaunchKernel", 132, 4, correlation=2, **{"External id": 11}),
    _k("K2", 160, 10, 2),
    _x("cuda_runtime", "cudaMemcpyAsync", 140, 3, correlation=3, **{"External id": 11}),
    _k("Memcpy HtoD", 171, 4, 3, cat="gpu_memcpy"),
    _x("cpu_op", "aten::relu", 148, 10, **{"External id": 12}),
    _x("cuda_driver", "cuLaunchKernel", 150, 5, correlation=4),
    _k("K3", 154, 2, 4, stream=8),
    _x("cuda_runtime", "cudaLaunchKernel", 180, 5, correlation=5),
    _k("K4", 190, 5, 5),
    _x("cuda_runtime", "cudaLaunchKernel", 185, 3, correlation=6),
    _k("K2", 240, 10, 6),
    {"ph": "s", "id": 1, "pid": 1, "tid": 1, "ts": 110, "cat": "ac2g", "name": "ac2g"},
]}


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.json"
    p.write_text(json.dumps(TINY))
    return p


def test_tiny_trace_per_launch_by_hand(tiny: Path):
    df, _ = load_launches(tiny)
    pl = per_launch(df).set_index("correlation")
    us = 1000
    assert list(pl.loc[[1, 2, 4, 5, 6], "t_l_ns"]) == [10 * us, 28 * us, 4 * us, 10 * us, 55 * us]
    assert list(pl.loc[[1, 2, 4, 5, 6], "api_ns"]) == [5 * us, 4 * us, 5 * us, 5 * us, 3 * us]
    assert pl.loc[4, "queue_ns"] == -1 * us and pl.loc[4, "queue_negative"] and pl.loc[4, "launch_delay_ns"] == 0
    assert pl["queue_negative"].sum() == 1 and not pl["clock_skew"].any()
    assert pl.loc[4, "launch_api"] == "cuLaunchKernel" and pl.loc[4, "op"] == "aten::relu"  # by containment
    assert pl.loc[3, "op"] == "aten::add" and pl.loc[3, "kind"] == "memcpy"  # by External id
    assert (pl["step"] == "ProfilerStep#1").all()
    assert pl.loc[1, "grid_x"] == 4 and pl.loc[1, "shared_memory_bytes"] == 1024


def test_tiny_trace_per_step_by_hand(tiny: Path, tmp_path: Path):
    run = lowprof.load(import_trace(tiny, tmp_path / "run"))
    st = per_step(run["launches"], run["ops"]).iloc[0]
    us = 1000
    assert st.kernels == 5 and st.activities == 6
    assert (st.tklqt_ns, st.tklqt_api_ns, st.tklqt_queue_ns) == (107 * us, 22 * us, 85 * us)
    assert st.negative_queue_count == 1 and st.negative_queue_ns == -1 * us
    assert st.avg_kernel_ns == pytest.approx(11.4 * us)
    assert st.latency_ns == 145 * us  # first aten op 105 -> memcpy end... last activity end 250
    assert st.gpu_busy_ns == 61 * us and st.gpu_idle_ns == 84 * us
    # device 0's busy segments in the window [105, 250]: K1 120-150, K3 154-156 (stream 8), K2 160-170, memcpy
    # 171-175, K4 190-195, K2 240-250. Before the first: 105->120 = 15. Gaps: 150->154 (4, K3's call at 150 is
    # not after 150: kernel wait), 156->160 (4, kernel wait), 170->171 (1, kernel wait), 175->190 (15, K4's call
    # at 180 > 175: host wait), 195->240 (45, K2's call at 185 < 195, >= 30 µs: other); after the last: 0.
    assert (st.idle_before_first_ns, st.idle_host_wait_ns, st.idle_kernel_wait_ns, st.idle_other_ns,
            st.idle_after_last_ns) == (15 * us, 15 * us, 9 * us, 45 * us, 0)
    assert 15 + 15 + 9 + 45 + 0 == 84
    assert st.mean_queue_depth == pytest.approx(199 / 145)
    assert st.max_queue_depth == 3
    assert st.dispatch_median_ns == 3.5 * us
    v = bound.verdicts(run).iloc[0]
    assert v.verdict == "mixed" and v.queue_share == pytest.approx(85 / 107)  # idle 58% but mostly queued
    top = top_kernels(run["launches"], 2)
    assert list(top["by_count"]["name"])[0] == "K2" and top["by_count"]["count"][0] == 2
    assert list(top["by_time"]["name"]) == ["K1", "K2"]
    depth = queue_depth(run["launches"])
    assert depth[depth.stream == 7]["depth"].max() == 3


def test_import_writes_a_run_directory_on_the_trace_clock(tiny: Path, tmp_path: Path):
    run = lowprof.load(import_trace(tiny, tmp_path / "run"))
    assert run.manifest["kind"] == "import" and run.complete
    assert run.manifest["clock"]["origin_trace_ns"] == 100_000  # earliest event: ProfilerStep#1 at 100 µs
    l0 = run["launches"].sort_values("correlation").iloc[0]
    assert l0.cpu_start_ns == 10_000 and l0.gpu_start_ns == 20_000
    assert set(run.tables) == {"launches", "ops", "steps", "api_calls"}


def test_idle_breakdown_equals_hta(tmp_path: Path):
    """Per stream and category, HTA's get_idle_time_breakdown (µs, rounded to 0.01) on real traces."""
    pytest.importorskip("hta")
    logging.disable(logging.CRITICAL)
    from hta.trace_analysis import TraceAnalysis

    for prefix in ("critical_path__alexnet", "critical_path__cuda_event_sync"):
        path = next((TRACES / "kineto").glob(prefix + "*"), None)
        if path is None:
            pytest.skip(f"{prefix} trace not found")
        d = tmp_path / prefix
        d.mkdir()
        shutil.copy(path, d)
        hta_df, _ = TraceAnalysis(trace_dir=str(d)).get_idle_time_breakdown(visualize=False)
        hta_df = hta_df[hta_df["idle_time"] > 0].set_index(["stream", "idle_category"])["idle_time"]
        df, _ = load_launches(path)
        ours = idle_breakdown(per_launch(df)).groupby(["stream", "category"])["gap_ns"].sum() / 1000
        ours = ours[ours > 0]
        ours.index = ours.index.set_levels(ours.index.levels[0].astype(int), level=0)
        assert len(hta_df) > 0
        pd.testing.assert_series_equal(ours.astype(float).sort_index().round(2), hta_df.sort_index().astype(float),
                                       check_names=False, check_index_type=False)


@pytest.mark.slow
def test_cli_import_launches_bound_report(tiny: Path, tmp_path: Path, cli):
    out = tmp_path / "r"
    p = cli("import", tiny, "--out", out)
    assert p.returncode == 0, p.stderr
    p = cli("launches", out, "--json")
    s = json.loads(p.stdout)
    assert s["steps"][0]["tklqt_ns"] == 107_000 and s["negative_queue_count"] == 1
    p = cli("launches", out)
    assert "ProfilerStep#1" in p.stdout and "107 µs" in p.stdout
    p = cli("launches", out, "--csv")
    rows = pd.read_csv(pd.io.common.StringIO(p.stdout))
    assert len(rows) == 6 and "t_l_ns" in rows
    p = cli("bound", out, "--json")
    assert json.loads(p.stdout)["passes"][0]["verdict"] == "mixed"
    p = cli("report", out, "--json")
    assert json.loads(p.stdout)["launches"]["kernels"] == 5
    p = cli("import", tmp_path / "missing.json", "--out", tmp_path / "x")
    assert p.returncode == 1 and "no such trace file" in p.stderr and "Traceback" not in p.stderr
    p = cli("launches", tmp_path)
    assert p.returncode == 1 and "Traceback" not in p.stderr


def _simulated_pass(batch: int, t0: float, n: int = 20) -> list[dict]:
    """One pass: a launch every 10 µs (5 µs API), kernels of 2 µs x batch on one stream (FIFO)."""
    rows, gpu_free = [], t0
    for i in range(n):
        cs = t0 + 10_000 * i
        ce = cs + 5_000
        gs = max(ce + 1_000, gpu_free)
        ge = gs + 2_000 * batch
        gpu_free = ge
        rows.append({"kind": "kernel", "name": "k", "device": 0, "stream": 7, "correlation": len(rows),
                     "launch_api": "cudaLaunchKernel", "cpu_start_ns": cs, "cpu_end_ns": ce, "gpu_start_ns": gs,
                     "gpu_end_ns": ge})
    return rows


def test_sweep_transition_batch(tmp_path: Path):
    sweep = tmp_path / "sweep"
    runs = []
    batches = [1, 2, 4, 8, 16, 32, 64]
    for b in batches:
        rows, t = [], 0
        for name in ["warmup#1", "pass#1", "pass#2", "pass#3"]:
            p = _simulated_pass(b, t)
            for r in p:
                r["step"] = name
            rows += p
            t = max(r["gpu_end_ns"] for r in rows) + 50_000
        rd = RunWriter(sweep / f"batch={b}", kind="run")
        rd.write_frame(LAUNCHES, pd.DataFrame(rows))
        rd.finish()
        runs.append({"params": {"batch": str(b)}, "dir": f"batch={b}", "exit_code": 0})
    runs.append({"params": {"batch": "128"}, "dir": "batch=128", "exit_code": 137})  # killed: no run dir
    (sweep / "sweep.json").write_text(json.dumps({"schema": 1, "kind": "sweep", "params": ["batch"],
                                                  "command": ["python", "app.py", "{batch}"], "runs": runs}))
    res = bound.analyse_sweep(sweep)
    curve = pd.DataFrame(res["curve"])
    assert list(curve["passes"]) == [3] * 7 + [0]  # warm-up excluded; the killed run kept with a note
    assert curve["note"].iloc[-1]
    flat = curve["tklqt_ns"].iloc[:3]
    assert flat.max() == flat.min() == 20 * 6_000  # 5 µs API + 1 µs queue per kernel while CPU-bound
    assert curve["tklqt_ns"].iloc[4] > 5 * flat.max()
    # Kernels outgrow the 10 µs launch interval between batch 4 (8 µs) and batch 8 (16 µs): the last
    # batch still CPU-bound (the convention, lowprof.analysis.bound) is 4.
    assert res["knee"]["transition_batch"] == 4.0 and res["knee"]["confidence"] > 0.9
    # batch 1, 2: GPU idle 80 %, 60 %; batch 4: 8 µs kernels every 10 µs, idle 44/204 µs < 30 % but
    # nothing queues (queue share 1/6, mean depth 280/204) -> mixed; batch >= 8: queued -> GPU-bound.
    assert list(curve["verdict"].iloc[:7]) == ["CPU-bound"] * 2 + ["mixed"] + ["GPU-bound"] * 4
    assert res["first_gpu_bound_batch"] in (8.0, 16.0)


def test_transition_models():
    b = np.array([1, 2, 4, 8, 16, 32])
    assert bound.transition(b, np.full(6, 1e5))["transition_batch"] is None
    assert bound.transition(b, 1e5 * b)["model"] == "line"
    knee = bound.transition(b, np.array([1e5, 1e5, 1e5, 3e5, 6e5, 12e5]))  # flat through 4, then rising
    assert knee["transition_batch"] == 4.0 and knee["confidence"] > 0.9
    assert bound.transition(b[:3], np.ones(3))["model"] == "insufficient"
    hinge = bound.transition(b, np.array([1e5, 1e5, 1e5, 2e5, 4e5, 8e5]))  # batch 4 at the hinge: still flat
    assert hinge["transition_batch"] == 4.0 and hinge["confidence"] > 0.9

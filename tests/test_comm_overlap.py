"""Communication kernels and compute/communication overlap, checked against HTA on real NCCL ranks."""

from __future__ import annotations

import io
import logging
import shutil
import types

import pandas as pd
import pytest

import lowprof
from lowprof.analysis.comm import comm_overlap, hta_comm_overlap_pct, interval_overlap, kernel_class
from tests import _analysis_runs as R

RANKS = {0: "timeline_analysis__sampled_rank-0.json.gz", 1: "trace_filter__sampled_rank-1.json.gz"}


@pytest.fixture(scope="module")
def hta_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hta-job")
    for f in RANKS.values():
        shutil.copy(R.KINETO / f, d / f)
    return d


def _hta(hta_dir, include_last: bool):
    ta = pytest.importorskip("hta.trace_analysis", reason="HTA (the reference) is not installed")
    logging.disable(logging.WARNING)
    try:
        return ta.TraceAnalysis(trace_dir=str(hta_dir), include_last_profiler_step=include_last)
    finally:
        logging.disable(logging.NOTSET)


def test_whole_trace_figure_equals_htas_get_comm_comp_overlap(shared_runs, hta_dir):
    hta = _hta(hta_dir, include_last=False).get_comm_comp_overlap(visualize=False).set_index("rank")
    job = shared_runs.rank_job()
    for rank in RANKS:
        ours = hta_comm_overlap_pct(lowprof.load(job / f"rank{rank}"))
        assert ours == pytest.approx(float(hta.loc[rank, "comp_comm_overlap_pctg"]), abs=1e-9)


def test_per_pass_figure_equals_hta_on_each_iteration(shared_runs, hta_dir):
    from hta.analyzers.communication_analysis import CommunicationAnalysis

    t = _hta(hta_dir, include_last=True).t
    job = shared_runs.rank_job()
    from lowprof.metrics import run_metrics

    checked = 0
    for rank in RANKS:
        run = lowprof.load(job / f"rank{rank}")
        ours = comm_overlap(run["launches"]).set_index("step")
        df = t.traces[rank]
        refs = []
        for it in sorted(i for i in df["iteration"].unique() if i >= 0):
            one = types.SimpleNamespace(symbol_table=t.symbol_table, traces={rank: df[df["iteration"] == it].copy()})
            ref = CommunicationAnalysis.get_comm_comp_overlap(one, visualize=False)["comp_comm_overlap_pctg"].iloc[0]
            assert round(ours.loc[f"ProfilerStep#{it}", "overlap_pct"], 2) == pytest.approx(ref, abs=1e-9)
            refs.append(ref)
            checked += 1
        # compare's metric: the median over passes, as a share (HTA's figures are rounded to 0.01 %)
        m = run_metrics(run, ["comm_overlap_share"])
        assert m["value"].iloc[0] == pytest.approx(float(pd.Series(refs).median()) / 100, abs=1e-4)
    assert checked == 4


def test_kernel_classes_follow_htas_rules():
    names = ["ncclKernel_AllReduce_RING_LL_Sum_float(ncclWorkElem)", "ncclDevKernel_Generic(ncclDevComm*)",
             "rcclGenericKernel", "void at::native::vectorized_elementwise_kernel<4>", "cudaStreamSync kernel",
             "Memcpy DtoD (Device -> Device)", "Memset (Device)", None]
    kinds = ["kernel"] * 5 + ["memcpy", "memset", "kernel"]
    got = kernel_class(pd.DataFrame({"kind": kinds, "name": names})).tolist()
    assert got == ["communication"] * 3 + ["computation", "other", "memory", "memory", "other"]


def test_interval_overlap_by_hand():
    comm = ([0, 5, 20], [10, 8, 30])       # union [0,10) + [20,30): 20
    comp = ([2, 9, 25, 40], [4, 22, 26, 50])  # meets [2,4) 2 + [9,10) 1 + [20,22) 2 + [25,26) 1
    assert interval_overlap(tuple(map(pd.Series.to_numpy, map(pd.Series, comm))),
                            tuple(map(pd.Series.to_numpy, map(pd.Series, comp)))) == (20, 6)


def test_launches_prints_the_overlap_per_pass(shared_runs, capsys):
    run = shared_runs.rank_job() / "rank1"
    rc, out, err = R.lowprof_main(capsys, "launches", run)
    assert rc == 0, err
    for r in comm_overlap(lowprof.load(run)["launches"]).itertuples():
        line = next(ln for ln in out.splitlines() if ln.startswith(f"│ {r.step} ") and "%" in ln and "µs" not in ln[-12:])
        assert f"{r.overlap_pct:.2f}%" in line
    assert f"whole trace (HTA's rules: µs, last ProfilerStep cut): {hta_comm_overlap_pct(lowprof.load(run)):.2f}%" in out
    rc, out, _ = R.lowprof_main(capsys, "launches", run, "--csv")
    csv = pd.read_csv(io.StringIO(out))
    nccl = csv["name"].str.startswith("nccl")
    assert (csv.loc[nccl, "kernel_class"] == "communication").all() and nccl.sum() == 10
    assert (csv.loc[~nccl, "kernel_class"] != "communication").all()


def test_a_run_without_communication_shows_no_overlap(shared_runs, capsys):
    run = shared_runs.imported("alexnet", "critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz")
    rc, out, err = R.lowprof_main(capsys, "launches", run, "--json")
    assert rc == 0, err
    import json

    c = json.loads(out)["communication"]
    assert c["per_step"] == [] and c["hta_overlap_pct"] is None and c["activities_by_class"]["communication"] == 0


def test_kernels_launched_inside_collective_ops_are_all_communication(shared_runs):
    """The `Collective name` argument sits on the CPU op `record_param_comms`: every kernel such an op (or a
    c10d op) launched is named nccl..., so the name rule misses none of them on these real NCCL traces."""
    job = shared_runs.rank_job()
    runs = [job / "rank0", job / "rank1", shared_runs.imported("trace_diff", "trace_diff__test__test.json.gz")]
    seen = 0
    for d in runs:
        la = lowprof.load(d)["launches"]
        inside = la["op"].fillna("").str.contains(r"record_param_comms|^c10d::", regex=True).to_numpy()
        cls = kernel_class(la).to_numpy()
        assert (cls[inside & (la["kind"] == "kernel").to_numpy()] == "communication").all()
        seen += int(inside.sum())
    assert seen >= 80


def test_interval_overlap_equals_counting_covered_nanoseconds():
    import numpy as np

    rng = np.random.default_rng(7)
    for _ in range(200):
        n, m = rng.integers(0, 12, 2)
        a_s, b_s = rng.integers(0, 200, n), rng.integers(0, 200, m)
        a_e, b_e = a_s + rng.integers(0, 40, n), b_s + rng.integers(0, 40, m)
        grid = np.arange(260)
        in_a = np.zeros(260, bool)
        in_b = np.zeros(260, bool)
        for s, e in zip(a_s, a_e):
            in_a |= (grid >= s) & (grid < e)
        for s, e in zip(b_s, b_e):
            in_b |= (grid >= s) & (grid < e)
        assert interval_overlap((a_s, a_e), (b_s, b_e)) == (in_a.sum(), (in_a & in_b).sum())

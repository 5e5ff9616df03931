"""Figures from real runs: the files open as images with content, and the numbers plotted are the runs' numbers."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

import lowprof
from lowprof.analysis import plots
from lowprof.metrics import compare
from tests import _analysis_runs as R


def assert_readable_figure(fig: plots.Figure) -> None:
    png, pdf = fig.paths
    assert png.suffix == ".png" and pdf.suffix == ".pdf"
    assert png.stat().st_size > 10_000 and pdf.read_bytes()[:5] == b"%PDF-"
    img = mpimg.imread(png)
    assert img.shape[0] > 300 and img.shape[1] > 500
    grey = img[..., :3].mean(axis=2)
    assert grey.std() > 0.05  # not blank
    assert (grey < 0.3).mean() > 0.005  # dark ink: lines, text and markers


def test_system_timeline_plots_the_system_table(shared_runs, tmp_path):
    runs = {"A": lowprof.load(shared_runs.demo("demo-t1", 1)), "B": lowprof.load(shared_runs.demo("demo-t2", 2))}
    fig = plots.plot_system(runs, tmp_path)
    assert_readable_figure(fig)
    for label, run in runs.items():
        s = run["system"]
        got = fig.series[label]
        assert np.allclose(got["t_s"], s.t_ns / 1e9) and np.allclose(got["cpu_percent"], s.cpu_percent)
        assert np.allclose(got["rss_mib"] * 2**20, s.proc_rss_bytes)


def test_tlb_curve_and_detected_levels(shared_runs, tmp_path):
    run = lowprof.load(shared_runs.tlb())
    fig = plots.plot_tlb({"vm": run}, tmp_path)
    assert_readable_figure(fig)
    t = run["tlb"]
    four_k = fig.series["vm 4 KiB"]
    ref = t[t.page_size_bytes == 4096].sort_values("working_set_bytes")
    assert list(four_k.working_set_bytes) == list(ref.working_set_bytes)
    assert np.allclose(four_k.ns_per_access, ref.ns_per_access)
    l1 = run.manifest["tlb"]["sweeps"]["4096"]["l1_dtlb"]
    if l1:  # the detected L1 dTLB reach is the marked line
        assert fig.marks["vm 4 KiB l1_dtlb"] == l1["bytes"]


def test_sweep_step_time_vs_batch(shared_runs, tmp_path):
    sweep = shared_runs.pass_sweep()
    fig = plots.plot_sweep({"A: vm": sweep}, tmp_path)
    assert_readable_figure(fig)
    got = fig.series["A: vm:step_time_s"]
    assert list(got.batch) == [1.0, 4.0]
    for b, v in zip(got.batch, got.step_time_s):
        m = lowprof.load(sweep / f"batch={int(b)}")["marks"]
        m = m[m.name == "pass"]  # the marked passes, the warm-up left out
        assert v == pytest.approx(np.median(m[m.kind == "end"].t_ns.to_numpy() - m[m.kind == "begin"].t_ns.to_numpy()) / 1e9)
    assert "TKLQT not plotted" in " ".join(fig.notes)  # no GPU here: no launches to plot


def test_tklqt_vs_batch_from_real_traces(shared_runs, tmp_path):
    """Real GPU traces as the points of a sweep folder: the TKLQT panel plots each run's tklqt_s."""
    import json

    from lowprof.metrics import run_metrics

    sweep = tmp_path / "gpu-sweep"
    traces = {"1": "critical_path__simple_add__benchmark_result_493459_1694039959_trace.json.gz",
              "2": "critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"}
    for b, trace in traces.items():
        R.copy_of(shared_runs.imported(trace.split("__")[1], trace), sweep / f"batch={b}")
    (sweep / "sweep.json").write_text(json.dumps({"schema": 1, "kind": "sweep", "params": ["batch"], "runs": [
        {"params": {"batch": b}, "dir": f"batch={b}", "exit_code": 0} for b in traces]}))
    fig = plots.plot_sweep({"A100 traces": sweep}, tmp_path / "figs")
    assert_readable_figure(fig)
    got = fig.series["A100 traces:tklqt_s"]
    for b, v in zip(got.batch, got.tklqt_s):
        m = run_metrics(lowprof.load(sweep / f"batch={int(b)}"), ["tklqt_s"])
        assert v == pytest.approx(m.value.iloc[0]) and v > 0


def test_ratio_bars_are_the_comparison(shared_runs, tmp_path):
    cmp = compare([shared_runs.demo("demo-t1", 1), shared_runs.demo("demo-t2", 2)], force=True)
    fig = plots.plot_ratios(cmp.table, tmp_path)
    assert_readable_figure(fig)
    bars = fig.series["B/A"]
    assert np.allclose(bars.ratio, cmp.table["B/A"]) and list(bars.worse) == list(cmp.table.better_B == "A")


def test_style_keeps_series_apart_without_colour():
    styles = [plots.style(i) for i in range(7)]
    assert len({s["marker"] for s in styles}) == 7 and len({str(s["linestyle"]) for s in styles}) == 7


def test_cli_plot_writes_every_figure(shared_runs, tmp_path, cli, capsys):
    rc, out, err = R.lowprof_main(capsys, "plot", shared_runs.demo("demo-t1", 1), shared_runs.tlb(), "--out", tmp_path / "figs",
                                  "--json")
    assert rc == 0, err
    import json

    names = {f["name"] for f in json.loads(out)}
    assert {"tlb_latency", "system_timeline"} <= names
    for n in names:
        assert (tmp_path / "figs" / f"{n}.png").stat().st_size > 10_000
    p = cli("plot", tmp_path / "missing", "--out", tmp_path / "x")
    assert p.returncode == 1 and "Traceback" not in p.stderr and "missing" in p.stderr


def test_microbench_bars_are_the_bench_results(shared_runs, tmp_path):
    run = lowprof.load(shared_runs.host_bench())
    fig = plots.plot_microbench({"vm": run}, tmp_path)
    assert_readable_figure(fig)
    got = fig.series["vm [ns]"]
    b = run["bench_results"]
    assert list(got.figure) == list("host: " + b.metric) and np.allclose(got.value, b.value)
    assert got.reference.isna().all()  # no published reference for a host CPU


def test_transition_is_marked_where_bound_finds_it(tmp_path):
    """A SIMULATED sweep (the launch analysis tests' model: a launch every 10 µs, kernels of 2 µs x batch):
    the star sits at the transition batch lowprof.analysis.bound reports, on the TKLQT curve."""
    import json

    from lowprof.analysis import bound
    from lowprof.rundir import RunWriter
    from lowprof.rundir.specs.launches import LAUNCHES
    from tests.test_launch_analysis import _simulated_pass

    sweep = tmp_path / "sim"
    runs = []
    for b in (1, 2, 4, 8, 16, 32):
        rows, t = [], 0
        for name in ("warmup#1", "pass#1", "pass#2"):
            p = _simulated_pass(b, t)
            rows += [r | {"step": name} for r in p]
            t = max(r["gpu_end_ns"] for r in rows) + 50_000
        rd = RunWriter(sweep / f"batch={b}", kind="run")
        rd.write_frame(LAUNCHES, pd.DataFrame(rows))
        rd.finish()
        runs.append({"params": {"batch": str(b)}, "dir": f"batch={b}", "exit_code": 0})
    (sweep / "sweep.json").write_text(json.dumps({"schema": 1, "kind": "sweep", "params": ["batch"], "runs": runs}))
    fig = plots.plot_sweep({"sim": sweep}, tmp_path / "figs")
    assert_readable_figure(fig)
    knee = bound.analyse_sweep(sweep)["knee"]["transition_batch"]
    assert knee is not None and fig.marks == {"sim": knee}
    curve = bound.sweep_curve(sweep)
    assert np.allclose(fig.series["sim:tklqt_s"].tklqt_s, curve.tklqt_ns / 1e9)


def test_rank_bars_are_each_ranks_pass_latency(shared_runs, tmp_path):
    from lowprof.analysis.launches import per_step
    from lowprof.rundir.specs.launches import is_warmup

    job = shared_runs.rank_job()
    fig = plots.plot_ranks({"job": job}, tmp_path)
    assert_readable_figure(fig)
    got = fig.series["job"]
    assert list(got["rank"]) == [0, 1]
    expected = []
    for rank in (0, 1):
        run = lowprof.load(job / f"rank{rank}")
        s = per_step(run["launches"], run["ops"])
        expected.append(s[(s.step != "(no step)") & ~s.step.map(is_warmup)].latency_ns.median() / 1e9)
    assert np.allclose(got["pass_latency_s"], expected)
    assert fig.marks["job median"] == pytest.approx(np.median(expected))

"""What a reader sees on the figures, read from the matplotlib Figure objects: axis labels name the metric
and its unit, batch ticks are 1, 2, 4, 8..., compare figures name A and B, p5-p95 error bars where the
run recorded them, the TLB figure shows translation cost (chase time minus the cache-only baseline), and
marked phases are shaded on the timelines. Runs are built here with known numbers."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.container
import numpy as np
import pandas as pd
import pytest

import lowprof
from lowprof.analysis import plots
from lowprof.rundir import RunWriter
from tests.test_units import _copy_run


def _visible_ticks(ax, axis="x"):
    """(location, label) of the major ticks inside the view (the figure has been drawn by savefig)."""
    a = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    return [(t.get_loc(), t.label1.get_text()) for t in a.get_major_ticks() if lo <= t.get_loc() <= hi]


def _sim_sweep(tmp_path: Path, batches=(1, 2, 4, 8, 16, 32)) -> Path:
    from lowprof.rundir.specs.launches import LAUNCHES
    from tests.test_launch_analysis import _simulated_pass

    sweep = tmp_path / "sim"
    runs = []
    for b in batches:
        rows, t = [], 0
        for name in ("warmup#1", "pass#1", "pass#2"):
            rows += [r | {"step": name} for r in _simulated_pass(b, t)]
            t = max(r["gpu_end_ns"] for r in rows) + 50_000
        rd = RunWriter(sweep / f"batch={b}", kind="run")
        rd.write_frame(LAUNCHES, pd.DataFrame(rows))
        rd.finish()
        runs.append({"params": {"batch": str(b)}, "dir": f"batch={b}", "exit_code": 0})
    (sweep / "sweep.json").write_text(json.dumps({"schema": 1, "kind": "sweep", "params": ["batch"], "runs": runs}))
    return sweep


def test_sweep_axes_name_the_metrics_and_batch_ticks_are_integers(tmp_path):
    fig = plots.plot_sweep({"sim": _sim_sweep(tmp_path)}, tmp_path / "figs")
    step_ax, tklqt_ax = fig.figure.axes[:2]
    assert "pass_latency_s" in step_ax.get_ylabel() and "(ms)" in step_ax.get_ylabel()
    assert "tklqt_s" in tklqt_ax.get_ylabel() and "(ms)" in tklqt_ax.get_ylabel()
    for ax in (step_ax, tklqt_ax):
        assert ax.get_xlabel() == "batch"
        ticks = _visible_ticks(ax)
        assert [lab for _, lab in ticks] == [str(int(loc)) for loc, _ in ticks]  # "8", never "2^3" or "8.0"
        assert {int(loc) for loc, _ in ticks} >= {1, 2, 4, 8, 16, 32}
        assert all(int(loc) & (int(loc) - 1) == 0 for loc, _ in ticks)  # powers of two
        ylabels = [lab for _, lab in _visible_ticks(ax, "y")]
        assert ylabels and not any(c in "".join(ylabels) for c in "e^$")  # plain numbers, no e-notation


def test_compare_figure_names_a_and_b(tmp_path):
    from lowprof.cli.plot import make_figures

    a, b = _copy_run(tmp_path / "gh200-run"), _copy_run(tmp_path / "h100-run", slow=2.0)
    figs = {f.name: f for f in make_figures([str(a), str(b)], tmp_path / "figs")}
    ax = figs["compare_ratios"].figure.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    text = " ".join(legend + [ax.get_title(), ax.get_xlabel()])
    assert "A: gh200-run" in text and "B: h100-run" in text
    # the ratios are the hand computation: B took twice the time for the same bytes
    assert figs["compare_ratios"].series["B/A"].set_index("metric").loc["h2d_bandwidth_gb_per_s", "ratio"] == \
        pytest.approx(0.5, rel=1e-6)


def test_microbench_bars_carry_p5_p95_error_bars(tmp_path):
    from lowprof.rundir.specs.bench import BENCH_RESULTS

    rows = [{"benchmark": "h2d", "metric": "bandwidth pinned h2d", "value": 24.5, "unit": "GB/s", "p5": 23.9,
             "p95": 25.2, "samples": 10, "params_json": "{}"},
            {"benchmark": "h2d", "metric": "bandwidth pageable h2d", "value": 11.0, "unit": "GB/s", "p5": 9.5,
             "p95": 12.0, "samples": 10, "params_json": "{}"},
            {"benchmark": "launch", "metric": "launch latency", "value": 4.1, "unit": "us", "p5": None, "p95": None,
             "samples": 1, "params_json": "{}"}]
    rd = RunWriter(tmp_path / "bench", kind="bench")
    rd.write_frame(BENCH_RESULTS, pd.DataFrame(rows))
    rd.finish()
    fig = plots.plot_microbench({"vm": lowprof.load(tmp_path / "bench")}, tmp_path / "figs")
    gb = next(ax for ax in fig.figure.axes if "GB/s" in ax.get_xlabel())
    bars = [c for c in gb.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]
    assert len(bars) == 1
    segs = sorted((min(s[:, 0]), max(s[:, 0])) for s in bars[0].lines[2][0].get_segments())
    assert segs == [pytest.approx((9.5, 12.0)), pytest.approx((23.9, 25.2))]
    us = next(ax for ax in fig.figure.axes if "us" in ax.get_xlabel())
    assert not [c for c in us.containers if isinstance(c, matplotlib.container.ErrorbarContainer)
                and len(c.lines[2]) and len(c.lines[2][0].get_segments())]  # nothing recorded: no bar drawn


def _tlb_run(path: Path) -> tuple[Path, pd.DataFrame]:
    from lowprof.rundir.specs.bench import TLB_TABLE

    pages = np.array([16, 32, 64, 128, 256, 512, 1024, 2048, 4096])
    cache = 1.2 + 0.001 * pages  # cache-only time per load grows with the lines chased
    extra = np.where(pages <= 64, 0.05, np.where(pages <= 1024, 2.0, 25.0))
    t = pd.DataFrame({"page_size_bytes": 4096, "pages": pages, "working_set_bytes": pages * 4096, "lines": pages,
                      "accesses": 200_000, "passes": 2, "ns_per_access": cache + extra,
                      "ns_per_access_median": cache + extra, "cache_only_ns": cache, "extra_ns": extra})
    rd = RunWriter(path, kind="bench")
    rd.write_frame(TLB_TABLE, t)
    rd.finish()
    return path, t


def test_tlb_figure_shows_translation_cost_not_chase_time(tmp_path):
    path, t = _tlb_run(tmp_path / "tlb")
    fig = plots.plot_tlb({"vm": lowprof.load(path)}, tmp_path / "figs")
    ax = fig.figure.axes[0]
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "vm 4 KiB")
    assert np.allclose(line.get_xdata(), t.working_set_bytes)
    assert np.allclose(line.get_ydata(), t.ns_per_access - t.cache_only_ns)  # the baseline subtracted by hand
    assert "translation" in ax.get_ylabel() and "(ns)" in ax.get_ylabel()
    assert "working set" in ax.get_xlabel()


def _timeline_run(path: Path, marks: list[tuple[str, str, float]]) -> Path:
    from lowprof.rundir.specs.host import SYSTEM

    t = np.arange(0, 3.0, 0.05)
    rd = RunWriter(path, kind="run")
    n = len(t)
    rd.write_frame(SYSTEM, pd.DataFrame({"t_ns": (t * 1e9).astype("int64"), "cpu_percent": 50 + 10 * np.sin(t),
                                         "mem_used_bytes": np.full(n, 8 << 30), "mem_available_bytes": np.full(n, 16 << 30),
                                         "swap_used_bytes": np.zeros(n, "int64"), "proc_count": np.ones(n, "int64"),
                                         "proc_threads": np.full(n, 4), "proc_rss_bytes": (100 << 20) + (t * 1e6).astype("int64"),
                                         "proc_cpu_user_s": t * 0.5, "proc_cpu_system_s": t * 0.1}))
    rd.finish()
    (path / "marks.jsonl").write_text("".join(json.dumps({"name": n, "kind": k, "t_s": s}) + "\n" for n, k, s in marks))
    return path


def _spans(ax) -> list[tuple[float, float]]:
    out = []
    for p in ax.patches:
        x = p.get_x() if hasattr(p, "get_x") else None
        if x is not None and p.get_height() >= 0.99 and p.get_transform().contains_branch_seperately(ax.transData)[0]:
            out.append((round(x, 6), round(x + p.get_width(), 6)))
    return sorted(out)


def test_marked_phases_are_shaded_on_every_timeline(tmp_path):
    marks = [("prefill", "begin", 0.5), ("prefill", "end", 0.9), ("decode", "begin", 0.9), ("decode", "end", 2.2)]
    run = lowprof.load(_timeline_run(tmp_path / "run", marks))
    fig = plots.plot_system({"A": run}, tmp_path / "figs")
    for ax in fig.figure.axes:
        assert _spans(ax) == [(0.5, 0.9), (0.9, 2.2)]
    names = {t.get_text() for t in fig.figure.axes[0].texts}
    assert {"prefill", "decode"} <= names


def test_every_figure_the_cli_draws_labels_its_axes_with_units(tmp_path):
    """Every axes of every figure `lowprof plot` draws names what is plotted and its unit."""
    from lowprof.cli.plot import make_figures

    a, b = _copy_run(tmp_path / "a"), _copy_run(tmp_path / "b", slow=1.5)
    tlb, _ = _tlb_run(tmp_path / "tlb")
    tl = _timeline_run(tmp_path / "tl", [("warmup", "instant", 0.2), ("main", "begin", 1.0), ("main", "end", 2.0)])
    figs = make_figures([str(a), str(b)], tmp_path / "f1") + make_figures([str(tlb), str(tl)], tmp_path / "f2",
                                                                          force=True)
    assert {"compare_ratios", "tlb_latency", "system_timeline"} <= {f.name for f in figs}
    unit = re_unit = __import__("re").compile(r"\((ns|ms|s|W|%|MiB|GB/s)\)|ratio|working set|run clock|GB/s|rank|batch")
    for f in figs:
        drawn = [ax for ax in f.figure.axes if ax.lines or ax.patches]
        # stacked panels on one clock label the x axis once, under the bottom panel
        assert all(unit.search(ax.get_xlabel()) for ax in drawn[-1:] + [a for a in drawn if a.get_xlabel()]), f.name
        for ax in drawn:
            ylab = ax.get_ylabel()
            if f.name != "compare_ratios":  # the ratio bars' y axis is the metric names themselves
                assert re_unit.search(ylab), (f.name, ylab)

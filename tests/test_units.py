"""One unit convention: SI, and bandwidth in GB/s (10^9 B/s) everywhere a person reads it: tables, CSV, plots.

Runs built here with hand-made memcpy activities; the expected bandwidth is the bytes over the copies'
GPU time, computed by hand from the rows written."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest

import lowprof
from lowprof.metrics import BANDWIDTH_UNIT, METRICS, run_metrics
from lowprof.rundir import RunWriter
from lowprof.rundir.specs.launches import LAUNCHES
from tests import _analysis_runs as R

REPO = Path(__file__).resolve().parent.parent

# (bytes, GPU ns) per copy: 3 HtoD copies, 2 DtoH copies
H2D = [(64 << 20, 5_000_000), (16 << 20, 1_300_000), (1 << 30, 90_000_000)]
D2H = [(8 << 20, 2_000_000), (256 << 20, 40_000_000)]


def _copy_run(path: Path, slow: float = 1.0) -> Path:
    rows, t = [], 1_000_000
    for direction, copies in (("HtoD", H2D), ("DtoH", D2H)):
        for nbytes, ns in copies:
            d = int(ns * slow)
            rows.append({"kind": "memcpy", "name": f"Memcpy {direction} (Pinned -> Device)", "device": 0, "stream": 7,
                         "correlation": len(rows), "launch_api": "cudaMemcpyAsync", "cpu_start_ns": t - 2000,
                         "cpu_end_ns": t - 1000, "gpu_start_ns": t, "gpu_end_ns": t + d, "bytes": nbytes})
            t += d + 10_000
    rd = RunWriter(path, kind="run")
    rd.write_frame(LAUNCHES, pd.DataFrame(rows))
    rd.finish()
    return path


def _expected_gb_s(copies, slow: float = 1.0) -> float:
    return sum(b for b, _ in copies) / (sum(int(ns * slow) for _, ns in copies) / 1e9) / 1e9


def test_the_stated_convention_is_si_gigabytes():
    assert BANDWIDTH_UNIT == "GB/s"
    bw = [m for m in METRICS.values() if "bandwidth" in m.name]
    assert len(bw) == 2 and all(m.unit == BANDWIDTH_UNIT and m.name.endswith("_gb_per_s") for m in bw)
    # no binary-prefixed or bare-byte rates anywhere a figure is produced
    for f in (REPO / "lowprof").rglob("*.py"):
        text = f.read_text()
        assert not re.search(r"[KMGT]iB/s", text), f
        assert '"B/s"' not in text, f


def test_bandwidth_in_metrics_table_csv_and_export_agree_with_the_raw_rows(tmp_path, capsys):
    a, b = _copy_run(tmp_path / "a"), _copy_run(tmp_path / "b", slow=2.0)
    want = {"A": {"h2d": _expected_gb_s(H2D), "d2h": _expected_gb_s(D2H)},
            "B": {"h2d": _expected_gb_s(H2D, 2.0), "d2h": _expected_gb_s(D2H, 2.0)}}
    m = run_metrics(lowprof.load(a)).set_index("metric")
    for k in ("h2d", "d2h"):
        assert m.loc[f"{k}_bandwidth_gb_per_s", "value"] == pytest.approx(want["A"][k], rel=1e-12)
        assert m.loc[f"{k}_bandwidth_gb_per_s", "unit"] == "GB/s"

    # compare: the rich table prints GB/s with the hand-computed values
    rc, out, err = R.lowprof_main(capsys, "compare", a, b)
    assert rc == 0, err
    for k in ("h2d", "d2h"):
        line = next(ln for ln in out.splitlines() if f"{k}_bandwidth_gb_per_s" in ln)
        cells = re.findall(r"([\d.]+) GB/s", line)
        assert [float(c) for c in cells] == [pytest.approx(want[s][k], rel=1e-3) for s in "AB"], line
    assert "iB/s" not in out

    # compare --csv: the unit column says GB/s and the values are the hand computation
    rc, out, err = R.lowprof_main(capsys, "compare", a, b, "--csv", tmp_path / "cmp.csv")
    assert rc == 0, err
    rows = {r["metric"]: r for r in csv.DictReader((tmp_path / "cmp.csv").open())}
    for k in ("h2d", "d2h"):
        r = rows[f"{k}_bandwidth_gb_per_s"]
        assert r["unit"] == "GB/s"
        assert float(r["A"]) == pytest.approx(want["A"][k], rel=1e-9)
        assert float(r["B"]) == pytest.approx(want["B"][k], rel=1e-9)

    # export --csv: metrics.csv the same
    rc, out, err = R.lowprof_main(capsys, "export", a, b, "--csv", tmp_path / "exp", "--no-tables")
    assert rc == 0, err
    got = [r for r in csv.DictReader((tmp_path / "exp" / "metrics.csv").open()) if "bandwidth" in r["metric"]]
    assert len(got) == 4
    for r in got:
        side = "A" if r["run"] == "a" else "B"
        assert r["unit"] == "GB/s"
        assert float(r["value"]) == pytest.approx(want[side][r["metric"][:3]], rel=1e-9)


def test_bandwidth_axis_of_the_figures_says_gb_per_s(tmp_path):
    """A bench_results run with bandwidth rows: the panel's axis label is the one convention."""
    from lowprof.analysis import plots
    from lowprof.rundir.specs.bench import BENCH_RESULTS

    rd = RunWriter(tmp_path / "bench", kind="bench")
    rd.write_frame(BENCH_RESULTS, pd.DataFrame([
        {"benchmark": "h2d", "metric": "bandwidth pinned h2d", "value": 24.5, "unit": BANDWIDTH_UNIT, "p5": 24.0,
         "p95": 25.1, "samples": 10, "params_json": "{}"}]))
    rd.finish()
    fig = plots.plot_microbench({"vm": lowprof.load(tmp_path / "bench")}, tmp_path / "figs")
    assert any("GB/s" in ax.get_xlabel() for ax in fig.figure.axes)

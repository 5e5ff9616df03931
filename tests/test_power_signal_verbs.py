"""``--instant`` / ``--average`` (issue 13): every verb that shows power percentiles, peaks or headroom honours
them (report, compare, plot, export, as power and ipw do), through one shared option helper; tables name the
signal per row. Run: the nvml probe replayed over tests/data/power's SYNTHETIC 2x H100 file: gpu0 recorded
instantaneous power (field 186), gpu1 only the driver's 1 s average. Expected values by hand from the table."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import lowprof
from tests import _analysis_runs as R


@pytest.fixture(scope="module")
def run_dir(shared_runs):
    return shared_runs.power_replay()


def _by_hand(run_dir, gpu: int, column: str) -> np.ndarray:
    g = lowprof.load(run_dir)["gpu_power"]
    return g[g.gpu == gpu][column].dropna().to_numpy(float)


VERBS = ("power", "ipw", "report", "compare", "plot", "export")


@pytest.mark.parametrize("verb", VERBS)
def test_every_power_verb_takes_the_signal_flags(verb, capsys):
    with pytest.raises(SystemExit):
        R.lowprof_main(capsys, verb, "--help")
    text = capsys.readouterr().out
    assert "--instant" in text and "--average" in text, verb


def test_shared_helper_is_one_definition():
    from lowprof.cli import _common, ipw, power

    assert power.add_signal_flags is _common.add_signal_flags and ipw.add_signal_flags is _common.add_signal_flags


def test_report_honours_average_and_instant(run_dir, capsys):
    inst, avg = _by_hand(run_dir, 0, "power_instant_w"), _by_hand(run_dir, 0, "power_w")
    assert not np.allclose(np.percentile(inst, 99), np.percentile(avg, 99))  # the two signals differ here
    rc, out, err = R.lowprof_main(capsys, "report", run_dir, "--json")
    assert rc == 0, err
    p = json.loads(out)["power"]
    assert p["gpu0 power signal"] == "instant" and p["gpu0 p99_w"] == pytest.approx(np.percentile(inst, 99))
    assert p["gpu1 power signal"] == "1 s average"
    rc, out, err = R.lowprof_main(capsys, "report", run_dir, "--json", "--average")
    assert rc == 0, err
    p = json.loads(out)["power"]
    assert p["gpu0 power signal"] == "1 s average" and p["gpu0 p99_w"] == pytest.approx(np.percentile(avg, 99))
    assert p["gpu0 peak_w"] == pytest.approx(avg.max())
    rc, out, err = R.lowprof_main(capsys, "report", run_dir)
    assert rc == 0 and "gpu0 power signal" in out  # the human table names the signal per device
    rc, out, err = R.lowprof_main(capsys, "report", run_dir, "--instant")
    assert rc != 0 and "gpu1" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _p99_rows(rows):
    return {r["params"]: r for r in rows if r["metric"] == "power_p99_w"}


def test_compare_honours_the_signal_and_names_it_per_row(run_dir, tmp_path, capsys):
    avg0, avg1 = _by_hand(run_dir, 0, "power_w"), _by_hand(run_dir, 1, "power_w")
    rc, out, err = R.lowprof_main(capsys, "compare", run_dir, run_dir, "--average", "--csv", tmp_path / "avg.csv")
    assert rc == 0, err
    rows = _p99_rows(csv.DictReader((tmp_path / "avg.csv").open()))
    assert set(rows) == {"device=gpu0,signal=1 s average", "device=gpu1,signal=1 s average"}
    assert float(rows["device=gpu0,signal=1 s average"]["A"]) == pytest.approx(np.percentile(avg0, 99))
    assert float(rows["device=gpu1,signal=1 s average"]["B"]) == pytest.approx(np.percentile(avg1, 99))
    rc, out, err = R.lowprof_main(capsys, "compare", run_dir, run_dir, "--csv", tmp_path / "auto.csv")
    rows = _p99_rows(csv.DictReader((tmp_path / "auto.csv").open()))
    assert set(rows) == {"device=gpu0,signal=instant", "device=gpu1,signal=1 s average"}  # per-row column
    assert float(rows["device=gpu0,signal=instant"]["A"]) == pytest.approx(np.percentile(_by_hand(run_dir, 0, "power_instant_w"), 99))
    rc, out, err = R.lowprof_main(capsys, "compare", run_dir, run_dir, "--instant")
    assert rc != 0 and "gpu1" in err and "Traceback" not in err


def test_export_honours_the_signal(run_dir, tmp_path, capsys):
    avg0 = _by_hand(run_dir, 0, "power_w")
    rc, out, err = R.lowprof_main(capsys, "export", run_dir, "--csv", tmp_path / "x", "--no-tables", "--average")
    assert rc == 0, err
    rows = [r for r in csv.DictReader((tmp_path / "x" / "metrics.csv").open()) if r["metric"] == "power_p99_w"]
    assert {r["signal"] for r in rows} == {"1 s average"}
    r0 = next(r for r in rows if r["device"] == "gpu0")
    assert float(r0["value"]) == pytest.approx(np.percentile(avg0, 99))
    rc, out, err = R.lowprof_main(capsys, "export", run_dir, "--csv", tmp_path / "y", "--no-tables", "--instant")
    assert rc != 0 and "gpu1" in err and "Traceback" not in err


def test_plot_honours_the_signal_and_labels_it(run_dir, tmp_path, capsys):
    rc, out, err = R.lowprof_main(capsys, "plot", run_dir, "--out", tmp_path / "f", "--average", "--json")
    assert rc == 0, err
    fig = next(f for f in json.loads(out) if f["name"] == "power_timeline")
    got = next(v for k, v in fig["series"].items() if k.endswith("gpu0"))
    assert np.allclose(got["power_w"], _by_hand(run_dir, 0, "power_w"))
    rc, out, err = R.lowprof_main(capsys, "plot", run_dir, "--out", tmp_path / "g", "--json")
    fig = next(f for f in json.loads(out) if f["name"] == "power_timeline")
    got = next(v for k, v in fig["series"].items() if k.endswith("gpu0"))
    assert np.allclose(got["power_w"], _by_hand(run_dir, 0, "power_instant_w"))

    from lowprof.analysis import plots

    f = plots.plot_power({"A": lowprof.load(run_dir)}, tmp_path / "h", signal="average")
    labels = [ln.get_label() for ln in f.figure.axes[0].get_lines() if not ln.get_label().startswith("_")]
    assert labels and all("1 s average" in lab for lab in labels)
    rc, out, err = R.lowprof_main(capsys, "plot", run_dir, "--out", tmp_path / "i", "--instant")
    assert rc != 0 and "gpu1" in err and "Traceback" not in err


def _gpu_run(path, instant: bool):
    from lowprof.rundir.specs.nvml import GPU_POWER
    from lowprof.rundir import RunWriter

    S = 1_000_000_000
    rd = RunWriter(path, kind="test")
    rows = [{"t_ns": i * S, "gpu": 0, "power_w": p, "energy_j": 100.0 * i, "power_limit_w": 400.0}
            | ({"power_instant_w": p + 30.0} if instant else {}) for i, p in enumerate([100.0, 200.0, 300.0, 200.0])]
    rd.table(GPU_POWER).extend(rows)
    rd.finish()
    return path


def test_compare_says_when_a_row_was_measured_two_ways(tmp_path, capsys):
    """A has field 186, B has not: power_p99_w is not paired across signals, and compare says so."""
    a, b = _gpu_run(tmp_path / "a", True), _gpu_run(tmp_path / "b", False)
    rc, out, err = R.lowprof_main(capsys, "compare", a, b)
    assert rc == 0, err
    assert "power_p99_w" not in out  # never one row mixing instant (A) with an average (B)
    line = next(ln for ln in err.splitlines() if "power_p99_w" in ln)
    assert "instant" in line and "--average" in line
    rc, out, err = R.lowprof_main(capsys, "compare", a, b, "--average", "--csv", "-")
    rows = _p99_rows(csv.DictReader(out.splitlines()))
    r = rows["device=gpu0,signal=driver average (window unknown)"]
    assert float(r["A"]) == pytest.approx(np.percentile([100, 200, 300, 200], 99)) == float(r["B"])

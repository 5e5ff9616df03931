"""`lowprof export DIR... --csv/--latex`: tidy metrics.csv with the documented columns, per-run tables, LaTeX."""

from __future__ import annotations

import pandas as pd
import pytest

import lowprof
from lowprof.analysis.export_csv import METRIC_COLUMNS
from lowprof.metrics import run_metrics
from tests import _analysis_runs as R


def test_one_run_keeps_the_table_csvs_and_adds_metrics(shared_runs, tmp_path, cli):
    d = shared_runs.demo("demo-t1", 1)
    p = cli("export", d, "--csv", tmp_path / "out")
    assert p.returncode == 0, p.stderr
    assert {"system.csv", "system_cores.csv", "manifest.csv", "metrics.csv"} <= {f.name for f in (tmp_path / "out").iterdir()}
    m = pd.read_csv(tmp_path / "out" / "metrics.csv", keep_default_na=False)
    assert list(m.columns[:6]) == METRIC_COLUMNS == ["run", "machine", "metric", "value", "unit", "better"]
    run = lowprof.load(d)
    ref = run_metrics(run).set_index("metric")
    assert set(m.metric) == set(ref.index) and (m.run == d.name).all()
    for r in m.itertuples():
        assert r.value == pytest.approx(ref.loc[r.metric, "value"]) and r.unit == ref.loc[r.metric, "unit"]
    assert run.manifest["host"]["hostname"] in m.machine.iloc[0]


def test_many_dirs_long_format_with_parameter_columns(shared_runs, tmp_path, capsys):
    dirs = [shared_runs.demo("demo-t2", 2), shared_runs.pass_sweep(), shared_runs.tlb(), shared_runs.rank_job()]
    rc, out, err = R.lowprof_main(capsys, "export", *dirs, "--csv", tmp_path / "out", "--latex", tmp_path / "m.tex")
    assert rc == 0, err
    m = pd.read_csv(tmp_path / "out" / "metrics.csv")
    ref = run_metrics(lowprof.load(shared_runs.tlb()))
    ref = ref[ref.metric.str.startswith("tlb_")]
    # bench tlb leaves out a figure it could not confirm (a busy VM): then no page_size_bytes parameter at all
    per_page = ["page_size_bytes"] if any("page_size_bytes" in r.params for r in ref.itertuples()) else []
    assert list(m.columns) == METRIC_COLUMNS + ["batch"] + per_page + ["phase", "rank"]
    sweep_steps = m[(m.metric == "phase_time_s") & (m.phase == "pass")]
    assert sorted(sweep_steps.batch) == [1, 4] and set(sweep_steps.run) == {"sweep/batch=1", "sweep/batch=4"}
    tlb = m[m.metric.str.startswith("tlb_")]
    assert sorted(zip(tlb.metric, tlb.page_size_bytes.astype(int) if per_page else [], tlb.value)) == \
        sorted((r.metric, r.params["page_size_bytes"], pytest.approx(r.value)) for r in ref.itertuples())
    tklqt = m[m.metric == "tklqt_s"].set_index("rank")
    assert sorted(tklqt.index) == [0, 1]
    assert (tmp_path / "out" / "sweep" / "batch=1" / "marks.csv").is_file()  # per-run tables in OUTDIR/<run>/
    assert (tmp_path / "out" / "job" / "rank1" / "launches.csv").is_file()
    tex = (tmp_path / "m.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "tklqt\\_s" in tex and "job/rank0" in tex
    v = m[(m.metric == "tlb_l1_entries") & (m.page_size_bytes == 4096)].value if per_page else []
    if len(v):
        assert f"{v.iloc[0]:.4g}" in tex


def test_nothing_to_export_is_one_line(shared_runs, capsys):
    rc, out, err = R.lowprof_main(capsys, "export", shared_runs.demo("demo-t1", 1))
    assert rc == 1 and "nothing to export" in err and "Traceback" not in err

"""`lowprof compare` on real recorded runs: same workload compared, different workload refused unless --force."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest

import lowprof
from lowprof.analysis.compare import machine_name
from lowprof.analysis.launches import per_step
from lowprof.errors import WorkloadMismatch
from lowprof.metrics import compare
from lowprof.rundir.specs.launches import is_warmup
from tests import _analysis_runs as R


@pytest.fixture(scope="module")
def root(shared_runs):
    return shared_runs.root


def test_same_workload_table_values_ratio_and_better(shared_runs):
    a, b = shared_runs.demo("demo-t1", 1), shared_runs.demo("demo-t1-again", 1)
    cmp = compare([a, b])
    t = cmp.table.set_index("metric")
    ra, rb = lowprof.load(a), lowprof.load(b)
    for run, col in ((ra, "A"), (rb, "B")):  # the rusage figures, straight from the manifests
        w = run.manifest["workload"]
        assert t.loc["workload_cpu_s", col] == pytest.approx(w["user_s"] + w["system_s"])
        assert t.loc["duration_s", col] == pytest.approx(run.manifest["duration_s"])
    row = t.loc["duration_s"]
    assert row["B/A"] == pytest.approx(row["B"] / row["A"])
    assert row["better_B"] == ("B" if row["B"] < row["A"] else "A")  # lower is better for a duration
    assert t.loc["workload_cpu_cores_mean", "better_B"] == ""  # no direction declared
    host = ra.manifest["host"]["hostname"]
    assert host in cmp.sides[0].machine and ra.manifest["host"]["cpu_model"] in cmp.sides[0].machine
    assert cmp.differences == {}


def test_different_parameters_refused_with_the_difference_then_forced(shared_runs, cli):
    a, b = shared_runs.demo("demo-t1", 1), shared_runs.demo("demo-t2", 2)
    with pytest.raises(WorkloadMismatch, match=r"command argument 3: '1' vs '2'"):
        compare([a, b])
    p = cli("compare", a, b)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "'1' vs '2'" in p.stderr and "--force" in p.stderr and p.stdout == ""
    p = cli("compare", a, b, "--force")
    assert p.returncode == 0, p.stderr
    assert "differs" in p.stdout and "'1' vs '2'" in p.stdout and "workload_cpu_s" in p.stdout


def test_csv_and_json_outputs_agree(shared_runs, capsys):
    a, b = shared_runs.demo("demo-t1", 1), shared_runs.demo("demo-t2", 2)
    csv = pd.read_csv(StringIO(R.lowprof_main(capsys, "compare", a, b, "--force", "--csv", "-")[1]))
    js = json.loads(R.lowprof_main(capsys, "compare", a, b, "--force", "--json")[1])
    assert list(csv.columns[:6]) == ["metric", "params", "unit", "better", "A", "B"]
    assert [s["letter"] for s in js["sides"]] == ["A", "B"] and js["differences"]["B"]
    by_metric = {r["metric"]: r for r in js["rows"]}
    for metric_name, ratio in zip(csv["metric"], csv["B/A"]):
        assert by_metric[metric_name]["B/A"] == pytest.approx(ratio)


def test_sweeps_match_by_batch(shared_runs, root):
    sweep = shared_runs.pass_sweep()
    other = R.copy_of(sweep, root / "sweep-copy")
    cmp = compare([sweep, other])
    step = cmp.table[(cmp.table.metric == "phase_time_s") & cmp.table.params.str.contains("phase=pass")]
    assert list(step["params"]) == ["batch=1,phase=pass", "batch=4,phase=pass"]
    for batch, value in zip((1, 4), step["A"]):
        m = lowprof.load(sweep / f"batch={batch}")["marks"]
        m = m[m.name == "pass"]
        spans = m[m.kind == "end"].t_ns.to_numpy() - m[m.kind == "begin"].t_ns.to_numpy()
        assert len(spans) == 4 and value == pytest.approx(np.median(spans) / 1e9)
    assert (step["B/A"] == 1.0).all()
    assert compare([sweep, other]).sides[0].kind == "sweep"


def test_per_rank_folders_match_by_rank(shared_runs, root):
    job = shared_runs.rank_job()
    cmp = compare([job, R.copy_of(job, root / "job-copy")], names=["tklqt_s", "pass_latency_s"])
    t = cmp.table.set_index(["metric", "params"])
    assert cmp.sides[0].kind == "ranks"
    for rank in (0, 1):
        run = lowprof.load(job / f"rank{rank}")
        steps = per_step(run["launches"], run["ops"])
        steps = steps[(steps.step != "(no step)") & ~steps.step.map(is_warmup)]
        assert t.loc[("tklqt_s", f"rank={rank}"), "A"] == pytest.approx(steps.tklqt_ns.median() / 1e9)
    assert "timeline_analysis__sampled_rank-0" in cmp.sides[0].machine
    per_rank = [t.loc[("pass_latency_s", f"rank={r}"), "A"] for r in (0, 1)]
    assert t.loc[("pass_latency_s", "rank=max"), "A"] == max(per_rank)  # the slowest rank
    assert t.loc[("pass_latency_s", "rank=median"), "A"] == pytest.approx(sum(per_rank) / 2)


def test_three_sides_each_against_a(shared_runs):
    a, b, c = shared_runs.demo("demo-t1", 1), shared_runs.demo("demo-t1-again", 1), shared_runs.demo("demo-t2", 2)
    cmp = compare([a, b, c], force=True)
    assert set(cmp.differences) == {"C"}  # only C ran another thread count
    row = cmp.table.set_index("metric").loc["workload_cpu_s"]
    assert row["C/A"] == pytest.approx(row["C"] / row["A"]) and row["B/A"] == pytest.approx(row["B"] / row["A"])


def test_machine_name_of_an_imported_trace_names_its_gpu(shared_runs):
    run = lowprof.load(shared_runs.imported("alexnet", "critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"))
    gpus = [d["name"] for d in run.manifest["trace"]["device_properties"]]
    assert gpus and gpus[0] in machine_name(run)


def test_unknown_metric_and_single_run_are_one_line_errors(shared_runs, capsys):
    a = shared_runs.demo("demo-t1", 1)
    rc, out, err = R.lowprof_main(capsys, "compare", a, a, "--metrics", "nope_s")
    assert rc == 1 and "'nope_s'" in err and "Traceback" not in err
    rc, out, err = R.lowprof_main(capsys, "compare", a)
    assert rc == 1 and "at least two" in err

"""`lowprof query`: DuckDB SQL over many runs, checked against pandas over lowprof.load(...) tables."""

from __future__ import annotations

import io
import json
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lowprof
from tests import _analysis_runs as R

pytest.importorskip("duckdb", reason="lowprof query needs DuckDB (pip install 'lowprof[query]')")


@pytest.fixture(scope="module")
def runs(shared_runs, tmp_path_factory):
    """Four real runs in one folder: two imported ranks of an NCCL job, two recorded demo runs."""
    where = tmp_path_factory.mktemp("query-runs")
    job = shared_runs.rank_job()
    for r in ("rank0", "rank1"):
        R.copy_of(job / r, where / r)
    R.copy_of(shared_runs.demo("demo-t1", 1), where / "demo-t1")
    R.copy_of(shared_runs.demo("demo-t2", 2), where / "demo-t2")
    return where


def _csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


def test_launches_per_run_equal_pandas_over_each_run(runs, capsys):
    sql = ("SELECT run, rank, kind, count(*) AS n, sum(gpu_end_ns - gpu_start_ns) AS gpu_ns, "
           "count(DISTINCT name) AS names FROM launches GROUP BY ALL ORDER BY run, kind")
    rc, out, err = R.lowprof_main(capsys, "query", sql, str(runs / "*"), "--csv", "-")
    assert rc == 0, err
    got = _csv(out)
    rows = []
    for r in ("rank0", "rank1"):  # the demo runs have no launches table: not in the view
        la = lowprof.load(runs / r)["launches"]
        for kind, g in la.groupby("kind"):
            rows.append({"run": r, "rank": int(r[-1]), "kind": kind, "n": len(g),
                         "gpu_ns": int((g["gpu_end_ns"] - g["gpu_start_ns"]).sum()), "names": g["name"].nunique()})
    want = pd.DataFrame(rows).sort_values(["run", "kind"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_join_with_the_runs_view_and_manifest_columns(runs, capsys):
    sql = ("SELECT s.run, r.kind, r.status, s.host, count(*) AS samples, avg(s.cpu_percent) AS cpu "
           "FROM system s JOIN runs r USING (run) GROUP BY ALL ORDER BY s.run")
    rc, out, err = R.lowprof_main(capsys, "query", sql, runs / "demo-t1", runs / "demo-t2", "--csv", "-")
    assert rc == 0, err
    got = _csv(out)
    for d, row in zip(("demo-t1", "demo-t2"), got.itertuples()):
        run = lowprof.load(runs / d)
        assert (row.run, row.kind, row.status) == (d, "run", "complete")
        assert row.host == run.manifest["host"]["hostname"]
        assert row.samples == len(run["system"])
        assert row.cpu == pytest.approx(run["system"]["cpu_percent"].mean(), rel=1e-12)


def test_gpu_column_is_the_manifest_gpu_name(shared_runs, capsys):
    a100 = shared_runs.imported("alexnet", "critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz")
    rc, out, err = R.lowprof_main(capsys, "query", "SELECT DISTINCT gpu, rank FROM launches", a100, "--csv", "-")
    assert rc == 0, err
    names = {d["name"] for d in lowprof.load(a100).manifest["gpus"]["devices"]}
    assert _csv(out).to_dict("records") == [{"gpu": ", ".join(sorted(names)), "rank": 0}]


def test_parquet_and_table_output(runs, capsys, tmp_path):
    sql = "SELECT rank, step, count(*) AS kernels FROM launches WHERE kind = 'kernel' GROUP BY ALL ORDER BY ALL"
    rc, _, err = R.lowprof_main(capsys, "query", sql, runs / "rank0", runs / "rank1", "--parquet", tmp_path / "k.parquet")
    assert rc == 0, err
    got = pq.read_table(tmp_path / "k.parquet").to_pandas()
    la = lowprof.load_many([runs / "rank0", runs / "rank1"])["launches"]
    want = (la[la["kind"] == "kernel"].groupby(["rank", "step"], observed=True).size().rename("kernels").reset_index()
            .sort_values(["rank", "step"]).reset_index(drop=True))
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    rc, out, err = R.lowprof_main(capsys, "query", sql, runs / "rank0", runs / "rank1")
    assert rc == 0 and "4 rows from 2 runs" in err
    for r in want.itertuples():  # every figure whole in the printed table
        assert str(r.kernels) in out and r.step in out


def test_tables_lists_views_with_manifest_columns(runs, capsys):
    rc, out, err = R.lowprof_main(capsys, "query", "--tables", runs / "rank0", runs / "demo-t1")
    assert rc == 0, err
    for view in ("runs", "launches", "system", "ops", "steps"):
        assert f"│ {view} " in out
    assert "run VARCHAR, host VARCHAR, gpu VARCHAR, rank BIGINT, kind VARCHAR" in " ".join(out.split())


@pytest.mark.parametrize("sql, code, says", [
    ("SELEC 1", 2, "Parser Error"),
    ("SELECT nope FROM launches", 1, "Binder Error"),
    ("SELECT * FROM nope", 1, "Table with name nope does not exist"),
])
def test_bad_sql_is_one_line(runs, cli, sql, code, says):
    p = cli("query", sql, runs / "rank0")
    assert p.returncode == code
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in p.stderr, p.stderr


def test_missing_runs_and_missing_duckdb_are_one_line(runs, capsys, monkeypatch, tmp_path):
    rc, _, err = R.lowprof_main(capsys, "query", "SELECT 1", tmp_path / "nope")
    assert rc == 1 and "no such run directory" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setitem(__import__("sys").modules, "duckdb", None)
    rc, _, err = R.lowprof_main(capsys, "query", "SELECT 1", runs / "rank0")
    assert rc == 1 and "pip install 'lowprof[query]'" in err and len(err.strip().splitlines()) == 1


def test_incomplete_and_damaged_runs_are_named_and_the_rest_is_queried(runs, capsys, tmp_path):
    killed = shutil.copytree(runs / "demo-t1", tmp_path / "killed")
    damaged = shutil.copytree(runs / "demo-t2", tmp_path / "damaged")
    m = json.loads((killed / "manifest.json").read_text())
    m.update(status="running", ended_utc=None, end_t_ns=None, duration_s=None)
    m["recorder"]["pid"] = 2**31 - 2  # never alive
    (killed / "manifest.json").write_text(json.dumps(m))
    # the killed run's system table: the stream it left, cut inside its second batch
    table = pq.read_table(killed / "tables" / "system.parquet")
    first = table.num_rows // 2
    stream = killed / "tables" / "system.arrows"
    with pa.OSFile(str(stream), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
        w.write_table(table.slice(0, first))
        w.write_table(table.slice(first))
    (killed / "tables" / "system.parquet").unlink()
    data = stream.read_bytes()
    stream.write_bytes(data[:len(data) - 40])
    (damaged / "tables" / "system.parquet").write_bytes(b"not parquet at all")
    rc, out, err = R.lowprof_main(capsys, "query", "SELECT run, count(*) AS n FROM system GROUP BY run",
                                  killed, damaged, runs / "demo-t1", "--csv", "-")
    assert rc == 0, err
    warnings = [ln for ln in err.splitlines() if "warning" in ln]
    assert any(ln.count("killed") and "INCOMPLETE" in ln for ln in warnings), err
    assert any("damaged" in ln and "'system'" in ln for ln in warnings), err
    got = dict(_csv(out).itertuples(index=False))
    assert got == {"killed": first, "demo-t1": len(lowprof.load(runs / "demo-t1")["system"])}


def test_load_many_still_reads_the_same_runs(runs):
    rs = lowprof.load_many(str(runs / "rank*"))
    assert sorted(set(rs["launches"]["run"])) == ["rank0", "rank1"]


def test_sweep_parameters_and_a_gpu_column_of_the_table_itself(shared_runs, capsys):
    sweep = shared_runs.pass_sweep()
    rc, out, err = R.lowprof_main(capsys, "query", "SELECT run, batch, count(*) AS marks FROM marks GROUP BY ALL ORDER BY batch",
                                  sweep, "--csv", "-")
    assert rc == 0, err
    got = _csv(out)
    for row in got.itertuples():
        assert row.run == f"sweep/batch={row.batch}"
        assert row.marks == len(lowprof.load(sweep / f"batch={row.batch}")["marks"])
    assert sorted(got["batch"]) == [1, 4]
    replay = shared_runs.power_replay()  # gpu_power.gpu is the NVML index: the manifest's GPU name is gpu_name
    rc, out, err = R.lowprof_main(capsys, "query", "SELECT gpu, gpu_name, count(*) AS n, avg(power_w) AS w FROM gpu_power "
                                  "GROUP BY ALL ORDER BY gpu", replay, "--csv", "-")
    assert rc == 0, err
    got = _csv(out)
    run = lowprof.load(replay)
    want = run["gpu_power"].groupby("gpu")["power_w"].agg(["size", "mean"])
    assert got["gpu"].tolist() == want.index.tolist() and got["n"].tolist() == want["size"].tolist()
    assert got["w"].tolist() == pytest.approx(want["mean"].tolist(), rel=1e-12)
    named = {json.loads(ln)["value"] for ln in R.POWER_FIXTURE.read_text().splitlines()[1:]
             if '"nvmlDeviceGetName"' in ln}  # what the replayed NVML answered
    assert set(got["gpu_name"]) == {", ".join(sorted(named))} == {"NVIDIA H100 80GB HBM3"}


def test_json_is_strict_and_equals_pandas(runs, capsys):
    sql = ("SELECT rank, sum(gpu_end_ns - gpu_start_ns) AS gpu_ns, avg(bytes) AS mean_bytes, 'nan'::DOUBLE AS nan "
           "FROM launches GROUP BY rank ORDER BY rank")
    rc, out, err = R.lowprof_main(capsys, "query", sql, runs / "rank0", runs / "rank1", "--json")
    assert rc == 0, err
    got = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in --json"))
    for row in got:
        la = lowprof.load(runs / f"rank{row['rank']}")["launches"]
        assert row["gpu_ns"] == int((la["gpu_end_ns"] - la["gpu_start_ns"]).sum())  # an int, not "6.07e8"
        assert row["mean_bytes"] == pytest.approx(la["bytes"].mean(), rel=1e-12) and row["nan"] is None


def test_a_glob_skips_what_holds_no_run_and_says_so(runs, capsys, tmp_path):
    where = tmp_path / "mixed"
    R.copy_of(runs / "rank0", where / "rank0")
    (where / "figs").mkdir(parents=True)
    (where / "figs" / "a.png").write_bytes(b"png")
    (where / "notes.txt").write_text("not a folder")
    rc, out, err = R.lowprof_main(capsys, "query", "SELECT DISTINCT run FROM launches", str(where / "*"), "--csv", "-")
    assert rc == 0, err
    assert out.splitlines()[1:] == ["rank0"]
    assert [ln for ln in err.splitlines() if "warning" in ln] == [
        f"lowprof: warning: {where / 'figs'}: holds no run directory, skipped"]
    rc, _, err = R.lowprof_main(capsys, "query", "SELECT 1", where / "figs")  # named outright: an error
    assert rc == 1 and "missing" in err and len(err.strip().splitlines()) == 1

"""`lowprof import FOLDER`: per-rank traces into one job folder that compare, bound, query and launches take whole."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

import lowprof
from lowprof.analysis import bound as B
from tests import _analysis_runs as R
from tests.conftest import TRACES

NCCL = {"timeline_analysis__sampled_rank-0.json.gz": 0, "trace_filter__sampled_rank-1.json.gz": 1}


def _folder(where: Path, files: dict[str, Path]) -> Path:
    where.mkdir(parents=True)
    for name, src in files.items():
        os.symlink(src, where / name)
    return where


@pytest.fixture(scope="module")
def nccl(tmp_path_factory):
    """The two real ranks of HTA's sampled 128-rank NCCL job, as the profiler wrote them, and their job."""
    base = tmp_path_factory.mktemp("job-import")
    traces = _folder(base / "traces", {f: R.KINETO / f for f in NCCL})
    p = R.run_cli("import", traces, "--out", base / "job")
    assert p.returncode == 0, p.stderr
    return traces, base / "job", p.stderr


def test_one_run_per_rank_equal_to_importing_each_file(nccl, tmp_path):
    traces, job, said = nccl
    doc = json.loads((job / "job.json").read_text())
    assert [(r["rank"], r["dir"], r["rank_from"]) for r in doc["ranks"]] == [(0, "rank0", "distributedInfo"),
                                                                            (1, "rank1", "distributedInfo")]
    assert doc["world_size"] == 128 and "2 of 128 ranks (0, 1)" in said
    for f, rank in NCCL.items():
        single = R.run_cli("import", traces / f, "--out", tmp_path / f"single{rank}", "--quiet")
        assert single.returncode == 0, single.stderr
        a, b = lowprof.load(job / f"rank{rank}"), lowprof.load(tmp_path / f"single{rank}")
        assert a.manifest["trace"]["distributed"]["rank"] == rank
        for t in ("launches", "ops", "steps"):
            assert a[t].equals(b[t]), t
    rs = lowprof.load_many(job)
    assert [m.rank for m in rs] == [0, 1] and [m.label for m in rs] == ["job/rank0", "job/rank1"]


def test_rank_from_the_file_name_when_the_trace_does_not_say(tmp_path):
    folder = _folder(tmp_path / "t", {"rank0.json.gz": R.KINETO / "triton_example__triton_example.json.gz",
                                      "train_rank_1.json.gz": R.KINETO / "amd_trace__mi250_minitoy_train_ROCm6_2_kineto.json.gz",
                                      "README.md": R.KINETO / "LICENSE-HTA"})
    p = R.run_cli("import", folder, "--out", tmp_path / "job", "--quiet")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    doc = json.loads((tmp_path / "job" / "job.json").read_text())
    assert [(r["rank"], r["trace"], r["rank_from"]) for r in doc["ranks"]] == [
        (0, "rank0.json.gz", "name"), (1, "train_rank_1.json.gz", "name")]
    assert sorted(os.listdir(tmp_path / "job")) == ["job.json", "rank0", "rank1"]


def test_the_trace_rank_wins_over_the_name_and_says_so(tmp_path):
    folder = _folder(tmp_path / "t", {"rank5.json.gz": R.KINETO / "critical_path__simple_add__benchmark_result_493459_1694039959_trace.json.gz"})
    p = R.run_cli("import", folder, "--out", tmp_path / "job", "--quiet")
    assert p.returncode == 0
    assert "named rank 5, but its distributedInfo says rank 0; rank 0 used" in p.stderr
    assert (tmp_path / "job" / "rank0" / "manifest.json").is_file()


def test_several_nsys_exports_by_rank(tmp_path):
    """nsys exports as `nsys profile -o report_%q{SLURM_PROCID}` names them: the one number is the rank."""
    nsys = TRACES / "nsys" / "pipit"
    folder = _folder(tmp_path / "t", {"report_0.sqlite": nsys / "perlmutter-cloverleaf-cuda.sqlite",
                                      "report_1.sqlite": nsys / "saxpy-mpi-cuda_nsys_perlmutter0.sqlite"})
    p = R.run_cli("import", folder, "--out", tmp_path / "job", "--quiet")
    assert p.returncode == 0, p.stderr
    doc = json.loads((tmp_path / "job" / "job.json").read_text())
    assert [(r["rank"], r["trace"], r["rank_from"]) for r in doc["ranks"]] == [
        (0, "report_0.sqlite", "name"), (1, "report_1.sqlite", "name")]
    for rank, src in ((0, "perlmutter-cloverleaf-cuda.sqlite"), (1, "saxpy-mpi-cuda_nsys_perlmutter0.sqlite")):
        run = lowprof.load(tmp_path / "job" / f"rank{rank}")
        assert run.manifest["trace"]["source"] == "nsys-sqlite"
        import sqlite3

        with sqlite3.connect(nsys / src) as db:  # every kernel of the export, by plain SQL
            kernels = db.execute("SELECT count(*) FROM CUPTI_ACTIVITY_KIND_KERNEL").fetchone()[0]
        assert (run["launches"]["kind"] == "kernel").sum() == kernels
        from lowprof.rundir.many import rank_of

        moved = shutil.copytree(tmp_path / "job" / f"rank{rank}", tmp_path / f"elsewhere{rank}x")
        assert rank_of(lowprof.load(moved)) == rank  # the manifest keeps the rank the job gave it


@pytest.mark.parametrize("files, says", [
    ({}, "no trace files in the folder"),
    ({"trace.json.gz": "triton_example__triton_example.json.gz"}, "cannot tell its rank"),
    ({"a.json.gz": "timeline_analysis__sampled_rank-0.json.gz",
      "b_rank0.json.gz": "critical_path__simple_add__benchmark_result_493459_1694039959_trace.json.gz"}, "are both rank 0"),
    ({"rank0.json": "LICENSE-HTA"}, "rank0.json"),
])
def test_bad_folders_are_one_line_and_leave_nothing(tmp_path, files, says):
    folder = _folder(tmp_path / "t", {k: R.KINETO / v for k, v in files.items()})
    p = R.run_cli("import", folder, "--out", tmp_path / "job")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.strip().splitlines() if "error" in ln]
    assert len(lines) == 1 and says in lines[0], p.stderr
    assert not (tmp_path / "job").exists() and [n for n in os.listdir(tmp_path) if n != "t"] == []


@pytest.mark.slow
def test_force_replaces_an_earlier_job_only(nccl, tmp_path):
    traces, _, _ = nccl
    out = tmp_path / "job"
    assert R.run_cli("import", traces, "--out", out, "--quiet").returncode == 0
    p = R.run_cli("import", traces, "--out", out, "--quiet")
    assert p.returncode == 1 and "use --force" in p.stderr
    assert R.run_cli("import", traces, "--out", out, "--quiet", "--force").returncode == 0
    broken = _folder(tmp_path / "broken", {"trace.json.gz": R.KINETO / "triton_example__triton_example.json.gz"})
    p = R.run_cli("import", broken, "--out", out, "--quiet", "--force")  # fails: the earlier job stays whole
    assert p.returncode == 1 and "cannot tell its rank" in p.stderr
    assert [m.rank for m in lowprof.load_many(out)] == [0, 1]
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith(".")) == []
    (out / "notes.txt").write_text("mine")
    p = R.run_cli("import", traces, "--out", out, "--quiet", "--force")
    assert p.returncode == 1 and "'notes.txt', which lowprof import did not write" in p.stderr
    assert (out / "notes.txt").read_text() == "mine"
    other = tmp_path / "project"
    other.mkdir()
    (other / "x").write_text("x")
    p = R.run_cli("import", traces, "--out", other, "--force")
    assert p.returncode == 1 and "not a lowprof job folder" in p.stderr and (other / "x").exists()


def test_launches_of_the_job_equals_hta_over_the_same_folder(nccl, capsys):
    traces, job, _ = nccl
    ta = pytest.importorskip("hta.trace_analysis", reason="HTA (the reference) is not installed")
    hta_dir = job.parent / "hta-copy"  # HTA reads the folder's files itself (no symlinks needed)
    if not hta_dir.exists():
        shutil.copytree(traces, hta_dir, symlinks=False)
    logging.disable(logging.WARNING)
    try:
        hta = ta.TraceAnalysis(trace_dir=str(hta_dir)).get_comm_comp_overlap(visualize=False).set_index("rank")
    finally:
        logging.disable(logging.NOTSET)
    rc, out, err = R.lowprof_main(capsys, "launches", job, "--json")
    assert rc == 0, err
    ranks = json.loads(out)["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1]
    for r in ranks:
        assert r["hta_overlap_pct"] == pytest.approx(float(hta.loc[r["rank"], "comp_comm_overlap_pctg"]), abs=1e-9)
        assert len(r["per_step"]) == 2 and all(0 < s["overlap_pct"] < 100 for s in r["per_step"])
    rc, out, _ = R.lowprof_main(capsys, "launches", job)
    assert rc == 0 and "11.81%" in out and "20.05%" in out


def test_bound_compare_and_query_take_the_job_whole(nccl, capsys):
    _, job, _ = nccl
    rc, out, err = R.lowprof_main(capsys, "bound", job, "--json")
    assert rc == 0, err
    got = json.loads(out)["ranks"]
    for r in got:
        want = B.verdicts(lowprof.load(job / f"rank{r['rank']}"))
        assert [p["verdict"] for p in r["passes"]] == list(want["verdict"])
        assert [p["tklqt_ns"] for p in r["passes"]] == list(want["tklqt_ns"])
    rc, out, err = R.lowprof_main(capsys, "compare", job, job, "--csv", "-")
    assert rc == 0, err
    assert "rank=0" in out and "rank=1" in out and "rank=max" in out
    pytest.importorskip("duckdb")
    rc, out, err = R.lowprof_main(capsys, "query", "SELECT rank, count(*) AS n FROM launches GROUP BY rank ORDER BY rank",
                                  job, "--csv", "-")
    assert rc == 0, err
    assert out.splitlines()[1:] == [f"{k},{len(lowprof.load(job / f'rank{k}')['launches'])}" for k in (0, 1)]


@pytest.mark.parametrize("damage, says", [
    (lambda d: d.update(ranks=[{"rank": 0, "dir": ".."}]), "does not match its schema"),
    (lambda d: d.update(kind="sweep"), "does not match its schema"),
    (lambda d: d["ranks"].append({"rank": 2, "dir": "rank2"}), "no such run directory"),
])
def test_a_damaged_job_json_is_one_line_for_every_verb(nccl, tmp_path, damage, says):
    _, job, _ = nccl
    bad = shutil.copytree(job, tmp_path / "job")
    doc = json.loads((bad / "job.json").read_text())
    damage(doc)
    (bad / "job.json").write_text(json.dumps(doc))
    for argv in (["bound", bad], ["launches", bad], ["compare", bad, job]):
        p = R.run_cli(*argv)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 1 and says in p.stderr and "Traceback" not in p.stderr, (argv, p.stderr)
        assert lines[0].startswith("lowprof: error:")


def test_out_inside_the_folder_of_traces_is_refused(nccl, tmp_path):
    folder = _folder(tmp_path / "t", {f: R.KINETO / f for f in NCCL})
    p = R.run_cli("import", folder, "--out", folder / "job")
    assert p.returncode == 1 and "inside the folder of traces" in p.stderr and not (folder / "job").exists()

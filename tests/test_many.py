"""`lowprof.load_many`: tables of many runs stacked with a run column; ranks from the manifest or dir names."""

from __future__ import annotations

import json
import shutil

import pytest

import lowprof
from lowprof.errors import RunDirError
from lowprof.rundir.many import rank_of


def test_rank_job_stacked_and_grouped_by_rank(shared_runs):
    job = shared_runs.rank_job()
    rs = lowprof.load_many(str(job / "rank*"))
    launches = rs["launches"]
    assert list(launches.columns[:3]) == ["run", "rank", "host"]
    for rank in (0, 1):
        run = lowprof.load(job / f"rank{rank}")
        assert run.manifest["trace"]["distributed"]["rank"] == rank  # rank from the trace's distributedInfo
        assert (launches["rank"] == rank).sum() == len(run["launches"])
    assert list(rs.by_rank()) == [0, 1]
    assert set(rs.index()["run"]) == {"rank0", "rank1"}
    assert len(lowprof.load_many(job)) == 2  # the folder itself: its run directories


def test_rank_from_env_facts_then_directory_name(shared_runs, tmp_path):
    src = shared_runs.demo("demo-t1", 1)
    named = shutil.copytree(src, tmp_path / "slurm" / "rank-3")
    assert rank_of(lowprof.load(named)) == 3
    env = shutil.copytree(src, tmp_path / "slurm" / "node-a")
    man = json.loads((env / "manifest.json").read_text())
    man["env"] = {"SLURM_PROCID": "5"}
    (env / "manifest.json").write_text(json.dumps(man))
    assert rank_of(lowprof.load(env)) == 5
    assert rank_of(lowprof.load(src)) is None
    rs = lowprof.load_many([tmp_path / "slurm"])
    assert [m.rank for m in rs] == [5, 3] and set(rs["system"]["rank"]) == {3, 5}


def test_sweep_runs_carry_their_parameters(shared_runs):
    rs = lowprof.load_many(shared_runs.pass_sweep())
    marks = rs["marks"]
    assert set(marks["batch"]) == {"1", "4"}
    for b in ("1", "4"):
        assert (marks["batch"] == b).sum() == len(lowprof.load(shared_runs.pass_sweep() / f"batch={b}")["marks"])


def test_missing_paths_and_tables_are_one_line_errors(shared_runs, tmp_path):
    with pytest.raises(RunDirError, match="matches nothing"):
        lowprof.load_many(str(tmp_path / "nope*"))
    with pytest.raises(RunDirError, match="no such run directory"):
        lowprof.load_many([tmp_path / "nope"])
    with pytest.raises(RunDirError, match="no run has a 'launches' table"):
        lowprof.load_many(shared_runs.demo("demo-t1", 1)).table("launches")

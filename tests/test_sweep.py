"""`lowprof sweep`: the documented folder layout, failures recorded, bad --param refused in one line."""

from __future__ import annotations

import json
import sys

import pytest

import lowprof
from lowprof.cli.sweep import expand, parse_param, substitute


def test_prefill_sweep_over_batch_writes_the_documented_layout(tmp_path, cli):
    pytest.importorskip("torch")
    sweep = tmp_path / "s"
    p = cli("sweep", "--param", "batch=1,2", "--out", sweep, "--probes", "system", "--",
            sys.executable, "-m", "lowprof.workloads.prefill", "--batch", "{batch}", "--layers", "1",
            "--passes", "1", "--warmup", "0", env={"OMP_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stderr
    doc = json.loads((sweep / "sweep.json").read_text())
    assert doc == {
        "schema": 1, "kind": "sweep", "params": ["batch"],
        "command": [sys.executable, "-m", "lowprof.workloads.prefill", "--batch", "{batch}", "--layers", "1",
                    "--passes", "1", "--warmup", "0"],
        "runs": [{"params": {"batch": "1"}, "dir": "batch=1", "exit_code": 0},
                 {"params": {"batch": "2"}, "dir": "batch=2", "exit_code": 0}],
    }
    for b in ("1", "2"):
        run = lowprof.load(sweep / f"batch={b}")
        assert run.complete and run.manifest["command"][4] == b
        assert f"batch={b} " in (sweep / f"batch={b}" / "output.log").read_text()  # the workload got the value


def test_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path, cli):
    sweep = tmp_path / "s"
    p = cli("sweep", "-p", "code=0,3", "-p", "tag=a,b", "--out", sweep, "--json", "--probes", "system",
            "--", "sh", "-c", "echo {tag}; exit {code}")
    assert p.returncode == 1
    doc = json.loads(p.stdout)
    assert doc == json.loads((sweep / "sweep.json").read_text())
    assert [(r["dir"], r["exit_code"]) for r in doc["runs"]] == [
        ("code=0,tag=a", 0), ("code=0,tag=b", 0), ("code=3,tag=a", 3), ("code=3,tag=b", 3)]
    assert lowprof.load(sweep / "code=3,tag=b").manifest["workload"]["exit_code"] == 3
    assert (sweep / "code=3,tag=b" / "output.log").read_text().strip() == "b"


@pytest.mark.parametrize("bad", ["batch", "1x=2", "batch=", "batch=1,,2", "batch=1,1", "b=../x"])
def test_bad_param_is_one_line_error(tmp_path, cli, bad):
    p = cli("sweep", "--param", bad, "--out", tmp_path / "s", "--", "true")
    assert p.returncode == 1
    assert "Traceback" not in p.stderr and repr(bad) in p.stderr
    assert not (tmp_path / "s").exists()


def test_expand_is_cartesian_first_param_outermost_and_substitution_leaves_other_braces():
    pts = expand([parse_param("a=1,2"), parse_param("b=x,y,z")])
    assert [tuple(p.values()) for p in pts] == [("1", "x"), ("1", "y"), ("1", "z"), ("2", "x"), ("2", "y"), ("2", "z")]
    assert substitute(["-c", "print({a}, {'k': 1})", "{b}{b}"], {"a": "1", "b": "x"}) == ["-c", "print(1, {'k': 1})", "xx"]


def test_force_replaces_a_sweep_but_never_another_folder(tmp_path, cli):
    keep = tmp_path / "notes"
    keep.mkdir()
    (keep / "x.txt").write_text("keep me")
    p = cli("sweep", "-p", "n=1", "--force", "--out", keep, "--probes", "system", "--", "true")
    assert p.returncode == 1 and "not a sweep folder" in p.stderr and "Traceback" not in p.stderr
    assert (keep / "x.txt").read_text() == "keep me"
    s = tmp_path / "s"
    assert cli("sweep", "-p", "n=1", "--out", s, "--probes", "system", "--", "true").returncode == 0
    assert cli("sweep", "-p", "n=2", "--force", "--out", s, "--probes", "system", "--", "true").returncode == 0
    assert sorted(p.name for p in s.iterdir()) == ["n=2", "sweep.json"]

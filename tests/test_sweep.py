"""`lowprof sweep`: the documented folder layout, failures recorded, bad --param refused in one line."""

from __future__ import annotations

import json
import sys

import pytest

import lowprof
from lowprof.cli.sweep import expand, parse_param, substitute
from tests.conftest import requires

pytestmark = pytest.mark.slow


@requires("torch")
def test_prefill_sweep_over_batch_writes_the_documented_layout(tmp_path, cli):
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


def test_a_value_is_never_substituted_again():
    """`--param a={b} --param b=X` turned a's value {b} into X: substitution is one pass over the template."""
    assert substitute(["{a}", "{b}", "{a}{b}"], {"a": "{b}", "b": "X"}) == ["{b}", "X", "{b}X"]
    assert substitute(["{ab}{a}"], {"a": "1", "ab": "2"}) == ["21"]
    assert substitute(["{b}"], {"b": "{b}{b}"}) == ["{b}{b}"]


def test_the_help_example_with_a_shell_keeps_values_out_of_the_shell_code(tmp_path, cli):
    """The --help example ran `sh -c 'echo {n}'`, splicing values into shell code; the example shown
    now reads the value from the environment, so a value full of shell syntax is printed, not run."""
    import shlex

    from lowprof.cli.sweep import EXAMPLES

    line = next(e for e in EXAMPLES.splitlines() if " sh -c " in e).split("   (")[0]
    argv = shlex.split(line)[1:]
    script = argv[argv.index("-c") + 1]
    assert "{" not in script  # nothing is spliced into the script
    hostile = "x;touch${IFS}pwned;echo"
    argv[argv.index("--param") + 1] = f"n={hostile}"
    argv[argv.index("--json")] = "--quiet"
    argv[1:1] = ["--out", str(tmp_path / "s"), "--probes", "system"]
    p = cli(*argv, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / "pwned").exists()
    assert (tmp_path / "s" / f"n={hostile}" / "output.log").read_text().strip() == hostile


def test_splicing_into_shell_code_is_warned(tmp_path, cli):
    p = cli("sweep", "-p", "n=1", "--out", tmp_path / "s", "--probes", "system", "--", "sh", "-c", "echo {n}")
    assert p.returncode == 0 and "{n} is spliced into shell code" in p.stderr and "$LOWPROF_PARAM_N" in p.stderr


def test_force_never_deletes_what_a_sweep_did_not_write(tmp_path, cli):
    """A folder with a (valid) sweep.json beside a project's files is not a sweep --force may delete."""
    s = tmp_path / "s"
    assert cli("sweep", "-p", "n=1", "--out", s, "--probes", "system", "--", "true").returncode == 0
    (s / "src").mkdir()
    (s / "src" / "main.c").write_text("int main;")
    p = cli("sweep", "-p", "n=2", "--force", "--out", s, "--probes", "system", "--", "true")
    assert p.returncode == 1 and "'src', which lowprof sweep did not write" in p.stderr
    assert (s / "src" / "main.c").read_text() == "int main;"
    (s / "sweep.json").write_text('{"schema": 1, "kind": "sweep", "runs": [{"dir": "../.."}]}')
    p = cli("sweep", "-p", "n=2", "--force", "--out", s, "--probes", "system", "--", "true")
    assert p.returncode == 1 and "not a lowprof sweep" in p.stderr and (s / "src").exists()

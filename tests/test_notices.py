"""Failures that change what a run holds are said in one line, at the end of ``run`` and by ``report``,
and the workload's exit code is kept (issue 11, "Failures that are recorded but never said")."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from lowprof.probes import get_probe
from tests.conftest import TRACES


def _warnings(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("lowprof: warning:")]


def _report_says(cli, run, *words: str) -> None:
    """``report`` shows the line in its text, and ``report --json`` under notices."""
    r = cli("report", run)
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())  # a panel may wrap the line
    j = json.loads(cli("report", run, "--json").stdout)
    for w in words:
        assert w in text, r.stdout
        assert any(w in n for n in j["notices"]), j["notices"]


def test_marks_file_that_does_not_parse_is_said_and_exit_code_kept(tmp_path, cli):
    bad = tmp_path / "m.jsonl"
    bad.write_text("garbage{\n")  # one line: today skipped as "a truncated last line", silently
    p = cli("run", "--out", tmp_path / "r", "--marks", bad, "--", "sh", "-c", "exit 3")
    assert p.returncode == 3, p.stderr
    w = _warnings(p.stderr)
    assert len(w) == 1 and "--marks" in w[0] and "not JSON" in w[0], p.stderr
    _report_says(cli, tmp_path / "r", "--marks", "not JSON")


def test_no_launches_says_why(tmp_path, cli):
    p = cli("run", "--out", tmp_path / "r", "--trace", "kernels", "--", sys.executable, "-c", "pass")
    assert p.returncode == 0, p.stderr
    w = _warnings(p.stderr)
    assert len(w) == 1 and "no GPU launches" in w[0] and "never imported torch" in w[0], p.stderr
    _report_says(cli, tmp_path / "r", "no GPU launches", "never imported torch")


def test_import_without_gpu_activity_is_said_by_report(tmp_path, cli):
    trace = TRACES / "kineto" / "cpu_only__rank-34.Jul_15_10_52_41.1074.pt.trace.json.gz"
    assert cli("import", trace, "--out", tmp_path / "r", "-q").returncode == 0
    _report_says(cli, tmp_path / "r", "no GPU activity", "only CPU events")


@pytest.mark.skipif(shutil.which("py-spy") is None and not (
        __import__("pathlib").Path(sys.executable).parent / "py-spy").exists(), reason="py-spy not installed")
def test_stacks_on_a_non_python_workload(tmp_path, cli):
    p = cli("run", "--out", tmp_path / "r", "--stacks", "--", "sleep", "1.5")
    assert p.returncode == 0, p.stderr
    w = _warnings(p.stderr)
    assert len(w) == 1 and "not a Python process" in w[0] and "main" not in w[0].split(":")[-1], p.stderr
    _report_says(cli, tmp_path / "r", "--stacks", "not a Python process")


def test_unavailable_probe_asked_for(tmp_path, cli):
    missing = [n for n in ("nvml", "rapl", "hwmon") if get_probe(n).available()]
    if not missing:
        pytest.skip("every probe is available on this machine")
    name, why = missing[0], get_probe(missing[0]).available()
    p = cli("run", "--out", tmp_path / "r", "--probes", f"system,{name}", "--", "sh", "-c", "exit 2")
    assert p.returncode == 2
    w = _warnings(p.stderr)
    assert len(w) == 1 and f"--probes {name}" in w[0] and why in w[0], p.stderr
    _report_says(cli, tmp_path / "r", f"--probes {name}")
    # not asked for by name: the default probe set says nothing
    p = cli("run", "--out", tmp_path / "d", "--", "true")
    assert _warnings(p.stderr) == [], p.stderr


def test_compare_says_damaged_tables_and_missing_metrics(tmp_path, cli):
    for n in ("a", "b"):
        assert cli("run", "-q", "--out", tmp_path / n, "--probes", "system", "--", "sleep", "0.3").returncode == 0
    (tmp_path / "b" / "tables" / "system.parquet").write_bytes(b"not parquet at all" * 100)
    p = cli("compare", tmp_path / "a", tmp_path / "b", "--metrics", "duration_s,workload_rss_peak_bytes")
    w = _warnings(p.stderr)
    assert any("B (" in x and "system" in x and "unreadable" in x for x in w), p.stderr
    j = json.loads(cli("compare", tmp_path / "a", tmp_path / "b", "--json").stdout)
    assert any("system" in n for n in j["notices"])
    # a metric neither side has (an imported trace's launches metric on two plain runs)
    p = cli("compare", tmp_path / "a", tmp_path / "a", "--metrics", "duration_s,tklqt_s")
    w = _warnings(p.stderr)
    assert len(w) == 1 and "--metrics tklqt_s" in w[0] and "not found" in w[0], p.stderr

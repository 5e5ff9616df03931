"""What an imported trace says about itself: its length, its GPUs and host, and why it has no launches.

References: the trace read by Python's json (parse_float=Decimal: the decimal text exactly), never lowprof.
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest

from lowprof.rundir import load
from lowprof.tracers.importer import import_trace
from tests.conftest import TRACES, run_cli

KINETO = TRACES / "kineto"


def _trace(prefix: str) -> Path:
    hits = sorted(KINETO.glob(f"{prefix}*.json.gz"))
    if not hits:
        pytest.skip(f"shared trace {prefix}* not found")
    return hits[0]


def _doc(path: Path) -> dict:
    return json.loads(gzip.decompress(path.read_bytes()), parse_float=Decimal)


def _span_ns(path: Path) -> int:
    """Last ts + dur minus first ts (ns) over every event but metadata ('M'), from the decimal text."""
    t = [(Decimal(e["ts"]) * 1000, (Decimal(e["ts"]) + Decimal(e.get("dur", 0))) * 1000)
         for e in _doc(path)["traceEvents"] if e.get("ph") != "M" and isinstance(e.get("ts"), (int, Decimal))]
    return int(max(b for _, b in t) - min(a for a, _ in t))


@pytest.mark.parametrize("prefix", ["cpu_only", "cupti_profiler", "trace_diff", "triton_example"])
def test_duration_is_the_span_of_all_events(prefix: str, tmp_path: Path):
    """Traces without GPU activity had duration 0 s (and `compare` called them 0 s better)."""
    path = _trace(prefix)
    run = load(import_trace(path, tmp_path / "run"))
    assert run.manifest["end_t_ns"] == _span_ns(path) > 0
    assert run.manifest["duration_s"] == run.manifest["end_t_ns"] / 1e9


@pytest.mark.parametrize("prefix, why", [("cpu_only", "only CPU events"),
                                         ("cupti_profiler", "77 kernel launch calls but no GPU records")])
def test_no_gpu_activity_is_said_once_by_import_and_report(prefix: str, why: str, tmp_path: Path):
    path = _trace(prefix)
    doc = _doc(path)
    assert not any(e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") for e in doc["traceEvents"])
    calls = sum(1 for e in doc["traceEvents"] if e.get("cat") == "cuda_runtime" and e["name"] == "cudaLaunchKernel")
    assert (calls == 77) == (prefix == "cupti_profiler")
    imp = run_cli("import", path, "--out", tmp_path / "run")
    assert imp.returncode == 0, imp.stderr
    lines = [ln for ln in (imp.stdout + imp.stderr).splitlines() if "no GPU activity" in ln]
    assert len(lines) == 1 and why in lines[0], imp.stdout + imp.stderr
    rep = run_cli("report", tmp_path / "run")
    assert rep.returncode == 0, rep.stderr
    assert sum("no GPU activity" in ln for ln in rep.stdout.splitlines()) == 1, rep.stdout
    assert "None" not in rep.stdout


def test_traces_with_launches_say_nothing_about_it(tmp_path: Path):
    imp = run_cli("import", _trace("triton_example"), "--out", tmp_path / "run")
    assert imp.returncode == 0 and "no GPU activity" not in imp.stdout + imp.stderr


@pytest.mark.parametrize("prefix", ["trace_diff", "mtia_inference", "cupti_profiler", "cpu_only", "amd_trace"])
def test_report_names_gpus_and_host_from_the_trace(prefix: str, tmp_path: Path):
    """Today "GPUs none" and "host None (None, None CPUs)" for every import."""
    import ast
    import re

    path = _trace(prefix)
    doc = _doc(path)
    props = doc.get("deviceProperties") or []
    if isinstance(props, str):  # some Kineto versions write the Python repr of the list
        props = ast.literal_eval(props)
    names = [d["name"] for d in props]
    assert run_cli("import", path, "--out", tmp_path / "run", "-q").returncode == 0
    rep = run_cli("report", tmp_path / "run")
    assert rep.returncode == 0, rep.stderr
    assert "None" not in rep.stdout
    gpus_line = next(ln for ln in rep.stdout.splitlines() if "GPUs" in ln)
    host_line = next(ln for ln in rep.stdout.splitlines() if re.search(r"\bhost\b", ln))
    for name in set(names):
        count = names.count(name)
        assert (f"{count}x {name}" if count > 1 else name) in gpus_line, gpus_line
    if not names:
        assert "none" in gpus_line.lower() or "no GPU" in gpus_line
    if isinstance(doc.get("host_name"), str):
        assert doc["host_name"] in host_line
    else:
        assert "not named in the trace" in host_line


def test_a_failure_while_writing_leaves_no_directory(tmp_path: Path, monkeypatch):
    """A write that fails half-way (here: the ops table) removes the run directory, so a retry is not blocked,
    and is one TraceError, not a traceback."""
    from lowprof.errors import TraceError
    from lowprof.rundir import RunWriter

    real = RunWriter.write_frame

    def failing(self, spec, df):
        if spec.name == "ops":
            raise ValueError("disk says no")
        return real(self, spec, df)

    monkeypatch.setattr(RunWriter, "write_frame", failing)
    with pytest.raises(TraceError, match="disk says no"):
        import_trace(_trace("triton_example"), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    monkeypatch.setattr(RunWriter, "write_frame", real)
    assert load(import_trace(_trace("triton_example"), tmp_path / "run")).complete  # the retry works


def test_compare_of_traces_without_gpu_activity_uses_their_spans(tmp_path: Path):
    """Today both sides had duration 0 s and compare called one of them better."""
    a, b = _trace("cpu_only"), _trace("cupti_profiler")
    for name, p in (("a", a), ("b", b)):
        assert run_cli("import", p, "--out", tmp_path / name, "-q").returncode == 0
    out = run_cli("compare", tmp_path / "a", tmp_path / "b", "--force", "--json")
    assert out.returncode == 0, out.stderr
    row = next(r for r in json.loads(out.stdout)["rows"] if r["metric"] == "duration_s")
    assert (row["A"], row["B"]) == (_span_ns(a) / 1e9, _span_ns(b) / 1e9) and row["better_B"] == "A"

"""`lowprof run --stacks`: py-spy's timestamped stacks on the run clock, and `lowprof bound` showing the
hot Python functions of CPU-bound passes (a real workload with two known hot phases)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

import lowprof
from lowprof.rundir import RunWriter
from lowprof.rundir.specs.launches import LAUNCHES
from lowprof.tracers.pystack_timeline import spans_from_chrometrace
from lowprof.rundir.specs.stacks import PYSTACK_SAMPLES, stacks_in_windows

WORKLOAD = Path(__file__).with_name("_stacks_workload.py")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One real `lowprof run --stacks` of the two-phase workload: (run, windows)."""
    from tests.conftest import run_cli

    d = tmp_path_factory.mktemp("stacks")
    p = run_cli("run", "--out", d / "run", "--stacks", "--", sys.executable, WORKLOAD, d / "w.json", "1.0", timeout=120)
    assert p.returncode == 0, p.stderr
    run = lowprof.load(d / "run")
    entry = run.manifest["pystacks_timeline"]
    if entry["status"] != "ok":
        pytest.skip(f"py-spy could not sample here: {entry.get('reason')}")
    return run, json.loads((d / "w.json").read_text())


def test_spans_are_on_the_run_clock_and_cover_the_run(recorded):
    run, w = recorded
    spans = run["pystack_samples"]
    entry = run.manifest["pystacks_timeline"]
    assert entry["align"]["uncertainty_ns"] is None or 0 <= entry["align"]["uncertainty_ns"] < 2e9
    assert (spans["dur_ns"] >= 0).all() and (spans["samples"] >= 1).all()
    # The workload's own phases lie inside what py-spy saw, on the same clock.
    assert spans["t_ns"].min() < w["alpha_start_ns"] and (spans["t_ns"] + spans["dur_ns"]).max() >= w["beta_end_ns"] - 50e6
    # ~100 Hz over ~2.2 s of workload: at least half the expected samples, never many more.
    assert 100 <= spans["samples"].sum() <= 100 * (run.manifest["duration_s"] + 1)


def test_each_phase_window_is_dominated_by_its_hot_function(recorded):
    run, w = recorded
    windows = pd.DataFrame({"step": ["pass#1", "pass#2"], "start_ns": [w["alpha_start_ns"], w["beta_start_ns"]],
                            "end_ns": [w["alpha_end_ns"], w["beta_end_ns"]]})
    top = stacks_in_windows(run["pystack_samples"], windows, 100, top=3)
    by_pass = {s: g.sort_values("rank") for s, g in top.groupby("step")}
    # Leaf frames of the alpha phase: spin_alpha itself or its generator expression.
    alpha = by_pass["pass#1"]
    assert alpha.iloc[0]["leaf"].startswith("spin_alpha")
    assert alpha[alpha["leaf"].str.startswith("spin_alpha")]["share"].sum() > 0.8
    beta = by_pass["pass#2"]
    assert beta.iloc[0]["leaf"].startswith("spin_beta") and beta.iloc[0]["share"] > 0.8


def _cpu_bound_launches(w: dict) -> pd.DataFrame:
    """Two passes over the workload's phases, each with two tiny kernels at its edges: the GPU idles."""
    rows = []
    for i, (a, b) in enumerate([(w["alpha_start_ns"], w["alpha_end_ns"]), (w["beta_start_ns"], w["beta_end_ns"])]):
        for j, t in enumerate((a, b - 30_000)):
            rows.append({"kind": "kernel", "name": f"k{j}", "device": 0, "stream": 7, "correlation": 10 * i + j,
                         "launch_api": "cudaLaunchKernel", "cpu_start_ns": t, "cpu_end_ns": t + 8_000,
                         "gpu_start_ns": t + 9_000, "gpu_end_ns": t + 30_000 if j else t + 19_000,
                         "pid": 1, "tid": 1, "step": f"pass#{i + 1}"})
    df = pd.DataFrame(rows)
    for c in LAUNCHES.columns:
        if c.name not in df:
            df[c.name] = None
    return df[[c.name for c in LAUNCHES.columns]]


@pytest.mark.slow
def test_bound_shows_the_hot_function_of_each_cpu_bound_pass(recorded, tmp_path, cli):
    run, w = recorded
    out = RunWriter(tmp_path / "both", kind="import")
    out.write_frame(LAUNCHES, _cpu_bound_launches(w))
    out.write_frame(PYSTACK_SAMPLES, run["pystack_samples"])
    out.manifest["pystacks_timeline"] = run.manifest["pystacks_timeline"]
    out.finish()
    p = cli("bound", tmp_path / "both", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert [r["verdict"] for r in doc["passes"]] == ["CPU-bound", "CPU-bound"]
    first = {r["step"]: r["leaf"] for r in doc["stacks"] if r["rank"] == 1}
    assert first["pass#1"].startswith("spin_alpha") and first["pass#2"].startswith("spin_beta")
    text = cli("bound", tmp_path / "both")
    assert text.returncode == 0 and "spin_beta" in text.stdout and "CPU-bound passes" in text.stdout


def test_chrometrace_replay_of_a_hand_made_event_list():
    """B/E events at sample times -> runs of identical stacks, with the --subprocesses root dropped."""
    f = lambda ph, name, ts, tid=0: {"ph": ph, "name": name, "ts": ts, "pid": 5, "tid": tid,  # noqa: E731
                                     "args": {"filename": "x.py", "line": 1}}
    ev = [{"ph": "M", "name": "thread_name", "pid": 5, "tid": 0, "ts": 0, "args": {"name": "77: main"}},
          f("B", 'process 5:"python x.py"', 0), f("B", "main", 0), f("B", "hot", 0),
          f("E", "hot", 30_000), f("B", "cold", 30_000),
          f("E", "cold", 40_000), f("E", "main", 40_000), f("E", 'process 5:"python x.py"', 40_000)]
    rows = spans_from_chrometrace(ev, origin_ns=1_000_000, rate_hz=100)
    assert [(r["t_ns"], r["dur_ns"], r["leaf"], r["samples"]) for r in rows] == [
        (1_000_000, 30_000_000, "hot (x.py:1)", 3), (31_000_000, 10_000_000, "cold (x.py:1)", 1)]
    assert rows[0]["stack"] == "main (x.py:1);hot (x.py:1)" and rows[0]["thread"] == "5/77: main"

"""Intelligence per watt on hand-checked traces and on a small real evaluation's results file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from lowprof.analysis.ipw import ipw, merge_windows, read_results
from lowprof.errors import LowprofError
from lowprof.probes.nvml import GPU_POWER
from lowprof.rundir import RunDir, load

S = 1_000_000_000
REAL = Path(__file__).resolve().parent / "data" / "power" / "ipw_eval_results.jsonl"


def _run(path, t_s, p_w, gpus=1):
    run = RunDir(path, kind="test")
    rows = [{"t_ns": round(t * S), "gpu": g, "power_w": p / gpus, "power_limit_w": 700.0}
            for g in range(gpus) for t, p in zip(t_s, p_w)]
    run.write_frame(GPU_POWER, pd.DataFrame(rows))
    run.finish()
    return load(path)


def test_hand_computed(tmp_path):
    run = _run(tmp_path / "r", range(9), [100, 100, 100, 100, 300, 300, 300, 300, 300], gpus=2)
    f = tmp_path / "res.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in [
        {"id": "q1", "correct": True, "start_s": 1, "end_s": 2, "tokens": 10},
        {"id": "q2", "correct": False, "start_s": 1.5, "end_s": 3, "tokens": 20},
        {"id": "q3", "score": 1.0, "start_s": 5, "end_s": 6, "tokens": 30}]))
    r = ipw(run, read_results(f))
    # union of windows [1,3] + [5,6] = 3 s; energy 2 s * 100 W + 1 s * 300 W = 500 J (two GPUs summed)
    assert r["devices"] == ["gpu0", "gpu1"]
    assert r["energy_j"] == pytest.approx(500) and r["busy_s"] == pytest.approx(3)
    assert r["accuracy"] == pytest.approx(2 / 3)
    assert r["mean_power_w"] == pytest.approx(500 / 3)
    assert r["ipw_per_w"] == pytest.approx((2 / 3) / (500 / 3))
    assert r["energy_per_query_j"] == pytest.approx(500 / 3)
    assert r["ipj_per_j"] == pytest.approx((2 / 3) / (500 / 3))
    assert r["queries_per_j"] == pytest.approx(3 / 500)
    assert r["latency_p50_s"] == pytest.approx(1.0) and r["tokens_per_j"] == pytest.approx(60 / 500)


def test_merge_windows():
    assert merge_windows([5, 1, 2], [6, 3, 2.5]) == [(1, 3), (5, 6)]


def test_real_evaluation_results(tmp_path):
    """200 answers of a real tiny model (tests/data/power/make_ipw_eval.py), joined with a 250 W trace."""
    lines = [json.loads(l) for l in REAL.read_text().splitlines()]
    acc = sum(l["correct"] for l in lines) / len(lines)
    busy = sum(l["end_ns"] - l["start_ns"] for l in lines) / S  # the queries ran one after another
    t0, t1 = min(l["start_ns"] for l in lines) / S - 1, max(l["end_ns"] for l in lines) / S + 1
    run = _run(tmp_path / "r", [t0, t1], [250, 250])
    r = ipw(run, read_results(REAL))
    assert r["queries"] == 200 and r["accuracy"] == pytest.approx(acc)
    assert r["busy_s"] == pytest.approx(busy)
    assert r["mean_power_w"] == pytest.approx(250) and r["ipw_per_w"] == pytest.approx(acc / 250)
    assert r["energy_per_query_j"] == pytest.approx(250 * busy / 200)


def test_windows_outside_the_trace_are_refused(tmp_path):
    run = _run(tmp_path / "r", [0, 1], [100, 100])
    f = tmp_path / "res.jsonl"
    f.write_text(json.dumps({"id": 1, "correct": True, "start_s": 50, "end_s": 51}))
    with pytest.raises(LowprofError, match="inside the power trace"):
        ipw(run, read_results(f))


def test_bad_results_lines(tmp_path):
    f = tmp_path / "res.jsonl"
    f.write_text('{"id": 1, "score": 1.7}\n')
    with pytest.raises(LowprofError, match="1.7"):
        read_results(f)
    f.write_text('{"id": 1}\n')
    with pytest.raises(LowprofError, match="res.jsonl:1"):
        read_results(f)


def test_cli_per_model(tmp_path, cli):
    run = _run(tmp_path / "r", range(5), [200] * 5)
    f = tmp_path / "res.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in [
        {"id": 1, "model": "a", "correct": True, "start_s": 0, "end_s": 1},
        {"id": 2, "model": "b", "correct": False, "start_s": 1, "end_s": 2},
        {"id": 3, "model": "b", "correct": True, "start_s": 2, "end_s": 4}]))
    r = cli("ipw", run.path, "--results", f, "--json")
    assert r.returncode == 0, r.stderr
    got = {x["model"]: x for x in json.loads(r.stdout)}
    assert got["a"]["ipw_per_w"] == pytest.approx(1 / 200) and got["b"]["ipw_per_w"] == pytest.approx(0.5 / 200)
    r = cli("ipw", run.path, "--results", f)
    assert r.returncode == 0 and "Intelligence per watt" in r.stdout, r.stdout + r.stderr
    r = cli("ipw", run.path)  # no DIR/results.jsonl
    assert r.returncode == 1 and "not found" in r.stderr


@pytest.mark.parametrize("line, why", [
    ('{"id": 1, "correct": "yes", "start_s": 0, "end_s": 1}', "'correct'"),
    ('{"id": 1, "correct": 2, "start_s": 0, "end_s": 1}', "'correct'"),
    ('{"id": 1, "correct": null, "start_s": 0, "end_s": 1}', "'correct'"),
    ('{"id": 1, "score": "0.5", "start_s": 0, "end_s": 1}', "'score'"),
    ('{"id": 1, "score": -0.1, "start_s": 0, "end_s": 1}', "'score'"),
])
def test_results_values_are_validated_and_the_line_named(tmp_path, line, why):
    """Issue 11: '"correct": "yes"' counted as wrong (accuracy 0, no error). Only booleans, 0/1 and
    scores in [0, 1] are accepted; anything else names the file and line."""
    f = tmp_path / "res.jsonl"
    f.write_text('{"id": 0, "correct": true, "start_s": 0, "end_s": 1}\n' + line + "\n")
    with pytest.raises(LowprofError, match=rf"res\.jsonl:2: {why}"):
        read_results(f)


def test_accepted_result_values(tmp_path):
    f = tmp_path / "res.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in [
        {"id": 1, "correct": True}, {"id": 2, "correct": False}, {"id": 3, "correct": 1}, {"id": 4, "correct": 0},
        {"id": 5, "correct": 1.0}, {"id": 6, "score": 0.25}, {"id": 7, "score": 1}, {"id": 8, "score": False}]))
    assert read_results(f).score.tolist() == [1, 0, 1, 0, 1, 0.25, 1, 0]

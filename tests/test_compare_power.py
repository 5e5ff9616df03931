"""Power, energy and marked-phase metrics, the power figure and the timeline's marks and power counters.

Power data: no sensor on this machine, so the nvml probe is replayed over tests/data/power's
SYNTHETIC 2x H100 file (labelled synthetic in its header). Marks: a real run using lowprof.mark.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lowprof
from lowprof.analysis import plots
from lowprof.metrics import compare, run_metrics
from lowprof.analysis.perfetto import chrome_trace, validate_chrome_trace
from tests import _analysis_runs as R
from tests.test_plots import assert_readable_figure


@pytest.fixture(scope="module")
def root(shared_runs):
    return shared_runs.root


def _values(run, name: str) -> dict:
    m = run_metrics(run, [name])
    return {tuple(sorted(p.items())): v for p, v in zip(m["params"], m["value"])}


def _signal(d):
    """What the power figures of one GPU use, from the table itself: the instantaneous field (186) where the
    GPU gave it, else the driver's 1 s average, each at the driver's own timestamps."""
    if d.power_instant_w.notna().any():
        return d.power_instant_t_ns.to_numpy() / 1e9, d.power_instant_w.to_numpy()
    return d.power_t_ns.to_numpy() / 1e9, d.power_w.to_numpy()


def test_power_and_energy_per_gpu_by_hand(shared_runs):
    run = lowprof.load(shared_runs.power_replay())
    assert run.manifest["synthetic"] is True
    mean, energy, p99 = _values(run, "power_mean_w"), _values(run, "energy_j"), _values(run, "power_p99_w")
    g = run["gpu_power"]
    for gpu, d in g.groupby("gpu"):
        t, p = _signal(d)
        e = float(np.interp(t[-1], d.energy_t_ns / 1e9, d.energy_j) - np.interp(t[0], d.energy_t_ns / 1e9, d.energy_j))
        key = (("device", f"gpu{gpu}"), ("from", "counter"))
        signal = (("device", f"gpu{gpu}"), ("signal", "instant" if gpu == 0 else "1 s average"))
        assert energy[key] == pytest.approx(e)  # the energy counter over the power readings' span
        assert mean[key] == pytest.approx(e / (t[-1] - t[0]))
        assert p99[signal] == pytest.approx(np.percentile(p, 99))


def _counter_at(d, t_s):
    return np.interp(t_s, d.energy_t_ns / 1e9, d.energy_j)


def test_phase_energy_of_the_marked_phases_by_hand(shared_runs):
    run = lowprof.load(shared_runs.power_replay())
    got = _values(run, "phase_energy_j")
    g = run["gpu_power"]
    for phase, (a, b) in {"prefill": (1.0, 1.6), "decode": (1.6, 5.0)}.items():
        expected = sum(_counter_at(d, b) - _counter_at(d, a) for _, d in g.groupby("gpu"))
        assert got[(("devices", "gpus"), ("from", "counter"), ("phase", phase))] == pytest.approx(expected, rel=1e-9)


def test_phase_time_from_real_marks(shared_runs):
    run = lowprof.load(shared_runs.marked())
    m = run["marks"]
    got = _values(run, "phase_time_s")
    for phase in ("prefill", "decode"):
        begins = m[(m.name == phase) & (m.kind == "begin")].t_ns.to_numpy()
        ends = m[(m.name == phase) & (m.kind == "end")].t_ns.to_numpy()
        assert len(begins) == 3
        assert got[(("phase", phase),)] == pytest.approx(np.median(ends - begins) / 1e9)
    assert got[(("phase", "decode"),)] > got[(("phase", "prefill"),)]  # 50 ms vs 20 ms sleeps


def test_compare_power_rows_per_device(shared_runs, root):
    a = shared_runs.power_replay()
    cmp = compare([a, R.copy_of(a, root / "power-replay-copy")], names=["power_mean_w", "energy_j"])
    assert sorted(cmp.table["params"]) == ["device=gpu0,from=counter"] * 2 + ["device=gpu1,from=counter"] * 2
    assert (cmp.table["B/A"] == 1.0).all() and set(cmp.table["unit"]) == {"W", "J"}


def test_power_figure_with_the_limit(shared_runs, tmp_path):
    run = lowprof.load(shared_runs.power_replay())
    fig = plots.plot_power({"H100x2 (synthetic)": run}, tmp_path)
    assert_readable_figure(fig)
    g = run["gpu_power"]
    for gpu, d in g.groupby("gpu"):
        s = fig.series[f"H100x2 (synthetic) gpu{gpu}"]
        t, p = _signal(d)
        assert np.allclose(s.t_s, t) and np.allclose(s.power_w, p)
        assert fig.marks[f"H100x2 (synthetic) gpu{gpu} limit"] == d.power_limit_w.median()
    assert fig.marks["phase prefill 0"] == 1.0 and fig.marks["phase decode 1"] == 1.6  # the shaded phases


def test_timeline_has_marks_and_power_counters(shared_runs):
    doc = chrome_trace(lowprof.load(shared_runs.marked()))
    validate_chrome_trace(doc)
    marks = lowprof.load(shared_runs.marked())["marks"]
    ev = [e for e in doc["traceEvents"] if e.get("cat") == "marks"]
    assert sorted((e["name"], e["ph"]) for e in ev) == sorted(
        (n, {"begin": "B", "end": "E", "instant": "i"}[k]) for n, k in zip(marks.name, marks.kind))
    assert [e["ts"] for e in ev] == sorted(e["ts"] for e in ev)  # B before its E on one track
    run = lowprof.load(shared_runs.power_replay())
    doc = chrome_trace(run)
    validate_chrome_trace(doc)
    g = run["gpu_power"]
    for gpu, d in g.groupby("gpu"):
        c = [e for e in doc["traceEvents"] if e["ph"] == "C" and e["pid"] == gpu and e["name"] == "gpu_power.power_w"]
        assert np.allclose([e["args"]["power_w"] for e in c], d.power_w) and len(c) == len(d)
    names = {e["args"]["name"] for e in doc["traceEvents"] if e["ph"] == "M" and e["name"] == "process_name"}
    assert {"GPU 0", "GPU 1"} <= names


def test_energy_per_pass_is_the_median_over_annotated_passes(shared_runs, tmp_path):
    """The replayed power with a steps table: warm-up excluded, the median of two passes is their mean."""
    from lowprof.rundir.specs.nvml import GPU_POWER
    from lowprof.rundir import RunWriter
    from lowprof.rundir.specs.launches import COMPANION_TABLES

    src = lowprof.load(shared_runs.power_replay())
    rd = RunWriter(tmp_path / "combo", kind="replay")
    rd.write_frame(GPU_POWER, src["gpu_power"])
    s = 1_000_000_000
    rd.write_frame(COMPANION_TABLES["steps"], pd.DataFrame({
        "name": ["warmup#0", "pass#1", "pass#2"], "pid": 1, "tid": 1,
        "start_ns": [int(0.2 * s), int(1.0 * s), int(1.6 * s)], "end_ns": [int(0.9 * s), int(1.6 * s), int(5.0 * s)]}))
    rd.finish()
    combo = lowprof.load(tmp_path / "combo")
    phases = _values(src, "phase_energy_j")
    c = (("devices", "gpus"), ("from", "counter"))
    expected = (phases[c + (("phase", "prefill"),)] + phases[c + (("phase", "decode"),)]) / 2
    assert _values(combo, "energy_per_pass_j")[c] == pytest.approx(expected)


def test_ipw_metrics_from_the_runs_results_file(shared_runs, root):
    """The real evaluation's answers (tests/data/power), placed on the replay's clock at 2.0-4.0 s."""
    import json

    run_dir = R.copy_of(shared_runs.power_replay(), root / "power-replay-ipw")
    answers = [json.loads(l) for l in (R.POWER_FIXTURE.parent / "ipw_eval_results.jsonl").read_text().splitlines()]
    n = len(answers)
    (run_dir / "results.jsonl").write_text("".join(json.dumps(
        {"id": a["id"], "correct": a["correct"], "start_s": 2.0 + 2.0 * i / n, "end_s": 2.0 + 2.0 * (i + 1) / n,
         "tokens": 5}) + "\n" for i, a in enumerate(answers)))
    run = lowprof.load(run_dir)
    g = run["gpu_power"]
    # back-to-back queries of equal length: the per-query counter differences telescope to the counter
    # difference over 2-4 s, and every query's power is its energy / (2 s / n)
    energy = float(sum(_counter_at(d, 4.0) - _counter_at(d, 2.0) for _, d in g.groupby("gpu")))
    accuracy = np.mean([a["correct"] for a in answers])
    m = run_metrics(run, ["ipw_per_w", "energy_per_query_j", "energy_per_token_j"])
    got = dict(zip(m["metric"], m["value"]))
    assert got["ipw_per_w"] == pytest.approx(accuracy / (energy / 2.0), rel=1e-6)
    assert got["energy_per_query_j"] == pytest.approx(energy / n, rel=1e-6)
    assert got["energy_per_token_j"] == pytest.approx(energy / (5 * n), rel=1e-6)


def test_phase_energy_leaves_out_an_occurrence_outside_the_readings(tmp_path):
    """phase_energy_j is a median over occurrences: one lying after the last reading was 0 J in that median
    (two occurrences of 100 J and one unmeasured gave median 100, but one of 100 J and one unmeasured 50 J)."""
    import pandas as pd

    from lowprof.metrics import run_metrics
    from lowprof.rundir.specs.marks import MARKS
    from lowprof.rundir.specs.nvml import GPU_POWER
    from lowprof.rundir import RunWriter, load

    S = 10**9
    run = RunWriter(tmp_path / "r", kind="test")
    run.write_frame(GPU_POWER, pd.DataFrame({"t_ns": [i * S for i in range(5)], "gpu": 0, "power_w": 100.0,
                                             "energy_j": [100.0 * i for i in range(5)]}))
    run.write_frame(MARKS, pd.DataFrame({"t_ns": [1 * S, 2 * S, 7 * S, 8 * S], "name": "step",
                                         "kind": ["begin", "end"] * 2, "pid": 1}))
    run.finish()
    m = run_metrics(load(run.path), ["phase_energy_j"])
    assert m["value"].tolist() == [pytest.approx(100)]

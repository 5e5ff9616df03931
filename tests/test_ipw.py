"""Intelligence per watt on hand-checked traces and on a small real evaluation's results file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from lowprof.analysis.ipw import ipw, merge_windows, read_results
from lowprof.errors import LowprofError
from lowprof.rundir.specs.nvml import GPU_POWER
from lowprof.rundir import RunWriter, load

S = 1_000_000_000
REAL = Path(__file__).resolve().parent / "data" / "power" / "ipw_eval_results.jsonl"


def _run(path, t_s, p_w, gpus=1):
    run = RunWriter(path, kind="test")
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
    # no energy counter: each query integrates the summed power of the two GPUs over its own window:
    # q1 [1,2] 100 J (100 W), q2 [1.5,3] 150 J (100 W), q3 [5,6] 300 J (300 W)
    assert r["devices"] == ["gpu0", "gpu1"] and r["energy_method"].startswith("integrated")
    assert r["accuracy"] == pytest.approx(2 / 3)
    assert r["mean_power_w"] == pytest.approx((100 + 100 + 300) / 3)
    assert r["ipw_per_w"] == pytest.approx((2 / 3) / (500 / 3))
    assert r["energy_per_query_j"] == pytest.approx((100 + 150 + 300) / 3)
    assert r["ipj_per_j"] == pytest.approx((2 / 3) / (550 / 3))
    # drawn over the union of windows [1,3] + [5,6] = 3 s: 2 s * 100 W + 1 s * 300 W = 500 J
    assert r["energy_j"] == pytest.approx(500) and r["busy_s"] == pytest.approx(3)
    assert r["queries_per_j"] == pytest.approx(3 / 500) and r["concurrent_queries"]
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


def _counter_run(path, t_s, energy_j, power_w, averaging="1s", instant=None):
    """A one-GPU run with an energy counter (J) and a power reading (W) at times t_s; the manifest says what
    power_w averages, as the nvml probe records it."""
    run = RunWriter(path, kind="test")
    rows = {"t_ns": [round(t * S) for t in t_s], "gpu": 0, "power_w": power_w, "energy_j": energy_j,
            "power_limit_w": 700.0}
    if instant is not None:
        rows["power_instant_w"] = instant
    run.write_frame(GPU_POWER, pd.DataFrame(rows))
    run.manifest["probes"]["nvml"] = {"status": "ok", "devices": [{"index": 0, "power_w": {"averaging": averaging}}]}
    run.finish()
    return load(path)


def test_the_harness_own_example(tmp_path):
    """HazyResearch/intelligence-per-watt, src/ipw/tests/analysis/test_accuracy.py
    (test_computes_intelligence_metrics_from_energy_counters): a correct query of 10 J over 2 s and a wrong
    one of 20 J over 4 s give accuracy 0.5, IPJ 0.5 / mean(10, 20) = 1/30 and IPW 0.5 / mean(10/2, 20/4) = 0.1."""
    t = [0, 0.5, 1, 1.5, 2, 3, 4, 5, 6]
    energy = [0, 2.5, 5, 7.5, 10, 15, 20, 25, 30]  # the counter: 5 W throughout
    run = _counter_run(tmp_path / "r", t, energy, [5.0] * len(t))
    f = tmp_path / "res.jsonl"
    f.write_text('{"id": "p1", "correct": true, "start_s": 0, "end_s": 2}\n'
                 '{"id": "p2", "correct": false, "start_s": 2, "end_s": 6}\n')
    r = ipw(run, read_results(f))
    assert r["accuracy"] == pytest.approx(0.5)
    assert r["ipj_per_j"] == pytest.approx(1 / 30)
    assert r["ipw_per_w"] == pytest.approx(0.1)
    assert r["energy_method"] == "counter"


def test_per_query_power_is_averaged_over_queries_not_time(tmp_path):
    """The harness's IPW divides by the mean over queries of each query's own power (energy / duration), not
    by total energy / total time: a 1 s query at 100 W and a 3 s query at 300 W have mean per-query power
    200 W (time-weighted it would be 250 W). Per-query energy: counter differences at each window's edges."""
    t = [0, 1, 2, 3, 4]
    energy = [0, 100, 400, 700, 1000]
    run = _counter_run(tmp_path / "r", t, energy, [100, 100, 300, 300, 300])
    f = tmp_path / "res.jsonl"
    f.write_text('{"id": 1, "correct": true, "start_s": 0, "end_s": 1}\n{"id": 2, "correct": true, "start_s": 1, "end_s": 4}\n')
    r = ipw(run, read_results(f))
    assert r["mean_power_w"] == pytest.approx(200)
    assert r["energy_per_query_j"] == pytest.approx((100 + 900) / 2)
    assert r["ipw_per_w"] == pytest.approx(1 / 200) and r["ipj_per_j"] == pytest.approx(1 / 500)
    assert r["energy_j"] == pytest.approx(1000) and r["queries_per_j"] == pytest.approx(2 / 1000)


def _serving_trace(n=200, seed=3, step_s=0.01):
    """A SYNTHETIC H100-like serving run with known truth: n queries back to back, durations log-uniform in
    0.05-1.5 s, each a 30 ms prefill at 650 W then decode at a level that falls with the query's length
    (short queries are prefill-heavy); the sampler reads every ~10 ms. NVML's counter integrates the true
    power; field 185 is the mean of the last 1 s (as on Hopper); field 186 the power at the read."""
    import numpy as np

    rng = np.random.default_rng(seed)
    dur = np.exp(rng.uniform(np.log(0.05), np.log(1.5), n))
    level = 620 - 220 * (np.log(dur) - np.log(0.05)) / np.log(30) + rng.normal(0, 20, n)
    start = 1.0 + np.concatenate([[0], np.cumsum(dur)[:-1]])
    end = start + dur
    # piecewise-constant true power: idle 80 W before and after, prefill then decode in each query
    bp, pw = [0.0, start[0]], [80.0]
    for s, e, lv in zip(start, end, level):
        pre = min(s + 0.03, e)
        bp += [pre, e]
        pw += [650.0, float(lv)]
    bp.append(end[-1] + 2.0), pw.append(80.0)
    bp, pw = np.array(bp), np.array(pw)
    cum = np.concatenate([[0.0], np.cumsum(pw * np.diff(bp))])

    def energy(t):
        return np.interp(t, bp, cum)

    def power(t):
        return pw[np.clip(np.searchsorted(bp, t, side="right") - 1, 0, len(pw) - 1)]

    k = np.arange(int(bp[-1] / step_s))
    t = k * step_s + rng.uniform(0, 0.001, len(k))  # sampler jitter up to 1 ms
    avg = (energy(t) - energy(np.maximum(t - 1.0, 0))) / np.minimum(np.maximum(t, 1e-9), 1.0)
    truth_e = np.array([energy(e) - energy(s) for s, e in zip(start, end)])
    return t, energy(t), avg, power(t), start, end, truth_e, rng


def test_synthetic_200_queries_within_1_percent_of_the_truth(tmp_path):
    """200 queries on a trace of known power: IPW and IPJ by the harness's definitions land within 1 % of the
    truth computed from the model itself (today's ratio of sums of integrated 1 s-averaged power does not)."""
    import numpy as np

    t, e, avg, inst, start, end, truth_e, rng = _serving_trace()
    run = _counter_run(tmp_path / "r", t, e, avg, instant=inst)
    correct = rng.random(len(start)) < 0.6
    f = tmp_path / "res.jsonl"
    f.write_text("\n".join(json.dumps({"id": i, "correct": bool(c), "start_s": s, "end_s": x})
                           for i, (c, s, x) in enumerate(zip(correct, start, end))))
    acc = correct.mean()
    ipw_true = acc / np.mean(truth_e / (end - start))
    ipj_true = acc / np.mean(truth_e)
    r = ipw(run, read_results(f))
    assert r["queries"] == 200 and r["energy_method"] == "counter"
    assert r["ipw_per_w"] == pytest.approx(ipw_true, rel=0.01)
    assert r["ipj_per_j"] == pytest.approx(ipj_true, rel=0.01)


def test_a_query_without_duration_counts_in_accuracy_only_as_in_the_harness(tmp_path):
    """The harness keeps a query without a positive duration and energy in the accuracy but out of both means
    (``_EfficiencyAccumulator.register``: non-positive energy and latency are not measurements): the harness
    example plus a correct query of zero duration gives A = 2/3, IPJ = (2/3) / mean(10, 20), IPW = (2/3) /
    mean(5, 5). Before, its 0 J entered the mean energy (IPJ (2/3) / 10)."""
    t = [0, 0.5, 1, 1.5, 2, 3, 4, 5, 6]
    energy = [0, 2.5, 5, 7.5, 10, 15, 20, 25, 30]
    run = _counter_run(tmp_path / "r", t, energy, [5.0] * len(t))
    f = tmp_path / "res.jsonl"
    f.write_text('{"id": "p1", "correct": true, "start_s": 0, "end_s": 2}\n'
                 '{"id": "p2", "correct": false, "start_s": 2, "end_s": 6}\n'
                 '{"id": "p3", "correct": true, "start_s": 3, "end_s": 3}\n')
    r = ipw(run, read_results(f))
    assert r["accuracy"] == pytest.approx(2 / 3)
    assert r["energy_per_query_j"] == pytest.approx(15)
    assert r["ipj_per_j"] == pytest.approx((2 / 3) / 15)
    assert r["ipw_per_w"] == pytest.approx((2 / 3) / 5)
    assert r["queries_without_duration"] == 1


def test_counter_and_integrated_energy_shown_side_by_side(tmp_path, cli):
    """Where the devices have both a counter and a power signal, ipw shows the integrated figures beside the
    counter's and their disagreement. Counter: 100 W then 300 W exactly; the power signal reads 100 W at 0-1 s
    and 300 W from 2 s (a lagging average), so integrating it over [1, 2] gives (100 + 300) / 2 = 200 J where
    the counter says 300 J. Queries [0, 1] and [1, 2], both correct: counter energies 100, 300 J; integrated
    100, 200 J."""
    run = _counter_run(tmp_path / "r", [0, 1, 2, 3], [0, 100, 400, 700], [100, 100, 300, 300])
    f = tmp_path / "res.jsonl"
    f.write_text('{"id": 1, "correct": true, "start_s": 0, "end_s": 1}\n{"id": 2, "correct": true, "start_s": 1, "end_s": 2}\n')
    r = ipw(run, read_results(f))
    assert r["energy_per_query_j"] == pytest.approx(200) and r["energy_method"] == "counter"
    assert r["energy_per_query_integrated_j"] == pytest.approx(150)
    assert r["ipj_integrated_per_j"] == pytest.approx(1 / 150) and r["ipw_integrated_per_w"] == pytest.approx(1 / 150)
    assert r["energy_disagreement_percent"] == pytest.approx(100 * (150 - 200) / 200)
    out = cli("ipw", run.path, "--results", f)
    assert out.returncode == 0 and "-25.00%" in out.stdout and "integrated" in out.stdout, out.stdout + out.stderr


def test_device_column_names_the_selected_devices():
    """The ``device`` column names what the figures sum (the same selection, lowprof.analysis.devices): the
    selected GPUs' models; the CPU model where a selected device is no GPU (it used to name the GPUs always)."""
    from types import SimpleNamespace

    from lowprof.cli.ipw import _device_name

    run = SimpleNamespace(manifest={"host": {"cpu_model": "Grace"}, "probes": {"nvml": {"devices": [
        {"index": 0, "name": "H100"}, {"index": 1, "name": "H200"}]}}})
    assert _device_name(run, ["gpu0", "gpu1"]) == "H100, H200"
    assert _device_name(run, ["gpu1", "gpu1:module"]) == "H200"
    assert _device_name(run, ["rapl:intel-rapl:0:package-0"]) == "Grace"
    assert _device_name(run, ["gpu0", "rapl:intel-rapl:0:package-0"]) == "H100, Grace"
    assert _device_name(SimpleNamespace(manifest={}), ["rapl:x"]) == "unknown"

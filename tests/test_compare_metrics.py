"""The metric registry: each metric defined once, with a direction; figures checked against the raw traces."""

from __future__ import annotations

import gzip
import json

import pytest

import lowprof
from lowprof.metrics import METRICS, SWEEP_METRICS, better_of, compare, metric, run_metrics
from tests import _analysis_runs as R


@pytest.fixture(scope="module")
def root(shared_runs):
    return shared_runs.root


@pytest.mark.parametrize("trace", ["critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz",
                                   "timeline_analysis__sampled_rank-0.json.gz"])
def test_copy_bandwidth_equals_the_raw_trace(shared_runs, trace):
    """Bytes over busy time of the HtoD / DtoH copies, recomputed from the trace's JSON events."""
    run = lowprof.load(shared_runs.imported(trace.split("__")[1][:20], trace))
    got = {r.metric: r.value for r in run_metrics(run).itertuples()}
    doc = json.loads(gzip.decompress((R.KINETO / trace).read_bytes()))
    events = [e for e in doc["traceEvents"] if e.get("cat") == "gpu_memcpy"]
    for key, metric_name in (("HtoD", "h2d_bandwidth_gb_per_s"), ("DtoH", "d2h_bandwidth_gb_per_s")):
        copies = [e for e in events if key in e["name"]]
        if not copies:
            assert metric_name not in got
            continue
        expected = sum(e["args"]["bytes"] for e in copies) / (sum(e["dur"] for e in copies) / 1e6) / 1e9  # GB/s
        assert got[metric_name] == pytest.approx(expected, rel=1e-9)


def test_every_metric_has_a_unit_suffix_direction_and_definition():
    for m in [*METRICS.values(), *SWEEP_METRICS.values()]:
        assert m.better in ("higher", "lower", "") and len(m.doc) > 20
        if m.unit == "s":
            assert m.name.endswith("_s")
        if m.unit == "B":
            assert m.name.endswith("_bytes")


def test_a_metric_is_defined_once():
    with pytest.raises(ValueError, match="defined twice"):
        metric("tklqt_s", "s", "lower", "again")(lambda run: 1.0)
    with pytest.raises(ValueError, match="'faster'"):
        metric("new_s", "s", "faster", "bad direction")


def test_better_of():
    assert better_of("lower", 2.0, 1.0) == "B" and better_of("higher", 2.0, 1.0) == "A"
    assert better_of("lower", 1.0, 1.0) == "=" and better_of("", 1.0, 2.0) == "" and better_of("lower", None, 1.0) == ""


def test_microbench_rows_carry_their_own_unit_and_direction(shared_runs, root):
    run = lowprof.load(shared_runs.host_bench())
    b = run["bench_results"]
    m = run_metrics(run, ["microbench"])
    assert len(m) == len(b) > 0
    for r, (_, ref) in zip(m.itertuples(), b.iterrows()):
        assert r.value == ref.value and r.unit == ref.unit == "ns" and r.better == "lower"
        assert r.params == {"benchmark": "host", "figure": ref.metric}
    cmp = compare([shared_runs.host_bench(), R.copy_of(shared_runs.host_bench(), root / "host-bench-copy")], names=["microbench"])
    assert list(cmp.table["params"]) == ["benchmark=host,figure=dispatch python call"]


def test_bench_direction():
    from lowprof.metrics import bench_direction

    assert [bench_direction(u) for u in ("ns", "cycles", "GB/s", "thread-instr/cycle/SM", "registers/thread")] == \
        ["lower", "lower", "higher", "higher", ""]

"""Metrics defined once beside their analysis, owned by one feature (or the core), and the derived frames a Run
computes once.

Each metric is defined in one analysis area (its ``metrics()`` lists it); each is owned by exactly one feature
(``Feature.metrics``) or one core owner (:data:`lowprof.metrics.CORE`), and the registry is the owners' lists in
the order compare/export/plot list them. A run's per-launch, per-pass and phase frames are the analysis
functions' own results, computed once per loaded run (``Run.derived``); the sweep analysis is computed once
per version of sweep.json.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

import lowprof
from lowprof import features
from lowprof.analysis import (bench_metrics, bound_metrics, comm_metrics, ipw_metrics, launch_metrics, phases,
                              power_metrics, summary_metrics, tlb_metrics)
from lowprof.analysis.launches import launch_frame, pass_frame, per_launch, per_step, per_step_of
from lowprof.analysis.phases import marked_phases
from lowprof.analysis.metric import Metric, metric
from lowprof.feature import Feature
from lowprof.metrics import CORE, METRICS, ORDER, SWEEP_METRICS, owners, registry, run_metrics

AREAS = (summary_metrics, launch_metrics, comm_metrics, phases, power_metrics, ipw_metrics, bench_metrics, tlb_metrics)
# Who owns each metric (a feature, or a core owner), in the order compare, export and plot list them (their
# tables and CSV rows follow it): the order before metrics moved into the features' declarations.
OWNED = {
    "run": ["duration_s", "workload_cpu_s", "workload_cpu_cores_mean", "workload_rss_peak_bytes"],
    "system": ["host_cpu_percent_mean"],
    "launches": ["step_time_s", "pass_latency_s", "tklqt_s", "tklqt_share", "gpu_idle_share", "comm_overlap_share",
                 "kernels_per_pass", "launch_latency_s", "launch_api_s", "launch_queue_s", "h2d_bandwidth_gb_per_s",
                 "d2h_bandwidth_gb_per_s"],
    "marks": ["phase_time_s"],
    "power": ["power_mean_w", "power_p99_w", "energy_j", "energy_per_pass_j", "phase_energy_j"],
    "ipw": ["ipw_per_w", "energy_per_query_j", "energy_per_token_j"],
    "microbench": ["microbench"],
    "tlb": ["tlb_l1_entries", "tlb_l2_entries", "tlb_walk_s"],
    "sweep": ["transition_batch", "first_gpu_bound_batch"],
}
ORDER_NAMES = [n for owner, names in OWNED.items() if owner != "sweep" for n in names]  # METRICS; sweep: its own


def test_the_registry_is_the_owners_lists_in_the_order_listed_before():
    assert list(METRICS) == ORDER_NAMES and list(SWEEP_METRICS) == ["transition_batch", "first_gpu_bound_batch"]
    assert [(o, [m.name for m in ms]) for o, ms in owners()] == list(OWNED.items())
    assert list(OWNED) == list(ORDER)


def test_each_metric_is_owned_once_by_a_feature_or_the_core():
    """Read from the declarations themselves (FEATURES, CORE), not from the registry built from them."""
    declared = [(f.name, f.metrics()) for f in features.FEATURES if f.metrics is not None]
    declared += [(name, fn()) for name, fn in CORE.items()]
    assert not {f.name for f in features.FEATURES} & set(CORE)
    owner: dict[str, str] = {}
    for name, ms in declared:
        for m in ms:
            assert isinstance(m, Metric) and m.name not in owner, (m.name, owner.get(m.name), name)
            owner[m.name] = name
            assert (SWEEP_METRICS if m.of == "sweep" else METRICS)[m.name] is m
    assert set(owner) == set(METRICS) | set(SWEEP_METRICS)
    assert {n: o for o, names in OWNED.items() for n in names} == owner


def test_each_metric_comes_from_one_area():
    owner: dict[str, str] = {}
    for area in (*AREAS, bound_metrics):
        for m in area.metrics():
            assert isinstance(m, Metric) and m.name not in owner, (m.name, owner.get(m.name), area.__name__)
            owner[m.name] = area.__name__
            assert m.source == f"{area.__name__}.{m.fn.__qualname__}"  # defined in the area that lists it
            assert (SWEEP_METRICS if area is bound_metrics else METRICS)[m.name] is m
    assert set(owner) == set(METRICS) | set(SWEEP_METRICS)


def test_two_owners_of_one_metric_are_refused(monkeypatch):
    again = Feature("again", "claims a metric the launches feature owns", metrics=lambda: (launch_metrics.tklqt_s,))
    monkeypatch.setattr(features, "FEATURES", features.FEATURES + (again,))
    with pytest.raises(ValueError, match="'tklqt_s' defined twice"):
        registry()
    core_name = Feature("ipw", "a feature named as a core owner", metrics=lambda: ())
    monkeypatch.setattr(features, "FEATURES", features.FEATURES[:-1] + (core_name,))
    with pytest.raises(ValueError, match="'ipw'"):
        registry()


def test_a_declared_metric_is_callable_and_checks_its_direction():
    @metric("x_s", "s", "lower", "a figure for this test only, never registered")
    def x_s(run):
        return 2.0

    assert isinstance(x_s, Metric) and x_s(None) == 2.0 and x_s.of == "run" and "x_s" not in METRICS
    with pytest.raises(ValueError, match="'sideways'"):
        Metric("y", "", "sideways", "a bad direction", lambda run: 1.0)


def test_the_registry_and_metric_declarations_import_without_pandas():
    code = ("import sys, lowprof.metrics, lowprof.analysis.metrics, lowprof.analysis.metric; "
            "lowprof.metrics.registry(); "
            "print(sorted(m for m in ('pandas', 'matplotlib', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["[]"], out.stderr


def test_run_frames_are_the_analysis_results_computed_once(shared_runs):
    run = lowprof.load(shared_runs.imported("alexnet", "critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"))
    pl = launch_frame(run)
    assert launch_frame(run) is pl
    pd.testing.assert_frame_equal(pl, per_launch(run["launches"]))
    pd.testing.assert_frame_equal(per_launch(pl), pl)  # deriving again changes nothing (no frame is sniffed)
    steps = pass_frame(run)
    assert pass_frame(run) is steps and len(steps) > 0
    pd.testing.assert_frame_equal(steps, per_step(run["launches"], run["ops"]))
    pd.testing.assert_frame_equal(per_step_of(pl, run["ops"]), steps)
    fresh = lowprof.load(run.path)  # a run loaded again computes its own frames
    assert launch_frame(fresh) is not pl


def test_phases_frame_and_metrics_read_it(shared_runs):
    from lowprof.analysis.power import phase_intervals
    from lowprof.rundir.specs.marks import read_marks

    run = lowprof.load(shared_runs.marked())
    ph = marked_phases(run)
    assert marked_phases(run) is ph
    marks = read_marks(run)
    pd.testing.assert_frame_equal(ph, phase_intervals(marks, run.manifest["end_t_ns"]))
    got = {r.params["phase"]: r.value for r in run_metrics(run, ["phase_time_s"]).itertuples()}
    assert set(got) == {"prefill", "decode"}
    for name, value in got.items():
        g = ph[ph["name"] == name]
        assert value == pytest.approx(float((g["end_ns"] - g["start_ns"]).median()) / 1e9, rel=1e-12)


def test_derived_keeps_a_result_but_not_a_raise(shared_runs):
    run = lowprof.load(shared_runs.marked())
    calls = []

    def failing():
        calls.append(1)
        raise lowprof.LowprofError("not yet")

    for _ in range(2):
        with pytest.raises(lowprof.LowprofError):
            run.derived(("test", 1), failing)
    assert len(calls) == 2
    assert run.derived(("test", 1), lambda: 7) == 7 and run.derived(("test", 1), lambda: 8) == 7


def test_sweep_analysis_once_per_version_of_sweep_json(tmp_path, monkeypatch):
    from lowprof.analysis import bound

    calls = []
    monkeypatch.setattr(bound, "analyse_sweep", lambda path: calls.append(path) or {"first_gpu_bound_batch": len(calls)})
    bound_metrics._analysed.cache_clear()
    (tmp_path / "sweep.json").write_text("{}")
    assert bound_metrics.first_gpu_bound_batch(tmp_path) == 1
    assert bound_metrics.first_gpu_bound_batch(tmp_path) == 1 and len(calls) == 1
    st = (tmp_path / "sweep.json").stat()
    os.utime(tmp_path / "sweep.json", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a newer sweep.json
    assert bound_metrics.first_gpu_bound_batch(tmp_path) == 2 and len(calls) == 2
    bound_metrics._analysed.cache_clear()
